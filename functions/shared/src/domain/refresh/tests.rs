//! The step machine, the plan and the verdict against an in-memory stack ([`crate::fakes`]).

use super::*;
use crate::domain::model::PlannedChange;
use crate::domain::planning::{plan_update, side_changes};
use crate::fakes::{FakeClock, FakeStack, NoSecrets, TABLE_TEMPLATE};
use crate::ports::Unbudgeted;
use std::sync::atomic::AtomicU64;

fn reach<'a, U>(
    updater: &'a U,
    clock: &'a FakeClock,
) -> Reach<'a, U, NoSecrets, FakeClock, Unbudgeted> {
    Reach {
        updater,
        secrets: &NoSecrets,
        clock,
        budget: &Unbudgeted,
    }
}

pub(super) const SETTINGS: RefreshSettings = RefreshSettings {
    poll_interval_ms: 1_000,
    max_wait_ms: 60_000,
    require_opt_in: false,
    without_service_role: crate::domain::service_role::StacksWithoutServiceRole::none(),
    wait_for_events: false,
    lane_places: 0,
};

pub(super) fn task(stack: &FakeStack) -> RefreshTask {
    let mut t = RefreshTask::new(stack.snapshot.lock().unwrap().stack.clone(), "RotateToken");
    t.execution = Some("run-1".into());
    t
}

fn run(stack: &FakeStack, task: RefreshTask, budget_ms: u64) -> RefreshTask {
    // Through JSON, as the state machine hands it over: what the payload cannot carry is gone.
    let task: RefreshTask = serde_json::from_value(serde_json::to_value(task).unwrap()).unwrap();
    let clock = FakeClock(AtomicU64::new(1_000_000));
    let until = 1_000_000 + budget_ms;
    futures::executor::block_on(advance(reach(stack, &clock), SETTINGS, task, until)).unwrap()
}

/// When a refresh that looks at `next_look_ms` intervals notices an update that took
/// `update_ms`.
fn noticed_after(settings: &RefreshSettings, update_ms: u64) -> u64 {
    let mut age = 0;
    while age < update_ms {
        age += next_look_ms(settings, age);
    }
    age - update_ms
}

#[test]
fn an_update_is_noticed_within_a_tenth_of_its_time_or_the_shortest_look() {
    let settings = RefreshSettings {
        poll_interval_ms: 15_000,
        ..SETTINGS
    };
    for update_ms in (1_000..3_600_000).step_by(997) {
        let late = noticed_after(&settings, update_ms);
        let bound = (update_ms / 10).clamp(SHORTEST_LOOK_MS, settings.poll_interval_ms);
        assert!(
            late <= bound,
            "an update of {update_ms} ms noticed {late} ms late"
        );
    }
}

#[test]
fn a_longer_lost_event_bound_does_not_keep_a_stack_at_false_longer_between_attempts() {
    let at = |poll_interval_ms| RefreshSettings {
        poll_interval_ms,
        ..SETTINGS
    };
    // The default (120 s) and the longest (300 s) back off as 60 s did: 2 and 4 minutes.
    for poll in [60_000, 120_000, 300_000] {
        assert_eq!(enable_backoff_ms(&at(poll), 1), 120_000, "{poll}");
        assert_eq!(enable_backoff_ms(&at(poll), 2), 240_000, "{poll}");
    }
    // Shorter intervals still count as themselves (the suites poll fast).
    assert_eq!(enable_backoff_ms(&at(1_000), 1), 2_000);
    assert_eq!(enable_backoff_ms(&at(200), 1), 2_000);
}

#[test]
fn looks_are_never_closer_than_the_shortest_nor_further_apart_than_the_poll_interval() {
    let settings = RefreshSettings {
        poll_interval_ms: 15_000,
        ..SETTINGS
    };
    assert_eq!(next_look_ms(&settings, 0), SHORTEST_LOOK_MS);
    assert_eq!(next_look_ms(&settings, 60_000), 6_000);
    assert_eq!(next_look_ms(&settings, 3_600_000), 15_000);
    // A poll interval below the shortest look is honoured (the emulator suites poll fast).
    let fast = RefreshSettings {
        poll_interval_ms: 200,
        ..SETTINGS
    };
    assert_eq!(next_look_ms(&fast, 3_600_000), 200);
    // Long updates: no more looks than the poll interval allows, plus the ramp.
    let mut looks = 0;
    let mut age = 0;
    while age < 3_600_000 {
        age += next_look_ms(&settings, age);
        looks += 1;
    }
    assert!(looks < 3_600_000 / 15_000 + 40, "{looks} looks in an hour");
}

