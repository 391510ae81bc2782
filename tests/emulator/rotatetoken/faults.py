"""Fault injection: (13) AWS's Throttling error for a fraction of the product's calls;
(42) API rate limits per account, region and API, as token buckets; (63) AWS's latency on
each call."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

from .registry import patch
from .state import CONTROL, LOCK

THROTTLE_XML = (
    '<ErrorResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/">'
    "<Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error>"
    "<RequestId>{request_id}</RequestId></ErrorResponse>"
)


@patch(
    13, service="Fault injection",
    behaviour="""config {"throttle": {"fraction": 0.3, "services": ["cloudformation", "sts"]}}: that
      fraction of the product's calls (User-Agent app id `rotatetoken-*`) to those services
      gets AWS's 400 Throttling; config's "throttled" counts them.""",
    source="""A throttled call answers code `Throttling`, message "Rate exceeded" (aws-cli #2948,
      ../shared/FIELD-NOTES.md).""",
)
def install_throttling() -> None:
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


# (account, region, service, action) -> [tokens, last refill (monotonic seconds)]
BUCKETS: dict[tuple[str, str, str, str], list[float]] = {}
# The configuration the buckets were filled for: a new one starts every bucket full.
_BUCKETS_FOR: list[Any] = [None]


def over_rate(account: str, region: str, service: str, action: str, now: float) -> bool:
    """Whether this call exceeds its API's rate: a token bucket of `burst` calls refilled at
    `rate` a second, one per account, region and API (all callers share it)."""
    configured = CONTROL.get("rate_limits") or {}
    # A service's limits in one account-region or region ("cloudformation@222222222222/
    # eu-west-1", "cloudformation@eu-west-1"), else everywhere: the quota another caller
    # (the customer's deploys there) already uses up.
    limits = (configured.get(f"{service}@{account}/{region}") or configured.get(f"{service}@{region}")
              or configured.get(service) or {})
    limit = limits.get(action) or limits.get("*")
    if not limit:
        return False
    rate, burst = float(limit[0]), float(limit[1])
    with LOCK:
        if _BUCKETS_FOR[0] is not configured:
            BUCKETS.clear()
            _BUCKETS_FOR[0] = configured
        bucket = BUCKETS.setdefault((account, region, service, action), [burst, now])
        bucket[0] = min(burst, bucket[0] + (now - bucket[1]) * rate)
        bucket[1] = now
        if bucket[0] >= 1.0:
            bucket[0] -= 1.0
            return False
        CONTROL["throttled"] = CONTROL.get("throttled", 0) + 1
        return True


@patch(
    42, service="Fault injection",
    behaviour="""config {"rate_limits": {"cloudformation": {"DescribeStacks": [5, 10], "*": [10,
      20]}}}: calls to an API beyond its rate are refused with AWS's 400 Throttling "Rate
      exceeded", counted per account, region and API and shared by every caller (a token
      bucket: [calls a second, burst]); "*" is every other API of the service. Limits for
      one account-region or region only: "cloudformation@<account>/<region>",
      "cloudformation@<region>" (the most specific applies). On unless configured
      otherwise, as on AWS: every CloudFormation API at 5 calls a second, burst 10, the
      rate users measure for DescribeStacks (AWS publishes none); {} for none (the
      emulator's own suites test each mechanism alone). "throttled" counts them.""",
    source="""Service Quotas lists CloudFormation's API rates (UpdateStack, DescribeStacks,
      CreateChangeSet, DescribeStackEvents...) as per account and region, not adjustable;
      users measure DescribeStacks at about 5 calls a second (aws/aws-sam-cli#2671) and see
      deploys fail on a throttled poll with ~400 stacks in one account
      (aws/aws-cdk-cli#1777).""",
)
def install_rate_limits() -> None:
    """42. Rate limits, as AWS applies them: before moto handles a call, its API's bucket
    for the caller's account and region must hold a token."""
    from moto.core.responses import BaseResponse

    original = BaseResponse.call_action

    def call_action(self: Any) -> Any:
        if CONTROL.get("rate_limits"):
            try:
                action = self._get_action()
            except Exception:  # noqa: BLE001 - no action: not an API call to limit
                action = ""
            if action and over_rate(str(self.current_account), str(self.region),
                                    str(getattr(self, "service_name", "")), action, time.monotonic()):
                if self.headers.get("X-Amz-Target"):  # the JSON protocol's error shape
                    body = '{"__type": "ThrottlingException", "message": "Rate exceeded"}'
                    return 400, {"Content-Type": "application/x-amz-json-1.1"}, body
                return 400, {"Content-Type": "text/xml"}, THROTTLE_XML.format(request_id=uuid.uuid4())
        return original(self)

    BaseResponse.call_action = call_action


