"""EventBridge: (10) rules deliver to Lambda targets; (27) TestEventPattern; (51) an event
bus in another account or region as a target: its policy checked, the event kept whole."""

from __future__ import annotations

import copy
import json
import threading
from typing import Any

from .registry import patch
from .state import CONTROL, DELIVERIES, LOCK
from .wildcards import wildcard

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
        # moto passes the number through to a Lambda target (its other targets convert it
        # themselves, from the number).
        as_delivered = original_event
        if isinstance(original_event.get("time"), (int, float)):
            import datetime

            as_delivered = dict(original_event)
            as_delivered["time"] = datetime.datetime.fromtimestamp(
                original_event["time"], tz=datetime.timezone.utc
            ).strftime("%Y-%m-%dT%H:%M:%SZ")
            as_delivered.pop("ingestion-time", None)
        if FORWARDED in as_delivered:
            as_delivered = {k: v for k, v in as_delivered.items() if k != FORWARDED}
        lambda_targets = [t for t in self.targets if ":lambda:" in t["Arn"]]
        others = [t for t in self.targets if t not in lambda_targets]
        for target in lambda_targets:
            fn_name = target["Arn"].split(":function:")[1].split(":")[0]
            fn = lambda_backends[self.account_id][self.region_name].get_function(fn_name)
            body = json.dumps(as_delivered, default=str)
            DELIVERIES.append({"rule": self.name, "function": fn_name, "event_id": as_delivered.get("id")})
            threading.Thread(target=ASYNC_INVOKE[0], args=(fn, body), daemon=True).start()
        if others:
            # A copy of the rule with the other targets: deliveries run on several threads
            # (delayed events), and the rule itself is never changed.
            narrowed = copy.copy(self)
            narrowed.targets = others
            original(narrowed, original_event, transform_input)

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


# Marks an event a bus received from another bus (never delivered to a target).
FORWARDED = "rotatetoken-forwarded"


def deliver(account: str, region: str, envelope: dict[str, Any], bus: str = "default") -> None:
    """An event put on a bus as AWS services and other buses put it: its envelope (id,
    account, region, time, resources) kept, every rule of that bus given it."""
    from moto.events.models import events_backends

    backend = events_backends[account][region]
    try:
        event_bus = backend.describe_event_bus(backend._normalize_event_bus_arn(bus))
    except Exception:  # no such bus: nothing receives it
        return
    import time
    import traceback

    envelope = dict(envelope)
    envelope.setdefault("ingestion-time", time.time())  # moto's input transformer reads it
    for rule in list(event_bus.rules.values()):
        if getattr(rule, "state", "ENABLED") != "ENABLED":
            continue
        try:
            rule.send_to_targets(json.loads(json.dumps(envelope, default=str)))
        except Exception:  # a delivery fault is the bus's, never the sender's API call's
            traceback.print_exc()


def _org_path(account: str) -> str | None:
    """The account's path in its AWS Organizations organisation, as the global condition key
    aws:PrincipalOrgPaths gives it: `o-.../r-.../ou-.../.../` (IAM user guide, "AWS global
    condition context keys", aws:PrincipalOrgPaths); None outside any organisation."""
    from moto.organizations.models import organizations_backends

    found = organizations_backends.master_accounts.get(account)
    if found is None:
        return None
    backend = organizations_backends[found[0]][found[1]]
    if backend.org is None:
        return None
    parents = {ou.id: ou.parent_id for ou in backend.ou}
    parent = next((a.parent_id for a in backend.accounts if a.id == account), None)
    chain: list[str] = []
    while parent is not None and parent not in chain:
        chain.insert(0, parent)
        parent = parents.get(parent)
    return f"{backend.org.id}/" + "".join(f"{p}/" for p in chain)


def _allows(policy: str | None, sender: str, event: dict[str, Any] | None = None, *, through_role: bool = False) -> bool:
    """Whether a receiving bus's resource policy lets account `sender` put `event` on it.
    Judged conditions: aws:PrincipalAccount and aws:PrincipalOrgPaths (the sender's place in
    its organisation, for a Principal "*" statement that admits an organisation's units, as
    the EventBridge user guide's PutPermission reference admits an organisation with
    Principal "*" and a condition), and the event's own keys events:source (multi-valued:
    ForAllValues:StringEquals) and events:detail-type (StringEquals), as the EventBridge user
    guide's "Example policy: Send events to a custom bus in a different account" uses them;
    operators StringEquals (plain, ForAllValues:, ForAnyValue:) and StringLike (plain,
    ForAnyValue:). A statement with any other condition does not allow (stricter than AWS,
    never looser). A Principal "*" statement (an organisation's grant) admits only a rule
    target that names a role (`through_role`): "If you grant permissions using an
    organization, then accounts in that organization must specify a RoleArn ... when they
    use PutTarget" (PutPermission API reference)."""
    if not policy:
        return False
    statements = json.loads(policy).get("Statement", [])
    denied = any(st.get("Effect") == "Deny" for st in statements)
    if denied:  # an explicit deny wins; which ones apply is not judged (stricter than AWS)
        return False
    event = event or {}
    path = _org_path(sender)
    values = {"aws:PrincipalAccount": [sender], "events:source": [event.get("source")],
              "events:detail-type": [event.get("detail-type")],
              "aws:PrincipalOrgPaths": [path] if path else []}

    def holds(condition: dict[str, Any]) -> bool:
        for operator, keys in condition.items():
            if operator not in ("StringEquals", "ForAllValues:StringEquals", "ForAnyValue:StringEquals",
                                "StringLike", "ForAnyValue:StringLike"):
                return False
            for key, wanted in keys.items():
                if key not in values:
                    return False
                wanted = set(wanted if isinstance(wanted, list) else [wanted])
                if operator.endswith("StringLike"):
                    # A key with no value (a sender in no organisation) matches nothing.
                    if not any(wildcard(w, str(v)) for v in values[key] for w in wanted):
                        return False
                elif not values[key] or not set(values[key]) <= wanted:
                    return False
        return True

    for st in statements:
        actions = st.get("Action")
        actions = actions if isinstance(actions, list) else [actions]
        if st.get("Effect") != "Allow" or not {"events:PutEvents", "events:*"} & set(actions):
            continue
        principal = st.get("Principal")
        aws = principal.get("AWS") if isinstance(principal, dict) else principal
        aws = aws if isinstance(aws, list) else [aws]
        names = {sender, f"arn:aws:iam::{sender}:root"}
        if not (names & set(aws) or ("*" in aws and through_role)):
            continue
        if holds(st.get("Condition") or {}):
            return True
    return False


