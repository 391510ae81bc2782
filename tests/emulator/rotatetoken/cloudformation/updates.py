"""UpdateStack as CloudFormation runs it: (3) asynchronous, refused while the stack is
busy; (4) UsePreviousValue for defaulted parameters; (5) parameters validated; (6)
generated names for SSM parameters; (7) StackStatusReason. The update runs the checks of
(18), (20) and (39), and records (19)'s cleanup failures and (29)'s account of it; (53) reads never see half an update."""

from __future__ import annotations

import math
import random
import threading
import time
from types import SimpleNamespace
from typing import Any

from ..registry import patch
from ..state import CONTROL, LOCK, NESTED, TOUCHED, UPDATE_CHECKS, UPDATE_LOG
from .common import physical_ids, probe, roll_back, update_rolled_back
from .conditions import record_cleanup_failures, refuse_unresolved_dependencies
from .policies import denied_by_stack_policy

_moto = SimpleNamespace()  # moto's own functions, as found at install


def busy_error(stack: Any) -> Exception:
    from moto.cloudformation.exceptions import ValidationError

    return ValidationError(
        stack.stack_id,
        message=f"Stack:{stack.stack_id} is in {stack.status} state and can not be updated.",
    )


def validate_different_update(self: Any, incoming_params: Any, stack_body: Any, old_stack: Any) -> None:
    """(3) Refuse updates of busy stacks before moto's "No updates" check, as AWS does."""
    from moto.cloudformation.exceptions import ValidationError

    if str(old_stack.status).endswith("_IN_PROGRESS"):
        raise busy_error(old_stack)
    if str(old_stack.status) in ("UPDATE_ROLLBACK_FAILED", "ROLLBACK_FAILED", "DELETE_FAILED", "ROLLBACK_COMPLETE"):
        raise ValidationError(
            old_stack.stack_id,
            message=f"Stack:{old_stack.stack_id} is in {old_stack.status} state and can not be updated.",
        )
    _moto.validate_different_update(self, incoming_params, stack_body, old_stack)


def backend_update_stack(self: Any, name: str, template: str, role_arn: Any, parameters: Any, tags: Any) -> Any:
    """(3) UpdateStack accepted (checks that refuse it: busy, parameters, dangling
    references) and answered at once; the update applies after `update_delay_seconds`
    (± the jitter), or at once inside a parent's update (nested stacks, 22)."""
    stack = self.get_stack(name)
    with LOCK:
        if str(stack.status).endswith("_IN_PROGRESS"):
            raise busy_error(stack)
        resolved = self._resolve_update_parameters(instance=stack, incoming_params=parameters)
        validate_parameters(template, resolved)
        refuse_unresolved_dependencies(stack, template, resolved)
        stack.status = "UPDATE_IN_PROGRESS"
        stack.stack_status_reason = "User Initiated"
        entry = {"account": stack.account_id, "region": stack.region_name, "stack": stack.name,
                 "parameters": dict(resolved), "result": "UPDATE_IN_PROGRESS",
                 "accepted_at": time.time()}
        UPDATE_LOG.append(entry)
        stack._add_stack_event("UPDATE_IN_PROGRESS", resource_status_reason="User Initiated")

    def apply_and_time() -> None:
        apply_update(stack, template, role_arn, resolved, tags, entry)
        entry["ended_at"] = time.time()

    delay = update_delay(stack.stack_id)
    if delay <= 0 or getattr(NESTED, "depth", 0) > 0:
        apply_and_time()
    else:
        timer = threading.Timer(delay, apply_and_time)
        timer.daemon = True
        timer.start()
    return stack


def update_delay(stack_id: str) -> float:
    """How long an accepted update stays UPDATE_IN_PROGRESS. With `update_delay_distribution`
    each stack has its own time, drawn once from a clamped log-normal (a fleet's updates
    differ by stack: what they create and delete; the same stack's take about as long each
    time), time-scaled by its `scale`; else `update_delay_seconds` ± a uniform jitter."""
    spread = CONTROL.get("update_delay_distribution") or {}
    if spread:
        # The draw is seeded by the stack, so both phases of a stack, and a rerun of the
        # same fleet, take the same time.
        draw = random.Random(f"{spread.get('seed', 0)}/{stack_id}")
        # A key left out takes its default, never a 500 on an UpdateStack AWS accepts.
        median = float(spread.get("median", CONTROL["update_delay_seconds"]))
        seconds = median * math.exp(float(spread.get("sigma", 0.6)) * draw.gauss(0.0, 1.0))
        seconds = min(float(spread.get("max", seconds)), max(float(spread.get("min", 0.0)), seconds))
        return seconds * float(spread.get("scale", 1.0))
    jitter = float(CONTROL["update_delay_jitter_seconds"])
    return max(0.0, float(CONTROL["update_delay_seconds"]) + (random.uniform(-jitter, jitter) if jitter else 0.0))


