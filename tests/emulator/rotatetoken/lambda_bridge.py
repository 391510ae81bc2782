"""(8) Lambda Invoke bridged over HTTP to the real handlers: tests/emulator/lambda_host.py,
`cargo lambda watch` or `sam local start-lambda` (state.LAMBDA_BRIDGE, set by
--lambda-bridge)."""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.request
import uuid
from typing import Any

from . import crashes, state
from .registry import patch
from .state import CONTROL, INVOCATION_LOG, LOCK


def invoke(self: Any, body: str, request_headers: Any, response_headers: Any) -> bytes:
    """moto's LambdaFunction.invoke: the payload POSTed to the bridge's Invoke API."""
    if not state.LAMBDA_BRIDGE:
        raise RuntimeError("no --lambda-bridge configured: cannot run real handlers")
    url = f"{state.LAMBDA_BRIDGE}/2015-03-31/functions/{self.function_name}/invocations"
    timeout = float(getattr(self, "timeout", 3) or 3)
    # The function's timeout, for the deadline a host that runs the Runtime API gives the
    # handler (tests/emulator/lambda_host.py; cargo lambda watch ignores it).
    req = urllib.request.Request(url, data=(body or "{}").encode(), method="POST",
                                 headers={"Content-Type": "application/json",
                                          "X-Rt-Timeout-Seconds": str(timeout)})
    started = time.time()
    crashes.invocation_started(self.function_name)
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
    except (OSError, http.client.HTTPException) as err:
        # The host dropped the invocation mid-way (connection reset, closed without an
        # answer): its execution environment died, which Lambda answers as Runtime.ExitError
        # (a function error the caller may retry), never as an error of the caller's own
        # (moto's interpreter would make it States.Runtime, which no Retry of ours names).
        payload = json.dumps({
            "errorType": "Runtime.ExitError",
            "errorMessage": f"RequestId: {uuid.uuid4()} Error: Runtime exited without answering ({err})",
        }).encode()
        response_headers["x-amz-function-error"] = "Unhandled"
    if crashes.invocation_crashed(self.function_name):
        # (44) Killed after a named call: whatever the handler answered never arrives.
        payload = (crashes.CRASH_PAYLOAD % uuid.uuid4()).encode()
        response_headers["x-amz-function-error"] = "Unhandled"
    with LOCK:
        # (43) The handler ran to its end (its AWS calls happened), and the invocation
        # still times out: the result is lost and Step Functions retries the state with
        # its original input.
        pending = CONTROL["time_out_after_run"].get(self.function_name, 0)
        if pending > 0 and "x-amz-function-error" not in response_headers:
            CONTROL["time_out_after_run"][self.function_name] = pending - 1
            payload = json.dumps({
                "errorType": "Sandbox.Timedout",
                "errorMessage": f"Task timed out after {timeout:.2f} seconds",
            }).encode()
            response_headers["x-amz-function-error"] = "Unhandled"
        INVOCATION_LOG.append({"function": self.function_name, "started_at": started,
                               "seconds": time.time() - started,
                               "memory_mb": int(getattr(self, "memory_size", 128) or 128)})
    return payload


@patch(
    8, service="Lambda",
    behaviour="""Invoke is bridged over HTTP to the real Rust handlers (tests/emulator/lambda_host.py
     or `cargo lambda watch`) or to `sam local start-lambda` (make local-invoke, its X-Amz-Function-Error passed on): the
     function name is the binary name (or the logical id); handler errors become AWS's 200 +
     `X-Amz-Function-Error: Unhandled` with `{errorType, errorMessage}`; the function's
     Timeout is enforced (Sandbox.Timedout); an invocation the host drops mid-way (its
     environment gone) is Runtime.ExitError, never an error moto's interpreter would make
     States.Runtime.""",
    source="""Lambda Invoke API reference (X-Amz-Function-Error); measured: moto runs no handler
     without Docker, cargo lambda watch answers a handler error as HTTP 500
     (../shared/FIELD-NOTES.md). Runtime.ExitError: Lambda developer guide, "Troubleshoot
     invocation issues" (the runtime exited before answering).""",
)
@patch(
    43, service="Lambda",
    behaviour="""config {"time_out_after_run": {"<function>": N}}: the next N invocations of that
      function run to their end (every AWS call they make happens) and then time out: the
      caller gets Sandbox.Timedout instead of the result, so Step Functions retries the
      state with its original input, which predates what the lost invocation changed.""",
    source="""Lambda: a function that runs out of time is stopped, its invocation fails with "Task
      timed out after N seconds" (Lambda developer guide, "Configure Lambda function
      timeout"); Step Functions names it Sandbox.Timedout and a Retry re-runs the state
      with the state's original input (Step Functions developer guide, "Handling errors
      in Step Functions workflows").""",
)
def install_lambda_bridge() -> None:
    from moto.awslambda import models as lambda_models

    lambda_models.LambdaFunction.invoke = invoke
