//! Event-driven waiting: a refresh look that must wait for its stack keeps its own step's
//! task token under the stack's key in the runs bucket (`service::look`), or hands back a
//! [`StackWait`] whose `WaitForStack` token the waiter keeps there; the stack's end event (CloudFormation's "Stack Status
//! Change", forwarded from every target account-region to the pipeline's default bus)
//! sends the token back, and the refresh looks at the stack again. No Lambda is held while
//! CloudFormation works, and nothing polls as the rule: a look costs one event.
//!
//! CloudFormation delivers these events durably but "possibly out of order" (user guide,
//! "Monitoring CloudFormation ... with EventBridge"); a forwarding rule can still be
//! disabled or mis-set. So an event only ever *wakes*: a duplicate or a stale one costs one
//! look, a lost one costs the step's time-out (`seconds`, or a look's own `look_seconds`,
//! up to 15 s more), then one look. What the stack's
//! state is, and what to do, is always read from the stack by the refresh.

use sha2::Digest;

use super::error::{required_str, InputError};
use super::lanes::PLACE_WAIT_MS;
use super::model::{StackEnd, StackWait, WaitKind, WaitRegistration};
use super::utc;

/// The detail-type CloudFormation gives its stack status events.
pub const STATUS_CHANGE: &str = "CloudFormation Stack Status Change";

/// The statuses that end a stack operation: the ones that wake a waiting step, and the
/// only ones the event rules forward (a busy stack sends two to four statuses per
/// operation; the in-progress ones would each cost an invocation for nothing). The
/// stack status codes of the user guide ("Stack status codes") that do not end in
/// `_IN_PROGRESS`. tests/contracts.rs checks the template's rules list exactly these.
pub const END_STATUSES: [&str; 13] = [
    "CREATE_COMPLETE",
    "CREATE_FAILED",
    "DELETE_COMPLETE",
    "DELETE_FAILED",
    "IMPORT_COMPLETE",
    "IMPORT_ROLLBACK_COMPLETE",
    "IMPORT_ROLLBACK_FAILED",
    "ROLLBACK_COMPLETE",
    "ROLLBACK_FAILED",
    "UPDATE_COMPLETE",
    "UPDATE_FAILED",
    "UPDATE_ROLLBACK_COMPLETE",
    "UPDATE_ROLLBACK_FAILED",
];

/// Whether a status ends an operation (anything in progress does not; neither does
/// `REVIEW_IN_PROGRESS`, a change set waiting to be executed).
pub fn is_end(status: &str) -> bool {
    !status.ends_with("_IN_PROGRESS") && !status.is_empty()
}

/// Where the waits of one stack are kept in the runs bucket.
pub fn stack_prefix(stack_id: &str) -> String {
    format!("waits/{}/", short_hash(stack_id))
}

/// One waiting step's registration.
pub fn registration_key(stack_id: &str, task_token: &str) -> String {
    format!("{}{}.json", stack_prefix(stack_id), short_hash(task_token))
}

/// The registration of a look that waits on its own token: one per stack and run, each
/// such look of the run replacing the one before. Its task is what the look handed on: the
/// next look's input when the end wakes it, and, when the step timed out instead, what the
/// look after the time-out takes up ([`crate::service::look`]; Step Functions gives that
/// look the timed-out look's input, from before what it did).
pub fn own_registration_key(stack_id: &str, execution: &str) -> String {
    format!(
        "{}look-{}.json",
        stack_prefix(stack_id),
        short_hash(execution)
    )
}

/// The stack's latest end the waiter saw (any operation).
pub fn last_end_key(stack_id: &str) -> String {
    format!("{}last-end.json", stack_prefix(stack_id))
}

/// The end of one operation, by its request token.
pub fn end_key(stack_id: &str, request_token: &str) -> String {
    format!(
        "{}end-{}.json",
        stack_prefix(stack_id),
        short_hash(request_token)
    )
}

/// Whether a key under [`stack_prefix`] is a registration (not an end record).
pub fn is_registration_key(key: &str) -> bool {
    key.rsplit('/')
        .next()
        .is_some_and(|name| !name.starts_with("end-") && name != "last-end.json")
}