#[test]
fn both_phases_run_in_order() {
    let stack = FakeStack::new("UPDATE_COMPLETE", "true");
    let t = run(&stack, task(&stack), 600_000);
    assert_eq!(t.outcome, Outcome::Refreshed);
    assert_eq!(*stack.updates.lock().unwrap(), vec!["false", "true"]);
    assert_eq!(stack.token(), "true");
    assert!(!t.critical);
}

#[test]
fn a_stack_found_at_false_ends_at_true() {
    let stack = FakeStack::new("UPDATE_COMPLETE", "false");
    let t = run(&stack, task(&stack), 600_000);
    assert_eq!(t.outcome, Outcome::Refreshed);
    assert_eq!(*stack.updates.lock().unwrap(), vec!["false", "true"]);
    assert_eq!(stack.token(), "true");
}

#[test]
fn a_short_budget_hands_back_waiting_and_resumes() {
    let stack = FakeStack::new("UPDATE_COMPLETE", "true");
    let t = run(&stack, task(&stack), 1_500);
    assert_eq!(t.outcome, Outcome::Waiting);
    assert!(t.update_started);
    let mut t = t;
    for _ in 0..10 {
        if t.outcome != Outcome::Waiting {
            break;
        }
        t = run(&stack, t, 1_500);
    }
    assert_eq!(t.outcome, Outcome::Refreshed);
    assert!(t.invocations > 2);
}

#[test]
fn a_busy_stack_is_waited_for() {
    let stack = FakeStack::new("UPDATE_COMPLETE", "true");
    *stack.busy_refusals.lock().unwrap() = 2;
    let t = run(&stack, task(&stack), 600_000);
    assert_eq!(t.outcome, Outcome::Refreshed);
}

#[test]
fn phase_one_rollback_fails_without_phase_two() {
    let mut stack = FakeStack::new("UPDATE_COMPLETE", "true");
    stack.fail_value = Some(("false", "UPDATE_ROLLBACK_COMPLETE"));
    let t = run(&stack, task(&stack), 600_000);
    assert_eq!(t.outcome, Outcome::Failed);
    assert_eq!(t.phase, Phase::Disable);
    assert!(!t.critical);
    assert_eq!(*stack.updates.lock().unwrap(), vec!["false"]);
}

#[test]
fn phase_two_failure_is_critical_with_a_restore_command() {
    let mut stack = FakeStack::new("UPDATE_COMPLETE", "true");
    stack.fail_value = Some(("true", "UPDATE_ROLLBACK_COMPLETE"));
    let t = run(&stack, task(&stack), 600_000);
    assert_eq!(t.outcome, Outcome::Failed);
    assert_eq!(t.phase, Phase::Enable);
    assert!(t.critical);
    let reason = t.reason.unwrap();
    assert!(
        reason.contains("aws cloudformation update-stack"),
        "{reason}"
    );
    assert!(reason.contains("attempt 3 of 3"), "{reason}");
    assert_eq!(
        *stack.updates.lock().unwrap(),
        vec!["false", "true", "true", "true"],
        "phase two retried, phase one not"
    );
}

#[test]
fn a_phase_two_rollback_is_retried_with_backoff_and_can_heal() {
    let mut stack = FakeStack::new("UPDATE_COMPLETE", "true");
    stack.fail_value = Some(("true", "UPDATE_ROLLBACK_COMPLETE"));
    *stack.fails_left.lock().unwrap() = 1;
    let clock = FakeClock(AtomicU64::new(1_000_000));
    let t = futures::executor::block_on(advance(
        reach(&stack, &clock),
        SETTINGS,
        task(&stack),
        1_600_000,
    ))
    .unwrap();
    assert_eq!(t.outcome, Outcome::Refreshed, "{t:?}");
    assert!(!t.critical);
    let reason = t.reason.unwrap();
    assert!(
        reason.starts_with("refreshed after 1 rolled-back phase-two attempt(s)"),
        "the healed failure is reported: {reason}"
    );
    assert_eq!(
        *stack.updates.lock().unwrap(),
        vec!["false", "true", "true"]
    );
    // 2 polls per update, 3 updates, plus a backoff of at least 2 poll intervals.
    assert!(clock.now_ms() - 1_000_000 >= 2 * SETTINGS.poll_interval_ms + 6_000);
}

