"""(21) UPDATE change sets computed as the update would run: parameters resolved as an
update resolves them, Conditions evaluated, AWS's ResourceChange shapes."""

from __future__ import annotations

import re
import time
from types import SimpleNamespace
from typing import Any

from ..registry import patch
from ..state import CONTROL, LOCK
from .common import NESTED_TYPE, condition_values, probe
from .nested import nested_change_sets
from .replacement import create_only_paths

_moto = SimpleNamespace()  # moto's own functions, as found at install


def create_change_set(self: Any) -> Any:
    """CreateChangeSet: an UPDATE one resolves its parameters as UpdateStack does (and,
    with IncludeNestedStacks, makes the nested stacks' change sets, 22)."""
    from moto.cloudformation.exceptions import ValidationError
    from moto.core.responses import ActionResult

    if self._get_param("ChangeSetType", "CREATE") != "UPDATE":
        return _moto.create_change_set(self)
    stack = self.cloudformation_backend.get_stack(self._get_param("StackName"))
    if str(stack.status).endswith("_IN_PROGRESS"):
        raise ValidationError(message=f"Stack:{stack.stack_id} is in {stack.status} state and can not be updated.")
    body = stack.template if self._get_bool_param("UsePreviousTemplate", False) else self._get_param("TemplateBody")
    incoming = self._get_param("Parameters", [])
    resolved = self.cloudformation_backend._resolve_update_parameters(instance=stack, incoming_params=incoming)
    change_set_id, stack_id = self.cloudformation_backend.create_change_set(
        stack_name=stack.name,
        change_set_name=self._get_param("ChangeSetName"),
        template=body,
        parameters=resolved,
        description=self._get_param("Description"),
        change_set_type="UPDATE",
        role_arn=self._get_param("RoleARN"),
    )
    if self._get_bool_param("IncludeNestedStacks", False):
        nested_change_sets(self.cloudformation_backend, self.cloudformation_backend.change_sets[change_set_id], stack.account_id, stack.region_name)
    being_created(self.cloudformation_backend, change_set_id)
    return ActionResult({"Id": change_set_id, "StackId": stack_id})


def diff(self: Any) -> list[Any]:
    """A change set's Changes: what its update would Add, Remove and Modify."""
    if self.change_set_type != "UPDATE":
        return _moto.diff(self)
    stack = self.stack
    old_map = stack.resource_map
    old = dict(getattr(old_map, "resolved_parameters", {}) or {})
    loaded = probe(stack, self.template_dict, dict(self.parameters))
    new = dict(loaded.resolved_parameters)
    changed = {k for k in set(old) | set(new) if not k.startswith("AWS::") and str(old.get(k)) != str(new.get(k))}
    conditions = self.template_dict.get("Conditions") or {}
    new_cond = condition_values(loaded, conditions)
    old_cond = condition_values(old_map, conditions)
    changes = []
    for logical, res in (self.template_dict.get("Resources") or {}).items():
        if not isinstance(res, dict):
            continue
        cond = res.get("Condition")
        wanted = new_cond.get(cond, True) if cond else True
        existing = old_map._parsed_resources.get(logical)
        exists = logical in old_map._parsed_resources
        physical = getattr(existing, "physical_resource_id", None) if exists else None
        if exists and not wanted:
            changes.append(resource_change("Remove", logical, res, physical, None, [], []))
        elif wanted and not exists:
            changes.append(resource_change("Add", logical, res, None, None, [], []))
        elif exists:
            changed_conditions = {c for c in conditions if old_cond[c] != new_cond[c]}
            modify = _modify(logical, res, physical, conditions, changed_conditions, changed, stack.region_name)
            if modify is not None:
                changes.append(modify)
    self.rt_probe = (new, new_cond)
    return changes


