"""EventBridge: (10) rules deliver to Lambda targets; (27) TestEventPattern."""

from __future__ import annotations

import json
import threading
from typing import Any

from .registry import patch
from .state import DELIVERIES

# How a rule's delivery invokes its Lambda target: once, unless patch 45 (crashes.py)
# retries a function error as Lambda's asynchronous invocation does.
ASYNC_INVOKE: list[Any] = [lambda fn, body: fn.invoke(body, {}, {})]


@patch(
    10, service="EventBridge",
    behaviour="""Rules deliver matching events to Lambda targets, asynchronously (moto: not implemented).""",
    source="""Measured: moto 5.2.5 raises NotImplementedError for a Lambda target. `time` as
     EventBridge delivers it: "Amazon EventBridge events" reference.""",
)
def install_lambda_targets() -> None:
    """(10) Rules deliver to Lambda targets (moto: NotImplementedError), asynchronously as
    EventBridge does, through the same bridge to the real handlers."""
    from moto.awslambda.models import lambda_backends
    from moto.events import models as events_models

    original = events_models.Rule.send_to_targets

    def send_to_targets(self: Any, original_event: Any, transform_input: bool = True) -> None:
        if not self.event_pattern.matches_event(original_event):
            return
        # PutEvents' Time arrives as epoch seconds; EventBridge delivers `time` as an ISO
        # 8601 string (`2026-11-21T09:15:02Z`, "Amazon EventBridge events" reference);
        # moto passes the number through.
        if isinstance(original_event.get("time"), (int, float)):
            import datetime

            original_event = dict(original_event)
            original_event["time"] = datetime.datetime.fromtimestamp(
                original_event["time"], tz=datetime.timezone.utc
            ).strftime("%Y-%m-%dT%H:%M:%SZ")
        lambda_targets = [t for t in self.targets if ":lambda:" in t["Arn"]]
        others = [t for t in self.targets if t not in lambda_targets]
        for target in lambda_targets:
            fn_name = target["Arn"].split(":function:")[1].split(":")[0]
            fn = lambda_backends[self.account_id][self.region_name].get_function(fn_name)
            body = json.dumps(original_event, default=str)
            DELIVERIES.append({"rule": self.name, "function": fn_name, "event_id": original_event.get("id")})
            threading.Thread(target=ASYNC_INVOKE[0], args=(fn, body), daemon=True).start()
        if others:
            saved = self.targets
            self.targets = others
            try:
                original(self, original_event, transform_input)
            finally:
                self.targets = saved

    events_models.Rule.send_to_targets = send_to_targets


@patch(
    27, service="EventBridge",
    behaviour="""EventBridge TestEventPattern answers {"Result": true|false} with the same matcher
      the rules use, and refuses a malformed pattern with InvalidEventPatternException
      ("TestEventPattern", EventBridge API reference). moto: not implemented.""",
    source="""EventBridge API reference, "TestEventPattern".""",
)
def install_test_event_pattern() -> None:
    """(27) TestEventPattern, with moto's own pattern matcher (the rules' own)."""
    from moto.events import responses as events_responses
    from moto.events.models import EventPattern

    def test_event_pattern(self: Any) -> Any:
        pattern = EventPattern.load(self._get_param("EventPattern"))
        event = json.loads(self._get_param("Event"))
        return json.dumps({"Result": pattern.matches_event(event)}), self.response_headers

    events_responses.EventsHandler.test_event_pattern = test_event_pattern
