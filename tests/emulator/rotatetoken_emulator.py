"""RotateToken's local AWS: moto server (pinned in tests/requirements.txt) plus the few
behaviours of real AWS that plain moto lacks and this product depends on.

Run:  python tests/emulator/rotatetoken_emulator.py --port 5055 [--lambda-bridge URL]

Everything here reaches into moto internals, which is why moto is pinned exactly. Each
patch is small and says what AWS does that moto does not (see ../shared/FIELD-NOTES.md):

CloudFormation
  1. Conditions are re-evaluated on update: a resource whose Condition turns false is
     deleted, one whose Condition turns true is created (moto ignores Conditions on update).
  2. `{{resolve:secretsmanager:...}}` and `{{resolve:ssm:...}}` dynamic references are
     resolved when a resource is created or updated (moto stores the literal text).
  3. Updates are asynchronous: the stack shows UPDATE_IN_PROGRESS for `update_delay_seconds`
     (control endpoint), and UpdateStack on a stack in any *_IN_PROGRESS state is refused
     with AWS's ValidationError.
  4. `UsePreviousValue` works for parameters that took their default at create (moto: 500).
  5. Unknown parameters and values outside `AllowedValues` are rejected as on AWS.
  6. `AWS::SSM::Parameter` without `Name` gets a generated name, as on AWS (moto: 500).
  7. StackStatusReason is reported.
Control endpoints (test-only, under /moto-api/rotatetoken/):
  POST config        {"update_delay_seconds": 1.0, "fail_create": {"<stack name>": ["LogicalId"]}}
                     fail_create: an update that would create that resource rolls back
                     (UPDATE_ROLLBACK_COMPLETE, resources as before), as a failed create does.
  POST stack-status  {"account", "region", "stack", "status", "reason"} forces a status such
                     as UPDATE_ROLLBACK_FAILED.
  GET/POST updates   the log of accepted UpdateStack calls: stack, resolved parameters, result.
  GET/POST assumed-roles  the log of AssumeRole calls: role ARN, session name, external ID.
  config also takes  "deny_assume_role": ["<account id>"] and "external_id": "<expected>".
Lambda
  8. Invoke is bridged over HTTP to `cargo lambda watch` (the real Rust handlers): the
     function name is the binary name; handler errors become AWS's 200 +
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
      the function, the IAM action and own/assumed credentials (tests/iam.rs).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import threading
import time
import urllib.error
import urllib.request
import uuid
from typing import Any

from moto.core.config import default_user_config

CONTROL: dict[str, Any] = {
    "update_delay_seconds": 0.0,
    "fail_create": {},
    "deny_assume_role": [],
    "external_id": None,
    "throttle": {},
    "throttled": 0,
}
# Every UpdateStack the emulator accepted, in order, with the parameters it resolved to and
# how it ended: lets a test prove "false, then true" without trusting the product's report.
UPDATE_LOG: list[dict[str, Any]] = []
LOCK = threading.RLock()
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
                if key in instance.parameters:
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
            stack.status = "UPDATE_IN_PROGRESS"
            stack.stack_status_reason = "User Initiated"
            entry = {"account": stack.account_id, "region": stack.region_name, "stack": stack.name,
                     "parameters": dict(resolved), "result": "UPDATE_IN_PROGRESS"}
            UPDATE_LOG.append(entry)
            stack._add_stack_event("UPDATE_IN_PROGRESS", resource_status_reason="User Initiated")

        def apply() -> None:
            with LOCK:
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
                try:
                    original_stack_update(stack, template, role_arn, parameters=resolved, tags=tags)
                    stack.stack_status_reason = None
                except Exception as exc:  # an update moto cannot apply rolls back, as on AWS
                    stack.status = "UPDATE_ROLLBACK_COMPLETE"
                    stack.stack_status_reason = f"Update failed and rolled back: {exc}"
                entry["result"] = stack.status

        delay = float(CONTROL["update_delay_seconds"])
        if delay <= 0:
            apply()
        else:
            timer = threading.Timer(delay, apply)
            timer.daemon = True
            timer.start()
        return stack

    cfn_models.CloudFormationBackend.update_stack = backend_update_stack

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
        probe = parsing.ResourceMap(
            stack.stack_id, stack.name, params, stack.tags, stack.region_name,
            stack.account_id, copy.deepcopy(stack.template_dict), stack.cross_stack_resources,
        )
        probe.load()
        return bool(probe.lazy_condition_map[condition])

    # (1) Conditions re-evaluated on update.
    original_rm_update = parsing.ResourceMap.update

    def rm_update(self: Any, template: dict[str, Any], parameters: dict[str, Any] | None = None) -> None:
        original_rm_update(self, template, parameters)
        for logical, resource_json in list(self._resource_json_map.items()):
            condition = resource_json.get("Condition")
            if not condition:
                continue
            wanted = bool(self.lazy_condition_map[condition])
            exists = logical in self._parsed_resources
            if exists and not wanted:
                resource = self._parsed_resources.pop(logical)
                self._delete_resource(resource, resource_json)
            elif wanted and not exists:
                _ = self[logical]  # moto's lazy map creates the resource on first access

    parsing.ResourceMap.update = rm_update

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
    backend = secretsmanager_backends[account][region]
    secret = backend.get_secret_value(secret_id=secret_id, version_id=version or None, version_stage=stage or None)
    text = secret.get("SecretString") if isinstance(secret, dict) else None
    if text is None:
        raise ValueError(f"secret {secret_id} has no SecretString")
    if json_key:
        return str(json.loads(text)[json_key])
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
        ASSUME_LOG.append({"role_arn": role_arn, "session": role_session_name, "external_id": external_id})
        expected = CONTROL.get("external_id")
        if account in CONTROL.get("deny_assume_role", []) or (expected and external_id != expected):
            raise STSClientError(
                "AccessDenied",
                f"User: arn:aws:sts::123456789012:assumed-role/rotatetoken is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
            )
        return original(self, region_name, role_session_name, role_arn, policy, duration, external_id)

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
        try:
            with urllib.request.urlopen(req, timeout=timeout + 1) as resp:
                payload = resp.read()
        except urllib.error.HTTPError as err:  # cargo lambda watch: handler error -> HTTP 500
            payload = err.read() or b"{}"
            response_headers["x-amz-function-error"] = "Unhandled"
        except (TimeoutError, urllib.error.URLError) as err:
            payload = json.dumps({
                "errorType": "Sandbox.Timedout",
                "errorMessage": f"Task timed out after {timeout:.2f} seconds ({err})",
            }).encode()
            response_headers["x-amz-function-error"] = "Unhandled"
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
        manifest = {
            "DestinationBucket": parameters["Bucket"], "MapRunArn": map_run_arn,
            "ResultFiles": {"FAILED": [], "PENDING": [], "SUCCEEDED": [{"Key": results_key, "Size": len(json.dumps(entries))}]},
        }
        key = f"{prefix}{run_id}/manifest.json"
        s3.put_object(Bucket=parameters["Bucket"], Key=key, Body=json.dumps(manifest, indent=2).encode())
        env.stack.append({"MapRunArn": map_run_arn, "ResultWriterDetails": {"Bucket": parameters["Bucket"], "Key": key}})

    resource_eval_s3.ResourceEvalS3._handle_put_object = staticmethod(handle_put_object)


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
        if app and scope:
            size = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(size) if size else b""
            environ["wsgi.input"] = io.BytesIO(body)
            service = scope.group(2)
            with LOCK:
                CALL_LOG.append(
                    {
                        "function": app.group(1),
                        "credentials": "assumed" if scope.group(1).startswith("ASIA") else "own",
                        "action": f"{service}:{_action_of(environ, body, service)}",
                    }
                )
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


def rotatetoken_assumed(request: Any, full_url: str, headers: Any) -> Any:
    return 200, {"Content-Type": "application/json"}, json.dumps(ASSUME_LOG)


def _register_control_endpoints() -> None:
    from moto.moto_api._internal import urls

    urls.url_paths["{0}/moto-api/rotatetoken/updates"] = rotatetoken_updates
    urls.url_paths["{0}/moto-api/rotatetoken/assumed-roles"] = rotatetoken_assumed
    urls.url_paths["{0}/moto-api/rotatetoken/config"] = rotatetoken_config
    urls.url_paths["{0}/moto-api/rotatetoken/calls"] = rotatetoken_calls
    urls.url_paths["{0}/moto-api/rotatetoken/stack-status"] = rotatetoken_stack_status


def install() -> None:
    _patch_cloudformation()
    _patch_lambda()
    _patch_stepfunctions()
    _patch_events()
    _patch_sts()
    _patch_throttling()
    _patch_request_log()
    _register_control_endpoints()


def main() -> None:
    global LAMBDA_BRIDGE
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--lambda-bridge", default=LAMBDA_BRIDGE, help="cargo lambda watch URL")
    args = parser.parse_args()
    LAMBDA_BRIDGE = args.lambda_bridge.rstrip("/")
    os.environ["MOTO_PORT"] = str(args.port)  # moto's Step Functions calls back into itself
    install()
    from moto import server

    server.main(["-H", args.host, "-p", str(args.port)])


if __name__ == "__main__":
    time.sleep(0)
    main()