def _modify(logical: str, res: dict, physical: Any, conditions: dict, changed_conditions: set, changed: set, region: str) -> dict | None:
    """The Modify change of an existing resource, or None when the update leaves it alone."""
    by_property = {
        name: sorted(parameters_used(value, conditions, changed_conditions) & changed)
        for name, value in (res.get("Properties") or {}).items()
    }
    by_property = {name: causes for name, causes in by_property.items() if causes}
    if by_property:
        # (29) Replacement from the type's create-only properties: Always when
        # the property itself is create-only, Conditionally when only a part of
        # it is; a nested stack is updated in place, never replaced.
        paths = [] if res.get("Type") == NESTED_TYPE else create_only_paths(res.get("Type", ""), region)
        recreation = {
            name: "Always" if [name] in paths else "Conditionally" if any(p[0] == name for p in paths) else "Never"
            for name in by_property
        }
        details = [
            {"Target": {"Attribute": "Properties", "Name": name, "RequiresRecreation": recreation[name]},
             "Evaluation": "Static", "ChangeSource": "ParameterReference", "CausingEntity": p}
            for name, causes in sorted(by_property.items()) for p in causes
        ]
        replacement = ("True" if "Always" in recreation.values()
                       else "Conditional" if "Conditionally" in recreation.values() else "False")
        return resource_change("Modify", logical, res, physical, replacement, ["Properties"], details)
    if res.get("Type") == NESTED_TYPE:
        # (22) A nested stack is always Modify: its template may have changed
        # behind the same TemplateURL (ResourceChangeDetail, ChangeSource
        # "Automatic").
        details = [{"Target": {"Attribute": "Properties", "RequiresRecreation": "Never"},
                    "Evaluation": "Dynamic", "ChangeSource": "Automatic"}]
        return resource_change("Modify", logical, res, physical, "False", ["Properties"], details)
    return None


def resource_change(action: str, logical: str, res: dict, physical: Any, replacement: Any, scope: list, details: list) -> dict:
    rc: dict[str, Any] = {"Action": action, "LogicalResourceId": logical, "ResourceType": res.get("Type"), "Scope": scope, "Details": details}
    if physical:
        rc["PhysicalResourceId"] = physical
    if replacement:
        rc["Replacement"] = replacement
    return rc  # moto's serializer wraps each as {"Type": "Resource", "ResourceChange": ...}


def parameters_used(node: Any, conditions: dict, changed_conditions: set) -> set[str]:
    """Parameters a resource's properties depend on: Ref, ${Sub}, and the parameters behind
    an Fn::If whose condition changed."""
    out: set[str] = set()
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "Ref" and isinstance(v, str):
                out.add(v)
            elif k == "Fn::Sub":
                text = v if isinstance(v, str) else v[0]
                out |= {m.split(".")[0] for m in re.findall(r"\$\{([^!}][^}]*)\}", text)}
                if isinstance(v, list) and len(v) > 1:
                    out |= parameters_used(v[1], conditions, changed_conditions)
            elif k == "Fn::If" and isinstance(v, list) and v:
                if v[0] in changed_conditions:
                    out |= parameters_used(conditions.get(v[0]), conditions, changed_conditions)
                out |= parameters_used(v[1:], conditions, changed_conditions)
            elif k == "Condition" and isinstance(v, str):
                out |= parameters_used(conditions.get(v), conditions, changed_conditions)
            else:
                out |= parameters_used(v, conditions, changed_conditions)
    elif isinstance(node, list):
        for item in node:
            out |= parameters_used(item, conditions, changed_conditions)
    return out