def call_latency(service: str) -> float:
    """Seconds a call of the product takes at the least: its service's stated AWS latency
    (else "*"'s), times "scale"; 0 when none is configured."""
    configured = CONTROL.get("call_latency") or {}
    latency = configured.get(service, configured.get("*", 0))
    return max(0.0, float(latency)) * float(configured.get("scale", 1))


def latency_left(latency: float, handled_in: float) -> float:
    """What a call still waits after moto handled it in `handled_in` seconds: the rest of
    its latency. AWS's latency is a round trip's, its own work included; the local AWS's
    work (moto's, slower on a loaded machine than AWS's) is not added on top of it, and a
    call it took longer over is not slowed further."""
    return max(0.0, latency - handled_in)


@patch(
    63, service="Fault injection",
    behaviour="""config {"call_latency": {"cloudformation": 0.1, "s3": 0.05, "*": 0.05, "scale": 5}}:
      each call of the product's functions (User-Agent app id) is answered no sooner than its
      service's stated latency ("*": any other service's), times "scale" (a run that slows
      the whole of AWS slows its answers too), as an AWS endpoint takes tens to hundreds of
      milliseconds where moto answers in a few. The latency is the whole round trip's, as
      the sources measure it: moto handles the call first, and the answer waits out what is
      left of it (the local AWS's own work is not added to AWS's; a call that took longer
      is not slowed further). A call's effect so lands at the start of its latency, its
      answer at the end. The request's thread waits; other calls are served meanwhile.
      Off unless configured.""",
    source="""Amazon S3: small requests' median latency is "often in the range of tens of
      milliseconds" (whitepaper "Best Practices Design Patterns: Optimizing Amazon S3
      Performance", "Timeouts and Retries for Latency-Sensitive Applications"); SDK logs of
      S3 from Lambda show 0.04 s to 0.08 s a call. CloudFormation's DescribeStacks answers in
      0.11 s (aws/aws-cdk issue log, `[AWS cloudformation 200 0.11s 0 retries]`) to 0.4 s
      (aws/aws-cdk#20257). AWS publishes no latency for either.""",
)
def install_call_latency() -> None:
    """63. AWS's latency: a product call is answered no sooner than its service's stated
    latency (the service is the SigV4 scope's), so a function's invocation takes at least
    as long as its sequential calls take on AWS (slowed with the run)."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    original = DomainDispatcherApplication.__call__

    def __call__(self: Any, environ: dict[str, Any], start_response: Any) -> Any:
        latency = 0.0
        if CONTROL.get("call_latency"):
            agent = environ.get("HTTP_X_AMZ_USER_AGENT", "") + " " + environ.get("HTTP_USER_AGENT", "")
            scope = re.search(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/", environ.get("HTTP_AUTHORIZATION", ""))
            if "app/rotatetoken" in agent and scope:
                latency = call_latency(scope.group(1))
        began = time.monotonic()
        # Handled whole before the wait: werkzeug sends nothing of the answer until its body
        # is iterated, after this returns.
        answer = original(self, environ, start_response)
        wait = latency_left(latency, time.monotonic() - began)
        if wait > 0:
            time.sleep(wait)
        return answer

    DomainDispatcherApplication.__call__ = __call__
