"""RotateToken's local AWS: moto server (pinned in tests/requirements.txt) plus the few
behaviours of real AWS that plain moto lacks and this product depends on.

Run:  python tests/emulator/rotatetoken_emulator.py --port 5055 [--lambda-bridge URL]

Everything here reaches into moto internals, which is why moto is pinned exactly. Each
patch is small and says what AWS does that moto does not (see ../shared/FIELD-NOTES.md):

CloudFormation
  1. Conditions are re-evaluated on update: a resource whose Condition turns false is
     deleted, one whose Condition turns true is created (moto ignores Conditions on update).
  2. `{{resolve:secretsmanager:...}}` and `{{resolve:ssm:...}}` dynamic references are
     resolved when a resource is created or updated (moto stores the literal text), a
     pinned `version-id` to that version's value and an empty one to AWSCURRENT; a
     reference naming both a version-stage and a version-id is refused ("Get an AWS
     Secrets Manager secret in an AWS CloudFormation resource", Secrets Manager user guide:
     `secret-id:SecretString:json-key:version-stage:version-id`, "If you specify
     version-id, then don't specify version-stage"); a version id the secret does not have
     fails the update (ResourceNotFoundException), which rolls back.
  3. Updates are asynchronous: the stack shows UPDATE_IN_PROGRESS for `update_delay_seconds`
     (control endpoint), and UpdateStack on a stack in any *_IN_PROGRESS state is refused
     with AWS's ValidationError.
  4. `UsePreviousValue` works for parameters that took their default at create (moto: 500).
  5. Unknown parameters and values outside `AllowedValues` are rejected as on AWS.
  6. `AWS::SSM::Parameter` without `Name` gets a generated name, as on AWS (moto: 500).
  7. StackStatusReason is reported.
Control endpoints (test-only, under /moto-api/rotatetoken/):
  POST config        {"update_delay_seconds": 1.0, "fail_create": {"<stack name>": ["LogicalId"]}}
                     "update_delay_jitter_seconds": J spreads each update's time uniformly ± J.
                     fail_create: an update that would create that resource rolls back
                     (UPDATE_ROLLBACK_COMPLETE, resources as before), as a failed create does.
  POST stack-status  {"account", "region", "stack", "status", "reason"} forces a status such
                     as UPDATE_ROLLBACK_FAILED.
  GET/POST updates   the log of accepted UpdateStack calls: stack, resolved parameters, result,
                     accepted_at and ended_at (epoch seconds: `make bench`'s refresh overhead).
  GET/POST assumed-roles  the log of AssumeRole calls: role ARN, session name, external ID.
  GET/POST invocations    the log of Lambda invocations: function, duration, memory size.
  GET/POST map-runs  per Distributed Map run: children, and their events, state transitions
                     (StateEntered) and Lambda invocations (`make bench`: cost per stack).
  config also takes  "deny_assume_role": ["<account id>"] and "external_id": "<expected>".
Lambda
  8. Invoke is bridged over HTTP to `cargo lambda watch` (the real Rust handlers) or to
     `sam local start-lambda` (make local-invoke, its X-Amz-Function-Error passed on): the
     function name is the binary name (or the logical id); handler errors become AWS's 200 +
     `X-Amz-Function-Error: Unhandled` with `{errorType, errorMessage}`; the function's
     Timeout is enforced.
EventBridge
  10. Rules deliver matching events to Lambda targets, asynchronously (moto: not implemented).
STS
  11. AssumeRole is refused (AccessDenied) for listed accounts or a wrong external ID.
Step Functions
  12. A Distributed Map's ResultWriter writes SUCCEEDED_0.json and lists it in the manifest
      (moto writes an empty manifest).
  9. State machines are executed by moto's interpreter (config default switched on), and an
     execution started without a name gets a UUID, as on AWS (moto: "...:None").
Fault injection
  13. config {"throttle": {"fraction": 0.3, "services": ["cloudformation", "sts"]}}: that
      fraction of the product's calls (User-Agent app id `rotatetoken-*`) to those services
      gets AWS's 400 Throttling; config's "throttled" counts them.
Request log
  14. GET/POST calls: every request of the product's functions (User-Agent app id), with
      the function, the IAM action and own/assumed credentials (tests/iam.rs). Also the
      authorisations AWS checks without an API call of their own: expanding a Transform on
      CreateStack/UpdateStack is `cloudformation:CreateChangeSet` on the transform; an
      update of a stack with nested stacks (or a change set including them) reads their
      templates, `s3:GetObject`; a GetObject of a key that does not exist, which AWS
      answers with 404 only to a caller allowed `s3:ListBucket` on the bucket (403
      AccessDenied otherwise: "GetObject", S3 API reference), is `s3:ListBucket` too.
Strictness: where AWS refuses, the emulator refuses too (each with its source below)
  15. Step Functions, Distributed Map: failed/timed-out/aborted children count against
      ToleratedFailurePercentage/Count (default 0: one failed child fails the Map with
      States.ExceedToleratedFailureThreshold); FAILED result files list them with Input,
      Error, Cause. moto: a failed child is a `null` result and the Map succeeds. moto's
      grammar only takes a decimal percentage; an integer (valid ASL) is read as the same
      number. Fault: config {"abort_children": ["<stack>"]}.
  16. CloudFormation capabilities: CreateStack/UpdateStack/CreateChangeSet refused with
      InsufficientCapabilitiesException "Requires capabilities : [...]" without
      CAPABILITY_IAM / CAPABILITY_NAMED_IAM (IAM resources, named) or, for direct
      create/update of a template with a Transform, CAPABILITY_AUTO_EXPAND. DescribeStacks
      lists the capabilities given; a change set's without CAPABILITY_AUTO_EXPAND (as
      `sam deploy` leaves stacks). moto: no check, no Capabilities.
  17. `Transform: AWS::Serverless-2016-10-31` expanded with the real SAM translator on
      every create/update (UsePreviousTemplate re-expands the original); GetTemplate
      honours TemplateStage (Original as submitted, Processed expanded). moto: the
      transform is ignored and the stack has no resources.
  19. Cleanup failures: config {"fail_delete": {"<stack>": ["LogicalId"]}} makes the
      deletion of that resource fail when an update removes it: the resource lives on
      outside the stack (not deleted), a DELETE_FAILED resource event says why, and the
      stack still ends UPDATE_COMPLETE, as on AWS.
  20. Stack policies are enforced: an update that deletes a resource the stack policy
      does not allow Update:Delete on rolls back (UPDATE_ROLLBACK_COMPLETE, "Action denied
      by stack policy"). moto stores the policy and ignores it.
  21. UPDATE change sets are computed as the update would run: parameters resolved as an
      update resolves them (UsePreviousValue, defaults, SSM-typed parameters looked up
      again), Conditions evaluated, Changes[].ResourceChange with Action Add/Remove/Modify,
      Replacement, Scope and Details (ChangeSource ParameterReference, CausingEntity).
      moto: a diff of template texts that ignores parameters and conditions.
  23. `AWS::Include` (a top-level Transform or `Fn::Transform`) is processed from S3 on
      every create, update (UsePreviousTemplate too) and change set, so a changed snippet
      shows in a change set and is applied by the next update. moto: not supported.
  24. Session policies are enforced: a session assumed with `Policy` may call only what
      that policy allows (AccessDenied "... because no session policy allows the X
      action", as IAM answers). moto ignores session policies.
  22. Nested stacks (`AWS::CloudFormation::Stack`): the child is its own stack, named
      `<parent>-<LogicalId>-<suffix>`, template from S3, DescribeStacks ParentId/RootId,
      its stack id as physical id; the parent's update updates it in place with the
      parameters now passed (a child rollback rolls the parent back); in change sets a
      nested stack is always Modify (ChangeSource Automatic), and IncludeNestedStacks
      makes a change set per child (ResourceChange.ChangeSetId), deleted with the root's.
      moto: named after the logical id, no ParentId/RootId, replaced on every change.
  25. S3 conditional writes are atomic: PutObject with `If-None-Match: *` or `If-Match`,
      and DeleteObject with `If-Match`, check and write as one step ("Add preconditions to
      S3 operations with conditional requests" and "How to perform conditional deletes",
      Amazon S3 user guide: of concurrent conditional writes to one key, one succeeds and
      the others get 412 PreconditionFailed). moto checks, then writes, on a threaded
      server: two racing creates could both succeed.
  26. Step Functions sends "Step Functions Execution Status Change" events to the default
      event bus when an execution ends (SUCCEEDED, FAILED, TIMED_OUT, ABORTED), with the
      detail AWS documents: executionArn, stateMachineArn, name, status, startDate and
      stopDate (epoch ms), input and output as JSON text, inputDetails/outputDetails
      ("AWS Step Functions events", EventBridge events reference; delivery best effort).
      moto sends none. Fault: config {"drop_status_events": true} loses them, as best
      effort delivery may.
  27. EventBridge TestEventPattern answers {"Result": true|false} with the same matcher
      the rules use, and refuses a malformed pattern with InvalidEventPatternException
      ("TestEventPattern", EventBridge API reference). moto: not implemented.
  18. A `false` update (any update) that leaves a resource or output referring to a
      resource whose Condition became false is refused: ValidationError "Template format
      error: Unresolved resource dependencies [X] in the Resources|Outputs block of the
      template". moto: HTTP 500.
  28. SNS Publish to a topic encrypted with a KMS key (KmsMasterKeyId) uses the key with
      the publisher's credentials: the publisher needs kms:GenerateDataKey* and kms:Decrypt
      on it ("Encryption at rest" and "Enable compatibility between event sources from AWS
      services and encrypted topics", SNS developer guide). Logged as implied calls (14);
      a key that does not exist or is disabled refuses the publish (KMSNotFound,
      KMSDisabled, as the Publish API reference lists). moto ignores the key.
  29. An update changes a resource in place (same physical id) unless a create-only
      property changed, by the type's registry schema (`createOnlyProperties`, AWS's
      schemas as cfn-lint ships them): then it is replaced (new physical id, the old one
      deleted). A custom-named resource that needs replacing is refused, as on AWS.
      Properties are compared with dynamic references as written, so a reference that
      pins another VersionId is a change, and parameters reached through Fn::Sub count.
      Change sets say the same: Replacement True | Conditional | False with
      Details[].Target.Name and RequiresRecreation Always | Conditionally | Never. The
      update log says what each update did: "resources": {deleted, created, modified,
      replaced} with physical ids. moto: SSM parameters are deleted and recreated under a
      new name on every update, parameters in Fn::Sub change nothing, and change sets say
      Replacement Conditional for everything.
  30. Resource times: ListStackResources' LastUpdatedTimestamp and DescribeStackResources'
      Timestamp are "Time the status was updated" (StackResourceSummary, StackResource,
      CloudFormation API reference): the time CloudFormation last created, updated or
      replaced that resource; an update that leaves a resource alone leaves its time alone.
      ResourceStatus is CREATE_COMPLETE or UPDATE_COMPLETE accordingly. moto: the stack's
      creation time (ListStackResources, always CREATE_COMPLETE) or a fixed 2010 date.
Relied on as moto has it (no patch; listed because the product depends on it)
  32. A task result over 256 KiB (262,144 bytes of UTF-8) fails the state with
      States.DataLimitExceeded, "The state/task '...' returned a result with a size
      exceeding the maximum number of bytes service limit." (moto's interpreter,
      stepfunctions/parser/quotas.py; AWS: "Step Functions service quotas", and
      StateEnteredEventDetails.input "Maximum length of 262144", Step Functions API
      reference; the same message as AWS's, quoted in NASA-IMPACT/csdap-cumulus#296).
      Report keeps its output under it (tests/state_machine.rs, the payload-limit test).
Stacks as real tools deploy them (real_shapes.py: each patch's docstring cites its source)
  33. A change set's execution leaves the stack as a direct create/update does: template,
      Outputs, and parameters as given (an SSM-typed parameter keeps its Parameter Store
      name; UsePreviousValue looks it up again). moto: HTTP 500 on every `cdk deploy`
      stack's next CreateChangeSet/UpdateStack (`BootstrapVersion`).
  34. DescribeStacks Parameters: the value given, `ResolvedValue` for SSM-typed ones,
      `****` for NoEcho, lists as comma-delimited text.
  35. `AWS::CDK::Metadata` is a resource (moto: unmodelled, `Add` in every change set).
  36. `Fn::GetAtt` Value and Type of an `AWS::SSM::Parameter` (moto: HTTP 500).
  37. A Lambda function with inline `ZipFile` code is updated in place (moto: "Incorrect
      padding", rollback).
  38. A missing parameter: "Parameters: [X] must have values" (moto: "Missing parameter X").
  39. A dynamic reference to a JSON key the secret lacks fails the resource with "Could not
      find a value associated with JSONKey in SecretString" and the operation rolls back,
      the resources as before (moto: HTTP 500 at create, a KeyError as an update's reason).
  40. A defaulted list-typed parameter is a list, as a given one is (moto: one string, so
      every UsePreviousValue update looked like a change to what reads it).
      Tested on their own: tests/emulator/test_real_shapes.py (in make test).
Secrets Manager
  31. ListSecretVersionIds gives each version's own CreatedDate (SecretVersionsListEntry,
      "The date and time this version of the secret was created", Secrets Manager API
      reference), to the millisecond. moto: the time of the ListSecretVersionIds call.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import random
import re
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from typing import Any

from moto.core.config import default_user_config

import real_shapes

CONTROL: dict[str, Any] = {
    "update_delay_seconds": 0.0,
    "update_delay_jitter_seconds": 0.0,
    "fail_create": {},
    "fail_delete": {},
    "deny_assume_role": [],
    "external_id": None,
    "throttle": {},
    "throttled": 0,
    "drop_status_events": False,
}
# Every UpdateStack the emulator accepted, in order, with the parameters it resolved to and
# how it ended: lets a test prove "false, then true" without trusting the product's report.
UPDATE_LOG: list[dict[str, Any]] = []
# Every Lambda invocation through the bridge: function, duration, memory size (the billed
# GB-seconds of `make bench`'s cost per stack).
INVOCATION_LOG: list[dict[str, Any]] = []
# Per Distributed Map run: the child executions' state transitions and events (`make bench`).
MAP_RUN_LOG: list[dict[str, Any]] = []
LOCK = threading.RLock()
# Checks an update runs before it applies anything: each answers the resources that would
# fail, as (logical id, CREATE_FAILED | UPDATE_FAILED, reason); any makes the update roll
# back with the resources as before (real_shapes, 39).
UPDATE_CHECKS: list[Any] = []
LAMBDA_BRIDGE = os.environ.get("RT_LAMBDA_BRIDGE", "")


# --- CloudFormation ------------------------------------------------------------------------

def _patch_cloudformation() -> None:
    from moto.cloudformation import models as cfn_models
    from moto.cloudformation import parsing
    from moto.cloudformation import responses as cfn_responses
    from moto.cloudformation.exceptions import ValidationError

    def busy_error(stack: Any) -> ValidationError:
        return ValidationError(
            stack.stack_id,
            message=f"Stack:{stack.stack_id} is in {stack.status} state and can not be updated.",
        )

    # (3) Refuse updates of busy stacks before moto's "No updates" check, as AWS does.
    original_validate_different = cfn_responses.CloudFormationResponse._validate_different_update

    def validate_different_update(self: Any, incoming_params: Any, stack_body: Any, old_stack: Any) -> None:
        if str(old_stack.status).endswith("_IN_PROGRESS"):
            raise busy_error(old_stack)
        if str(old_stack.status) in ("UPDATE_ROLLBACK_FAILED", "ROLLBACK_FAILED", "DELETE_FAILED", "ROLLBACK_COMPLETE"):
            raise ValidationError(
                old_stack.stack_id,
                message=f"Stack:{old_stack.stack_id} is in {old_stack.status} state and can not be updated.",
            )
        original_validate_different(self, incoming_params, stack_body, old_stack)

    cfn_responses.CloudFormationResponse._validate_different_update = validate_different_update

    # (4) UsePreviousValue falls back to the value the parameter resolved to at create.
    def resolve_update_parameters(self: Any, instance: Any, incoming_params: list[dict[str, Any]]) -> dict[str, str]:
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

    cfn_models.CloudFormationBackend._resolve_update_parameters = resolve_update_parameters

    # (5) Parameter validation, at create and update.
    def validate_parameters(template_body: Any, values: dict[str, Any]) -> None:
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

    original_create_stack = cfn_models.CloudFormationBackend.create_stack

    def create_stack(self: Any, name: str, template: str, parameters: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        validate_parameters(template, parameters)
        return original_create_stack(self, name, template, parameters, *args, **kwargs)

    cfn_models.CloudFormationBackend.create_stack = create_stack

    # (3) Asynchronous updates, and (fault) injected create failures that roll back.
    original_stack_update = cfn_models.Stack.update

    def backend_update_stack(self: Any, name: str, template: str, role_arn: Any, parameters: Any, tags: Any) -> Any:
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

        def apply() -> None:
            with LOCK:
                denied = _denied_by_stack_policy(stack, template, resolved)
                if denied:
                    stack.status = "UPDATE_ROLLBACK_COMPLETE"
                    stack.stack_status_reason = (
                        f"Action denied by stack policy: Update:Delete is not allowed for resource(s) "
                        f"[{', '.join('LogicalResourceId/' + d for d in denied)}]"
                    )
                    stack._add_stack_event("UPDATE_ROLLBACK_COMPLETE", resource_status_reason=stack.stack_status_reason)
                    entry["result"] = stack.status
                    return
                failing = [
                    logical for logical in CONTROL["fail_create"].get(stack.name, [])
                    if _would_create(stack, template, resolved, logical)
                ]
                if failing:
                    stack.status = "UPDATE_ROLLBACK_COMPLETE"
                    stack.stack_status_reason = (
                        f"The following resource(s) failed to create: [{', '.join(failing)}]. "
                    )
                    stack._add_stack_event("UPDATE_ROLLBACK_COMPLETE", resource_status_reason=stack.stack_status_reason)
                    entry["result"] = stack.status
                    return
                failing = [f for check in UPDATE_CHECKS for f in check(stack, template, resolved)]
                if failing:
                    real_shapes.roll_back(stack, failing, "UPDATE")
                    entry["result"] = stack.status
                    return
                before = _physical_ids(stack)
                # A nested stack's update runs inside its parent's, on the same thread.
                outer, touched = getattr(TOUCHED, "log", None), []
                TOUCHED.log = touched
                try:
                    original_stack_update(stack, template, role_arn, parameters=resolved, tags=tags)
                    stack.stack_status_reason = None
                    _record_cleanup_failures(stack)
                    entry["resources"] = _what_changed(before, _physical_ids(stack), touched)
                except Exception as exc:  # an update moto cannot apply rolls back, as on AWS
                    stack.status = "UPDATE_ROLLBACK_COMPLETE"
                    stack.stack_status_reason = f"Update failed and rolled back: {exc}"
                finally:
                    TOUCHED.log = outer
                entry["result"] = stack.status

        def apply_and_time() -> None:
            apply()
            entry["ended_at"] = time.time()

        # A jitter spreads update times as CloudFormation's own vary (uniform, ± the jitter).
        jitter = float(CONTROL["update_delay_jitter_seconds"])
        delay = max(0.0, float(CONTROL["update_delay_seconds"]) + (random.uniform(-jitter, jitter) if jitter else 0.0))
        if delay <= 0 or getattr(NESTED, "depth", 0) > 0:
            apply_and_time()
        else:
            timer = threading.Timer(delay, apply_and_time)
            timer.daemon = True
            timer.start()
        return stack

    cfn_models.CloudFormationBackend.update_stack = backend_update_stack

    def refuse_unresolved_dependencies(stack: Any, template: str, params: dict[str, Any]) -> None:
        """(18) A resource or output that exists after the update (no Condition, or a true
        one) may not refer to a resource whose Condition is false: CloudFormation refuses
        the update with "Template format error: Unresolved resource dependencies [X] in the
        Resources block of the template" (a ValidationError; seen for a parameter turning a
        condition false in aws-solutions/media-insights-on-aws#145, and for conditional SAM
        resources in aws/serverless-application-model#832). moto: HTTP 500."""
        body = cfn_models.Stack.parse_template(template) if isinstance(template, str) else template
        conditions = (body or {}).get("Conditions") or {}
        if not conditions:
            return
        probe = _probe(stack, body, params)
        value = {name: bool(probe.lazy_condition_map[name]) for name in conditions}
        resources = body.get("Resources") or {}
        absent = {k for k, r in resources.items() if isinstance(r, dict) and r.get("Condition") and not value.get(r["Condition"], True)}
        if not absent:
            return
        for block in ("Resources", "Outputs"):
            found: set[str] = set()
            for item in (body.get(block) or {}).values():
                if not isinstance(item, dict) or (item.get("Condition") and not value.get(item["Condition"], True)):
                    continue
                found |= _references(item, value) & absent
            if found:
                raise ValidationError(
                    message=f"Template format error: Unresolved resource dependencies [{', '.join(sorted(found))}] in the {block} block of the template"
                )

    def _record_cleanup_failures(stack: Any) -> None:
        """(19) A resource removed by an update is deleted during
        UPDATE_COMPLETE_CLEANUP_IN_PROGRESS; when that deletion fails, CloudFormation still
        ends the stack UPDATE_COMPLETE and says so only in the resource's DELETE_FAILED
        event ("Update stacks", CloudFormation User Guide: "if a resource can't be deleted
        during cleanup, the stack update still completes"; the resource is no longer
        managed by the stack). Injected with config {"fail_delete": {"<stack>": ["Id"]}}."""
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

    def _denied_by_stack_policy(stack: Any, template: str, params: dict[str, Any]) -> list[str]:
        """(20) Stack policies are enforced on updates (CloudFormation User Guide, "Prevent
        updates to stack resources"): with a policy set, an update action on a resource is
        denied unless a statement allows it, and an explicit Deny wins. An update that would
        delete a protected resource fails and rolls back. Only Update:Delete (a resource
        whose Condition turns false) is judged here: the other update actions are not
        something the product's updates do. moto stores the policy and ignores it."""
        import fnmatch

        policy_text = getattr(stack, "policy", "") or ""
        if not policy_text.strip():
            return []
        policy = json.loads(policy_text)
        statements = policy.get("Statement", [])
        statements = statements if isinstance(statements, list) else [statements]
        body = cfn_models.Stack.parse_template(template)
        conditions = body.get("Conditions") or {}
        probe = _probe(stack, body, params)
        value = {name: bool(probe.lazy_condition_map[name]) for name in conditions}

        def listed(stmt: dict, key: str, not_key: str, item: str) -> bool:
            for k, negate in ((key, False), (not_key, True)):
                if k in stmt:
                    pats = stmt[k] if isinstance(stmt[k], list) else [stmt[k]]
                    hit = any(fnmatch.fnmatchcase(item, p) for p in pats)
                    return hit != negate
            return False

        def cond_ok(stmt: dict, rtype: str) -> bool:
            for op, tests in (stmt.get("Condition") or {}).items():
                want = tests.get("ResourceType")
                if want is None:
                    continue
                want = want if isinstance(want, list) else [want]
                if op == "StringEquals" and rtype not in want:
                    return False
                if op == "StringLike" and not any(fnmatch.fnmatchcase(rtype, w) for w in want):
                    return False
            return True

        denied = []
        for logical, res in (body.get("Resources") or {}).items():
            cond = res.get("Condition") if isinstance(res, dict) else None
            if not cond or value.get(cond, True) or logical not in stack.resource_map._parsed_resources:
                continue
            target = f"LogicalResourceId/{logical}"
            def applies(effect: str) -> bool:
                return any(
                    st.get("Effect") == effect and listed(st, "Action", "NotAction", "Update:Delete")
                    and listed(st, "Resource", "NotResource", target) and cond_ok(st, res.get("Type", ""))
                    for st in statements
                )
            if applies("Deny") or not applies("Allow"):
                denied.append(logical)
        return denied

    def _would_create(stack: Any, template: str, params: dict[str, Any], logical: str) -> bool:
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
        probe = _probe(stack, stack.template_dict, params)
        return bool(probe.lazy_condition_map[condition])

    # (1) Conditions re-evaluated on update.
    original_rm_update = parsing.ResourceMap.update

    def rm_update(self: Any, template: dict[str, Any], parameters: dict[str, Any] | None = None) -> None:
        original_rm_update(self, template, parameters)
        # (29) moto decides what to modify from `Ref`s only: a parameter reached through
        # Fn::Sub (a version-pinned dynamic reference) changed nothing. Every resource
        # whose declared properties now differ is updated, in place or by replacement.
        for logical, resource_json in list(self._resource_json_map.items()):
            existing = self._parsed_resources.get(logical)
            if existing is None or resource_json.get("Type") == NESTED_TYPE or not hasattr(existing, "rt_props"):
                continue
            if _declared_properties(resource_json, self) != existing.rt_props:
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

    parsing.ResourceMap.update = rm_update
    _patch_in_place_updates()
    _patch_resource_times()
    _patch_secret_version_dates()

    # (2) Dynamic references, resolved whenever moto builds a resource's properties.
    original_parse_resource = parsing.parse_resource

    def parse_resource(resource_json: Any, resources_map: Any) -> Any:
        parsed = original_parse_resource(resource_json, resources_map)
        if not parsed:
            return parsed
        resource_class, cleaned, resource_type = parsed
        cleaned = _resolve_dynamic_refs(cleaned, resources_map._account_id, resources_map._region_name)
        return resource_class, cleaned, resource_type

    parsing.parse_resource = parse_resource

    # (1) A resource whose Condition is false does not exist: leave it out of the listings.
    cfn_models.Stack.stack_resources = property(
        lambda self: [r for r in self.resource_map.values() if r is not None and not isinstance(r, str)]
    )

    # (7) StackStatusReason in DescribeStacks.
    cfn_models.Stack.stack_status_reason = None

    # (6) SSM parameters without a Name get the generated name.
    from moto.ssm import models as ssm_models

    original_ssm_create = ssm_models.Parameter.create_from_cloudformation_json.__func__

    def ssm_create(cls: Any, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any) -> Any:
        props = cloudformation_json.setdefault("Properties", {})
        props.setdefault("Name", resource_name)
        return original_ssm_create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)

    ssm_models.Parameter.create_from_cloudformation_json = classmethod(ssm_create)