def apply_update(stack: Any, template: str, role_arn: Any, resolved: dict[str, Any], tags: Any, entry: dict[str, Any]) -> None:
    """An accepted update, applied: rolled back when the stack policy denies it (20), a
    resource fails to create (fault: fail_create) or a check of UPDATE_CHECKS fails it
    (39); otherwise moto's update, then the cleanup failures (19) and what changed (29)."""
    with LOCK:
        denied = denied_by_stack_policy(stack, template, resolved)
        if denied:
            update_rolled_back(stack, (
                f"Action denied by stack policy: Update:Delete is not allowed for resource(s) "
                f"[{', '.join('LogicalResourceId/' + d for d in denied)}]"
            ))
            entry["result"] = stack.status
            return
        failing = [
            logical for logical in CONTROL["fail_create"].get(stack.name, [])
            if would_create(stack, template, resolved, logical)
        ]
        if failing:
            # Each failed resource has its own CREATE_FAILED event, with its reason, before
            # the stack's rollback (DescribeStackEvents on AWS; the product reads them to say
            # why its update rolled back). The reason is the fault's, in AWS's shape.
            roll_back(stack, [(
                logical, "CREATE_FAILED",
                'Resource handler returned message: "Creation failed by the emulator\'s fail_create '
                'fault" (HandlerErrorCode: GeneralServiceException)',
            ) for logical in failing], "UPDATE")
            entry["result"] = stack.status
            return
        failing = [f for check in UPDATE_CHECKS for f in check(stack, template, resolved)]
        if failing:
            roll_back(stack, failing, "UPDATE")
            entry["result"] = stack.status
            return
        before = physical_ids(stack)
        # A nested stack's update runs inside its parent's, on the same thread.
        outer, touched = getattr(TOUCHED, "log", None), []
        TOUCHED.log = touched
        try:
            _moto.stack_update(stack, template, role_arn, parameters=resolved, tags=tags)
            stack.stack_status_reason = None
            record_cleanup_failures(stack)
            entry["resources"] = what_changed(before, physical_ids(stack), touched)
        except Exception as exc:  # an update moto cannot apply rolls back, as on AWS
            update_rolled_back(stack, f"Update failed and rolled back: {exc}")
        finally:
            TOUCHED.log = outer
        entry["result"] = stack.status


def would_create(stack: Any, template: str, params: dict[str, Any], logical: str) -> bool:
    """Would an update with `params` create `logical` (absent now, present after)?"""
    rm = stack.resource_map
    if logical in rm._parsed_resources:
        return False
    resource = (stack.template_dict.get("Resources") or {}).get(logical)
    if resource is None:
        return False
    condition = resource.get("Condition")
    if not condition:
        return True
    return bool(probe(stack, stack.template_dict, params).lazy_condition_map[condition])


def what_changed(before: dict[str, str], after: dict[str, str], touched: list) -> dict[str, list]:
    """(29) The update log's account of one update: resources deleted, created, modified in
    place and replaced, each as `{"logical", "physical"}` (replaced: the new physical id,
    and `"was"` the old one)."""
    modified = {logical for logical, action in touched if action == "Modify"}
    return {
        "deleted": [{"logical": k, "physical": before[k]} for k in sorted(set(before) - set(after))],
        "created": [{"logical": k, "physical": after[k]} for k in sorted(set(after) - set(before))],
        "modified": [{"logical": k, "physical": after[k]} for k in sorted(modified & set(after)) if before.get(k) == after[k]],
        "replaced": [{"logical": k, "physical": after[k], "was": before[k]}
                     for k in sorted(set(before) & set(after)) if before[k] != after[k]],
    }


