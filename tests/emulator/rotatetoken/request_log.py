"""The request log: (14) which function called which action, with which credentials, and
the authorisations AWS checks without an API call of their own; (24) session policies
enforced on the requests they limit."""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any

from .registry import patch
from .state import ASSUMED_ROLES, CALL_LOG, LOCK, SESSION_POLICIES


def log_implied_call(response: Any, action: str) -> None:
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
                "role": ASSUMED_ROLES.get(key.group(1), ""),
                "action": action,
                "at": time.time(),
                # Not a request: AWS bills, rate-limits and counts none (the benchmarks
                # count requests; tests/iam.rs checks every authorisation).
                "implied": True,
            })


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


def action_of(environ: dict[str, Any], body: bytes, service: str) -> str:
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


@patch(
    14, service="Request log",
    behaviour="""GET/POST calls: every request of the product's functions (User-Agent app id), with
      the function, the IAM action and own/assumed credentials (tests/iam.rs). Also the
      authorisations AWS checks without an API call of their own: expanding a Transform on
      CreateStack/UpdateStack is `cloudformation:CreateChangeSet` on the transform; an
      update of a stack with nested stacks (or a change set including them) reads their
      templates, `s3:GetObject`; a GetObject of a key that does not exist, which AWS
      answers with 404 only to a caller allowed `s3:ListBucket` on the bucket (403
      AccessDenied otherwise: "GetObject", S3 API reference), is `s3:ListBucket` too.
      Those authorisations are logged `implied`: no request of their own, so none that
      AWS bills or that a benchmark counts.""",
    source="""Amazon S3 API reference, "GetObject" (Permissions); CloudFormation User Guide,
      "Controlling access with IAM" (transforms); nested templates read with the caller's
      credentials (aws-solutions-library-samples/cloud-intelligence-dashboards-data-collection#417).""",
)
@patch(
    24, service="IAM",
    behaviour="""Session policies are enforced: a session assumed with `Policy` may call only what
      that policy allows (AccessDenied "... because no session policy allows the X
      action", as IAM answers). moto ignores session policies.""",
    source="""IAM User Guide, "Session policies" (effective permissions are the intersection of the
      role's identity policy and the session policy).""",
)
def install_request_log() -> None:
    """14. Every request made by the product (User-Agent app id `rotatetoken-<function>`)
    is logged with the function, the IAM action (signing name + action) and whether the
    credentials were the function's own or an assumed role's (moto's assumed-role keys
    start with ASIA). The emulator does not enforce IAM; tests/iam.rs compares this log
    with the policies in the templates."""
    import io

    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    original = DomainDispatcherApplication.__call__

    def __call__(self: Any, environ: dict[str, Any], start_response: Any) -> Any:
        agent = environ.get("HTTP_X_AMZ_USER_AGENT", "") + " " + environ.get("HTTP_USER_AGENT", "")
        app = re.search(r"app/(rotatetoken-[a-z]+)", agent)
        auth = environ.get("HTTP_AUTHORIZATION", "")
        scope = re.search(r"Credential=([^/]+)/[^/]+/[^/]+/([^/]+)/", auth)
        limited = SESSION_POLICIES.get(scope.group(1)) if scope else None
        if (app or limited) and scope:
            size = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(size) if size else b""
            environ["wsgi.input"] = io.BytesIO(body)
            service = scope.group(2)
            action = f"{service}:{action_of(environ, body, service)}"
            if app:
                with LOCK:
                    CALL_LOG.append(
                        {
                            "function": app.group(1),
                            "credentials": "assumed" if scope.group(1).startswith("ASIA") else "own",
                            # Which role an assumed session is of (tests/iam.rs: each
                            # target role's grants against its own sessions' calls).
                            "role": ASSUMED_ROLES.get(scope.group(1), ""),
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
                       "role": ASSUMED_ROLES.get(scope.group(1), ""),
                       "action": "s3:ListBucket", "at": time.time(),
                       # Billed as the GetObject it is (Amazon S3 pricing: one GET request),
                       # not as a LIST: an authorisation, not a request.
                       "implied": True}
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