#[test]
fn another_executions_phase_two_after_our_phase_one_completes_the_refresh() {
    // Our `false` completes, then another execution's `true` lands before we look.
    let stack = FakeStack::new("UPDATE_COMPLETE", "true");
    *stack.overtaken_once.lock().unwrap() = Some("true");
    let t = run(&stack, task(&stack), 600_000);
    assert_eq!(t.outcome, Outcome::Refreshed, "{t:?}");
    assert!(!t.critical);
    assert_eq!(*stack.updates.lock().unwrap(), vec!["false"]);
    assert_eq!(stack.token(), "true");
}

#[test]
fn a_second_runs_failed_phase_two_after_our_phase_one_is_ours_to_bring_back_to_true() {
    // Our `false` completed; before we looked, another run's `true` rolled back: the stack
    // is UPDATE_ROLLBACK_COMPLETE at `false`. That rollback is not ours: our phase one is
    // done and our phase two runs (here it succeeds), never a non-critical "failure".
    let stack = FakeStack::new("UPDATE_ROLLBACK_COMPLETE", "false");
    let mut t = task(&stack);
    t.update_started = true;
    stack.operations.lock().unwrap().push((
        super::operations::phase_one_token(&t).unwrap(),
        Some("UPDATE_COMPLETE"),
    ));
    let t = run(&stack, t, 600_000);
    assert_eq!(t.outcome, Outcome::Refreshed, "{t:?}");
    assert_eq!(*stack.updates.lock().unwrap(), vec!["true"]);
    assert_eq!(stack.token(), "true");
}

#[test]
fn an_update_a_task_says_began_but_the_stack_never_saw_is_started_after_its_checks() {
    let mut stack = FakeStack::new("UPDATE_COMPLETE", "true");
    stack.template = TABLE_TEMPLATE;
    let mut t = task(&stack);
    t.update_started = true;
    let t = run(&stack, t, 600_000);
    assert_eq!(t.outcome, Outcome::Skipped, "the guard judged it: {t:?}");
    assert!(stack.updates.lock().unwrap().is_empty(), "the table kept");
}

#[test]
fn another_executions_phase_one_after_our_phase_two_is_followed_by_true_again() {
    // Our `false` and `true` complete, but another execution's `false` lands in between.
    let stack = FakeStack::new("UPDATE_COMPLETE", "true");
    let mut t = run(&stack, task(&stack), 3_500); // our `false` is done, `true` started
    assert_eq!(t.phase, Phase::Enable, "{t:?}");
    *stack.overtaken_once.lock().unwrap() = Some("false");
    t = run(&stack, t, 600_000);
    assert_eq!(t.outcome, Outcome::Refreshed, "{t:?}");
    assert_eq!(
        *stack.updates.lock().unwrap(),
        vec!["false", "true", "true"]
    );
    assert_eq!(stack.token(), "true");
}

#[test]
fn an_unsafe_template_is_skipped_right_before_phase_one() {
    let mut stack = FakeStack::new("UPDATE_COMPLETE", "true");
    stack.template = TABLE_TEMPLATE;
    let t = run(&stack, task(&stack), 600_000);
    assert_eq!(t.outcome, Outcome::Skipped, "{t:?}");
    assert!(t.reason.unwrap().contains("Orders (AWS::DynamoDB::Table)"));
    assert!(stack.updates.lock().unwrap().is_empty(), "nothing deleted");

    // Opted in: refreshed.
    let mut stack = FakeStack::new("UPDATE_COMPLETE", "true");
    stack.template = TABLE_TEMPLATE;
    stack.snapshot.lock().unwrap().tags =
        vec![("rotatetoken:allow-data-loss".into(), "true".into())];
    assert_eq!(
        run(&stack, task(&stack), 600_000).outcome,
        Outcome::Refreshed
    );

    // Already at `false` (a run died between phases): nothing left to lose, restored.
    let mut stack = FakeStack::new("UPDATE_COMPLETE", "false");
    stack.template = TABLE_TEMPLATE;
    let t = run(&stack, task(&stack), 600_000);
    assert_eq!(t.outcome, Outcome::Refreshed);
    assert_eq!(*stack.updates.lock().unwrap(), vec!["false", "true"]);
}