@patch(
    3, service="CloudFormation",
    behaviour="""Updates are asynchronous: the stack shows UPDATE_IN_PROGRESS for `update_delay_seconds`
     (control endpoint; or each stack its own time from `update_delay_distribution`, a
     clamped log-normal, for fleet benchmarks), and UpdateStack on a stack in any
     *_IN_PROGRESS state is refused with AWS's ValidationError.""",
    source="""Measured against moto 5.2.5: "Updates are synchronous: UPDATE_IN_PROGRESS is never
     observable ... an update on a busy stack is never refused" (../shared/FIELD-NOTES.md).""",
)
@patch(
    18, service="CloudFormation",
    behaviour="""A `false` update (any update) that leaves a resource or output referring to a
      resource whose Condition became false is refused: ValidationError "Template format
      error: Unresolved resource dependencies [X] in the Resources|Outputs block of the
      template". moto: HTTP 500.""",
    source="""The message as users report it: aws-solutions/media-insights-on-aws#145 (a parameter
      turning a condition false), aws/serverless-application-model#832 (conditional SAM
      resources). Code: conditions.refuse_unresolved_dependencies.""",
)
@patch(
    20, service="CloudFormation",
    behaviour="""Stack policies are enforced: an update that deletes a resource the stack policy
      does not allow Update:Delete on rolls back (UPDATE_ROLLBACK_COMPLETE, "Action denied
      by stack policy"). moto stores the policy and ignores it.""",
    source="""CloudFormation User Guide, "Prevent updates to stack resources". Code:
      policies.denied_by_stack_policy.""",
)
def install_async_updates() -> None:
    from moto.cloudformation import models as cfn_models
    from moto.cloudformation import responses as cfn_responses

    _moto.validate_different_update = cfn_responses.CloudFormationResponse._validate_different_update
    cfn_responses.CloudFormationResponse._validate_different_update = validate_different_update
    _moto.stack_update = cfn_models.Stack.update
    cfn_models.CloudFormationBackend.update_stack = backend_update_stack


def resolve_update_parameters(self: Any, instance: Any, incoming_params: list[dict[str, Any]]) -> dict[str, str]:
    """(4) UsePreviousValue falls back to the value the parameter resolved to at create."""
    from moto.cloudformation.exceptions import ValidationError

    resolved = getattr(getattr(instance, "resource_map", None), "resolved_parameters", {}) or {}
    out: dict[str, str] = {}
    for p in incoming_params:
        key = p["ParameterKey"]
        if "ParameterValue" in p:
            out[key] = p["ParameterValue"]
        elif p.get("UsePreviousValue", False):
            declared = ((getattr(instance, "template_dict", None) or {}).get("Parameters") or {}).get(key) or {}
            if key in instance.parameters and not str(declared.get("Type", "")).startswith("AWS::SSM::Parameter::"):
                out[key] = instance.parameters[key]
            elif "Default" in declared and key not in instance.parameters:
                # The previous value is what was given (here the default): for an
                # SSM-typed parameter that is the parameter's name, resolved again.
                out[key] = str(declared["Default"])
            elif key in instance.parameters:
                out[key] = instance.parameters[key]
            elif key in resolved:
                v = resolved[key]
                out[key] = ",".join(map(str, v)) if isinstance(v, list) else str(v)
            else:
                raise ValidationError(message=f"Parameters: [{key}] do not exist in the template")
    return out


@patch(
    4, service="CloudFormation",
    behaviour="""`UsePreviousValue` works for parameters that took their default at create (moto: 500).""",
    source="""Measured against moto 5.2.5: "`UsePreviousValue` for a parameter that was defaulted
     at create: HTTP 500" (../shared/FIELD-NOTES.md).""",
)
def install_previous_values() -> None:
    from moto.cloudformation import models as cfn_models

    cfn_models.CloudFormationBackend._resolve_update_parameters = resolve_update_parameters


def validate_parameters(template_body: Any, values: dict[str, Any]) -> None:
    """(5) Parameter validation, at create and update."""
    from moto.cloudformation import models as cfn_models
    from moto.cloudformation.exceptions import ValidationError

    template = cfn_models.Stack.parse_template(template_body) if isinstance(template_body, str) else template_body
    declared = (template or {}).get("Parameters", {}) or {}
    unknown = [k for k in values if k not in declared]
    if unknown:
        raise ValidationError(message=f"Parameters: [{', '.join(unknown)}] do not exist in the template")
    for key, spec in declared.items():
        allowed = spec.get("AllowedValues")
        if allowed is None:
            continue
        value = values.get(key, spec.get("Default"))
        if value is not None and str(value) not in [str(a) for a in allowed]:
            raise ValidationError(message=f"Parameter '{key}' must be one of AllowedValues")


def create_stack(self: Any, name: str, template: str, parameters: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
    validate_parameters(template, parameters)
    return _moto.create_stack(self, name, template, parameters, *args, **kwargs)


@patch(
    5, service="CloudFormation",
    behaviour="""Unknown parameters and values outside `AllowedValues` are rejected as on AWS.""",
    source="""Measured against moto 5.2.5: "Unknown parameters and values outside `AllowedValues`
     are accepted silently" (../shared/FIELD-NOTES.md). UpdateStack validates too
     (backend_update_stack).""",
)
def install_parameter_validation() -> None:
    from moto.cloudformation import models as cfn_models

    _moto.create_stack = cfn_models.CloudFormationBackend.create_stack
    cfn_models.CloudFormationBackend.create_stack = create_stack


def ssm_create(cls: Any, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any) -> Any:
    props = cloudformation_json.setdefault("Properties", {})
    props.setdefault("Name", resource_name)
    return _moto.ssm_create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)