fn short_hash(s: &str) -> String {
    sha2::Sha256::digest(s)
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// An untokened wait treats an end at most this much older than its `seen_ms` as possibly
/// the one waited for: CloudFormation stamps events to the second, and the two clocks are
/// not the same. At worst one look too many; never a missed end.
pub const CLOCK_SLACK_MS: u64 = 2_000;

/// Whether this end wakes this registration: the same stack; an end status; our update's
/// own token when we wait for ours, else any operation that ended after the stack was
/// seen busy.
pub fn wakes(registration: &WaitRegistration, end: &StackEnd) -> bool {
    if registration.stack_id != end.stack_id || !is_end(&end.status) {
        return false;
    }
    match registration.request_token.as_deref() {
        Some(ours) => end.request_token.as_deref() == Some(ours),
        None => end.time_ms + CLOCK_SLACK_MS >= registration.seen_ms,
    }
}

/// The end an event tells of, or None when it tells of none (an in-progress status).
/// An event that is not a CloudFormation status change is refused, naming the field.
pub fn stack_end(event: &serde_json::Value) -> Result<Option<StackEnd>, InputError> {
    let detail_type = required_str(event, &["detail-type"])?;
    if detail_type != STATUS_CHANGE {
        return Err(InputError::new(
            "detail-type",
            format!("`{detail_type}` is not `{STATUS_CHANGE}`"),
        ));
    }
    let stack_id = required_str(event, &["detail", "stack-id"])?;
    let status = required_str(event, &["detail", "status-details", "status"])?;
    // AWS sends an empty token for an operation started without one (a console update
    // has its own `Console-...` token).
    let token = match event.pointer("/detail/client-request-token") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(t)) => Some(t.as_str()).filter(|t| !t.is_empty()),
        Some(_) => {
            return Err(InputError::new(
                "detail.client-request-token",
                "must be a string",
            ))
        }
    };
    let time = required_str(event, &["time"])?;
    let time_ms = utc::parse_ms(time)
        .ok_or_else(|| InputError::new("time", format!("`{time}` is not an ISO 8601 UTC time")))?;
    if !is_end(status) {
        return Ok(None);
    }
    Ok(Some(StackEnd {
        stack_id: stack_id.to_string(),
        status: status.to_string(),
        request_token: token.map(str::to_string),
        time_ms,
    }))
}

/// The wait a refresh hands back: for its own running update (woken by that update's end),
/// for someone else's operation (any end), or a pause. `longest_ms` bounds what a lost
/// event costs (`PollIntervalSeconds`).
pub fn wait_for(
    running_token: Option<String>,
    pause_until_ms: Option<u64>,
    now_ms: u64,
    longest_ms: u64,
) -> StackWait {
    let whole_seconds = |ms: u64| ms.div_ceil(1000).max(1);
    match pause_until_ms {
        Some(until) if until > now_ms => StackWait {
            kind: WaitKind::Pause,
            seconds: whole_seconds(until - now_ms),
            request_token: None,
            seen_ms: now_ms,
        },
        _ => StackWait {
            kind: WaitKind::Stack,
            seconds: whole_seconds(longest_ms),
            request_token: running_token,
            seen_ms: now_ms,
        },
    }
}

/// The time-out of a look handed a task with no look before it (its home is the task's).
pub use super::model::FIRST_LOOK_SECONDS;

/// What a look's own work may take, on top of the wait for its stack, within its state's
/// time-out: a look of the events design makes a few CloudFormation and S3 calls (about a
/// second on AWS). An eighth of the wait, from 5 s to 15 s: a lost end event costs at most
/// that much more than `PollIntervalSeconds` (135 s at the default 120 s).
pub fn look_allowance_seconds(wait_seconds: u64) -> u64 {
    (wait_seconds / 8).clamp(5, 15)
}

/// The shortest time-out of a look's state: a look slowed by throttling (the SDK's backoff
/// under a busy account-region's rate limits) must end inside it, or its state times out
/// while it works and the next look starts beside it. With a `PollIntervalSeconds` under
/// 54 s the looks' waits go through `WaitForStack` again ([`waits_on_own_token`]).
pub const SHORTEST_LOOK_SECONDS: u64 = 60;

/// The time-out of the next look's state (`RefreshTask::look_seconds`): with events, the
/// wait for the stack (`PollIntervalSeconds`) and the look's own work, at least
/// [`SHORTEST_LOOK_SECONDS`]; polling (no events), a look works up to its budget, so as
/// long as any invocation may.
pub fn look_seconds(wait_for_events: bool, poll_interval_ms: u64) -> u64 {
    let wait = poll_interval_ms.div_ceil(1000).max(1);
    match wait_for_events {
        true => (wait + look_allowance_seconds(wait)).max(SHORTEST_LOOK_SECONDS),
        false => FIRST_LOOK_SECONDS,
    }
}