# --- CloudFormation: update in place, or replace -------------------------------------------

# Every update of the emulator, to the resources it touched: (logical id, action) with the
# action `Modify` (in place) or `Replace`, read by the update log (UPDATE_LOG "resources").
TOUCHED = threading.local()


def _declared_properties(resource_json: dict[str, Any], resources_map: Any) -> Any:
    """A resource's properties as CloudFormation compares them on update: parameters and
    intrinsic functions evaluated, dynamic references left as written. CloudFormation never
    resolves a `{{resolve:...}}` to compare it ("Using dynamic references": "CloudFormation
    doesn't detect ... when the value of the referenced secret changes"; a reference that
    pins another VersionId is a changed property)."""
    from moto.cloudformation import parsing

    return parsing.clean_json(copy.deepcopy(resource_json.get("Properties") or {}), resources_map)


_SCHEMA_CACHE: dict[tuple[str, str], list[list[str]]] = {}


def create_only_paths(resource_type: str, region: str) -> list[list[str]]:
    """The properties of a resource type whose change replaces the resource: its registry
    schema's `createOnlyProperties` ("Resource type schema", CloudFormation CLI user guide:
    "createOnlyProperties: a list of JSON pointers to properties that can only be specified
    when the resource is created; changing them requires the resource to be replaced";
    "Update behaviors of stack resources": Replacement). The schemas are AWS's own, as
    shipped in cfn-lint (pinned in tests/requirements.txt). A type with no schema
    (Custom::*, third-party) is updated in place."""
    key = (resource_type, region)
    if key not in _SCHEMA_CACHE:
        import cfnlint

        base = os.path.join(os.path.dirname(cfnlint.__file__), "data", "schemas")
        providers_file = os.path.join(base, "providers", f"{region}.json")
        if not os.path.exists(providers_file):
            providers_file = os.path.join(base, "providers", "us-east-1.json")
        with open(providers_file) as f:
            digest = json.load(f).get(resource_type)
        paths: list[list[str]] = []
        if digest:
            with open(os.path.join(base, "resources", f"{digest}.json")) as f:
                schema = json.load(f)
            for pointer in schema.get("createOnlyProperties", []):
                parts = pointer.strip("/").split("/")
                if parts and parts[0] == "properties" and len(parts) > 1:
                    paths.append(parts[1:])
        _SCHEMA_CACHE[key] = paths
    return _SCHEMA_CACHE[key]


