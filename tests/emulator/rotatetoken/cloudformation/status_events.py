"""(49) CloudFormation Stack Status Change events to each account-region's default bus,
with the operation's request token, and the delivery faults a durable, unordered delivery
allows; (50) DescribeAccountLimits."""

from __future__ import annotations

import random
import threading
import time
import traceback
import uuid
from typing import Any

from ..events import deliver
from ..registry import patch
from ..state import CONTROL, LOCK

# The statuses a stack can show (DescribeStacks StackStatus, API reference); moto's own
# CREATE_PENDING is none of them and is not sent.
STATUSES = frozenset(f"{op}_{end}" for op in ("CREATE", "DELETE", "UPDATE", "ROLLBACK", "UPDATE_ROLLBACK", "IMPORT",
                                              "IMPORT_ROLLBACK")
                     for end in ("IN_PROGRESS", "COMPLETE", "FAILED")) | {
    "REVIEW_IN_PROGRESS", "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS"}

_RANDOM = random.Random()
_SEEDED: list[Any] = [None]
# Per stack: the number of its last end emitted (a status the operation ends with), and the
# highest number delivered, so that an end delivered behind a later end of the same stack is
# counted ("reordered"); an in-progress status is not numbered.
_EMITTED: dict[str, int] = {}
_DELIVERED: dict[str, int] = {}


def _counts() -> dict[str, int]:
    counts = CONTROL.get("stack_status_events")
    if not isinstance(counts, dict):
        counts = CONTROL["stack_status_events"] = {}
    return counts


def _deliver(account: str, region: str, envelope: dict[str, Any], number: int | None) -> None:
    stack_id = envelope["detail"]["stack-id"]
    with LOCK:
        if number is None:
            pass
        elif number < _DELIVERED.get(stack_id, 0):
            counts = _counts()
            counts["reordered"] = counts.get("reordered", 0) + 1
        else:
            _DELIVERED[stack_id] = number
    deliver(account, region, envelope)


def _draw(faults: dict[str, Any]) -> random.Random:
    """The fault draws: with a seed, reproducible from the configuration that named it (each
    configuration posted starts the sequence again)."""
    if faults.get("seed") is not None and _SEEDED[0] is not faults:
        _RANDOM.seed(faults["seed"])
        _SEEDED[0] = faults
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
        draws = _draw(faults)
        lost = draws.random() < float(faults.get("lose", 0.0))
        copies = 1 if lost else 1 + (draws.random() < float(faults.get("duplicate", 0.0)))
        low, high = (list(faults.get("delay_seconds") or [0, 0]) + [0, 0])[:2]
        delays = [draws.uniform(float(low), float(high)) for _ in range(copies)]
        counts = _counts()
        counts["emitted"] = counts.get("emitted", 0) + 1
        number = None
        if status.endswith(("_COMPLETE", "_FAILED")):
            number = _EMITTED[stack.stack_id] = _EMITTED.get(stack.stack_id, 0) + 1
        if lost:
            counts["lost"] = counts.get("lost", 0) + 1
            return
        counts["duplicated"] = counts.get("duplicated", 0) + copies - 1
    for delay in delays:
        args = (stack.account_id, stack.region_name, envelope, number)
        if delay <= 0:
            _deliver(*args)
        else:
            timer = threading.Timer(delay, _deliver, args=args)
            timer.daemon = True
            timer.start()


@patch(
    49, service="CloudFormation",
    behaviour="""Every stack status change (CREATE_IN_PROGRESS to UPDATE_COMPLETE, the rollbacks,
      the deletes, a status forced by the control endpoint), once, after the stack shows it,
      is sent to the default event bus of the
      stack's account and region as "CloudFormation Stack Status Change" (source
      aws.cloudformation; detail stack-id, status-details.status and status-reason,
      client-request-token: the operation's, patch 41), nested stacks included. moto sends
      none. Delivery faults, as durable but unordered delivery allows, config
      {"stack_status_event_faults": {"lose": 0.01, "duplicate": 0.05, "delay_seconds":
      [0, 3], "seed": 7}}: each event lost, doubled, or delayed (independently, so events
      arrive out of order); counts in "stack_status_events" (emitted, lost, duplicated,
      and reordered: ends delivered behind a later end of the same stack).""",
    source="""CloudFormation user guide, "Stack Status Change event detail" and "Monitoring
      CloudFormation ... events with EventBridge" ("sent to the EventBridge default event
      bus"; "guaranteed to be delivered, but possibly out of order"); EventBridge events
      reference, "AWS CloudFormation events" (Delivery type: Durable). Loss is beyond what
      AWS documents for durable delivery: the product must survive it (a rule disabled, a
      forwarding target mis-set, a bus policy changed).""",
)
def install_stack_status_events() -> None:
    """(49) Emitted where the status changes (a property on moto's Stack), so every change is
    sent once, after the stack shows it: moto and this emulator set a status in many places,
    not all of them next to a stack event."""
    from moto.cloudformation import models as cfn_models

    from .request_tokens import OPERATION_TOKENS

    def get_status(self: Any) -> Any:
        return self.__dict__.get("_rt_status")

    def set_status(self: Any, value: Any) -> None:
        before = self.__dict__.get("_rt_status")
        self.__dict__["_rt_status"] = value
        if value == before or value not in STATUSES:
            return
        try:
            last = next((e for e in reversed(getattr(self, "events", []) or [])
                         if getattr(e, "resource_type", "") == "AWS::CloudFormation::Stack"), None)
            reason = getattr(last, "resource_status_reason", None) if last is not None \
                and getattr(last, "resource_status", None) == value else None
            token = OPERATION_TOKENS.get(self.stack_id) or getattr(last, "client_request_token", None)
            _emit(self, value, reason, token)
        except Exception:  # the bus's fault is never the API call's
            traceback.print_exc()

    cfn_models.Stack.status = property(get_status, set_status)


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