@patch(
    21, service="CloudFormation",
    behaviour="""UPDATE change sets are computed as the update would run: parameters resolved as an
      update resolves them (UsePreviousValue, defaults, SSM-typed parameters looked up
      again), Conditions evaluated, Changes[].ResourceChange with Action Add/Remove/Modify,
      Replacement, Scope and Details (ChangeSource ParameterReference, CausingEntity).
      moto: a diff of template texts that ignores parameters and conditions.""",
    source="""DescribeChangeSet API reference (Changes[].ResourceChange); CloudFormation User
      Guide, "SSM parameter types": "CloudFormation retrieves the value ... each time you
      update the stack".""",
)
def install_change_sets() -> None:
    """(21) UPDATE change sets say what the update would do, with AWS's shapes
    (DescribeChangeSet API reference: `Changes[].ResourceChange` with `Action` Add |
    Modify | Remove, `Replacement` True | False | Conditional, `Scope`, and `Details[]` with
    `ChangeSource` ParameterReference and `CausingEntity` the parameter). Parameters are
    resolved as an update resolves them: UsePreviousValue, defaults, and SSM-typed
    parameters (`AWS::SSM::Parameter::Value<...>`) looked up again in Parameter Store, as
    CloudFormation does on every update ("SSM parameter types": "CloudFormation retrieves
    the value ... each time you update the stack"). Conditions are evaluated with the new
    values: a resource whose Condition turns false is Removed, one turning true is Added; a
    resource whose properties refer to a parameter whose value changed (Ref, Sub, or an
    Fn::If on a condition that changed) is Modified, Replacement Conditional. moto: a diff
    of template texts that ignores parameters and conditions."""
    from moto.cloudformation import models as cfn_models
    from moto.cloudformation import responses as cfn_responses

    _moto.create_change_set = cfn_responses.CloudFormationResponse.create_change_set
    cfn_responses.CloudFormationResponse.create_change_set = create_change_set
    _moto.diff = cfn_models.ChangeSet.diff
    cfn_models.ChangeSet.diff = diff


# AWS's StatusReason for a change set whose inputs would change nothing (the FAILED status the
# product reads as "no changes").
NO_CHANGES = "The submitted information didn't contain changes. Submit different information to create a change set."


def being_created(backend: Any, change_set_id: str) -> None:
    """(56) The UPDATE change sets one CreateChangeSet made (the root's and, through patch
    22's `rt_nested`, its nested stacks') stay CREATE_IN_PROGRESS, without Changes, for
    `change_set_seconds`; then each ends CREATE_COMPLETE / AVAILABLE, or FAILED with AWS's
    "didn't contain changes" when nothing would change (below). All end at once: the root is not complete before its nested change sets.
    Named by id, never by looking for new ones: CreateChangeSet calls run concurrently."""
    delay = float(CONTROL.get("change_set_seconds", 0.0))
    ready_at = time.time() + delay
    pending = [change_set_id]
    with LOCK:
        while pending:
            cs = backend.change_sets.get(pending.pop())
            if cs is None or cs.change_set_type != "UPDATE" or hasattr(cs, "rt_final"):
                continue
            pending.extend(getattr(cs, "rt_nested", []))
            # From patch 21's diff, not moto's status (moto fails a change set whose
            # parameters are given as the stack has them, even when an SSM-typed value or a
            # nested stack changes): a root change set with the stack's template whose
            # diff is empty is AWS's FAILED; a nested one with nothing to change is
            # CREATE_COMPLETE (its root fails only when all do), and a new template may
            # change what the diff does not see.
            root = getattr(cs, "parent_change_set_id", None) is None
            if root and not cs.changes and _same_template(cs):
                cs.rt_final = ("FAILED", "UNAVAILABLE", NO_CHANGES)
            else:
                cs.rt_final = ("CREATE_COMPLETE", "AVAILABLE", None)
            cs.rt_changes = cs.changes
            cs.rt_ready_at = ready_at
            cs.status, cs.execution_status, cs.status_reason = "CREATE_IN_PROGRESS", "UNAVAILABLE", None
            cs.changes = []
            settle(cs)


def _same_template(cs: Any) -> bool:
    """The change set's template is the stack's (parsed, so JSON and YAML of one template
    are one; as text when either does not parse)."""
    try:
        return bool(cs.stack.has_template(cs.template))
    except Exception:
        return cs.template == cs.stack.template


def settle(cs: Any) -> bool:
    """A change set whose creation time has passed takes its final status; `True` while it
    is still being created."""
    with LOCK:
        ready_at = getattr(cs, "rt_ready_at", None)
        if ready_at is None:
            return False
        if time.time() < ready_at:
            return True
        cs.status, cs.execution_status, cs.status_reason = cs.rt_final
        cs.changes = cs.rt_changes
        cs.rt_ready_at = None
        return False