def _at(props: Any, path: list[str]) -> Any:
    for part in path:
        if not isinstance(props, dict):
            return None
        props = props.get(part)
    return props


def replacing_properties(resource_type: str, region: str, old: Any, new: Any) -> list[str]:
    """The create-only properties that differ between `old` and `new` (top-level names)."""
    return sorted({path[0] for path in create_only_paths(resource_type, region) if _at(old, path) != _at(new, path)})


def _patch_in_place_updates() -> None:
    """(29) An update changes a resource in place unless a create-only property changed:
    the resource keeps its physical id ("Update behaviors of stack resources": Update with
    No interruption / Some interruption keep the physical ID; Replacement "generates a new
    physical ID", creates the new resource first and deletes the old one during cleanup).
    A resource with a custom name that needs replacing cannot be updated: AWS refuses with
    "CloudFormation cannot update a stack when a custom-named resource requires replacing.
    Rename <name> and update the stack again." moto updates SSM parameters by deleting them
    and recreating them under a new generated name, and updates nothing whose parameter is
    reached through Fn::Sub."""
    from moto.cloudformation import parsing

    original_create = parsing.parse_and_create_resource

    def parse_and_create_resource(logical_id: str, resource_json: dict[str, Any], resources_map: Any, account_id: str, region_name: str) -> Any:
        declared = _declared_properties(resource_json, resources_map) if resource_json.get("Type") != NESTED_TYPE else None
        resource = original_create(logical_id, resource_json, resources_map, account_id=account_id, region_name=region_name)
        if resource is not None and declared is not None:
            resource.rt_props = declared
        if resource is not None:
            _stamp(resource, "CREATE_COMPLETE")
        return resource

    parsing.parse_and_create_resource = parse_and_create_resource

    original_update = parsing.parse_and_update_resource

    def parse_and_update_resource(logical_id: str, resource_json: dict[str, Any], resources_map: Any, account_id: str, region_name: str) -> Any:
        original = resources_map._parsed_resources.get(logical_id)
        if resource_json.get("Type") == NESTED_TYPE or not hasattr(original, "rt_props"):
            return original_update(logical_id, resource_json, resources_map, account_id=account_id, region_name=region_name)
        declared = _declared_properties(resource_json, resources_map)
        if declared == original.rt_props:
            return original  # nothing changed: CloudFormation leaves the resource alone
        touched = getattr(TOUCHED, "log", None)
        resource_type = resource_json["Type"]
        replacing = replacing_properties(resource_type, region_name, original.rt_props, declared)
        if replacing:
            name_property = parsing.resource_name_property_from_type(resource_type)
            if name_property and name_property in declared and declared.get(name_property) == original.rt_props.get(name_property):
                raise ValueError(
                    "CloudFormation cannot update a stack when a custom-named resource requires replacing. "
                    f"Rename {declared[name_property]} and update the stack again."
                )
            resource_class, cleaned, new_name = parsing.parse_resource_and_generate_name(logical_id, resource_json, resources_map)
            replacement = resource_class.create_from_cloudformation_json(
                new_name, cleaned, account_id, region_name,
                LogicalId=logical_id, StackId=resources_map.stack_id, ResourceType=resource_type,
            )
            replacement.cf_resource_type = resource_type
            replacement.logical_resource_id = logical_id
            replacement.rt_props = declared
            _stamp(replacement, "CREATE_COMPLETE")
            resources_map._delete_resource(original, resource_json)  # cleanup deletes the old one
            if touched is not None:
                touched.append((logical_id, "Replace"))
            return replacement
        resource_class, cleaned, _ = parsing.parse_resource_and_generate_name(logical_id, resource_json, resources_map)
        if hasattr(resource_class.update_from_cloudformation_json, "__isabstractmethod__"):
            raise NotImplementedError(f"the emulator cannot update {resource_type} {logical_id} in place")
        physical = getattr(original, "physical_resource_id", None) or getattr(original, "name", None)
        updated = resource_class.update_from_cloudformation_json(
            original_resource=original, new_resource_name=physical, cloudformation_json=cleaned,
            account_id=account_id, region_name=region_name,
        )
        updated.cf_resource_type = resource_type
        updated.logical_resource_id = logical_id
        updated.rt_props = declared
        _stamp(updated, "UPDATE_COMPLETE")
        if touched is not None:
            touched.append((logical_id, "Modify"))
        return updated

    parsing.parse_and_update_resource = parse_and_update_resource


def _stamp(resource: Any, status: str) -> None:
    """(30) When CloudFormation last acted on this resource, and how."""
    from moto.core.utils import utcnow

    try:
        resource.rt_updated_at = utcnow()
        resource.rt_status = status
    except AttributeError:  # a model that refuses new attributes keeps moto's answer
        pass


def _patch_resource_times() -> None:
    """(30) Per-resource times and statuses in ListStackResources and DescribeStackResources."""
    from moto.cloudformation import responses
    from moto.core.responses import ActionResult

    dto_init = responses.StackResourceDTO.__init__

    def init(self: Any, stack: Any, resource: Any) -> None:
        dto_init(self, stack, resource)
        at = getattr(resource, "rt_updated_at", None)
        if at is not None:
            self.timestamp = at
            self.resource_status = getattr(resource, "rt_status", self.resource_status)

    responses.StackResourceDTO.__init__ = init

    def list_stack_resources(self: Any) -> Any:
        stack, resources = self.cloudformation_backend.list_stack_resources(self._get_param("StackName"))
        return ActionResult({
            "StackResourceSummaries": [
                {
                    "ResourceStatus": getattr(r, "rt_status", "CREATE_COMPLETE"),
                    "LogicalResourceId": getattr(r, "logical_resource_id", ""),
                    "LastUpdatedTimestamp": getattr(r, "rt_updated_at", None) or stack.creation_time,
                    "PhysicalResourceId": getattr(r, "physical_resource_id", ""),
                    "ResourceType": getattr(r, "cf_resource_type", ""),
                }
                for r in resources
            ]
        })

    responses.CloudFormationResponse.list_stack_resources = list_stack_resources


