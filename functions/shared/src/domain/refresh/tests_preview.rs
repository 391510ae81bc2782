//! Phase one's preview in the deployed pipeline: begun by one look, read by a later one,
//! no Lambda held while CloudFormation creates the change set ([`super::preview`]).

use super::*;
use crate::domain::model::{PlannedChange, WaitKind};
use crate::fakes::{FakeClock, FakeStack, NoSecrets};
use crate::ports::Unbudgeted;
use std::sync::atomic::AtomicU64;

use super::tests::SETTINGS;

fn events() -> RefreshSettings {
    RefreshSettings {
        wait_for_events: true,
        max_wait_ms: 3_600_000,
        ..SETTINGS
    }
}
const T: u64 = 1_000_000;

/// One look at `now_ms`, the task handed over as JSON as the state machine does.
fn look(stack: &FakeStack, task: &RefreshTask, now_ms: u64) -> RefreshTask {
    look_until(stack, task, now_ms, now_ms + 60_000)
}

/// [`look`] with its time to act ending at `until_ms`.
fn look_until(stack: &FakeStack, task: &RefreshTask, now_ms: u64, until_ms: u64) -> RefreshTask {
    look_described(stack, task, now_ms, until_ms, None)
}

/// [`look_until`] by a look that described the stack with its first reads (the service's
/// look two), `described` being what that read said.
fn look_described(
    stack: &FakeStack,
    task: &RefreshTask,
    now_ms: u64,
    until_ms: u64,
    described: Option<StackSnapshot>,
) -> RefreshTask {
    try_look(stack, task, now_ms, until_ms, described).unwrap()
}

/// [`look_described`], its interruption kept.
fn try_look(
    stack: &FakeStack,
    task: &RefreshTask,
    now_ms: u64,
    until_ms: u64,
    described: Option<StackSnapshot>,
) -> Result<RefreshTask, Interrupted> {
    let mut task: RefreshTask =
        serde_json::from_value(serde_json::to_value(task).unwrap()).unwrap();
    task.described = described;
    let clock = FakeClock(AtomicU64::new(now_ms));
    let reach = Reach {
        updater: stack,
        secrets: &NoSecrets,
        clock: &clock,
        budget: &Unbudgeted,
    };
    futures::executor::block_on(advance_acting_until(
        reach,
        events(),
        task,
        now_ms + 60_000,
        until_ms,
    ))
}

fn paused_for(t: &RefreshTask) -> u64 {
    let wait = t.wait.as_ref().expect("a wait");
    assert_eq!(wait.kind, WaitKind::Pause, "{t:?}");
    wait.seconds
}

fn begun(stack: &FakeStack) -> Vec<String> {
    let begun = stack.previews_begun.lock().unwrap();
    begun.iter().map(|(name, _)| name.clone()).collect()
}

/// A task as discovery writes it: the stack's other parameters named.
fn task(stack: &FakeStack) -> RefreshTask {
    let mut t = super::tests::task(stack);
    t.other_parameters = vec!["Env".into()];
    t
}

#[test]
fn the_first_look_begins_the_preview_and_hands_back_a_pause_with_nothing_changed() {
    let stack = FakeStack::new("UPDATE_COMPLETE", "true");
    let first = look(&stack, &task(&stack), T);
    assert_eq!(first.outcome, Outcome::Waiting);
    assert_eq!(paused_for(&first), preview::FIRST_LOOK_MS / 1000);
    assert_eq!(begun(&stack), vec![preview::name(&first).unwrap()]);
    assert!(
        stack.updates.lock().unwrap().is_empty(),
        "nothing updated yet"
    );

    let second = look(&stack, &first, T + preview::FIRST_LOOK_MS);
    assert!(begun(&stack).is_empty(), "read, then deleted");
    assert_eq!(*stack.updates.lock().unwrap(), vec!["false"]);
    assert!(second.update_started, "{second:?}");
    assert_eq!(second.wait.as_ref().map(|w| w.kind), Some(WaitKind::Stack));
}

#[test]
fn a_preview_still_being_created_is_looked_at_again_later_never_waited_for_in_the_look() {
    let stack = FakeStack::new("UPDATE_COMPLETE", "true");
    *stack.preview_pending_reads.lock().unwrap() = 2;
    let first = look(&stack, &task(&stack), T);
    let second = look(&stack, &first, T + 5_000);
    assert_eq!(paused_for(&second), 5, "young: the shortest pause");
    assert!(stack.updates.lock().unwrap().is_empty());
    let third = look(&stack, &second, T + 40_000);
    assert_eq!(paused_for(&third), 20, "half its age");
    let fourth = look(&stack, &third, T + 60_000);
    assert_eq!(*stack.updates.lock().unwrap(), vec!["false"]);
    assert!(fourth.update_started);
}