/// Whether a look that hands back `wait` keeps its own step's task token for the stack's
/// end event (the state machine's `Refresh` waits on it: two state transitions a look
/// instead of three through `WaitForStack`). Only a wait for the stack, in a state whose
/// time-out was sized for one (`look_seconds` of a look before it) and which has most of
/// that wait left: otherwise the state's time-out would end the wait too soon, or a lost
/// event would cost more than `seconds`, and the task goes on to `WaitForStack` instead.
/// `entered_ms`: when the state was entered (its time-out runs from then).
pub fn waits_on_own_token(
    wait: &StackWait,
    look_seconds: u64,
    entered_ms: u64,
    now_ms: u64,
) -> bool {
    let left_ms = (entered_ms + look_seconds * 1000).saturating_sub(now_ms);
    wait.kind == WaitKind::Stack
        && look_seconds <= wait.seconds + look_allowance_seconds(wait.seconds)
        && left_ms >= wait.seconds * 1000 / 2
}

/// A pause of `ms` the refresh chose (the state machine's `Pause`, no Lambda held): for a
/// change set CloudFormation is creating, which sends no event when it is done.
pub fn pause(now_ms: u64, ms: u64) -> StackWait {
    StackWait {
        kind: WaitKind::Pause,
        seconds: ms.div_ceil(1000).max(1),
        request_token: None,
        seen_ms: now_ms,
    }
}

