"""The emulator's shared state: what the control endpoints set (CONTROL), the logs they
answer, and the per-thread markers the patches leave for one another. Every other module
imports this one; it imports none of them (no import circles)."""

from __future__ import annotations

import os
import threading
from typing import Any

# Set by POST /moto-api/rotatetoken/config (control.py refuses any key not in
# KNOWN_CONFIG_KEYS) and read by the patches; answered whole by that endpoint.
CONTROL: dict[str, Any] = {
    "update_delay_seconds": 0.0,
    "update_delay_jitter_seconds": 0.0,
    "fail_create": {},
    "fail_delete": {},
    "deny_assume_role": [],
    "external_id": None,
    "throttle": {},
    "throttled": 0,
    # On as on AWS: every CloudFormation API at the rate users measure for DescribeStacks,
    # about 5 calls a second (aws/aws-sam-cli#2671), per account, region and API (patch 42).
    "rate_limits": {"cloudformation": {"*": [5, 10]}},
    "call_latency": {},
    "time_out_after_run": {},
    "drop_status_events": False,
    "crash_after_call": {},
    "async_retry_delays_seconds": [60, 120],
    "deny_s3_writes": [],
    "stack_status_event_faults": {},
    "stack_status_events": {},
    "account_limits": {},
    "bus_deliveries_refused": 0,
    "retry_interval_scale": 1.0,
    "wait_state_scale": 1.0,
    "task_timeout_scale": None,
    # AWS takes seconds; half a second keeps the suites quick while whoever reads or
    # executes a change set at once meets one still being created, as on AWS (the
    # refresh's look after its pause finds it created: tests/waiting.rs sets 6 s).
    "change_set_seconds": 0.5,
}
# The keys a test may set, with what each does (its patch in parentheses). Every
# `CONTROL.get("...")` / `CONTROL["..."]` in this package reads one of them
# (test_control.py checks it), and so does every key the Rust suites, benchmarks and
# scripts post. "instance" is answered too, but set only at start (--instance).
KNOWN_CONFIG_KEYS: dict[str, str] = {
    "update_delay_seconds": "seconds an accepted update stays UPDATE_IN_PROGRESS (3)",
    "update_delay_jitter_seconds": "spreads each update's time uniformly by ± this many seconds (3)",
    "update_delay_distribution": '{"median": 45, "sigma": 0.6, "min": 20, "max": 240, "scale": 0.5, "seed": 1}: each stack\'s updates take their own time, a clamped log-normal draw, time-scaled (3)',
    "fail_create": '{"<stack>": ["LogicalId"]}: an update that would create that resource rolls back (3)',
    "fail_delete": '{"<stack>": ["LogicalId"]}: deleting that resource fails in cleanup (19)',
    "deny_assume_role": '["<account id>"]: AssumeRole into those accounts is refused (11)',
    "external_id": "the external ID AssumeRole must carry, or null (11)",
    "throttle": '{"fraction": 0.3, "services": ["cloudformation", "sts"]}: injected Throttling (13)',
    "throttled": "how many calls were throttled (13, 42): a counter, reset by posting 0",
    "rate_limits": '{"cloudformation": {"DescribeStacks": [5, 10], "*": [10, 20]}}: per account, region and API, [calls a second, burst]; {"cloudformation": {"*": [5, 10]}} unless configured, {} for none (42)',
    "call_latency": '{"cloudformation": 0.1, "s3": 0.05, "*": 0.05, "scale": 5}: seconds each product call waits before it is answered, per service, times scale (63)',
    "drop_status_events": "true: Step Functions status change events are lost (26)",
    "time_out_after_run": '{"<function>": N}: its next N invocations run, then time out, their result lost (43)',
    "abort_children": '["<stack>"]: the Distributed Map child for that stack is aborted (15)',
    "crash_after_call": '{"<function>": {"action": "s3:PutObject", "nth": 1, "times": 1}}: its invocation is killed right after that call (44)',
    "deny_s3_writes": '["map-results/*"]: PutObject of a matching key is refused with 403 AccessDenied (46)',
    "async_retry_delays_seconds": "[60, 120]: the waits before Lambda's two retries of a failed asynchronous invocation (45)",
    "stack_status_event_faults": '{"lose": 0.01, "duplicate": 0.05, "delay_seconds": [0, 3], "seed": 7}: CloudFormation status change events lost, doubled, delayed (49)',
    "stack_status_events": '{"emitted": n, "lost": n, "duplicated": n, "reordered": n}: counters of the status change events, reordered counting ends delivered behind a later end of the same stack (49); post {} to reset',
    "bus_deliveries_refused": "events a rule sent to another account's bus that its policy refused (51): a counter",
    "retry_interval_scale": "1: Step Functions Retry waits take AWS's time; 0.1 compresses them tenfold, for suites (52)",
    "wait_state_scale": "1: Wait states and task time-outs take AWS's time; 3 makes each three times as long, for a benchmark slowing all of AWS; 0.2 shortens the suites' Wait states (55)",
    "task_timeout_scale": "null: task time-outs follow wait_state_scale; a number scales them alone (the suites keep 1: a lost event's wait is what their tests measure) (55)",
    "change_set_seconds": "seconds an UPDATE change set (with its nested ones) stays CREATE_IN_PROGRESS before it is CREATE_COMPLETE, or FAILED when it changes nothing (56)",
    "account_limits": '{"ConcurrentResourcesLimit": 300}: what DescribeAccountLimits answers instead of AWS\'s defaults (50)',
}
LOCK = threading.RLock()