#[test]
fn a_change_set_never_created_fails_the_stack_after_the_patience_with_nothing_changed() {
    let stack = FakeStack::new("UPDATE_COMPLETE", "true");
    *stack.preview_pending_reads.lock().unwrap() = u32::MAX;
    let first = look(&stack, &task(&stack), T);
    let late = look(&stack, &first, T + preview::PATIENCE_MS);
    assert_eq!(late.outcome, Outcome::Failed, "{late:?}");
    assert!(!late.critical);
    assert!(late.reason.unwrap().contains("within 15 minutes"));
    assert!(stack.updates.lock().unwrap().is_empty());
    assert!(begun(&stack).is_empty(), "its change set deleted");
}

#[test]
fn a_change_set_cloudformation_could_not_create_fails_the_stack_with_its_reason() {
    let mut stack = FakeStack::new("UPDATE_COMPLETE", "true");
    stack.preview_failure = Some("Parameters: [AmiId] must have values");
    let first = look(&stack, &task(&stack), T);
    let second = look(&stack, &first, T + 5_000);
    assert_eq!(second.outcome, Outcome::Failed, "{second:?}");
    assert!(!second.critical, "nothing was changed");
    assert!(second
        .reason
        .unwrap()
        .contains("could not preview phase one: Parameters: [AmiId] must have values"));
    assert!(stack.updates.lock().unwrap().is_empty());
}

#[test]
fn a_look_retried_after_it_began_the_preview_reads_that_same_change_set() {
    let stack = FakeStack::new("UPDATE_COMPLETE", "true");
    let original = task(&stack);
    let _lost = look(&stack, &original, T);
    // Step Functions retries the state with its original input (a time-out after the call).
    let retried = look(&stack, &original, T + 2_000);
    assert_eq!(begun(&stack).len(), 1, "one change set, not two");
    assert!(stack.updates.lock().unwrap().is_empty());
    look(&stack, &retried, T + 7_000);
    assert_eq!(*stack.updates.lock().unwrap(), vec!["false"]);
}

#[test]
fn a_task_saying_a_preview_was_begun_when_none_was_begins_one_and_changes_nothing_yet() {
    let stack = FakeStack::new("UPDATE_COMPLETE", "true");
    let mut claims = task(&stack);
    claims.preview_since_ms = Some(T - 60_000);
    let t = look(&stack, &claims, T);
    assert_eq!(paused_for(&t), preview::FIRST_LOOK_MS / 1000);
    assert_eq!(begun(&stack).len(), 1);
    assert!(stack.updates.lock().unwrap().is_empty());
}

#[test]
fn the_look_that_finds_phase_one_done_begins_phase_two_at_once() {
    // One look per phase's end: handing back a pause first would cost every stack a look
    // (the 1,300-stack benchmark of 2026-12-07 measured it: a seventh invocation, a
    // DescribeStacks and a DescribeStackEvents more per stack).
    let stack = FakeStack::new("UPDATE_COMPLETE", "true");
    let first = look(&stack, &task(&stack), T);
    let mut t = look(&stack, &first, T + preview::FIRST_LOOK_MS);
    assert_eq!(*stack.updates.lock().unwrap(), vec!["false"]);
    for i in 1..10 {
        t = look(&stack, &t, T + 60_000 * i);
        if t.phase == Phase::Enable {
            break;
        }
    }
    assert_eq!(
        *stack.updates.lock().unwrap(),
        vec!["false", "true"],
        "{t:?}"
    );
    assert!(t.update_started, "{t:?}");
    assert_eq!(
        t.wait.as_ref().map(|w| w.kind),
        Some(WaitKind::Stack),
        "{t:?}"
    );
}

#[test]
fn a_task_saying_its_update_began_when_the_stack_shows_none_is_handed_back_as_not_begun() {
    // The next look takes it as any stack not begun: the operator's stop and a place in
    // its lane are decided before its phase begins (`service::refresh`).
    let stack = FakeStack::new("UPDATE_COMPLETE", "true");
    let mut claims = task(&stack);
    claims.update_started = true;
    claims.invocations = 2;
    let t = look(&stack, &claims, T);
    assert_eq!(t.outcome, Outcome::Waiting, "{t:?}");
    assert!(!t.update_started, "{t:?}");
    assert_eq!(paused_for(&t), 1);
    assert!(stack.updates.lock().unwrap().is_empty(), "nothing changed");
    assert!(begun(&stack).is_empty(), "not even a preview");

    // Taken as not begun, it goes on as any stack does.
    let next = look(&stack, &t, T + 1_000);
    assert_eq!(begun(&stack).len(), 1, "{next:?}");
}