@patch(
    6, service="CloudFormation",
    behaviour="""`AWS::SSM::Parameter` without `Name` gets a generated name, as on AWS (moto: 500).""",
    source="""Measured against moto 5.2.5: "`AWS::SSM::Parameter` without `Name` ...: HTTP 500 and a
     stack stuck in `CREATE_IN_PROGRESS`" (../shared/FIELD-NOTES.md).""",
)
def install_ssm_parameter_names() -> None:
    from moto.ssm import models as ssm_models

    _moto.ssm_create = ssm_models.Parameter.create_from_cloudformation_json.__func__
    ssm_models.Parameter.create_from_cloudformation_json = classmethod(ssm_create)


@patch(
    7, service="CloudFormation",
    behaviour="""StackStatusReason is reported.""",
    source="""DescribeStacks API reference (Stack, StackStatusReason); moto 5.2.5's Stack has no
     such attribute.""",
)
def install_status_reason() -> None:
    from moto.cloudformation import models as cfn_models

    cfn_models.Stack.stack_status_reason = None



@patch(
    53, service="CloudFormation",
    behaviour="""A read (Describe*, List*, Get*) answers the stacks as one moment left them, never half
      of an update: an update applies under the emulator's lock, and a read builds and
      serializes its answer under the same lock. moto's Stack.update sets UPDATE_COMPLETE
      before it replaces the stack's parameters, so a DescribeStacks between the two showed
      an update finished with the parameters from before it: a `false` update reading as
      `true`. Found by the fault campaign (docs/fault-campaign.md): under load, a refresh
      polled in that gap, took its own `false` for another run's `true` and reported the
      stack refreshed while it stayed at `false`. CreateStack runs under the same lock: moto
      walks the region's stacks unlocked to refuse a duplicate name, and stacks created at
      once answered HTTP 500 ("OrderedDict mutated during iteration", 1,300-stack fleet
      benchmark), which AWS never does to a valid CreateStack.""",
    source="""CloudFormation API reference, DescribeStacks and the Stack data type: StackStatus
      UPDATE_COMPLETE with Parameters as the update left them. moto 5.2.5,
      cloudformation/models.py Stack.update (status set before parameters) and
      CloudFormationBackend.create_stack (iterates self.stacks).""",
)
def install_consistent_reads() -> None:
    """(53) CloudFormation's read actions (and CreateStack) answered under LOCK, which every
    update holds."""
    from moto.cloudformation.responses import CloudFormationResponse
    from moto.core.responses import BaseResponse

    def call_action(self: Any) -> Any:
        # BaseResponse's, looked up at each call: the throttling patches (13, 42) replace it.
        action = str(self._get_action())
        if action.startswith(("Describe", "List", "Get")) or action == "CreateStack":
            with LOCK:
                return BaseResponse.call_action(self)
        return BaseResponse.call_action(self)

    CloudFormationResponse.call_action = call_action


@patch(
    64, service="CloudFormation",
    behaviour="""DescribeStacks' `LastUpdatedTime`: set when an update begins (UpdateStack,
      ExecuteChangeSet of an UPDATE change set, a nested stack's update through its parent),
      absent until a stack's first update. moto never returns it.""",
    source="""CloudFormation API reference, `Stack` data type: LastUpdatedTime "The time the
      stack was last updated. This field will only be returned if the stack has been
      updated at least once." """,
)
def install_last_updated_time() -> None:
    """(64) Installed after every other UpdateStack/ExecuteChangeSet patch (3, 16, 33, 60):
    it wraps theirs. moto's serializer returns a stack's `last_updated_time` as
    `LastUpdatedTime` once the attribute exists."""
    from moto.cloudformation import models as cfn_models
    from moto.core.utils import utcnow

    update_stack = cfn_models.CloudFormationBackend.update_stack
    execute_change_set = cfn_models.CloudFormationBackend.execute_change_set

    def updated(self: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        began = utcnow()
        stack = update_stack(self, name, *args, **kwargs)
        stack.last_updated_time = began
        return stack

    def executed(self: Any, change_set_name: str, stack_name: Any = None) -> Any:
        from .change_sets import _find

        # Found as patch 56 finds it (moto's lookup by name walks the change sets unlocked);
        # one not found is left to the patches below to refuse.
        change_set = _find(self, change_set_name)
        stack = self.stacks.get(change_set.stack_id) if change_set is not None else None
        began = utcnow()
        out = execute_change_set(self, change_set_name, stack_name)
        if stack is not None and change_set.change_set_type == "UPDATE":
            stack.last_updated_time = began
        return out

    cfn_models.CloudFormationBackend.update_stack = updated
    cfn_models.CloudFormationBackend.execute_change_set = executed
