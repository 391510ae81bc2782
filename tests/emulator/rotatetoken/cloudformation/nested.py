"""(22) Nested stacks (`AWS::CloudFormation::Stack`) as CloudFormation runs them, and the
change sets it makes for them (IncludeNestedStacks)."""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any

from ..registry import patch
from ..state import LOCK, NESTED
from .common import NESTED_TYPE

_moto = SimpleNamespace()  # moto's own functions, as found at install


def physical_resource_id(self: Any) -> str:
    return self.stack_id if self.parent_id else self.name


def child_parameters(properties: dict[str, Any]) -> dict[str, str]:
    out = {}
    for key, value in (properties.get("Parameters") or {}).items():
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, list):
            value = ",".join(map(str, value))
        out[key] = str(value)
    return out


def _child_template(properties: dict[str, Any], account_id: str, region_name: str) -> str:
    from moto.cloudformation.utils import get_stack_from_s3_url
    from moto.utilities.utils import get_partition

    return get_stack_from_s3_url(properties["TemplateURL"], account_id=account_id, partition=get_partition(region_name))


def create(cls: Any, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kwargs: Any) -> Any:
    from moto.cloudformation import models as cfn_models

    backend = cfn_models.cloudformation_backends[account_id][region_name]
    properties = cloudformation_json["Properties"]
    template = _child_template(properties, account_id, region_name)
    parent = backend.get_stack(kwargs["StackId"]) if kwargs.get("StackId") else None
    with LOCK:
        child = backend.create_stack(name=resource_name, template=template, parameters=child_parameters(properties))
        if parent is not None:
            child.parent_id = parent.stack_id
            child.root_id = parent.root_id or parent.stack_id
    return child


def update(cls: Any, original_resource: Any, new_resource_name: str, cloudformation_json: Any, account_id: str, region_name: str) -> Any:
    from moto.cloudformation import models as cfn_models

    backend = cfn_models.cloudformation_backends[account_id][region_name]
    properties = cloudformation_json["Properties"]
    template = _child_template(properties, account_id, region_name)
    incoming = [{"ParameterKey": k, "ParameterValue": v} for k, v in child_parameters(properties).items()]
    depth = getattr(NESTED, "depth", 0)
    NESTED.depth = depth + 1
    try:
        child = backend.update_stack(original_resource.stack_id, template, None, incoming, None)
    finally:
        NESTED.depth = depth
    if child.status != "UPDATE_COMPLETE":
        raise RuntimeError(f"Embedded stack {child.stack_id} was not successfully updated. Currently in {child.status}: {child.stack_status_reason}")
    return child


def delete_change_set(self: Any, change_set_name: str) -> None:
    """(22) Deleting a root change set deletes its nested change sets ("Change sets for
    nested stacks": delete from the root change set)."""
    cs = self.describe_change_set(change_set_name)
    for child_id in getattr(cs, "rt_nested", []):
        if child_id in self.change_sets:
            delete_change_set(self, child_id)
    _moto.delete_change_set(self, cs.change_set_id)