def _patch_secret_version_dates() -> None:
    """(31) Each secret version's own creation time, to the millisecond, in ListSecretVersionIds."""
    from moto.secretsmanager.models import SecretsManagerBackend

    created: dict[str, float] = {}  # version id -> epoch seconds

    def stamping(name: str) -> None:
        original = getattr(SecretsManagerBackend, name)

        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            out = original(self, *args, **kwargs)
            now = time.time()
            for secret in list(self.secrets.values()):
                for version_id in getattr(secret, "versions", {}) or {}:
                    created.setdefault(version_id, now)
            return out

        setattr(SecretsManagerBackend, name, wrapper)

    for name in ("create_secret", "put_secret_value", "update_secret", "rotate_secret"):
        stamping(name)

    original_list = SecretsManagerBackend.list_secret_version_ids

    def list_secret_version_ids(self: Any, secret_id: str, *args: Any, **kwargs: Any) -> str:
        answer = json.loads(original_list(self, secret_id, *args, **kwargs))
        secret = self.secrets[secret_id]
        for v in answer.get("Versions", []):
            at = created.get(v["VersionId"])
            if at is None:
                at = secret.versions[v["VersionId"]].get("createdate", time.time())
            v["CreatedDate"] = round(at, 3)
            v.pop("LastAccessedDate", None)  # never accessed: the pipeline reads no value
        return json.dumps(answer)

    SecretsManagerBackend.list_secret_version_ids = list_secret_version_ids


# --- CloudFormation: nested stacks ---------------------------------------------------------

NESTED_TYPE = "AWS::CloudFormation::Stack"
# Set while a parent's update applies its nested stacks' updates: they run inside the
# parent's update (the parent ends only when its children have), never on a timer of their own.
NESTED = threading.local()


def _patch_nested_stacks() -> None:
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
    from moto.cloudformation.utils import get_stack_from_s3_url
    from moto.utilities.utils import get_partition

    cfn_models.Stack.parent_id = None
    cfn_models.Stack.root_id = None

    def physical_resource_id(self: Any) -> str:
        return self.stack_id if self.parent_id else self.name

    cfn_models.Stack.physical_resource_id = property(physical_resource_id)

    def child_parameters(properties: dict[str, Any]) -> dict[str, str]:
        out = {}
        for key, value in (properties.get("Parameters") or {}).items():
            if isinstance(value, bool):
                value = "true" if value else "false"
            elif isinstance(value, list):
                value = ",".join(map(str, value))
            out[key] = str(value)
        return out

    def create(cls: Any, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kwargs: Any) -> Any:
        backend = cfn_models.cloudformation_backends[account_id][region_name]
        properties = cloudformation_json["Properties"]
        template = get_stack_from_s3_url(properties["TemplateURL"], account_id=account_id, partition=get_partition(region_name))
        parent = backend.get_stack(kwargs["StackId"]) if kwargs.get("StackId") else None
        with LOCK:
            child = backend.create_stack(name=resource_name, template=template, parameters=child_parameters(properties))
            if parent is not None:
                child.parent_id = parent.stack_id
                child.root_id = parent.root_id or parent.stack_id
        return child

    def update(cls: Any, original_resource: Any, new_resource_name: str, cloudformation_json: Any, account_id: str, region_name: str) -> Any:
        backend = cfn_models.cloudformation_backends[account_id][region_name]
        properties = cloudformation_json["Properties"]
        template = get_stack_from_s3_url(properties["TemplateURL"], account_id=account_id, partition=get_partition(region_name))
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

    cfn_models.Stack.create_from_cloudformation_json = classmethod(create)
    cfn_models.Stack.update_from_cloudformation_json = classmethod(update)


def _nested_value(node: Any, params: dict[str, Any], conditions: dict[str, bool]) -> Any:
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
            return _nested_value(value[1] if conditions[value[0]] else value[2], params, conditions)
        if key == "Fn::Sub" and isinstance(value, str):
            names = re.findall(r"\$\{([^!}][^}]*)\}", value)
            if all(n in params for n in names):
                return re.sub(r"\$\{([^!}][^}]*)\}", lambda m: str(params[m.group(1)]), value)
    return None


# --- CloudFormation: capabilities and transforms ------------------------------------------

# CloudFormation User Guide, "Acknowledging IAM resources in CloudFormation templates", and
# the UpdateStack/CreateStack API reference ("Capabilities"): these types need CAPABILITY_IAM
# or CAPABILITY_NAMED_IAM; with a custom name (the property here), only CAPABILITY_NAMED_IAM.
IAM_TYPES = {
    "AWS::IAM::AccessKey": None,
    "AWS::IAM::Group": "GroupName",
    "AWS::IAM::InstanceProfile": "InstanceProfileName",
    "AWS::IAM::ManagedPolicy": "ManagedPolicyName",
    "AWS::IAM::Policy": None,
    "AWS::IAM::Role": "RoleName",
    "AWS::IAM::User": "UserName",
    "AWS::IAM::UserToGroupAddition": None,
}
SAM_TRANSFORM = "AWS::Serverless-2016-10-31"


class InsufficientCapabilities(Exception):
    pass


def _transforms(template: dict[str, Any]) -> list[str]:
    """The template's transforms: the top-level `Transform` and every `Fn::Transform`."""
    t = template.get("Transform") or []
    t = [t] if isinstance(t, (str, dict)) else t
    names = [x if isinstance(x, str) else str(x.get("Name")) for x in t]

    def scan(node: Any) -> None:
        if isinstance(node, dict):
            inner = node.get("Fn::Transform")
            if isinstance(inner, dict):
                names.append(str(inner.get("Name")))
            for v in node.values():
                scan(v)
        elif isinstance(node, list):
            for v in node:
                scan(v)

    scan({k: v for k, v in template.items() if k != "Transform"})
    return names


INCLUDE = "AWS::Include"


def include_expand(template: dict[str, Any], account: str, parse: Any) -> dict[str, Any]:
    """(23) `AWS::Include` (User Guide, "AWS::Include transform"): the snippet at
    `Parameters.Location` (an S3 URI or URL) is read and put in place of the
    `Fn::Transform` (merged into the mapping that holds it), or merged into the template for
    a top-level `Transform`. CloudFormation keeps the original template and processes it
    again on every create, update (UsePreviousTemplate included) and change set, so a
    snippet changed in S3 changes the stack at its next update. moto: not supported."""
    from moto.s3.models import s3_backends

    def fetch(location: str) -> Any:
        m = re.match(r"s3://([^/]+)/(.+)", location) or re.match(r"https://s3[.a-z0-9-]*\.amazonaws\.com/([^/]+)/(.+)", location) \
            or re.match(r"https://([^.]+)\.s3[.a-z0-9-]*\.amazonaws\.com/(.+)", location)
        if not m:
            raise ValueError(f"Transform {INCLUDE} failed with: invalid Location {location}")
        body = s3_backends[account]["aws"].get_object(m.group(1), m.group(2)).value.decode("utf-8")
        return parse(body)

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            inner = node.get("Fn::Transform")
            if isinstance(inner, dict) and inner.get("Name") == INCLUDE:
                snippet = walk(fetch((inner.get("Parameters") or {}).get("Location", "")))
                rest = {k: walk(v) for k, v in node.items() if k != "Fn::Transform"}
                return {**snippet, **rest} if isinstance(snippet, dict) else snippet
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    out = walk(template)
    top = out.get("Transform")
    listed = [top] if isinstance(top, (str, dict)) else list(top or [])
    for t in [t for t in listed if isinstance(t, dict) and t.get("Name") == INCLUDE]:
        listed.remove(t)
        out = {**out, **walk(fetch((t.get("Parameters") or {}).get("Location", "")))}
    if top is not None:
        if listed:
            out["Transform"] = listed
        else:
            out.pop("Transform", None)
    return out


def required_capabilities(original: dict[str, Any], processed: dict[str, Any], via_change_set: bool) -> list[str]:
    """(16) What CloudFormation requires acknowledged for this template. IAM resources are
    judged on the processed template (whatever their Condition: the check is on the
    template). CAPABILITY_AUTO_EXPAND: a template with a Transform (macros, AWS::Include,
    AWS::Serverless) created or updated directly, not through a change set (UpdateStack API
    reference: "If your stack template contains one or more macros, and you choose to
    create a stack directly from the processed template, without first reviewing the
    resulting changes in a change set, you must acknowledge this capability. This
    includes the AWS::Include and AWS::Serverless transforms")."""
    needed: list[str] = []
    named = False
    iam = False
    for res in ((processed or {}).get("Resources") or {}).values():
        if not isinstance(res, dict) or res.get("Type") not in IAM_TYPES:
            continue
        iam = True
        name_prop = IAM_TYPES[res["Type"]]
        if name_prop and name_prop in (res.get("Properties") or {}):
            named = True
    if named:
        needed.append("CAPABILITY_NAMED_IAM")
    elif iam:
        needed.append("CAPABILITY_IAM")
    if _transforms(original) and not via_change_set:
        needed.append("CAPABILITY_AUTO_EXPAND")
    return needed


def check_capabilities(original: dict[str, Any], processed: dict[str, Any], given: list[str], via_change_set: bool) -> None:
    missing = []
    for cap in required_capabilities(original, processed, via_change_set):
        if cap == "CAPABILITY_IAM" and ("CAPABILITY_IAM" in given or "CAPABILITY_NAMED_IAM" in given):
            continue
        if cap not in given:
            missing.append(cap)
    if missing:
        raise InsufficientCapabilities(f"Requires capabilities : [{', '.join(missing)}]")


def sam_expand(template: dict[str, Any], region: str, account: str) -> dict[str, Any]:
    """(17) `Transform: AWS::Serverless-2016-10-31` expanded by the real SAM translator
    (`aws-sam-translator`, pinned: the library SAM itself uses), as CloudFormation does on
    every create and update, also with UsePreviousTemplate (the original template is kept
    and re-expanded)."""
    import boto3
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    session = boto3.Session(region_name=region, aws_access_key_id="x", aws_secret_access_key="x")
    translator = Translator({}, Parser(), boto_session=session)
    return translator.translate(copy.deepcopy(template), {"AWS::AccountId": account}, get_managed_policy_map=lambda: {})


