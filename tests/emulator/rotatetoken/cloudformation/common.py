"""What the CloudFormation patches share: a template loaded with parameters without
touching the stack (`probe`), the references of a template fragment, a stack's live
resources, and the events of a rolled-back operation."""

from __future__ import annotations

import copy
import re
from typing import Any

NESTED_TYPE = "AWS::CloudFormation::Stack"


def probe(stack: Any, template: dict[str, Any], params: dict[str, Any]) -> Any:
    """The stack's template loaded with these parameters, without touching the stack: its
    conditions (`lazy_condition_map`) and resolved parameters, as an update would see them."""
    from moto.cloudformation import parsing

    loaded = parsing.ResourceMap(
        stack.stack_id, stack.name, params, stack.tags, stack.region_name,
        stack.account_id, copy.deepcopy(template), stack.cross_stack_resources,
    )
    loaded.load()
    return loaded


def condition_values(loaded: Any, conditions: dict[str, Any]) -> dict[str, bool]:
    """Each named condition's value in a loaded template (a `probe` or a stack's map)."""
    return {name: bool(loaded.lazy_condition_map[name]) for name in conditions}


def physical_ids(stack: Any) -> dict[str, str]:
    """The stack's live resources: logical id -> physical id."""
    out = {}
    for logical, resource in stack.resource_map._parsed_resources.items():
        if resource is None or isinstance(resource, str) or logical.startswith("AWS::"):
            continue
        if logical not in (stack.resource_map._resource_json_map or {}):
            continue
        out[logical] = str(getattr(resource, "physical_resource_id", None) or getattr(resource, "name", logical))
    return out


def references(v: Any, conditions: dict[str, bool]) -> set[str]:
    """Logical ids a template fragment refers to as CloudFormation resolves it: Ref,
    Fn::GetAtt, Fn::Sub, DependsOn, and only the branch of Fn::If its condition selects."""
    out: set[str] = set()
    if isinstance(v, dict):
        for k, inner in v.items():
            if k == "Ref" and isinstance(inner, str):
                out.add(inner)
            elif k == "DependsOn":
                out |= {inner} if isinstance(inner, str) else set(inner or [])
            elif k == "Fn::GetAtt":
                out.add(inner[0] if isinstance(inner, list) else str(inner).split(".")[0])
            elif k == "Fn::Sub":
                text, local = (inner, {}) if isinstance(inner, str) else (inner[0], inner[1] if len(inner) > 1 else {})
                names = {m.split(".")[0] for m in re.findall(r"\$\{([^!}][^}]*)\}", text)}
                out |= names - set(local)
                out |= references(local, conditions)
            elif k == "Fn::If" and isinstance(inner, list) and len(inner) == 3:
                out |= references(inner[1] if conditions.get(inner[0], True) else inner[2], conditions)
            elif k == "Condition":
                continue
            else:
                out |= references(inner, conditions)
    elif isinstance(v, list):
        for item in v:
            out |= references(item, conditions)
    return out


def update_rolled_back(stack: Any, reason: str) -> None:
    """The stack's end of an update CloudFormation rolled back, in its events as on AWS:
    UPDATE_ROLLBACK_IN_PROGRESS with the reason, the cleanup, UPDATE_ROLLBACK_COMPLETE. Each
    event carries the operation's ClientRequestToken (41), so a caller reads how its own
    update ended even after another operation has run (UpdateStack API reference,
    ClientRequestToken; "Monitor stack progress", CloudFormation User Guide)."""
    stack._add_stack_event("UPDATE_ROLLBACK_IN_PROGRESS", resource_status_reason=reason)
    stack._add_stack_event("UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS")
    stack.status = "UPDATE_ROLLBACK_COMPLETE"
    stack.stack_status_reason = reason
    stack._add_stack_event("UPDATE_ROLLBACK_COMPLETE")


def roll_back(stack: Any, failing: list[tuple[str, str, str]], operation: str) -> None:
    """The stack's events and status for a failed `operation` (CREATE or UPDATE) that
    CloudFormation rolled back: each failed resource's event with its reason, then the
    stack's rollback, as DescribeStackEvents lists them."""
    from moto.cloudformation import models as cfn_models

    verb = "create" if all(status == "CREATE_FAILED" for _, status, _ in failing) else "update"
    for logical, status, reason in failing:
        resource_type = ((stack.template_dict or {}).get("Resources") or {}).get(logical, {}).get("Type", "")
        stack.events.append(cfn_models.Event(
            stack_id=stack.stack_id, stack_name=stack.name, logical_resource_id=logical,
            physical_resource_id="", resource_type=resource_type,
            resource_status=status, resource_status_reason=reason, resource_properties=None,
        ))
    summary = f"The following resource(s) failed to {verb}: [{', '.join(l for l, _, _ in failing)}]. "
    if operation != "CREATE":
        update_rolled_back(stack, summary)
        return
    stack._add_stack_event("ROLLBACK_IN_PROGRESS", resource_status_reason=summary + "Rollback requested by user.")
    try:
        stack.resource_map.delete()
    except Exception:
        pass
    stack.status = "ROLLBACK_COMPLETE"
    stack.stack_status_reason = summary
    stack._add_stack_event(stack.status)
