"""Control endpoints (test-only, under /moto-api/rotatetoken/):

  POST config        {"update_delay_seconds": 1.0, "fail_create": {"<stack name>": ["LogicalId"]}}
                     "update_delay_jitter_seconds": J spreads each update's time uniformly ± J.
                     fail_create: an update that would create that resource rolls back
                     (UPDATE_ROLLBACK_COMPLETE, resources as before), as a failed create does.
                     Answers the whole configuration (and counters such as "throttled").
                     A key not in state.KNOWN_CONFIG_KEYS is refused: HTTP 400, {"error":
                     "unknown config key 'x'; known keys: ..."}, and nothing is changed.
  POST stack-status  {"account", "region", "stack", "status", "reason"} forces a status such
                     as UPDATE_ROLLBACK_FAILED ("stack" and "status" required).
  GET/POST updates   the log of accepted UpdateStack calls: stack, resolved parameters, result,
                     accepted_at and ended_at (epoch seconds: `make bench`'s refresh overhead).
  GET/POST assumed-roles  the log of AssumeRole calls: role ARN, session name, external ID.
  GET/POST invocations    the log of Lambda invocations: function, duration, memory size.
  GET/POST map-runs  per Distributed Map run: children, and their events, state transitions
                     (StateEntered) and Lambda invocations (`make bench`: cost per stack).
  GET/POST calls     the request log (14).
  config also takes  "deny_assume_role": ["<account id>"] and "external_id": "<expected>".
The logs take no keys: a POST to one with a key is refused the same way.
"""

from __future__ import annotations

import json
from typing import Any

from .state import (
    ASSUME_LOG,
    CALL_LOG,
    CONTROL,
    INVOCATION_LOG,
    KNOWN_CONFIG_KEYS,
    LOCK,
    MAP_RUN_LOG,
    UPDATE_LOG,
)

JSON = {"Content-Type": "application/json"}
STACK_STATUS_REQUIRED = ("stack", "status")
STACK_STATUS_OPTIONAL = ("account", "region", "reason")


class Refused(Exception):
    """A control request the emulator will not carry out: HTTP 400 with this message."""


def _body(request: Any, headers: Any) -> dict[str, Any]:
    size = int(headers.get("Content-Length") or 0)
    raw = request.environ["wsgi.input"].read(size).decode() if size else "{}"
    try:
        body = json.loads(raw or "{}")
    except ValueError as exc:
        raise Refused(f"the body is not JSON: {exc}")
    if not isinstance(body, dict):
        raise Refused(f"the body must be a JSON object, not {type(body).__name__}")
    return body


def _refused(message: str) -> Any:
    return 400, JSON, json.dumps({"error": message})


def unknown_keys(body: dict[str, Any], known: Any, what: str) -> str | None:
    """The refusal of a body with keys outside `known` (None when all are known)."""
    unknown = sorted(k for k in body if k not in known)
    if not unknown:
        return None
    names = ", ".join(repr(k) for k in unknown)
    return f"unknown {what} key{'s' if len(unknown) > 1 else ''} {names}; known keys: {', '.join(sorted(known)) or 'none'}"


def call_latency_refusal(body: dict[str, Any]) -> str | None:
    """The refusal of a "call_latency" (63) that is not seconds by service: read on every
    call, a bad value would otherwise fail each one."""
    latency = body.get("call_latency", {})
    if not isinstance(latency, dict):
        return "config: call_latency must be an object of seconds by service"
    for service, seconds in latency.items():
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
            return f"config: call_latency[{service!r}] must be a number of seconds, 0 or more"
    return None


def rotatetoken_config(request: Any, full_url: str, headers: Any) -> Any:
    if request.method == "POST":
        try:
            body = _body(request, headers)
        except Refused as exc:
            return _refused(f"config: {exc}")
        refusal = unknown_keys(body, KNOWN_CONFIG_KEYS, "config") or call_latency_refusal(body)
        if refusal:
            return _refused(refusal)  # validated whole before anything is applied
        with LOCK:
            CONTROL.update(body)
    return 200, JSON, json.dumps(CONTROL)


def rotatetoken_stack_status(request: Any, full_url: str, headers: Any) -> Any:
    from moto.cloudformation.models import cloudformation_backends

    try:
        body = _body(request, headers)
    except Refused as exc:
        return _refused(f"stack-status: {exc}")
    refusal = unknown_keys(body, STACK_STATUS_REQUIRED + STACK_STATUS_OPTIONAL, "stack-status")
    if refusal:
        return _refused(refusal)
    missing = [k for k in STACK_STATUS_REQUIRED if k not in body]
    if missing:
        return _refused(f"stack-status: missing required key{'s' if len(missing) > 1 else ''} {', '.join(repr(k) for k in missing)}")
    backend = cloudformation_backends[body.get("account", "123456789012")][body.get("region", "us-east-1")]
    with LOCK:
        stack = backend.get_stack(body["stack"])
        stack.status = body["status"]
        stack.stack_status_reason = body.get("reason")
    return 200, JSON, json.dumps({"StackId": stack.stack_id, "StackStatus": stack.status})


def log_endpoint(name: str, log: list[Any]) -> Any:
    """A log's endpoint: GET or POST answers it whole; a POST takes no keys."""

    def answer(request: Any, full_url: str, headers: Any) -> Any:
        if request.method == "POST":
            try:
                body = _body(request, headers)
            except Refused as exc:
                return _refused(f"{name}: {exc}")
            refusal = unknown_keys(body, (), name)
            if refusal:
                return _refused(refusal)
        return 200, JSON, json.dumps(log)

    answer.__name__ = f"rotatetoken_{name.replace('-', '_')}"
    return answer


ENDPOINTS = {
    "config": rotatetoken_config,
    "stack-status": rotatetoken_stack_status,
    "updates": log_endpoint("updates", UPDATE_LOG),
    "assumed-roles": log_endpoint("assumed-roles", ASSUME_LOG),
    "invocations": log_endpoint("invocations", INVOCATION_LOG),
    "map-runs": log_endpoint("map-runs", MAP_RUN_LOG),
    "calls": log_endpoint("calls", CALL_LOG),
}


def register_control_endpoints() -> None:
    from moto.moto_api._internal import urls

    for name, handler in ENDPOINTS.items():
        urls.url_paths["{0}/moto-api/rotatetoken/" + name] = handler