def _patch_change_sets() -> None:
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
    from moto.cloudformation import parsing
    from moto.cloudformation import responses as cfn_responses
    from moto.cloudformation.exceptions import ValidationError

    original_create = cfn_responses.CloudFormationResponse.create_change_set

    def create_change_set(self: Any) -> Any:
        if self._get_param("ChangeSetType", "CREATE") != "UPDATE":
            return original_create(self)
        from moto.core.responses import ActionResult

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
            _nested_change_sets(self.cloudformation_backend, self.cloudformation_backend.change_sets[change_set_id], stack.account_id, stack.region_name)
        return ActionResult({"Id": change_set_id, "StackId": stack_id})

    cfn_responses.CloudFormationResponse.create_change_set = create_change_set

    original_delete = cfn_models.CloudFormationBackend.delete_change_set

    def delete_change_set(self: Any, change_set_name: str) -> None:
        """(22) Deleting a root change set deletes its nested change sets ("Change sets for
        nested stacks": delete from the root change set)."""
        cs = self.describe_change_set(change_set_name)
        for child_id in getattr(cs, "rt_nested", []):
            if child_id in self.change_sets:
                delete_change_set(self, child_id)
        original_delete(self, cs.change_set_id)

    cfn_models.CloudFormationBackend.delete_change_set = delete_change_set

    original_diff = cfn_models.ChangeSet.diff

    def diff(self: Any) -> list[Any]:
        if self.change_set_type != "UPDATE":
            return original_diff(self)
        stack = self.stack
        old_map = stack.resource_map
        old = dict(getattr(old_map, "resolved_parameters", {}) or {})
        probe = _probe(stack, self.template_dict, dict(self.parameters))
        new = dict(probe.resolved_parameters)
        changed = {k for k in set(old) | set(new) if not k.startswith("AWS::") and str(old.get(k)) != str(new.get(k))}
        conditions = self.template_dict.get("Conditions") or {}
        new_cond = {c: bool(probe.lazy_condition_map[c]) for c in conditions}
        old_cond = {c: bool(old_map.lazy_condition_map[c]) for c in conditions}
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
                changes.append(_resource_change("Remove", logical, res, physical, None, [], []))
            elif wanted and not exists:
                changes.append(_resource_change("Add", logical, res, None, None, [], []))
            elif exists:
                changed_conditions = {c for c in conditions if old_cond[c] != new_cond[c]}
                by_property = {
                    name: sorted(_parameters_used(value, conditions, changed_conditions) & changed)
                    for name, value in (res.get("Properties") or {}).items()
                }
                by_property = {name: causes for name, causes in by_property.items() if causes}
                if by_property:
                    # (29) Replacement from the type's create-only properties: Always when
                    # the property itself is create-only, Conditionally when only a part of
                    # it is; a nested stack is updated in place, never replaced.
                    paths = [] if res.get("Type") == NESTED_TYPE else create_only_paths(res.get("Type", ""), stack.region_name)
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
                    changes.append(_resource_change("Modify", logical, res, physical, replacement, ["Properties"], details))
                elif res.get("Type") == NESTED_TYPE:
                    # (22) A nested stack is always Modify: its template may have changed
                    # behind the same TemplateURL (ResourceChangeDetail, ChangeSource
                    # "Automatic").
                    details = [{"Target": {"Attribute": "Properties", "RequiresRecreation": "Never"},
                                "Evaluation": "Dynamic", "ChangeSource": "Automatic"}]
                    changes.append(_resource_change("Modify", logical, res, physical, "False", ["Properties"], details))
        self.rt_probe = (new, new_cond)
        return changes

    cfn_models.ChangeSet.diff = diff


def _nested_change_sets(backend: Any, cs: Any, account: str, region: str) -> None:
    """(22) IncludeNestedStacks: every nested stack the change set modifies gets a change
    set of its own, computed as the child's update would run (TemplateURL read again, the
    parameters the parent would pass), its id in the parent's ResourceChange.ChangeSetId
    ("Change sets for nested stacks", CreateChangeSet IncludeNestedStacks)."""
    from moto.cloudformation.utils import get_stack_from_s3_url
    from moto.utilities.utils import get_partition

    params, conditions = getattr(cs, "rt_probe", ({}, {}))
    resources = cs.template_dict.get("Resources") or {}
    cs.rt_nested = []
    for change in cs.changes:
        if change.get("ResourceType") != NESTED_TYPE or change.get("Action") != "Modify":
            continue
        props = (resources.get(change["LogicalResourceId"]) or {}).get("Properties") or {}
        child = backend.get_stack(change["PhysicalResourceId"])
        template = get_stack_from_s3_url(props["TemplateURL"], account_id=account, partition=get_partition(region))
        incoming = []
        for key, node in (props.get("Parameters") or {}).items():
            value = _nested_value(node, params, conditions)
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
        _nested_change_sets(backend, nested, account, region)


def _probe(stack: Any, template: dict[str, Any], params: dict[str, Any]) -> Any:
    """The stack's template loaded with these parameters, without touching the stack: its
    conditions (`lazy_condition_map`) and resolved parameters, as an update would see them."""
    from moto.cloudformation import parsing

    probe = parsing.ResourceMap(
        stack.stack_id, stack.name, params, stack.tags, stack.region_name,
        stack.account_id, copy.deepcopy(template), stack.cross_stack_resources,
    )
    probe.load()
    return probe


def _physical_ids(stack: Any) -> dict[str, str]:
    """The stack's live resources: logical id -> physical id."""
    out = {}
    for logical, resource in stack.resource_map._parsed_resources.items():
        if resource is None or isinstance(resource, str) or logical.startswith("AWS::"):
            continue
        if logical not in (stack.resource_map._resource_json_map or {}):
            continue
        out[logical] = str(getattr(resource, "physical_resource_id", None) or getattr(resource, "name", logical))
    return out


def _what_changed(before: dict[str, str], after: dict[str, str], touched: list) -> dict[str, list]:
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


def _resource_change(action: str, logical: str, res: dict, physical: Any, replacement: Any, scope: list, details: list) -> dict:
    rc: dict[str, Any] = {"Action": action, "LogicalResourceId": logical, "ResourceType": res.get("Type"), "Scope": scope, "Details": details}
    if physical:
        rc["PhysicalResourceId"] = physical
    if replacement:
        rc["Replacement"] = replacement
    return rc  # moto's serializer wraps each as {"Type": "Resource", "ResourceChange": ...}


def _parameters_used(node: Any, conditions: dict, changed_conditions: set) -> set[str]:
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
                    out |= _parameters_used(v[1], conditions, changed_conditions)
            elif k == "Fn::If" and isinstance(v, list) and v:
                if v[0] in changed_conditions:
                    out |= _parameters_used(conditions.get(v[0]), conditions, changed_conditions)
                out |= _parameters_used(v[1:], conditions, changed_conditions)
            elif k == "Condition" and isinstance(v, str):
                out |= _parameters_used(conditions.get(v), conditions, changed_conditions)
            else:
                out |= _parameters_used(v, conditions, changed_conditions)
    elif isinstance(node, list):
        for item in node:
            out |= _parameters_used(item, conditions, changed_conditions)
    return out


def _patch_capabilities_and_transforms() -> None:
    from moto.cloudformation import models as cfn_models
    from moto.cloudformation import responses as cfn_responses
    from moto.cloudformation.exceptions import CloudFormationError, ValidationError

    class InsufficientCapabilitiesException(CloudFormationError):
        code = "InsufficientCapabilitiesException"

    original_parse = cfn_models.Stack.parse_template

    def parse_template(template: str) -> dict[str, Any]:
        parsed = original_parse(template)
        if isinstance(parsed, dict) and INCLUDE in _transforms(parsed):
            parsed = include_expand(parsed, getattr(PARSE_CONTEXT, "account", "123456789012"), original_parse)
        if isinstance(parsed, dict) and SAM_TRANSFORM in _transforms(parsed):
            region = getattr(PARSE_CONTEXT, "region", "us-east-1")
            account = getattr(PARSE_CONTEXT, "account", "123456789012")
            return sam_expand(parsed, region, account)
        return parsed

    cfn_models.Stack.parse_template = staticmethod(parse_template)

    def _parse_template_cs(self: Any) -> None:
        self.template_dict = parse_template(self.template)

    cfn_models.ChangeSet._parse_template = _parse_template_cs

    def _parse_template_stack(self: Any) -> None:
        PARSE_CONTEXT.region = getattr(self, "region_name", None) or getattr(PARSE_CONTEXT, "region", "us-east-1")
        PARSE_CONTEXT.account = self.account_id
        self.template_dict = parse_template(self.template)

    cfn_models.Stack._parse_template = _parse_template_stack

    def given(self: Any) -> list[str]:
        caps = self._get_param("Capabilities") or []
        return [c for c in caps if isinstance(c, str)]

    def guarded(action: str, via_change_set: bool) -> Any:
        original = getattr(cfn_responses.CloudFormationResponse, action)

        def handler(self: Any) -> Any:
            body = self._get_param("TemplateBody")
            if self._get_bool_param("UsePreviousTemplate", False) or (not body and action == "update_stack"):
                body = self.cloudformation_backend.get_stack(self._get_param("StackName")).template
            elif not body and self._get_param("TemplateURL"):
                body = self._get_stack_from_s3_url(self._get_param("TemplateURL"))
            caps = given(self)
            if body:
                PARSE_CONTEXT.region, PARSE_CONTEXT.account = self.region, self.current_account
                raw = original_parse(body)
                try:
                    processed = parse_template(body)
                except Exception as exc:  # SAM's own validation errors, as CloudFormation reports them
                    raise ValidationError(message=f"Transform {SAM_TRANSFORM} failed with: {exc}")
                try:
                    check_capabilities(raw, processed, caps, via_change_set)
                except InsufficientCapabilities as exc:
                    raise InsufficientCapabilitiesException(str(exc))
                if _transforms(raw):
                    # Expanding a transform is authorised as CreateChangeSet on the
                    # transform's ARN, for the caller (CloudFormation User Guide,
                    # "Controlling access with IAM": arn:aws:cloudformation:<region>:aws:transform/Serverless-2016-10-31).
                    _log_implied_call(self, "cloudformation:CreateChangeSet")
            result = original(self)
            # (22) An update, or a change set with IncludeNestedStacks, reads each nested
            # stack's TemplateURL again with the caller's credentials: s3:GetObject for it
            # (an "S3 error: Access Denied" when not allowed is a known failure of nested
            # updates, e.g. aws-solutions-library-samples/cloud-intelligence-dashboards-data-collection#417).
            reads_nested = action == "update_stack" or (
                action == "create_change_set" and self._get_bool_param("IncludeNestedStacks", False))
            if body and reads_nested and any(
                isinstance(r, dict) and r.get("Type") == NESTED_TYPE for r in (processed.get("Resources") or {}).values()
            ):
                _log_implied_call(self, "s3:GetObject")
            stack_name = self._get_param("StackName")
            # DescribeStacks lists the capabilities of the last direct create/update; a
            # change set's are recorded without CAPABILITY_AUTO_EXPAND (field notes: stacks
            # deployed by `sam deploy` or the console never list it).
            if action == "create_change_set":
                CHANGE_SET_CAPS[(self.current_account, self.region, stack_name)] = [c for c in caps if c != "CAPABILITY_AUTO_EXPAND"]
            elif action in ("create_stack", "update_stack"):
                with LOCK:
                    try:
                        self.cloudformation_backend.get_stack(stack_name).capabilities = caps
                    except Exception:
                        pass
            return result

        setattr(cfn_responses.CloudFormationResponse, action, handler)

    guarded("create_stack", via_change_set=False)
    guarded("update_stack", via_change_set=False)
    guarded("create_change_set", via_change_set=True)

    original_execute = cfn_models.CloudFormationBackend.execute_change_set

    def execute_change_set(self: Any, change_set_name: str, stack_name: Any = None) -> None:
        original_execute(self, change_set_name, stack_name)
        for stack in self.stacks.values():
            caps = CHANGE_SET_CAPS.get((self.account_id, self.region_name, stack.name))
            if caps is not None and stack.status.endswith("_COMPLETE"):
                stack.capabilities = caps

    cfn_models.CloudFormationBackend.execute_change_set = execute_change_set
    cfn_models.Stack.capabilities = []

    # GetTemplate honours TemplateStage: Original (the default) is the template as
    # submitted, Processed the one after transforms (GetTemplate API reference).
    def get_template(self: Any) -> Any:
        from moto.core.responses import ActionResult

        stack = self.cloudformation_backend.get_stack(self._get_param("StackName"))
        body = stack.template
        if self._get_param("TemplateStage") == "Processed":
            raw = original_parse(body)
            if isinstance(raw, dict) and _transforms(raw):
                PARSE_CONTEXT.region, PARSE_CONTEXT.account = stack.region_name, stack.account_id
                body = json.dumps(parse_template(body))
        return ActionResult({"TemplateBody": body, "StagesAvailable": ["Original", "Processed"]})

    cfn_responses.CloudFormationResponse.get_template = get_template