/// The wait of a stack its full lane did not admit: woken when a stack of its lane ends and
/// hands its place on, else it asks again after [`PLACE_WAIT_MS`] (a hand-over lost) or at
/// its wait budget's `deadline_ms` (which it began `max_wait_ms` before), whichever comes
/// first.
pub fn wait_for_place(now_ms: u64, deadline_ms: u64, max_wait_ms: u64) -> StackWait {
    let longest_ms = PLACE_WAIT_MS.min(deadline_ms.saturating_sub(now_ms));
    StackWait {
        kind: WaitKind::Place,
        seconds: longest_ms.div_ceil(1000).max(1),
        request_token: None,
        seen_ms: deadline_ms.saturating_sub(max_wait_ms),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const STACK: &str = "arn:aws:cloudformation:us-east-1:123456789012:stack/app/1";

    fn registration(token: Option<&str>, seen_ms: u64) -> WaitRegistration {
        WaitRegistration {
            stack_id: STACK.into(),
            task_token: "task-token".into(),
            request_token: token.map(Into::into),
            seen_ms,
            execution: None,
            task: None,
        }
    }

    fn end(status: &str, token: Option<&str>, time_ms: u64) -> StackEnd {
        StackEnd {
            stack_id: STACK.into(),
            status: status.into(),
            request_token: token.map(Into::into),
            time_ms,
        }
    }

    #[test]
    fn our_update_is_woken_by_its_own_end_only() {
        let ours = registration(Some("RotateToken-false-abc"), 10_000);
        assert!(wakes(
            &ours,
            &end("UPDATE_COMPLETE", Some("RotateToken-false-abc"), 9_000)
        ));
        assert!(wakes(
            &ours,
            &end(
                "UPDATE_ROLLBACK_COMPLETE",
                Some("RotateToken-false-abc"),
                20_000
            )
        ));
        assert!(!wakes(
            &ours,
            &end("UPDATE_COMPLETE", Some("Console-Update-1"), 20_000)
        ));
        assert!(!wakes(&ours, &end("UPDATE_COMPLETE", None, 20_000)));
        assert!(!wakes(
            &ours,
            &end("UPDATE_IN_PROGRESS", Some("RotateToken-false-abc"), 20_000)
        ));
        let mut other_stack = end("UPDATE_COMPLETE", Some("RotateToken-false-abc"), 20_000);
        other_stack.stack_id = STACK.replace("app/1", "app/2");
        assert!(!wakes(&ours, &other_stack));
    }

    #[test]
    fn someone_elses_operation_is_woken_by_any_end_after_it_was_seen() {
        let theirs = registration(None, 100_000);
        assert!(wakes(
            &theirs,
            &end("UPDATE_COMPLETE", Some("Console-1"), 100_500)
        ));
        assert!(
            wakes(&theirs, &end("UPDATE_COMPLETE", None, 99_000)),
            "within the clocks' slack"
        );
        assert!(
            !wakes(&theirs, &end("UPDATE_COMPLETE", None, 50_000)),
            "an earlier operation"
        );
        assert!(!wakes(&theirs, &end("REVIEW_IN_PROGRESS", None, 200_000)));
    }

    #[test]
    fn an_event_is_read_field_by_field_and_an_in_progress_one_tells_no_end() {
        let event = |status: &str| {
            json!({"detail-type": STATUS_CHANGE, "source": "aws.cloudformation",
                   "time": "2026-12-04T08:00:01Z",
                   "detail": {"stack-id": STACK, "status-details": {"status": status},
                              "client-request-token": "RotateToken-true-1-x"}})
        };
        let got = stack_end(&event("UPDATE_COMPLETE")).unwrap().unwrap();
        assert_eq!(got.request_token.as_deref(), Some("RotateToken-true-1-x"));
        assert_eq!(got.time_ms, utc::parse_ms("2026-12-04T08:00:01Z").unwrap());
        assert_eq!(stack_end(&event("UPDATE_IN_PROGRESS")).unwrap(), None);
        let err = stack_end(&json!({"detail-type": "Secret Label Updated"})).unwrap_err();
        assert_eq!(err.field, "detail-type");
        let err = stack_end(&json!({"detail-type": STATUS_CHANGE, "time": "x", "detail": {}}))
            .unwrap_err();
        assert_eq!(err.field, "detail.stack-id");
        // A console update without a token: AWS sends an empty string.
        let mut untokened = event("UPDATE_COMPLETE");
        untokened["detail"]["client-request-token"] = json!("");
        assert_eq!(stack_end(&untokened).unwrap().unwrap().request_token, None);
    }

    #[test]
    fn keys_keep_a_stacks_waits_together_and_tell_registrations_from_ends() {
        let r = registration_key(STACK, "tok");
        assert!(r.starts_with(&stack_prefix(STACK)) && is_registration_key(&r));
        assert!(!is_registration_key(&last_end_key(STACK)));
        assert!(!is_registration_key(&end_key(
            STACK,
            "RotateToken-false-abc"
        )));
        assert_ne!(
            stack_prefix(STACK),
            stack_prefix(&STACK.replace("/1", "/2"))
        );
    }

    #[test]
    fn a_look_waits_on_its_own_token_only_for_its_stack_in_a_state_sized_for_that_wait() {
        let stack = wait_for(Some("t".into()), None, 0, 120_000);
        let sized = look_seconds(true, 120_000);
        assert_eq!(sized, 135);
        assert_eq!(
            look_seconds(true, 60_000),
            67,
            "at least 5 s for the look's work"
        );
        assert_eq!(look_seconds(true, 3_000), SHORTEST_LOOK_SECONDS);
        // A short interval's waits go through WaitForStack: its state outlasts the wait.
        let short = wait_for(Some("t".into()), None, 0, 3_000);
        assert!(!waits_on_own_token(&short, look_seconds(true, 3_000), 0, 1));
        assert_eq!(look_seconds(true, 900_000), 915, "at most 15 s");
        assert!(waits_on_own_token(&stack, sized, 10_000, 11_000));
        // Most of the wait gone in the look itself: WaitForStack waits the whole of it.
        assert!(!waits_on_own_token(&stack, sized, 10_000, 10_000 + 80_000));
        // A first look's state outlasts any invocation: a lost event would cost 15 minutes.
        assert!(!waits_on_own_token(
            &stack,
            FIRST_LOOK_SECONDS,
            10_000,
            11_000
        ));
        assert!(!waits_on_own_token(
            &stack,
            look_seconds(false, 120_000),
            10_000,
            11_000
        ));
        // A pause and a place are the state machine's Pause and WaitForStack.
        let pause = wait_for(None, Some(5_000), 0, 120_000);
        assert!(!waits_on_own_token(&pause, sized, 0, 1));
        let place = wait_for_place(0, 3_600_000, 3_600_000);
        assert!(!waits_on_own_token(&place, sized, 0, 1));
        // A clock behind the state's entry (another host) leaves the whole time-out.
        assert!(waits_on_own_token(&stack, sized, 20_000, 10_000));
    }

    #[test]
    fn a_wait_is_whole_seconds_a_pause_until_its_time_and_otherwise_the_stack() {
        let w = wait_for(Some("t".into()), None, 1_000, 60_000);
        assert_eq!(
            (w.kind, w.seconds, w.request_token.as_deref()),
            (WaitKind::Stack, 60, Some("t"))
        );
        assert_eq!(
            wait_for(None, None, 1_000, 200).seconds,
            1,
            "at least one second"
        );
        let p = wait_for(None, Some(4_500), 1_000, 60_000);
        assert_eq!((p.kind, p.seconds), (WaitKind::Pause, 4));
        assert_eq!(
            wait_for(None, Some(500), 1_000, 60_000).kind,
            WaitKind::Stack,
            "a pause already over"
        );
    }
}