@patch(
    51, service="EventBridge",
    behaviour="""A target with no input transformer receives the event whole (moto's default
      template drops `account`). A rule whose target is an
      event bus in another account or region delivers the
      event whole (its id, source account, region, time and resources kept; moto re-puts it as
      a new event of the receiving account), and only if the receiving bus's resource policy
      allows events:PutEvents from the sending account for this event (its conditions on
      aws:PrincipalAccount, aws:PrincipalOrgPaths, events:source and events:detail-type
      judged; any other condition refuses; an organisation's Principal "*" grant only for a
      target with a RoleArn): otherwise the event is lost, as on AWS (counted in
      "bus_deliveries_refused").
      A bus in the sender's own account needs no policy.""",
    source="""EventBridge user guide, "Permissions for event buses" ("The default event bus in
      your AWS account only allows events from one account. You can grant additional
      permissions ... by attaching a resource-based policy") and "Example policy: Send events
      to the default bus in a different account" and "Example policy: Send events to a custom
      bus in a different account" (events:source, events:detail-type); PutPermission API
      reference (an organisation admitted with Principal "*" and a condition); IAM user
      guide, "AWS global condition context keys" (aws:PrincipalOrgPaths); "Sending and receiving
      events between AWS accounts in EventBridge"; EventBridge events reference, "Amazon EventBridge events" (the
      envelope: version, id, detail-type, source, account, time, region, resources, detail).""",
)
def install_bus_targets() -> None:
    from moto.events import models as events_models
    from moto.events.utils import EventTemplateParser
    from moto.utilities.arns import parse_arn

    original_parse = EventTemplateParser.parse

    def parse(input_template: Any, input_paths_map: Any, event: Any) -> Any:
        # No InputTransformer: the target gets the event whole, `account` included (moto's
        # default template drops it; its targets turn `time` into ISO 8601 themselves).
        if input_template is None and not input_paths_map:
            whole = json.loads(json.dumps(event, default=str))
            whole.pop("ingestion-time", None)
            whole.pop(FORWARDED, None)
            return whole
        return original_parse(input_template, input_paths_map, event)

    EventTemplateParser.parse = staticmethod(parse)

    inner = events_models.Rule.send_to_targets

    def send_to_targets(self: Any, original_event: Any, transform_input: bool = True) -> None:
        buses, others = [], []
        for target in self.targets:
            arn = parse_arn(target["Arn"]) if target["Arn"].startswith("arn:") else None
            is_bus = arn is not None and arn.service == "events" and arn.resource_type == "event-bus"
            (buses if is_bus else others).append((target, arn))
        # "EventBridge can't route events received from a sender event bus to a third event
        # bus" (user guide, "Sending and receiving events between AWS accounts"): an event
        # that arrived from another bus goes to no bus target.
        forwarded = bool(original_event.get(FORWARDED))
        if buses and not forwarded and self.event_pattern.matches_event(original_event):
            for target, arn in buses:
                if arn.account != self.account_id:
                    from moto.events.models import events_backends

                    receiver = events_backends[arn.account][arn.region]
                    try:
                        bus = receiver.describe_event_bus(arn.resource_id)
                    except Exception:
                        bus = None
                    if bus is None or not _allows(bus.policy, self.account_id, original_event,
                                                  through_role=bool(target.get("RoleArn"))):
                        with LOCK:
                            CONTROL["bus_deliveries_refused"] = CONTROL.get("bus_deliveries_refused", 0) + 1
                        continue
                deliver(arn.account, arn.region, dict(original_event, **{FORWARDED: True}), arn.resource_id)
        if not buses:
            return inner(self, original_event, transform_input)
        if others:
            narrowed = copy.copy(self)
            narrowed.targets = [t for t, _ in others]
            inner(narrowed, original_event, transform_input)

    events_models.Rule.send_to_targets = send_to_targets
