"""Fault injection: (13) AWS's Throttling error for a fraction of the product's calls;
(42) API rate limits per account, region and API, as token buckets."""

from __future__ import annotations

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
      "cloudformation@<region>" (the most specific applies). Off unless configured;
      "throttled" counts them.""",
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