/// A stack whose phase one would replace its server: the guard skips it after reading
/// the preview.
fn replacing_server() -> FakeStack {
    let mut stack = FakeStack::new("UPDATE_COMPLETE", "true");
    stack.planned = vec![PlannedChange {
        action: "Modify".into(),
        logical_id: "Server".into(),
        resource_type: "AWS::EC2::Instance".into(),
        replacement: Some("True".into()),
        causes: vec!["AmiId".into()],
        recreates: vec![],
    }];
    stack
}

#[test]
fn the_look_that_reads_the_preview_still_judges_it_before_anything_is_deleted() {
    let stack = replacing_server();
    let first = look(&stack, &task(&stack), T);
    let second = look(&stack, &first, T + 5_000);
    assert_eq!(second.outcome, Outcome::Skipped, "{second:?}");
    assert!(second
        .reason
        .unwrap()
        .contains("Server (AWS::EC2::Instance)"));
    assert!(stack.updates.lock().unwrap().is_empty());
    assert!(begun(&stack).is_empty(), "its change set deleted");
}

/// A task from a discovery that saw none of the stack's other parameters: its first look
/// begins a preview with those inputs, the next finds it made with other inputs than the
/// update's and begins it again (a fresh pause). Returns the task after that second look.
fn made_again_from_stale_inputs(stack: &FakeStack) -> RefreshTask {
    let mut stale = task(stack);
    stale.other_parameters = vec![];
    let first = look(stack, &stale, T);
    let second = look(stack, &first, T + 5_000);
    assert_eq!(
        paused_for(&second),
        preview::FIRST_LOOK_MS / 1000,
        "begun again"
    );
    second
}

#[test]
fn a_preview_made_with_other_parameters_than_the_stack_has_now_is_made_again() {
    let stack = FakeStack::new("UPDATE_COMPLETE", "true");
    // Discovery saw the stack before a deploy added `Env`.
    let second = made_again_from_stale_inputs(&stack);
    assert!(stack.updates.lock().unwrap().is_empty());
    look(&stack, &second, T + 10_000);
    assert_eq!(*stack.updates.lock().unwrap(), vec!["false"]);
}

#[test]
fn a_begun_preview_no_look_will_read_is_deleted() {
    // Found at `false` (a run died between phases): restored without phase one's checks.
    let stack = FakeStack::new("UPDATE_COMPLETE", "false");
    let first = look(&stack, &task(&stack), T);
    assert_eq!(begun(&stack).len(), 1);
    let second = look(&stack, &first, T + 5_000);
    assert!(begun(&stack).is_empty(), "{second:?}");
    assert_eq!(second.preview_since_ms, None);
}

#[test]
fn a_failed_change_set_made_with_other_inputs_is_made_again_before_the_stack_is_failed() {
    let mut stack = FakeStack::new("UPDATE_COMPLETE", "true");
    stack.preview_failure = Some("Parameters: [Env] must have values");
    // Discovery saw no `Env`: the change set began with its inputs fails for that.
    let second = made_again_from_stale_inputs(&stack);
    let third = look(&stack, &second, T + 10_000);
    assert_eq!(third.outcome, Outcome::Failed, "{third:?}");
    assert!(stack.updates.lock().unwrap().is_empty());
}

#[test]
fn how_long_a_change_set_was_waited_for_is_cloudformations_to_say_not_the_tasks() {
    let mut stack = FakeStack::new("UPDATE_COMPLETE", "true");
    *stack.preview_pending_reads.lock().unwrap() = 1;
    stack.preview_created_ms = Some(T);
    let first = look(&stack, &task(&stack), T);
    // A task claiming the preview began long ago: CloudFormation began it 5 s ago.
    let mut claims = first;
    claims.preview_since_ms = Some(T - preview::PATIENCE_MS);
    let second = look(&stack, &claims, T + 5_000);
    assert_eq!(second.outcome, Outcome::Waiting, "{second:?}");
    assert_eq!(paused_for(&second), 5);
}

#[test]
fn a_look_past_its_time_begins_neither_a_change_set_nor_an_update_and_the_next_look_does() {
    let stack = FakeStack::new("UPDATE_COMPLETE", "true");
    // Its step's time is up (a look stalled until then): the step may have timed out, and
    // the look after it must be the only one to act.
    let late = look_until(&stack, &task(&stack), T, T);
    assert_eq!(late.outcome, Outcome::Waiting);
    assert!(begun(&stack).is_empty(), "no change set begun late");
    assert!(stack.updates.lock().unwrap().is_empty());
    assert!(paused_for(&late) >= 1);

    // A preview begun in time, read by a look past its time: phase one is not begun.
    let first = look(&stack, &late, T + 1_000);
    assert_eq!(begun(&stack).len(), 1, "{first:?}");
    let second = look_until(&stack, &first, T + 6_000, T + 6_000);
    assert!(stack.updates.lock().unwrap().is_empty(), "{second:?}");
    assert!(!second.update_started);
    assert!(paused_for(&second) >= 1);

    // Looks in their time go on to phase one.
    let mut t = second;
    let mut now = T + 8_000;
    for _ in 0..4 {
        if t.update_started {
            break;
        }
        t = look(&stack, &t, now);
        now += 6_000;
    }
    assert_eq!(*stack.updates.lock().unwrap(), vec!["false"], "{t:?}");
    assert!(t.update_started);
}