# Every UpdateStack the emulator accepted, in order, with the parameters it resolved to and
# how it ended: lets a test prove "false, then true" without trusting the product's report.
UPDATE_LOG: list[dict[str, Any]] = []
# Every Lambda invocation through the bridge: function, duration, memory size (the billed
# GB-seconds of `make bench`'s cost per stack).
INVOCATION_LOG: list[dict[str, Any]] = []
# Per Distributed Map run: the child executions' state transitions and events (`make bench`).
MAP_RUN_LOG: list[dict[str, Any]] = []
# Every AssumeRole call: role ARN, session name, external ID, whether a session policy came.
ASSUME_LOG: list[dict[str, Any]] = []
# Every request of the product's functions (14): function, IAM action, own/assumed credentials.
CALL_LOG: list[dict[str, str]] = []
# Per function, its invocation under way as the crash fault (44) counts it: calls made,
# whether it was killed.
CRASHES: dict[str, dict[str, Any]] = {}
# Rule deliveries to Lambda targets (10): rule, function, event id.
DELIVERIES: list[dict[str, Any]] = []

# Checks an update runs before it applies anything: each answers the resources that would
# fail, as (logical id, CREATE_FAILED | UPDATE_FAILED, reason); any makes the update roll
# back with the resources as before (real_shapes, 39).
UPDATE_CHECKS: list[Any] = []
# Access key of an assumed-role session -> (its session policy, the session's ARN) (24).
SESSION_POLICIES: dict[str, tuple[dict[str, Any], str]] = {}
# Access key of an assumed-role session -> the role's name, for the request log (14).
ASSUMED_ROLES: dict[str, str] = {}
# Capabilities given to the last change set of (account, region, stack) (16).
CHANGE_SET_CAPS: dict[tuple[str, str, str], list[str]] = {}
# Child executions of a Distributed Map run that did not succeed, by map run ARN: what
# the ResultWriter lists under FAILED (the child's input, error and cause), as AWS does (15).
MAP_FAILURES: dict[str, list[dict[str, Any]]] = {}

# The Lambda Invoke API the bridge calls (8): --lambda-bridge, set again by server.serve().
LAMBDA_BRIDGE = os.environ.get("RT_LAMBDA_BRIDGE", "")

# Every update of the emulator, to the resources it touched: (logical id, action) with the
# action `Modify` (in place) or `Replace`, read by the update log (UPDATE_LOG "resources").
TOUCHED = threading.local()
# Set while a parent's update applies its nested stacks' updates: they run inside the
# parent's update (the parent ends only when its children have), never on a timer of their own.
NESTED = threading.local()
# The account and region a template is being parsed for (transforms need them).
PARSE_CONTEXT = threading.local()
