"""Lambda: (44) an invocation killed right after a named AWS call; (45) asynchronous
invocations retried after a function error."""

from __future__ import annotations

import io
import re
import time
from typing import Any

from .registry import patch
from .request_log import action_of
from .state import CONTROL, CRASHES, LOCK

CRASH_PAYLOAD = (
    '{"errorType": "Runtime.ExitError", "errorMessage": "RequestId: %s Error: Runtime exited '
    'with error: signal: killed"}'
)


def invocation_started(function: str) -> None:
    """The bridge (8) starts an invocation of `function`: a fresh process as far as the
    crash fault counts calls."""
    with LOCK:
        CRASHES[function] = {"calls": 0, "dead": False}


def invocation_crashed(function: str) -> bool:
    """Whether the invocation of `function` that just ended was killed (and forget it)."""
    with LOCK:
        return bool(CRASHES.pop(function, {}).get("dead"))


@patch(
    44, service="Lambda",
    behaviour="""config {"crash_after_call": {"<function>": {"action": "s3:PutObject", "nth": 1,
      "times": 1}}}: the invocation of that function is killed right after its nth call of
      that action (any action when "action" is absent) has taken effect; the calls it would
      make after that never reach AWS (refused with a 400 no SDK retries, never applied),
      and its caller gets Runtime.ExitError ("signal: killed") instead of its result.
      "times" invocations are killed, then the fault is spent. Calls are counted per
      function from the start of its invocation (one invocation of a function at a time).""",
    source="""Lambda developer guide, "Troubleshoot invocation issues": a runtime that exits
      (out of memory, killed) fails the invocation with Runtime.ExitError "Runtime exited
      with error: signal: killed" (also AWS re:Post knowledge center, "lambda-runtime-
      error"); what the function changed before it died stays changed.""",
)
def install_crashes() -> None:
    """(44) Kills an invocation after a named call: the call is applied, every later call
    of that invocation is refused before it reaches moto."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    original = DomainDispatcherApplication.__call__

    def __call__(self: Any, environ: dict[str, Any], start_response: Any) -> Any:
        plan = CONTROL.get("crash_after_call") or {}
        if not plan:
            return original(self, environ, start_response)
        agent = environ.get("HTTP_X_AMZ_USER_AGENT", "") + " " + environ.get("HTTP_USER_AGENT", "")
        app = re.search(r"app/(rotatetoken-[a-z]+)", agent)
        function = app.group(1) if app else ""
        if function not in plan:
            return original(self, environ, start_response)
        with LOCK:
            dead = CRASHES.get(function, {}).get("dead", False)
        if dead:
            # The request is read whole all the same: a body left unread on a kept-alive
            # connection would be taken for the next request.
            size = int(environ.get("CONTENT_LENGTH") or 0)
            if size:
                environ["wsgi.input"].read(size)
            body = b"the invocation that made this call was killed (emulator patch 44)"
            # No one alive reads this answer (the invocation's result is replaced below);
            # a 400 that no SDK retries lets the dead handler end at once, as a killed
            # process does, instead of backing off for a minute.
            start_response("400 Bad Request",
                           [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
            return [body]
        rule = plan.get(function)
        if not rule or rule.get("times", 1) <= 0:
            return original(self, environ, start_response)
        size = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(size) if size else b""
        environ["wsgi.input"] = io.BytesIO(body)
        auth = environ.get("HTTP_AUTHORIZATION", "")
        scope = re.search(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/", auth)
        service = scope.group(1) if scope else ""
        action = f"{service}:{action_of(environ, body, service)}"
        answer = list(original(self, environ, start_response))
        if not rule.get("action") or rule["action"] == action:
            with LOCK:
                state = CRASHES.setdefault(function, {"calls": 0, "dead": False})
                state["calls"] += 1
                if state["calls"] >= int(rule.get("nth", 1)) and rule.get("times", 1) > 0:
                    state["dead"] = True
                    rule["times"] = rule.get("times", 1) - 1
        return answer

    DomainDispatcherApplication.__call__ = __call__


def invoke_async(fn: Any, body: str) -> None:
    """(45) An asynchronous invocation: on a function error, Lambda invokes again, twice,
    after its delays."""
    delays = list(CONTROL.get("async_retry_delays_seconds") or [])
    for attempt in range(len(delays) + 1):
        headers: dict[str, str] = {}
        fn.invoke(body, {}, headers)
        if "x-amz-function-error" not in headers:
            return
        if attempt < len(delays):
            time.sleep(float(delays[attempt]))


@patch(
    45, service="Lambda",
    behaviour="""Asynchronous invocations (EventBridge rule targets, 10) that end in a function
      error are invoked again with the same event, twice, after config
      "async_retry_delays_seconds" (AWS: about one minute, then two; default [60, 120]).""",
    source="""Lambda developer guide, "Asynchronous invocation" / "Error handling and automatic
      retries in Lambda": on a function error Lambda retries twice, waiting one minute
      before the first retry and two minutes before the second.""",
)
def install_async_retries() -> None:
    """(45) EventBridge's deliveries to Lambda (events.py) go through `invoke_async`."""
    from . import events

    events.ASYNC_INVOKE[0] = invoke_async