fn describes(stack: &FakeStack) -> u32 {
    *stack.describes.lock().unwrap()
}

#[test]
fn look_two_acts_on_the_snapshot_described_with_its_first_reads_without_describing_again() {
    let stack = FakeStack::new("UPDATE_COMPLETE", "true");
    let first = look(&stack, &task(&stack), T);
    let ahead = futures::executor::block_on(stack.describe(&first.stack))
        .unwrap()
        .unwrap();
    let before = describes(&stack);
    let second = look_described(&stack, &first, T + 5_000, T + 65_000, Some(ahead));
    assert_eq!(*stack.updates.lock().unwrap(), vec!["false"]);
    assert!(second.update_started, "{second:?}");
    assert_eq!(describes(&stack), before, "not described a second time");
}

#[test]
fn a_snapshot_described_ahead_is_not_acted_on_where_the_events_show_our_update_began() {
    let stack = FakeStack::new("UPDATE_COMPLETE", "true");
    let first = look(&stack, &task(&stack), T);
    // Look two's update began and its output was lost; Step Functions retries the state
    // with that look's input, which says nothing began. A snapshot from before the update
    // (as a read ahead that raced it would be) must not be what the retried look acts on.
    let stale = futures::executor::block_on(stack.describe(&first.stack))
        .unwrap()
        .unwrap();
    let _lost = look(&stack, &first, T + 5_000);
    assert_eq!(*stack.updates.lock().unwrap(), vec!["false"]);
    assert_eq!(stale.status, "UPDATE_COMPLETE");
    let before = describes(&stack);
    let retried = look_described(&stack, &first, T + 6_000, T + 66_000, Some(stale));
    assert!(retried.update_started, "{retried:?}");
    assert_eq!(
        describes(&stack),
        before + 1,
        "described again, after its events"
    );
    assert_eq!(
        retried.status.as_deref(),
        Some("UPDATE_IN_PROGRESS"),
        "judged on the stack as it is"
    );
    assert_eq!(
        *stack.updates.lock().unwrap(),
        vec!["false"],
        "not begun twice"
    );
}

#[test]
fn a_read_preview_that_cannot_be_deleted_fails_a_look_that_began_no_update() {
    let mut stack = replacing_server();
    stack.preview_undeletable = true;
    let first = look(&stack, &task(&stack), T);
    // The guard skips the stack; its change set, which no update made obsolete, stays.
    let second = try_look(&stack, &first, T + 5_000, T + 65_000, None);
    let interrupted =
        second.expect_err("a change set that could still be executed is never left unseen");
    assert_eq!(interrupted.error.operation, "DeleteChangeSet");
    assert!(!interrupted.changed, "nothing was changed");
    assert!(stack.updates.lock().unwrap().is_empty());
    assert_eq!(
        begun(&stack).len(),
        1,
        "still there, for the retry to read and delete"
    );
}

#[test]
fn a_read_preview_that_cannot_be_deleted_after_our_update_began_is_left_obsolete() {
    let mut stack = FakeStack::new("UPDATE_COMPLETE", "true");
    stack.preview_undeletable = true;
    let first = look(&stack, &task(&stack), T);
    let second = look(&stack, &first, T + 5_000);
    assert_eq!(*stack.updates.lock().unwrap(), vec!["false"]);
    assert!(second.update_started, "{second:?}");
    assert_eq!(second.outcome, Outcome::Waiting);
    assert_eq!(begun(&stack).len(), 1, "left, obsolete: the look goes on");
}

#[test]
fn a_read_preview_whose_delete_beside_the_claim_fails_is_tried_again_before_the_look_ends() {
    let mut stack = FakeStack::new("UPDATE_COMPLETE", "true");
    stack.preview_undeletable = true;
    // Someone else's update runs when ours is asked for: nothing of ours begins.
    *stack.busy_refusals.lock().unwrap() = 1;
    let first = look(&stack, &task(&stack), T);
    let second = try_look(&stack, &first, T + 5_000, T + 65_000, None);
    let interrupted = second.expect_err("tried again at the look's end, and failed again");
    assert_eq!(interrupted.error.operation, "DeleteChangeSet");
    assert!(!interrupted.changed, "nothing was changed");
    assert!(stack.updates.lock().unwrap().is_empty());
}