PARSE_CONTEXT = threading.local()
CHANGE_SET_CAPS: dict[tuple[str, str, str], list[str]] = {}


def _log_implied_call(response: Any, action: str) -> None:
    """An authorisation AWS checks without an API call of its own, logged for the caller
    as the request log (14) logs calls."""
    agent = " ".join(str(response.headers.get(h, "")) for h in ("User-Agent", "X-Amz-User-Agent"))
    app = re.search(r"app/(rotatetoken-[a-z]+)", agent)
    auth = str(response.headers.get("Authorization", ""))
    key = re.search(r"Credential=([^/]+)/", auth)
    if app and key:
        with LOCK:
            CALL_LOG.append({
                "function": app.group(1),
                "credentials": "assumed" if key.group(1).startswith("ASIA") else "own",
                "action": action,
                "at": time.time(),
            })


def _references(v: Any, conditions: dict[str, bool]) -> set[str]:
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
                out |= _references(local, conditions)
            elif k == "Fn::If" and isinstance(inner, list) and len(inner) == 3:
                out |= _references(inner[1] if conditions.get(inner[0], True) else inner[2], conditions)
            elif k == "Condition":
                continue
            else:
                out |= _references(inner, conditions)
    elif isinstance(v, list):
        for item in v:
            out |= _references(item, conditions)
    return out


DYNAMIC_REF = re.compile(r"\{\{resolve:(secretsmanager|ssm):([^}]+)\}\}")


def _resolve_dynamic_refs(value: Any, account: str, region: str) -> Any:
    if isinstance(value, dict):
        return {k: _resolve_dynamic_refs(v, account, region) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_dynamic_refs(v, account, region) for v in value]
    if isinstance(value, str) and "{{resolve:" in value:
        return DYNAMIC_REF.sub(lambda m: _resolve_one(m.group(1), m.group(2), account, region), value)
    return value


def _resolve_one(service: str, body: str, account: str, region: str) -> str:
    if service == "ssm":
        from moto.ssm.models import ssm_backends

        name = body.split(":")[0]
        return ssm_backends[account][region].get_parameter(name).value
    from moto.secretsmanager.models import secretsmanager_backends

    # secret-id[:SecretString[:json-key[:version-stage[:version-id]]]]; an ARN id has colons.
    parts = body.split(":")
    if body.startswith("arn:"):
        secret_id, rest = ":".join(parts[:7]), parts[7:]
        region = parts[3] or region
        account = parts[4] or account
    else:
        secret_id, rest = parts[0], parts[1:]
    rest += [""] * (4 - len(rest))
    _, json_key, stage, version = rest[:4]
    if stage and version:
        raise ValueError(f"dynamic reference to {secret_id} names both a version stage ({stage}) and a version id ({version}): specify one")
    backend = secretsmanager_backends[account][region]
    secret = backend.get_secret_value(secret_id=secret_id, version_id=version or None, version_stage=stage or None)
    text = secret.get("SecretString") if isinstance(secret, dict) else None
    if text is None:
        raise ValueError(f"secret {secret_id} has no SecretString")
    if json_key:
        return real_shapes.check_json_key(text, json_key)
    return text


# --- STS ---------------------------------------------------------------------------------

ASSUME_LOG: list[dict[str, Any]] = []


def _patch_sts() -> None:
    """(11) AssumeRole can be refused as AWS does when the target's trust policy does not
    allow the caller (`deny_assume_role`: account ids) or the external ID does not match
    (`external_id`). moto lets every AssumeRole through."""
    from moto.sts import models as sts_models
    from moto.sts.exceptions import STSClientError

    original = sts_models.STSBackend.assume_role

    def assume_role(self: Any, region_name: str, role_session_name: str, role_arn: str, policy: str, duration: int, external_id: str) -> Any:
        account = role_arn.split(":")[4] if role_arn.count(":") >= 5 else ""
        ASSUME_LOG.append({"role_arn": role_arn, "session": role_session_name, "external_id": external_id,
                           "session_policy": bool(policy)})
        expected = CONTROL.get("external_id")
        if account in CONTROL.get("deny_assume_role", []) or (expected and external_id != expected):
            raise STSClientError(
                "AccessDenied",
                f"User: arn:aws:sts::123456789012:assumed-role/rotatetoken is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
            )
        role = original(self, region_name, role_session_name, role_arn, policy, duration, external_id)
        if policy:
            with LOCK:
                SESSION_POLICIES[role.access_key_id] = (json.loads(policy), f"arn:aws:sts::{account}:assumed-role/{role_arn.rsplit('/', 1)[-1]}/{role_session_name}")
        return role

    sts_models.STSBackend.assume_role = assume_role


# --- Lambda bridge -------------------------------------------------------------------------

