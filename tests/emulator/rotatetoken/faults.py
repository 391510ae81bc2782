"""Fault injection: (13) AWS's Throttling error for a fraction of the product's calls."""

from __future__ import annotations

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
