"""Conditions on update: (1) resources whose Condition turns false are deleted, those
turning true created; (18) an update that would leave a reference to such a resource
dangling is refused; (19) a deletion that fails in cleanup leaves the resource behind."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from ..registry import patch
from ..state import CONTROL
from .common import NESTED_TYPE, condition_values, probe, references
from .replacement import declared_properties

_moto = SimpleNamespace()  # moto's own functions, as found at install


def rm_update(self: Any, template: dict[str, Any], parameters: dict[str, Any] | None = None) -> None:
    """moto's ResourceMap.update, then what it leaves out: (29) every resource whose
    declared properties changed is updated, and (1) Conditions are evaluated again."""
    from moto.cloudformation import parsing

    _moto.rm_update(self, template, parameters)
    # (29) moto decides what to modify from `Ref`s only: a parameter reached through
    # Fn::Sub (a version-pinned dynamic reference) changed nothing. Every resource
    # whose declared properties now differ is updated, in place or by replacement.
    for logical, resource_json in list(self._resource_json_map.items()):
        existing = self._parsed_resources.get(logical)
        if existing is None or resource_json.get("Type") == NESTED_TYPE or not hasattr(existing, "rt_props"):
            continue
        if declared_properties(resource_json, self) != existing.rt_props:
            self._parsed_resources[logical] = parsing.parse_and_update_resource(
                logical, resource_json, self, account_id=self._account_id, region_name=self._region_name)
    for logical, resource_json in list(self._resource_json_map.items()):
        condition = resource_json.get("Condition")
        if not condition:
            continue
        wanted = bool(self.lazy_condition_map[condition])
        exists = logical in self._parsed_resources
        if exists and not wanted:
            resource = self._parsed_resources.pop(logical)
            stack_name = self._parsed_resources.get("AWS::StackName")
            if logical in CONTROL.get("fail_delete", {}).get(stack_name, []):
                # (19) The deletion fails in cleanup: the resource lives on outside the stack.
                failed = getattr(self, "rt_failed_deletions", [])
                failed.append((logical, resource_json.get("Type", ""), getattr(resource, "physical_resource_id", logical)))
                self.rt_failed_deletions = failed
            else:
                self._delete_resource(resource, resource_json)
        elif wanted and not exists:
            _ = self[logical]  # moto's lazy map creates the resource on first access


def live_resources(self: Any) -> list[Any]:
    """(1) A resource whose Condition is false does not exist: left out of the listings."""
    return [r for r in self.resource_map.values() if r is not None and not isinstance(r, str)]


@patch(
    1, service="CloudFormation",
    behaviour="""Conditions are re-evaluated on update: a resource whose Condition turns false is
     deleted, one whose Condition turns true is created (moto ignores Conditions on update).""",
    source="""Measured against moto 5.2.5: "UpdateStack ignores Conditions: flipping `RotateToken`
     to false deletes nothing" (../shared/FIELD-NOTES.md).""",
)
@patch(
    19, service="CloudFormation",
    behaviour="""Cleanup failures: config {"fail_delete": {"<stack>": ["LogicalId"]}} makes the
      deletion of that resource fail when an update removes it: the resource lives on
      outside the stack (not deleted), a DELETE_FAILED resource event says why, and the
      stack still ends UPDATE_COMPLETE, as on AWS.""",
    source="""CloudFormation User Guide, "Update stacks": "if a resource can't be deleted during
      cleanup, the stack update still completes".""",
)
def install_conditions_on_update() -> None:
    from moto.cloudformation import models as cfn_models
    from moto.cloudformation import parsing

    _moto.rm_update = parsing.ResourceMap.update
    parsing.ResourceMap.update = rm_update
    cfn_models.Stack.stack_resources = property(live_resources)


def refuse_unresolved_dependencies(stack: Any, template: str, params: dict[str, Any]) -> None:
    """(18) A resource or output that exists after the update (no Condition, or a true
    one) may not refer to a resource whose Condition is false: CloudFormation refuses
    the update with "Template format error: Unresolved resource dependencies [X] in the
    Resources block of the template" (a ValidationError; seen for a parameter turning a
    condition false in aws-solutions/media-insights-on-aws#145, and for conditional SAM
    resources in aws/serverless-application-model#832). moto: HTTP 500.
    Called by UpdateStack (updates.py) before it accepts the update."""
    from moto.cloudformation import models as cfn_models
    from moto.cloudformation.exceptions import ValidationError

    body = cfn_models.Stack.parse_template(template) if isinstance(template, str) else template
    conditions = (body or {}).get("Conditions") or {}
    if not conditions:
        return
    value = condition_values(probe(stack, body, params), conditions)
    resources = body.get("Resources") or {}
    absent = {k for k, r in resources.items() if isinstance(r, dict) and r.get("Condition") and not value.get(r["Condition"], True)}
    if not absent:
        return
    for block in ("Resources", "Outputs"):
        found: set[str] = set()
        for item in (body.get(block) or {}).values():
            if not isinstance(item, dict) or (item.get("Condition") and not value.get(item["Condition"], True)):
                continue
            found |= references(item, value) & absent
        if found:
            raise ValidationError(
                message=f"Template format error: Unresolved resource dependencies [{', '.join(sorted(found))}] in the {block} block of the template"
            )


def record_cleanup_failures(stack: Any) -> None:
    """(19) A resource removed by an update is deleted during
    UPDATE_COMPLETE_CLEANUP_IN_PROGRESS; when that deletion fails, CloudFormation still
    ends the stack UPDATE_COMPLETE and says so only in the resource's DELETE_FAILED
    event ("Update stacks", CloudFormation User Guide: "if a resource can't be deleted
    during cleanup, the stack update still completes"; the resource is no longer
    managed by the stack). Injected with config {"fail_delete": {"<stack>": ["Id"]}}.
    Called by UpdateStack (updates.py) once moto's update has run."""
    from moto.cloudformation import models as cfn_models

    failed = getattr(stack.resource_map, "rt_failed_deletions", [])
    if not failed:
        return
    stack.resource_map.rt_failed_deletions = []
    completed = stack.events.pop() if stack.events and stack.events[-1].resource_status == "UPDATE_COMPLETE" else None
    stack._add_stack_event("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS")
    for logical, resource_type, physical in failed:
        for status, reason in (("DELETE_IN_PROGRESS", None), ("DELETE_FAILED", f"Resource handler returned message: \"Access denied deleting {physical}\" (HandlerErrorCode: AccessDenied)")):
            stack.events.append(cfn_models.Event(
                stack_id=stack.stack_id, stack_name=stack.name, logical_resource_id=logical,
                physical_resource_id=physical, resource_type=resource_type,
                resource_status=status, resource_status_reason=reason, resource_properties=None,
            ))
    if completed is not None:
        stack.events.append(completed)