def _patch_lambda() -> None:
    from moto.awslambda import models as lambda_models

    def invoke(self: Any, body: str, request_headers: Any, response_headers: Any) -> bytes:
        if not LAMBDA_BRIDGE:
            raise RuntimeError("no --lambda-bridge configured: cannot run real handlers")
        url = f"{LAMBDA_BRIDGE}/2015-03-31/functions/{self.function_name}/invocations"
        req = urllib.request.Request(url, data=(body or "{}").encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        timeout = float(getattr(self, "timeout", 3) or 3)
        started = time.time()
        try:
            with urllib.request.urlopen(req, timeout=timeout + 1) as resp:
                payload = resp.read()
                # A Lambda Invoke API (`sam local start-lambda`) answers a handler error as
                # AWS does: 200 with X-Amz-Function-Error.
                if resp.headers.get("X-Amz-Function-Error"):
                    response_headers["x-amz-function-error"] = resp.headers["X-Amz-Function-Error"]
        except urllib.error.HTTPError as err:  # cargo lambda watch: handler error -> HTTP 500
            payload = err.read() or b"{}"
            response_headers["x-amz-function-error"] = "Unhandled"
        except (TimeoutError, urllib.error.URLError) as err:
            payload = json.dumps({
                "errorType": "Sandbox.Timedout",
                "errorMessage": f"Task timed out after {timeout:.2f} seconds ({err})",
            }).encode()
            response_headers["x-amz-function-error"] = "Unhandled"
        with LOCK:
            INVOCATION_LOG.append({"function": self.function_name, "started_at": started,
                                   "seconds": time.time() - started,
                                   "memory_mb": int(getattr(self, "memory_size", 128) or 128)})
        return payload

    lambda_models.LambdaFunction.invoke = invoke


# --- EventBridge -------------------------------------------------------------------------

def _patch_events() -> None:
    """(10) Rules deliver to Lambda targets (moto: NotImplementedError), asynchronously as
    EventBridge does, through the same bridge to the real handlers."""
    from moto.awslambda.models import lambda_backends
    from moto.events import models as events_models

    original = events_models.Rule.send_to_targets

    def send_to_targets(self: Any, original_event: Any, transform_input: bool = True) -> None:
        if not self.event_pattern.matches_event(original_event):
            return
        # PutEvents' Time arrives as epoch seconds; EventBridge delivers `time` as an ISO
        # 8601 string (`2026-11-21T09:15:02Z`, "Amazon EventBridge events" reference);
        # moto passes the number through.
        if isinstance(original_event.get("time"), (int, float)):
            import datetime

            original_event = dict(original_event)
            original_event["time"] = datetime.datetime.fromtimestamp(
                original_event["time"], tz=datetime.timezone.utc
            ).strftime("%Y-%m-%dT%H:%M:%SZ")
        lambda_targets = [t for t in self.targets if ":lambda:" in t["Arn"]]
        others = [t for t in self.targets if t not in lambda_targets]
        for target in lambda_targets:
            fn_name = target["Arn"].split(":function:")[1].split(":")[0]
            fn = lambda_backends[self.account_id][self.region_name].get_function(fn_name)
            body = json.dumps(original_event, default=str)
            DELIVERIES.append({"rule": self.name, "function": fn_name, "event_id": original_event.get("id")})
            threading.Thread(target=fn.invoke, args=(body, {}, {}), daemon=True).start()
        if others:
            saved = self.targets
            self.targets = others
            try:
                original(self, original_event, transform_input)
            finally:
                self.targets = saved

    events_models.Rule.send_to_targets = send_to_targets


DELIVERIES: list[dict[str, Any]] = []


def _patch_sns_encrypted_publish() -> None:
    """(28) Publishing to a KMS-encrypted topic uses the key with the caller's credentials."""
    from moto.kms.models import kms_backends
    from moto.sns import responses as sns_responses
    from moto.sns.exceptions import SNSException
    from moto.sns.models import sns_backends

    class KMSNotFound(SNSException):
        code = "KMSNotFound"

    class KMSDisabled(SNSException):
        code = "KMSDisabled"

    original = sns_responses.SNSResponse.publish

    def publish(self: Any) -> Any:
        arn = self._get_param("TopicArn") or self._get_param("TargetArn")
        topic = sns_backends[self.current_account][self.region].topics.get(arn) if arn else None
        key_id = getattr(topic, "kms_master_key_id", "") if topic else ""
        if key_id:
            kms = kms_backends[self.current_account][self.region]
            try:
                key = kms.describe_key(key_id)
            except Exception:
                raise KMSNotFound(f"Invalid keyId {key_id}")
            if not getattr(key, "enabled", True):
                raise KMSDisabled(f"{key_id} is disabled")
            _log_implied_call(self, "kms:GenerateDataKey")
            _log_implied_call(self, "kms:Decrypt")
        return original(self)

    sns_responses.SNSResponse.publish = publish


def _patch_test_event_pattern() -> None:
    """(27) TestEventPattern, with moto's own pattern matcher (the rules' own)."""
    from moto.events import responses as events_responses
    from moto.events.models import EventPattern

    def test_event_pattern(self: Any) -> Any:
        pattern = EventPattern.load(self._get_param("EventPattern"))
        event = json.loads(self._get_param("Event"))
        return json.dumps({"Result": pattern.matches_event(event)}), self.response_headers

    events_responses.EventsHandler.test_event_pattern = test_event_pattern


# --- Step Functions ------------------------------------------------------------------------

def _patch_stepfunctions() -> None:
    default_user_config["stepfunctions"]["execute_state_machine"] = True
    from moto.stepfunctions.parser import models as sfn_models

    original = sfn_models.StepFunctionsParserBackend.start_execution

    def start_execution(self: Any, state_machine_arn: str, name: Any = None, execution_input: Any = None, trace_header: Any = None) -> Any:
        return original(self, state_machine_arn, name or str(uuid.uuid4()), execution_input, trace_header)

    sfn_models.StepFunctionsParserBackend.start_execution = start_execution

    # (12) A Distributed Map's ResultWriter writes the result files its manifest lists, as
    # AWS does (moto writes an empty manifest and drops the results).
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.result_writer.resource_eval import (
        resource_eval_s3,
    )

    def handle_put_object(env: Any, resource_runtime_part: Any, state_credentials: Any) -> None:
        parameters = env.stack.pop()
        results = env.stack.pop()
        s3 = resource_eval_s3.ResourceEvalS3._get_s3_client(resource_runtime_part=resource_runtime_part, state_credentials=state_credentials)
        map_run_arn = env.map_run_record_pool_manager.get_all().pop().map_run_arn
        run_id = map_run_arn.split(":")[-1]
        prefix = parameters.get("Prefix", "")
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        entries = [
            {"ExecutionArn": f"{map_run_arn}:{i}", "Name": str(i), "Status": "SUCCEEDED",
             "Output": json.dumps(r), "OutputDetails": {"Included": True}}
            for i, r in enumerate(results if isinstance(results, list) else [])
        ]
        results_key = f"{prefix}{run_id}/SUCCEEDED_0.json"
        s3.put_object(Bucket=parameters["Bucket"], Key=results_key, Body=json.dumps(entries).encode())
        files: dict[str, list[dict[str, Any]]] = {
            "FAILED": [], "PENDING": [], "SUCCEEDED": [{"Key": results_key, "Size": len(json.dumps(entries))}],
        }
        failures = [
            {"ExecutionArn": f"{map_run_arn}:f{f['Index']}", "Name": f"f{f['Index']}", "Status": f["Status"],
             "Input": f["Input"], "Error": f["Error"], "Cause": f["Cause"]}
            for f in MAP_FAILURES.pop(map_run_arn, [])
        ]
        if failures:
            failed_key = f"{prefix}{run_id}/FAILED_0.json"
            s3.put_object(Bucket=parameters["Bucket"], Key=failed_key, Body=json.dumps(failures).encode())
            files["FAILED"].append({"Key": failed_key, "Size": len(json.dumps(failures))})
        manifest = {"DestinationBucket": parameters["Bucket"], "MapRunArn": map_run_arn, "ResultFiles": files}
        key = f"{prefix}{run_id}/manifest.json"
        s3.put_object(Bucket=parameters["Bucket"], Key=key, Body=json.dumps(manifest, indent=2).encode())
        env.stack.append({"MapRunArn": map_run_arn, "ResultWriterDetails": {"Bucket": parameters["Bucket"], "Key": key}})

    resource_eval_s3.ResourceEvalS3._handle_put_object = staticmethod(handle_put_object)

    _patch_map_failures()


# Child executions of a Distributed Map run that did not succeed, by map run ARN: what
# the ResultWriter lists under FAILED (the child's input, error and cause), as AWS does.
MAP_FAILURES: dict[str, list[dict[str, Any]]] = {}


def _patch_map_failures() -> None:
    """(15) A Distributed Map counts its failed child executions against its tolerated
    failure threshold, as AWS does; moto turns a failed child into a `null` result and the
    Map succeeds.

    AWS ("Setting failure thresholds for Distributed Map states", Step Functions developer
    guide): a child execution that fails, times out or is aborted is a failed item; the Map
    Run fails with `States.ExceedToleratedFailureThreshold` when the failed items exceed
    `ToleratedFailurePercentage` or `ToleratedFailureCount`, both 0 by default, so one failed
    child fails the Map. The ResultWriter's manifest lists FAILED result files whose entries
    carry the child's `Input`, `Error` and `Cause`.
    Fault: config {"abort_children": ["<stack name>"]} stops the child execution whose item
    names that stack before it runs a state (as an operator's StopExecution would): ABORTED."""
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import (
        StatesErrorName,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.api import ExecutionFailedEventDetails, HistoryEventType
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
    from moto.stepfunctions.parser.asl.eval.program_state import ProgramError, ProgramStopped
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration import (
        distributed_iteration_component as dic,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor import (
        distributed_item_processor_worker as worker_mod,
    )

    original_eval_job = worker_mod.DistributedItemProcessorWorker._eval_job

    def eval_job(self: Any, env: Any, job: Any) -> None:
        item = job.job_input if isinstance(job.job_input, dict) else {}
        stack = (item.get("stack") or {}).get("name") if isinstance(item.get("stack"), dict) else None
        if stack and stack in CONTROL.get("abort_children", []):
            job.rt_failure = {"Status": "ABORTED", "Error": None, "Cause": None}
            job.job_output = None
            return
        original_eval_job(self, env, job)
        if job.job_output is None:
            state = env.program_state()
            failure = {"Status": "FAILED", "Error": "States.Runtime", "Cause": "the child execution failed"}
            if isinstance(state, ProgramError) and state.error:
                failure["Error"] = state.error.get("error")
                failure["Cause"] = state.error.get("cause")
            elif isinstance(state, ProgramStopped):
                failure = {"Status": "ABORTED", "Error": None, "Cause": None}
            job.rt_failure = failure

    worker_mod.DistributedItemProcessorWorker._eval_job = eval_job

    # moto's grammar takes ToleratedFailurePercentage only as a decimal (`100.0`); AWS takes
    # any JSON number from 0 to 100, `100` included. Read an integer as the same number.
    from moto.stepfunctions.parser.asl.parse import asl_parser

    original_parse = asl_parser.AmazonStateLanguageParser.parse

    def parse(definition: str) -> Any:
        definition = re.sub(r'("ToleratedFailurePercentage"\s*:\s*)(\d+)(?![\d.eE])', r"\1\2.0", definition)
        return original_parse(definition)

    asl_parser.AmazonStateLanguageParser.parse = staticmethod(parse)

    def map_run(self: Any, env: Any, eval_input: Any) -> None:
        input_items = env.stack.pop()
        program = self._get_iteration_program()
        pool = dic.JobPool(job_program=program, job_inputs=input_items)
        jobs = list(pool._open_jobs)
        max_concurrency = eval_input.map_run_record.max_concurrency
        workers = len(input_items) if max_concurrency == dic.DEFAULT_MAX_CONCURRENCY_VALUE else max_concurrency
        for _ in range(max(1, min(workers, len(input_items) or 1))):
            self._launch_worker(env=env, eval_input=eval_input, job_pool=pool)
        pool.await_jobs()
        # The children's events (moto keeps them in one throwaway EventManager per Map Run;
        # on AWS each child execution has its own history): counted, for `make bench`.
        children_types = [str(getattr(e.get("type"), "value", e.get("type"))) for e in env.event_manager._history_event_list]
        with LOCK:
            MAP_RUN_LOG.append({
                "map_run_arn": eval_input.map_run_record.map_run_arn,
                "children": len(input_items),
                "events": len(children_types),
                "state_transitions": sum(1 for t in children_types if t.endswith("StateEntered")),
                "lambda_invocations": sum(1 for t in children_types if t in ("LambdaFunctionScheduled", "TaskScheduled")),
            })
        if pool.get_worker_exception() is not None:
            raise pool.get_worker_exception()
        failed = [j for j in sorted(jobs, key=lambda j: j.job_index) if getattr(j, "rt_failure", None)]
        MAP_FAILURES[eval_input.map_run_record.map_run_arn] = [
            {**j.rt_failure, "Input": json.dumps(j.job_input), "Index": j.job_index} for j in failed
        ]
        total = len(input_items)
        percentage = float(eval_input.tolerated_failure_percentage or 0)
        count = int(eval_input.tolerated_failure_count or 0)
        # A threshold left out (or 0) tolerates nothing; when both are given, exceeding
        # either fails the Map Run.
        exceeded = [
            len(failed) > count if count > 0 else None,
            100.0 * len(failed) / total > percentage if percentage > 0 else None,
        ]
        declared = [e for e in exceeded if e is not None]
        if failed and (any(declared) if declared else True):
            error = StatesErrorName(typ=StatesErrorNameType.StatesExceedToleratedFailureThreshold)
            cause = f"The specified tolerated failure threshold was exceeded: {len(failed)} of {total} child executions failed"
            raise FailureEventException(
                FailureEvent(
                    env=env,
                    error_name=error,
                    event_type=HistoryEventType.MapRunFailed,
                    event_details=EventDetails(
                        executionFailedEventDetails=ExecutionFailedEventDetails(error=error.error_name, cause=cause)
                    ),
                )
            )
        outputs = [c.job_output for c in pool.get_closed_jobs() if c.job_output is not None]
        env.stack.append(outputs)

    dic.DistributedIterationComponent._map_run = map_run


# --- Fault injection: throttling -----------------------------------------------------------

THROTTLE_XML = (
    '<ErrorResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/">'
    "<Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error>"
    "<RequestId>{request_id}</RequestId></ErrorResponse>"
)


def _patch_throttling() -> None:
    """13. Throttling, injected: with {"throttle": {"fraction": 0.3, "services":
    ["cloudformation", "sts"]}}, that fraction of the product's calls to those services is
    refused with AWS's 400 Throttling error, before moto handles them (nothing changes).
    Only calls whose User-Agent carries the product's app id (`app/rotatetoken-...`) are
    throttled, so a test's own set-up and checks are not. CONTROL["throttled"] counts them."""
    import random

    from moto.core.responses import BaseResponse

    original = BaseResponse.call_action

    def call_action(self: Any) -> Any:
        throttle = CONTROL.get("throttle") or {}
        agent = " ".join(str(self.headers.get(h, "")) for h in ("User-Agent", "X-Amz-User-Agent"))
        if (
            getattr(self, "service_name", None) in throttle.get("services", [])
            and "app/rotatetoken" in agent
            and random.random() < float(throttle.get("fraction", 0))
        ):
            with LOCK:
                CONTROL["throttled"] = CONTROL.get("throttled", 0) + 1
            return 400, {"Content-Type": "text/xml"}, THROTTLE_XML.format(request_id=uuid.uuid4())
        return original(self)

    BaseResponse.call_action = call_action


# --- Request log: which function called which action, with which credentials ----------------

CALL_LOG: list[dict[str, str]] = []
# Access key of an assumed-role session -> (its session policy, the session's ARN).
SESSION_POLICIES: dict[str, tuple[dict[str, Any], str]] = {}


def _session_policy_allows(policy: dict[str, Any], action: str) -> bool:
    """(24) A session policy limits the session to what it allows (IAM User Guide, "Session
    policies": effective permissions are the intersection of the role's identity policy
    and the session policy; an explicit Deny in either wins). Actions only: the product's
    session policies are about actions."""
    import fnmatch

    statements = policy.get("Statement", [])
    statements = statements if isinstance(statements, list) else [statements]

    def listed(st: dict[str, Any]) -> bool:
        actions = st.get("Action", [])
        actions = actions if isinstance(actions, list) else [actions]
        return any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in actions)

    if any(st.get("Effect") == "Deny" and listed(st) for st in statements):
        return False
    return any(st.get("Effect") == "Allow" and listed(st) for st in statements)


def _action_of(environ: dict[str, Any], body: bytes, service: str) -> str:
    """The API action of a request, whatever the protocol: JSON (X-Amz-Target), query
    (Action=...), or REST (S3, by method and path)."""
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        return target.rsplit(".", 1)[-1]
    from urllib.parse import parse_qs

    for raw in (environ.get("QUERY_STRING", ""), body.decode("utf-8", "replace")):
        action = parse_qs(raw).get("Action")
        if action:
            return action[0]
    if service == "s3":
        method = environ.get("REQUEST_METHOD", "GET")
        has_key = environ.get("PATH_INFO", "/").strip("/").count("/") >= 1
        return {
            ("GET", True): "GetObject",
            ("PUT", True): "PutObject",
            ("DELETE", True): "DeleteObject",
            ("HEAD", True): "GetObject",
            ("GET", False): "ListBucket",
        }.get((method, has_key), f"{method} {environ.get('PATH_INFO', '')}")
    return f"{environ.get('REQUEST_METHOD', '')} {environ.get('PATH_INFO', '')}"


def _patch_request_log() -> None:
    """14. Every request made by the product (User-Agent app id `rotatetoken-<function>`)
    is logged with the function, the IAM action (signing name + action) and whether the
    credentials were the function's own or an assumed role's (moto's assumed-role keys
    start with ASIA). The emulator does not enforce IAM; tests/iam.rs compares this log
    with the policies in the templates."""
    import io
    import re as _re

    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    original = DomainDispatcherApplication.__call__

    def __call__(self: Any, environ: dict[str, Any], start_response: Any) -> Any:
        agent = environ.get("HTTP_X_AMZ_USER_AGENT", "") + " " + environ.get("HTTP_USER_AGENT", "")
        app = _re.search(r"app/(rotatetoken-[a-z]+)", agent)
        auth = environ.get("HTTP_AUTHORIZATION", "")
        scope = _re.search(r"Credential=([^/]+)/[^/]+/[^/]+/([^/]+)/", auth)
        limited = SESSION_POLICIES.get(scope.group(1)) if scope else None
        if (app or limited) and scope:
            size = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(size) if size else b""
            environ["wsgi.input"] = io.BytesIO(body)
            service = scope.group(2)
            action = f"{service}:{_action_of(environ, body, service)}"
            if app:
                with LOCK:
                    CALL_LOG.append(
                        {
                            "function": app.group(1),
                            "credentials": "assumed" if scope.group(1).startswith("ASIA") else "own",
                            "action": action,
                            "at": time.time(),
                        }
                    )
            if app and action == "s3:GetObject":
                # GetObject of a key that does not exist: AWS answers 404 NoSuchKey only to
                # a caller with s3:ListBucket on the bucket, 403 AccessDenied to any other
                # ("GetObject", Amazon S3 API reference, Permissions). The authorisation is
                # logged as an implied call, so the policies must grant it.
                who = {"function": app.group(1),
                       "credentials": "assumed" if scope.group(1).startswith("ASIA") else "own",
                       "action": "s3:ListBucket"}
                answer = start_response

                def start_response(status: str, headers: Any, *rest: Any, answer: Any = answer) -> Any:
                    if status.startswith("404"):
                        with LOCK:
                            CALL_LOG.append(who)
                    return answer(status, headers, *rest)
            if limited and not _session_policy_allows(limited[0], action):
                message = (f"User: {limited[1]} is not authorized to perform: {action} "
                           f"because no session policy allows the {action} action")
                if environ.get("HTTP_X_AMZ_TARGET"):
                    payload = json.dumps({"__type": "AccessDeniedException", "message": message}).encode()
                    headers = [("Content-Type", "application/x-amz-json-1.0")]
                else:
                    payload = (f"<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code>"
                               f"<Message>{message}</Message></Error><RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>").encode()
                    headers = [("Content-Type", "text/xml")]
                start_response("403 Forbidden", headers + [("Content-Length", str(len(payload)))])
                return [payload]
        return original(self, environ, start_response)

    DomainDispatcherApplication.__call__ = __call__


def rotatetoken_calls(request: Any, full_url: str, headers: Any) -> Any:
    return 200, {"Content-Type": "application/json"}, json.dumps(CALL_LOG)


# --- Control endpoints ---------------------------------------------------------------------

def _body(request: Any, headers: Any) -> dict[str, Any]:
    size = int(headers.get("Content-Length") or 0)
    raw = request.environ["wsgi.input"].read(size).decode() if size else "{}"
    return json.loads(raw or "{}")


def rotatetoken_config(request: Any, full_url: str, headers: Any) -> Any:
    if request.method == "POST":
        CONTROL.update(_body(request, headers))
    return 200, {"Content-Type": "application/json"}, json.dumps(CONTROL)


def rotatetoken_stack_status(request: Any, full_url: str, headers: Any) -> Any:
    from moto.cloudformation.models import cloudformation_backends

    body = _body(request, headers)
    backend = cloudformation_backends[body.get("account", "123456789012")][body.get("region", "us-east-1")]
    with LOCK:
        stack = backend.get_stack(body["stack"])
        stack.status = body["status"]
        stack.stack_status_reason = body.get("reason")
    return 200, {"Content-Type": "application/json"}, json.dumps({"StackId": stack.stack_id, "StackStatus": stack.status})


def rotatetoken_updates(request: Any, full_url: str, headers: Any) -> Any:
    return 200, {"Content-Type": "application/json"}, json.dumps(UPDATE_LOG)


def rotatetoken_invocations(request: Any, full_url: str, headers: Any) -> Any:
    return 200, {"Content-Type": "application/json"}, json.dumps(INVOCATION_LOG)


def rotatetoken_map_runs(request: Any, full_url: str, headers: Any) -> Any:
    return 200, {"Content-Type": "application/json"}, json.dumps(MAP_RUN_LOG)


def rotatetoken_assumed(request: Any, full_url: str, headers: Any) -> Any:
    return 200, {"Content-Type": "application/json"}, json.dumps(ASSUME_LOG)


def _register_control_endpoints() -> None:
    from moto.moto_api._internal import urls

    urls.url_paths["{0}/moto-api/rotatetoken/updates"] = rotatetoken_updates
    urls.url_paths["{0}/moto-api/rotatetoken/assumed-roles"] = rotatetoken_assumed
    urls.url_paths["{0}/moto-api/rotatetoken/invocations"] = rotatetoken_invocations
    urls.url_paths["{0}/moto-api/rotatetoken/map-runs"] = rotatetoken_map_runs
    urls.url_paths["{0}/moto-api/rotatetoken/config"] = rotatetoken_config
    urls.url_paths["{0}/moto-api/rotatetoken/calls"] = rotatetoken_calls
    urls.url_paths["{0}/moto-api/rotatetoken/stack-status"] = rotatetoken_stack_status


# --- S3 ----------------------------------------------------------------------------------

S3_CONDITIONAL = threading.Lock()


def _patch_s3_conditional_writes() -> None:
    """(25) A conditional PutObject/DeleteObject checks and writes under one lock."""
    from moto.s3 import responses as s3_responses

    for name in ("put_object", "delete_object"):
        original = getattr(s3_responses.S3Response, name)

        def conditional(self: Any, _original: Any = original) -> Any:
            if self.headers.get("If-Match") or self.headers.get("If-None-Match"):
                with S3_CONDITIONAL:
                    return _original(self)
            return _original(self)

        setattr(s3_responses.S3Response, name, conditional)


# --- Step Functions status events -----------------------------------------------------------

def _patch_execution_status_events() -> None:
    """(26) The end of an execution goes to EventBridge's default bus, as AWS sends it."""
    from moto.events.models import events_backends
    from moto.stepfunctions.parser.backend import execution as execution_mod

    original = execution_mod.BaseExecutionWorkerCommunication.terminated

    def millis(d: Any) -> int | None:
        return int(d.timestamp() * 1000) if d is not None else None

    def terminated(self: Any) -> None:
        original(self)
        e = self.execution
        if CONTROL.get("drop_status_events") or isinstance(e, execution_mod.SyncExecution):
            return
        status = str(getattr(e.exec_status, "value", e.exec_status))
        output = e.output if status == "SUCCEEDED" else None
        detail = {
            "executionArn": e.exec_arn,
            "stateMachineArn": e.state_machine_arn,
            "name": e.name,
            "status": status,
            "startDate": millis(e.start_date),
            "stopDate": millis(e.stop_date),
            "input": e.input_data if isinstance(e.input_data, str) else json.dumps(e.input_data),
            "output": output if output is None or isinstance(output, str) else json.dumps(output),
            "inputDetails": {"included": True},
            "outputDetails": {"included": True} if output is not None else None,
        }
        events_backends[e.account_id][e.region_name].put_events([{
            "Source": "aws.states",
            "DetailType": "Step Functions Execution Status Change",
            "Detail": json.dumps(detail),
            "Resources": [e.exec_arn],
        }])

    execution_mod.BaseExecutionWorkerCommunication.terminated = terminated


def install() -> None:
    _patch_cloudformation()
    _patch_change_sets()
    _patch_nested_stacks()
    _patch_capabilities_and_transforms()
    _patch_lambda()
    _patch_stepfunctions()
    _patch_events()
    _patch_test_event_pattern()
    _patch_sns_encrypted_publish()
    _patch_s3_conditional_writes()
    _patch_execution_status_events()
    _patch_sts()
    _patch_throttling()
    _patch_request_log()
    _register_control_endpoints()
    # CloudFormation as it treats the stacks real tools deploy (33-39), outermost.
    real_shapes.install(sys.modules[__name__])


def serve(host: str, port: int, instance: str, bridge: str) -> None:
    """One emulator on `port` (install() done): serves until killed."""
    global LAMBDA_BRIDGE
    CONTROL["instance"] = instance
    LAMBDA_BRIDGE = bridge.rstrip("/")
    os.environ["MOTO_PORT"] = str(port)  # moto's Step Functions calls back into itself
    from moto import server

    server.main(["-H", host, "-p", str(port)])


def fork_server(path: str, idle_seconds: float) -> None:
    """Starts emulators by fork, each already past the imports and the patches (about 3 s
    of CPU per start otherwise, most of a test suite's time; ../shared/FIELD-NOTES.md).

    Listens on the unix socket `path`. A request is one JSON line {"port", "instance",
    "bridge", "log", "host"}; the answer one JSON line {"pid"}. Each emulator is a forked
    child in a session of its own (its caller kills it by pid), with stdout and stderr in
    `log`. Children are reaped by the kernel. Exits after `idle_seconds` without a request.
    The harness names the socket after a hash of this directory's sources, so a changed
    emulator (say, by break-on-purpose) gets a server of its own."""
    import signal
    import socket

    from moto import server  # noqa: F401  (imported once, here, for every child)

    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    listener.bind(path)
    listener.listen(64)
    listener.settimeout(idle_seconds)
    while True:
        try:
            conn, _ = listener.accept()
        except socket.timeout:
            break
        conn.settimeout(10)
        try:
            request = json.loads(conn.makefile().readline())
        except (OSError, ValueError):
            conn.close()
            continue
        pid = os.fork()
        if pid == 0:
            try:
                listener.close()
                conn.close()
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                os.setsid()
                log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                os.dup2(log, 1)
                os.dup2(log, 2)
                serve(request.get("host", "127.0.0.1"), int(request["port"]), request["instance"], request.get("bridge", ""))
            finally:
                os._exit(1)
        try:
            conn.sendall((json.dumps({"pid": pid}) + "\n").encode())
        finally:
            conn.close()
    # The socket file stays: a client that finds nobody listening starts a new server.


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int)
    parser.add_argument("--lambda-bridge", default=LAMBDA_BRIDGE, help="cargo lambda watch URL")
    parser.add_argument("--instance", default="", help="answered in config: tells two emulators apart")
    parser.add_argument("--fork-server", metavar="SOCKET", help="start emulators by fork on request (fork_server)")
    parser.add_argument("--idle-seconds", type=float, default=300.0)
    args = parser.parse_args()
    install()
    if args.fork_server:
        fork_server(args.fork_server, args.idle_seconds)
        return
    if args.port is None:
        parser.error("--port is required")
    serve(args.host, args.port, args.instance, args.lambda_bridge)


if __name__ == "__main__":
    main()