#[test]
fn operator_states_are_skipped_before_any_change() {
    let stack = FakeStack::new("UPDATE_ROLLBACK_FAILED", "true");
    let t = run(&stack, task(&stack), 600_000);
    assert_eq!(t.outcome, Outcome::Skipped);
    assert!(stack.updates.lock().unwrap().is_empty());
}

#[test]
fn waiting_is_bounded() {
    let mut stack = FakeStack::new("UPDATE_COMPLETE", "true");
    stack.update_polls = u32::MAX;
    let mut t = task(&stack);
    t.deadline_ms = Some(1_000_000 + 5_000);
    let t = run(&stack, t, 600_000);
    assert_eq!(t.outcome, Outcome::Failed);
    assert!(
        t.critical,
        "a false update still running may strand the stack"
    );
    assert!(t.reason.unwrap().contains("gave up"));
}

#[test]
fn an_update_cloudformation_refuses_is_a_failure_not_a_skip() {
    let mut stack = FakeStack::new("UPDATE_COMPLETE", "true");
    stack.refuse = Some((
        "false",
        "InsufficientCapabilitiesException: Requires capabilities : [CAPABILITY_AUTO_EXPAND]",
    ));
    let t = run(&stack, task(&stack), 600_000);
    assert_eq!(t.outcome, Outcome::Failed, "{t:?}");
    assert!(!t.critical, "nothing was changed");
    assert!(t.reason.unwrap().contains("CAPABILITY_AUTO_EXPAND"));

    // Refused in phase two: the stack is at `false`, CRITICAL.
    let mut stack = FakeStack::new("UPDATE_COMPLETE", "false");
    stack.refuse = Some((
        "true",
        "AccessDenied: not authorized to perform: iam:PassRole",
    ));
    let mut t = task(&stack);
    t.phase = Phase::Enable;
    let t = run(&stack, t, 600_000);
    assert_eq!(t.outcome, Outcome::Failed);
    assert!(t.critical);
}

#[test]
fn a_function_failure_is_critical_unless_nothing_was_changed() {
    let stack = FakeStack::new("UPDATE_COMPLETE", "true");
    let mut fresh = task(&stack);
    fresh.other_parameters = vec!["Env".into()];
    let t = after_function_failure(fresh.clone(), "RotateToken.InvalidInput", "bad");
    assert_eq!((t.outcome, t.critical), (Outcome::Failed, false));
    let t = after_function_failure(fresh.clone(), "RotateToken.AwsError", "AccessDenied");
    assert_eq!((t.outcome, t.critical), (Outcome::Failed, false));
    // The failed call may itself have started phase one.
    for error in [
        "RotateToken.AwsErrorAfterChange",
        "Sandbox.Timedout",
        "States.Timeout",
    ] {
        let t = after_function_failure(fresh.clone(), error, "");
        assert!(t.critical, "{error}");
        assert!(t.reason.unwrap().contains("UsePreviousValue=true"));
    }
    let mut started = fresh;
    started.update_started = true;
    assert!(after_function_failure(started, "RotateToken.AwsError", "").critical);
}

#[test]
fn an_aws_failure_after_an_update_started_says_so() {
    // DescribeStacks throttled for good after phase one began.
    let mut flaky = FakeStack::new("UPDATE_COMPLETE", "true");
    flaky.describe_fails_after = Some(1);
    let clock = FakeClock(AtomicU64::new(1_000_000));
    let t = task(&flaky);
    let err = futures::executor::block_on(advance(reach(&flaky, &clock), SETTINGS, t, 2_000_000))
        .unwrap_err();
    assert!(err.changed, "phase one was started before the failed call");
}