# InvalidChangeSetStatus's text (ExecuteChangeSet and DeleteChangeSet API references, Errors).
INVALID_STATUS = (
    "The specified change set can't be used to update the stack. For example, the change set "
    "status might be CREATE_IN_PROGRESS, or the stack status might be UPDATE_IN_PROGRESS."
)


def invalid_status() -> Exception:
    """AWS's InvalidChangeSetStatus (HTTP 400), for a change set that cannot be used now."""
    return _moto.InvalidChangeSetStatus(INVALID_STATUS)


def _find(backend: Any, name: str) -> Any:
    if name in backend.change_sets:
        return backend.change_sets[name]
    # A copy first: other requests add and remove change sets meanwhile. The latest by that
    # name, as moto's own lookup finds it: an executed one keeps its name while a new change
    # set takes it (60).
    named = [cs for cs in list(backend.change_sets.values()) if cs.change_set_name == name]
    return named[-1] if named else None


def _refuse_while_created(action: str, original: Any) -> Any:
    def checked(self: Any, change_set_name: str, *args: Any, **kwargs: Any) -> Any:
        cs = _find(self, change_set_name)
        if cs is not None and settle(cs):
            raise invalid_status()
        # By id when found: moto's lookup by name walks the change sets unlocked.
        return original(self, cs.change_set_id if cs is not None else change_set_name, *args, **kwargs)

    checked.__name__ = action
    return checked


@patch(
    56, service="CloudFormation",
    behaviour="""An UPDATE change set takes time to create: CREATE_IN_PROGRESS (ExecutionStatus
      UNAVAILABLE, no Changes) for config `change_set_seconds`, its nested stacks' change sets
      with it, then CREATE_COMPLETE / AVAILABLE, or FAILED with AWS's "didn't contain
      changes" for a root change set with the stack's template whose update (patch 21's
      diff) changes nothing. DescribeChangeSet and ListChangeSets say so;
      DeleteChangeSet and ExecuteChangeSet of one still being created:
      InvalidChangeSetStatus. moto: every change set ends the moment it is created, FAILED
      only when the parameters are given exactly as the stack has them.""",
    source="""DescribeChangeSet API reference (Status CREATE_PENDING | CREATE_IN_PROGRESS |
      CREATE_COMPLETE | FAILED; ExecutionStatus UNAVAILABLE while CloudFormation creates it);
      DeleteChangeSet and ExecuteChangeSet API references (InvalidChangeSetStatus). Field
      reports: change sets taking "up to a minute to stabilize" (cloudtools/stacker#389),
      not created within 30 s (acquia/moonshot#213), about 20 minutes with many nested stacks
      (aws/aws-sam-cli#4681); the SAM CLI polls a change set every 5 s.""",
)
def install_change_set_creation_time() -> None:
    """(56) Change sets are created over time, as on AWS (the patch's behaviour)."""
    from moto.cloudformation import models as cfn_models
    from moto.cloudformation.exceptions import CloudFormationError

    class InvalidChangeSetStatus(CloudFormationError):
        code = "InvalidChangeSetStatus"

    _moto.InvalidChangeSetStatus = InvalidChangeSetStatus
    backend = cfn_models.CloudFormationBackend
    describe = backend.describe_change_set

    def describe_change_set(self: Any, change_set_name: str) -> Any:
        cs = describe(self, change_set_name)
        settle(cs)
        return cs

    backend.describe_change_set = describe_change_set
    listed = backend.list_change_sets

    def list_change_sets(self: Any) -> Any:
        change_sets = list(listed(self))
        for cs in change_sets:
            settle(cs)
        return change_sets

    backend.list_change_sets = list_change_sets
    backend.delete_change_set = _refuse_while_created("delete_change_set", backend.delete_change_set)
    backend.execute_change_set = _refuse_while_created("execute_change_set", backend.execute_change_set)