@patch(
    22, service="CloudFormation",
    behaviour="""Nested stacks (`AWS::CloudFormation::Stack`): the child is its own stack, named
      `<parent>-<LogicalId>-<suffix>`, template from S3, DescribeStacks ParentId/RootId,
      its stack id as physical id; the parent's update updates it in place with the
      parameters now passed (a child rollback rolls the parent back); in change sets a
      nested stack is always Modify (ChangeSource Automatic), and IncludeNestedStacks
      makes a change set per child (ResourceChange.ChangeSetId), deleted with the root's.
      moto: named after the logical id, no ParentId/RootId, replaced on every change.""",
    source="""CloudFormation User Guide, "Nested stacks" and "Change sets for nested stacks";
      resource reference "AWS::CloudFormation::Stack"; DescribeStacks API reference (Stack);
      CreateChangeSet IncludeNestedStacks.""",
)
def install_nested_stacks() -> None:
    """(22) `AWS::CloudFormation::Stack` as CloudFormation runs it (resource reference
    "AWS::CloudFormation::Stack"; User Guide "Nested stacks"). The child is a stack of its
    own, named `<parent>-<LogicalId>-<suffix>`, its template read from S3 (`TemplateURL`),
    listed by DescribeStacks with `ParentId` (the direct parent's stack id) and `RootId`
    (the top-level stack's id; DescribeStacks API reference, Stack). Its physical id, and
    what `Ref` returns, is the child's stack id (ARN). Updating the parent "initiates an
    update to its nested stacks": TemplateURL is read again and the child updated in place
    with the parameters the parent now passes (conditions re-evaluated, guarded resources
    deleted or created as in any update); only a Remove of the resource deletes the child.
    A child that rolls back rolls its parent back. moto: the child is named after the
    logical id, has no ParentId/RootId, its physical id is its name, and every parameter
    change deletes the child and creates a new one."""
    from moto.cloudformation import models as cfn_models

    _moto.delete_change_set = cfn_models.CloudFormationBackend.delete_change_set
    cfn_models.CloudFormationBackend.delete_change_set = delete_change_set
    cfn_models.Stack.parent_id = None
    cfn_models.Stack.root_id = None
    cfn_models.Stack.physical_resource_id = property(physical_resource_id)
    cfn_models.Stack.create_from_cloudformation_json = classmethod(create)
    cfn_models.Stack.update_from_cloudformation_json = classmethod(update)


def nested_value(node: Any, params: dict[str, Any], conditions: dict[str, bool]) -> Any:
    """A nested stack's parameter value as the parent's update would pass it: literals, Ref
    to a parameter, Fn::If on a condition, Fn::Sub of parameters. None when it depends on
    anything else (a resource attribute): the change set then keeps the previous value."""
    if isinstance(node, (str, int, float)) and not isinstance(node, bool):
        return str(node)
    if isinstance(node, bool):
        return "true" if node else "false"
    if isinstance(node, dict) and len(node) == 1:
        (key, value), = node.items()
        if key == "Ref" and value in params:
            v = params[value]
            return ",".join(map(str, v)) if isinstance(v, list) else str(v)
        if key == "Fn::If" and isinstance(value, list) and len(value) == 3 and value[0] in conditions:
            return nested_value(value[1] if conditions[value[0]] else value[2], params, conditions)
        if key == "Fn::Sub" and isinstance(value, str):
            names = re.findall(r"\$\{([^!}][^}]*)\}", value)
            if all(n in params for n in names):
                return re.sub(r"\$\{([^!}][^}]*)\}", lambda m: str(params[m.group(1)]), value)
    return None


def nested_change_sets(backend: Any, cs: Any, account: str, region: str) -> None:
    """(22) IncludeNestedStacks: every nested stack the change set modifies gets a change
    set of its own, computed as the child's update would run (TemplateURL read again, the
    parameters the parent would pass), its id in the parent's ResourceChange.ChangeSetId
    ("Change sets for nested stacks", CreateChangeSet IncludeNestedStacks)."""
    params, conditions = getattr(cs, "rt_probe", ({}, {}))
    resources = cs.template_dict.get("Resources") or {}
    cs.rt_nested = []
    for change in cs.changes:
        if change.get("ResourceType") != NESTED_TYPE or change.get("Action") != "Modify":
            continue
        props = (resources.get(change["LogicalResourceId"]) or {}).get("Properties") or {}
        child = backend.get_stack(change["PhysicalResourceId"])
        template = _child_template(props, account, region)
        incoming = []
        for key, node in (props.get("Parameters") or {}).items():
            value = nested_value(node, params, conditions)
            incoming.append({"ParameterKey": key, "ParameterValue": value} if value is not None else {"ParameterKey": key, "UsePreviousValue": True})
        resolved = backend._resolve_update_parameters(instance=child, incoming_params=incoming)
        child_id, _ = backend.create_change_set(
            stack_name=child.name, change_set_name=f"{cs.change_set_name}-{change['LogicalResourceId']}"[:128],
            template=template, parameters=resolved, description=None, change_set_type="UPDATE",
        )
        nested = backend.change_sets[child_id]
        nested.parent_change_set_id = cs.change_set_id
        nested.root_change_set_id = getattr(cs, "root_change_set_id", None) or cs.change_set_id
        change["ChangeSetId"] = child_id
        cs.rt_nested.append(child_id)
        nested_change_sets(backend, nested, account, region)