#[test]
fn a_stack_policy_protecting_a_guarded_resource_skips_the_stack_before_phase_one() {
    let mut stack = FakeStack::new("UPDATE_COMPLETE", "true");
    stack.policy = Some(
        r#"{"Statement":[{"Effect":"Allow","Action":"Update:*","Principal":"*","Resource":"*"},{"Effect":"Deny","Action":"Update:Delete","Principal":"*","Resource":"LogicalResourceId/Reader"}]}"#,
    );
    let t = run(&stack, task(&stack), 600_000);
    assert_eq!(t.outcome, Outcome::Skipped, "{t:?}");
    assert!(t.reason.unwrap().contains("Reader (AWS::SSM::Parameter)"));
    assert!(stack.updates.lock().unwrap().is_empty());
}

fn change(action: &str, id: &str, causes: &[&str]) -> PlannedChange {
    PlannedChange {
        action: action.into(),
        logical_id: id.into(),
        resource_type: "AWS::EC2::Instance".into(),
        replacement: (action == "Modify").then(|| "Conditional".into()),
        recreates: vec![],
        causes: causes.iter().map(|c| c.to_string()).collect(),
    }
}

#[test]
fn only_changes_beyond_the_tokens_own_are_side_changes() {
    let guarded = vec!["Reader".to_string()];
    let planned = vec![
        change("Remove", "Reader", &[]),
        change("Modify", "Switch", &["RotateToken"]),
        change("Modify", "Server", &["AmiId"]),
        change("Modify", "Mystery", &[]),
        change("Remove", "Cache", &[]),
    ];
    let side = side_changes(&planned, &guarded, &["RotateToken".to_string()]);
    assert_eq!(
        side,
        vec![
            "Server (AWS::EC2::Instance): Modify, Replacement Conditional, caused by AmiId",
            "Mystery (AWS::EC2::Instance): Modify, Replacement Conditional, cause not given",
            "Cache (AWS::EC2::Instance): Remove",
        ]
    );
}

#[test]
fn a_stack_whose_phase_one_would_change_more_is_skipped_unless_it_opts_in() {
    let mut stack = FakeStack::new("UPDATE_COMPLETE", "true");
    stack.planned = vec![
        change("Remove", "Reader", &[]),
        change("Modify", "Server", &["AmiId"]),
    ];
    let t = run(&stack, task(&stack), 600_000);
    assert_eq!(t.outcome, Outcome::Skipped, "{t:?}");
    assert!(t
        .reason
        .unwrap()
        .contains("Server (AWS::EC2::Instance): Modify"));
    assert!(stack.updates.lock().unwrap().is_empty());
    stack.snapshot.lock().unwrap().tags = vec![(
        crate::domain::model::ALLOW_SIDE_CHANGES_TAG.into(),
        "true".into(),
    )];
    assert_eq!(
        run(&stack, task(&stack), 600_000).outcome,
        Outcome::Refreshed
    );
}

#[test]
fn a_cleanup_failure_is_reported_failed_never_refreshed() {
    let mut stack = FakeStack::new("UPDATE_COMPLETE", "true");
    stack.cleanup_failure = Some("DatabasePassword");
    let t = run(&stack, task(&stack), 600_000);
    assert_eq!(t.outcome, Outcome::Failed, "{t:?}");
    assert!(!t.critical, "phase two brought the stack back");
    assert_eq!(*stack.updates.lock().unwrap(), vec!["false", "true"]);
    let reason = t.reason.unwrap();
    assert!(
        reason.contains("DatabasePassword (DatabasePassword-physical)"),
        "{reason}"
    );
}

#[test]
fn rollback_trigger_monitoring_time_is_added_to_the_wait_budget() {
    let stack = FakeStack::new("UPDATE_COMPLETE", "true");
    stack.snapshot.lock().unwrap().rollback_monitoring_minutes = 30;
    let t = run(&stack, task(&stack), 1_500);
    assert_eq!(
        t.deadline_ms,
        Some(t.started_ms.unwrap() + SETTINGS.max_wait_ms + 2 * 30 * 60_000)
    );
}

