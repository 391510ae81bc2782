"""(49) CloudFormation Stack Status Change events to each account-region's default bus,
with the operation's request token, and the delivery faults a durable, unordered delivery
allows; (50) DescribeAccountLimits."""

from __future__ import annotations

import random
import threading
import time
import uuid
from typing import Any

from ..events import deliver
from ..registry import patch
from ..state import CONTROL, LOCK

_RANDOM = random.Random()
_SEEDED: list[Any] = [None]


def _draw() -> random.Random:
    """The fault draws: reproducible when the configuration names a seed."""
    seed = (CONTROL.get("stack_status_event_faults") or {}).get("seed")
    if seed is not None and _SEEDED[0] != seed:
        _RANDOM.seed(seed)
        _SEEDED[0] = seed
    return _RANDOM


def _emit(stack: Any, status: str, reason: str | None, token: str | None) -> None:
    faults = CONTROL.get("stack_status_event_faults") or {}
    # moto keeps `time` as epoch seconds inside the bus; targets get it as ISO 8601 (10, 51).
    now = time.time()
    envelope = {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "CloudFormation Stack Status Change",
        "source": "aws.cloudformation",
        "account": stack.account_id,
        "time": now,
        "region": stack.region_name,
        "resources": [stack.stack_id],
        "detail": {
            "stack-id": stack.stack_id,
            "status-details": {"status": status, "status-reason": reason or ""},
            "client-request-token": token or "",
        },
    }
    with LOCK:
        draws = _draw()
        lost = draws.random() < float(faults.get("lose", 0.0))
        copies = 1 if lost else 1 + (draws.random() < float(faults.get("duplicate", 0.0)))
        low, high = (list(faults.get("delay_seconds") or [0, 0]) + [0, 0])[:2]
        delays = [draws.uniform(float(low), float(high)) for _ in range(copies)]
        counts = CONTROL["stack_status_events"]
        counts["emitted"] = counts.get("emitted", 0) + 1
        if lost:
            counts["lost"] = counts.get("lost", 0) + 1
            return
        counts["duplicated"] = counts.get("duplicated", 0) + copies - 1
    for delay in delays:
        if delay <= 0:
            deliver(stack.account_id, stack.region_name, envelope)
        else:
            timer = threading.Timer(delay, deliver, args=(stack.account_id, stack.region_name, envelope))
            timer.daemon = True
            timer.start()


@patch(
    49, service="CloudFormation",
    behaviour="""Every stack status change (a stack-level event: CREATE_IN_PROGRESS to
      UPDATE_COMPLETE, the rollbacks, the deletes) is sent to the default event bus of the
      stack's account and region as "CloudFormation Stack Status Change" (source
      aws.cloudformation; detail stack-id, status-details.status and status-reason,
      client-request-token: the operation's, patch 41), nested stacks included. moto sends
      none. Delivery faults, as durable but unordered delivery allows, config
      {"stack_status_event_faults": {"lose": 0.01, "duplicate": 0.05, "delay_seconds":
      [0, 3], "seed": 7}}: each event lost, doubled, or delayed (independently, so events
      arrive out of order); counts in "stack_status_events".""",
    source="""CloudFormation user guide, "Stack Status Change event detail" and "Monitoring
      CloudFormation ... events with EventBridge" ("sent to the EventBridge default event
      bus"; "guaranteed to be delivered, but possibly out of order"); EventBridge events
      reference, "AWS CloudFormation events" (Delivery type: Durable). Loss is beyond what
      AWS documents for durable delivery: the product must survive it (a rule disabled, a
      forwarding target mis-set, a bus policy changed).""",
)
def install_stack_status_events() -> None:
    from moto.cloudformation import models as cfn_models

    original = cfn_models.Stack._add_stack_event

    def add_stack_event(self: Any, resource_status: str, resource_status_reason: str | None = None,
                        resource_properties: str | None = None) -> None:
        original(self, resource_status, resource_status_reason, resource_properties)
        token = getattr(self.events[-1], "client_request_token", None) if self.events else None
        _emit(self, resource_status, resource_status_reason, token)

    cfn_models.Stack._add_stack_event = add_stack_event


# The account limits DescribeAccountLimits answers: AWS's defaults ("CloudFormation quotas",
# user guide: 2,000 stacks; 200 outputs; 2,500 resources in concurrent stack operations).
ACCOUNT_LIMITS = {"StackLimit": 2000, "StackOutputsLimit": 200, "ConcurrentResourcesLimit": 2500}


@patch(
    50, service="CloudFormation",
    behaviour="""DescribeAccountLimits answers StackLimit, StackOutputsLimit and
      ConcurrentResourcesLimit (AWS's defaults, or config {"account_limits":
      {"ConcurrentResourcesLimit": 300}}). moto: not implemented.""",
    source="""CloudFormation API reference, DescribeAccountLimits and AccountLimit
      ("ConcurrentResourcesLimit: the number of resources in concurrent stack operations");
      user guide, "CloudFormation quotas" (defaults 2,000 stacks, 2,500 resources).""",
)
def install_account_limits() -> None:
    from moto.cloudformation.responses import CloudFormationResponse
    from moto.core.responses import ActionResult

    def describe_account_limits(self: Any) -> Any:
        limits = dict(ACCOUNT_LIMITS, **(CONTROL.get("account_limits") or {}))
        return ActionResult({"AccountLimits": [{"Name": n, "Value": int(v)} for n, v in limits.items()]})

    CloudFormationResponse.describe_account_limits = describe_account_limits