#[test]
fn plan_keeps_every_other_parameter() {
    let stack = FakeStack::new("UPDATE_COMPLETE", "true");
    let snap = stack.snapshot.lock().unwrap().clone();
    let plan = plan_update(&snap, "RotateToken", "false").unwrap();
    assert_eq!(
        plan.parameters,
        vec![
            ("Env".to_string(), ParameterValue::UsePrevious),
            (
                "RotateToken".to_string(),
                ParameterValue::Value("false".into())
            ),
        ]
    );
    assert!(plan_update(&snap, "Other", "false").is_err());
}

#[test]
fn a_retry_with_the_original_input_continues_the_phase_one_it_had_started() {
    let stack = FakeStack::new("UPDATE_COMPLETE", "true");
    let original = task(&stack);
    // The first invocation starts phase one, then dies (its output never reaches the state
    // machine): the retry gets the original input, which says nothing has begun.
    let first = run(&stack, original.clone(), 1_500);
    assert!(first.update_started);
    let mut t = run(&stack, original, 600_000);
    for _ in 0..10 {
        if t.outcome != Outcome::Waiting {
            break;
        }
        t = run(&stack, t, 600_000);
    }
    assert_eq!(t.outcome, Outcome::Refreshed, "{t:?}");
    assert_eq!(
        *stack.updates.lock().unwrap(),
        vec!["false", "true"],
        "phase one not sent again: its token is on the stack"
    );
}

#[test]
fn an_error_on_a_retry_after_phase_one_began_is_an_error_after_a_change() {
    let mut stack = FakeStack::new("UPDATE_COMPLETE", "true");
    let original = task(&stack);
    let first = run(&stack, original.clone(), 1_500);
    assert!(first.update_started);
    stack.describe_fails_after = Some(0);
    let clock = FakeClock(AtomicU64::new(1_000_000));
    let t: RefreshTask = serde_json::from_value(serde_json::to_value(original).unwrap()).unwrap();
    let err = futures::executor::block_on(advance(reach(&stack, &clock), SETTINGS, t, 2_000_000))
        .unwrap_err();
    assert!(err.changed, "the stack may be at false: said so");
}

#[test]
fn a_task_cannot_say_the_guard_passed() {
    let mut stack = FakeStack::new("UPDATE_COMPLETE", "true");
    stack.template = TABLE_TEMPLATE;
    let mut forged = serde_json::to_value(task(&stack)).unwrap();
    forged["guard_passed"] = serde_json::json!(true);
    let forged: RefreshTask = serde_json::from_value(forged).unwrap();
    let t = run(&stack, forged, 600_000);
    assert_eq!(t.outcome, Outcome::Skipped, "{t:?}");
    assert!(stack.updates.lock().unwrap().is_empty(), "the table kept");
}

#[test]
fn the_guard_runs_whenever_the_token_is_not_false() {
    for token in ["", "True", "yes"] {
        let mut stack = FakeStack::new("UPDATE_COMPLETE", token);
        stack.template = TABLE_TEMPLATE;
        let t = run(&stack, task(&stack), 600_000);
        assert_eq!(t.outcome, Outcome::Skipped, "token {token:?}: {t:?}");
        assert!(stack.updates.lock().unwrap().is_empty(), "token {token:?}");
    }
}

#[test]
fn a_phase_one_that_rolled_back_is_never_refreshed_though_the_stack_is_at_true() {
    // Our `false` rolled back; someone's deploy has run since (the stack is UPDATE_COMPLETE
    // at true); the retry gets the original input.
    let stack = FakeStack::new("UPDATE_COMPLETE", "true");
    let t = task(&stack);
    let t = {
        let mut t = t;
        t.execution = Some("run-1".into());
        t
    };
    stack.operations.lock().unwrap().push((
        super::operations::phase_one_token(&t).unwrap(),
        Some("UPDATE_ROLLBACK_COMPLETE"),
    ));
    let done = run(&stack, t, 600_000);
    assert_eq!(done.outcome, Outcome::Failed, "{done:?}");
    assert!(!done.critical, "the resources were never deleted");
    assert!(done.reason.unwrap().contains("UPDATE_ROLLBACK_COMPLETE"));
    assert!(stack.updates.lock().unwrap().is_empty());
}

#[test]
fn a_data_holder_the_token_itself_would_replace_is_refused_as_in_place_mode_refuses_it() {
    let replaced_table = PlannedChange {
        action: "Modify".into(),
        logical_id: "Orders".into(),
        resource_type: "AWS::DynamoDB::Table".into(),
        replacement: Some("True".into()),
        recreates: vec!["KeySchema".into()],
        causes: vec!["RotateToken".into()],
    };
    let mut stack = FakeStack::new("UPDATE_COMPLETE", "true");
    stack.planned = vec![replaced_table.clone()];
    let t = run(&stack, task(&stack), 600_000);
    assert_eq!(t.outcome, Outcome::Skipped, "{t:?}");
    assert!(t
        .reason
        .unwrap()
        .contains("Orders (AWS::DynamoDB::Table) would be replaced"));
    assert!(stack.updates.lock().unwrap().is_empty(), "the table kept");

    // Opted in: refreshed.
    let mut stack = FakeStack::new("UPDATE_COMPLETE", "true");
    stack.planned = vec![replaced_table];
    stack.snapshot.lock().unwrap().tags =
        vec![("rotatetoken:allow-data-loss".into(), "true".into())];
    assert_eq!(
        run(&stack, task(&stack), 600_000).outcome,
        Outcome::Refreshed
    );
}

#[test]
fn a_task_cannot_choose_which_nested_stacks_are_looked_at_for_cleanup_failures() {
    let mut stack = FakeStack::new("UPDATE_COMPLETE", "true");
    stack.cleanup_failure = Some("Reader");
    let mut forged = task(&stack);
    forged.nested = vec![ReachedStack {
        path: "Elsewhere".into(),
        stack_id: "arn:aws:cloudformation:us-east-1:111111111111:stack/other/2".into(),
    }];
    let t = run(&stack, forged, 600_000);
    assert_eq!(t.outcome, Outcome::Failed, "{t:?}");
    assert_eq!(
        t.orphaned.len(),
        1,
        "the root's own failure only: {:?}",
        t.orphaned
    );
    assert!(!t.orphaned[0].starts_with("Elsewhere/"), "{:?}", t.orphaned);
}

#[test]
fn a_task_cannot_skip_phase_one_and_its_guard_by_naming_phase_two() {
    let mut stack = FakeStack::new("UPDATE_COMPLETE", "true");
    stack.template = TABLE_TEMPLATE;
    let mut forged = task(&stack);
    forged.phase = Phase::Enable;
    let t = run(&stack, forged, 600_000);
    assert_eq!(
        t.outcome,
        Outcome::Skipped,
        "judged by the guard, not reported refreshed: {t:?}"
    );
    assert!(stack.updates.lock().unwrap().is_empty());

    // A real phase two, retried with its input, is believed: our `false` is in the events.
    let stack = FakeStack::new("UPDATE_COMPLETE", "true");
    let between = run(&stack, task(&stack), 1_500);
    let mut t = run(&stack, between, 600_000);
    for _ in 0..10 {
        if t.outcome != Outcome::Waiting {
            break;
        }
        t = run(&stack, t, 600_000);
    }
    assert_eq!(t.outcome, Outcome::Refreshed, "{t:?}");
    assert_eq!(*stack.updates.lock().unwrap(), vec!["false", "true"]);
}

#[test]
fn a_look_past_its_time_changes_nothing_and_hands_its_task_back() {
    let stack = FakeStack::new("UPDATE_COMPLETE", "true");
    let clock = FakeClock(AtomicU64::new(1_000_000));
    let (budget, act) = (2_000_000, 1_000_000);
    let late = futures::executor::block_on(advance_acting_until(
        reach(&stack, &clock),
        SETTINGS,
        task(&stack),
        budget,
        act,
    ))
    .unwrap();
    assert!(stack.updates.lock().unwrap().is_empty());
    assert_eq!(late.outcome, Outcome::Waiting);
    assert!(!late.update_started);
    assert!(late.wait.is_some(), "handed back to look again: {late:?}");
    let t = run(&stack, late, 600_000);
    assert_eq!(t.outcome, Outcome::Refreshed);
    assert_eq!(*stack.updates.lock().unwrap(), vec!["false", "true"]);
}
