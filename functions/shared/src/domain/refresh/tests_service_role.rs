//! Whose permissions an update uses, as the step machine meets it: a stack without a
//! service role is refused before any update, whatever phase its task claims, unless an
//! administrator listed it ([`crate::domain::service_role`]).

use super::*;
use crate::domain::service_role::StacksWithoutServiceRole;
use crate::fakes::{FakeClock, FakeStack, NoSecrets};
use crate::ports::Unbudgeted;
use std::sync::atomic::AtomicU64;

use super::tests::{task, SETTINGS};

fn without_role(token: &str) -> FakeStack {
    let stack = FakeStack::new("UPDATE_COMPLETE", token);
    stack.snapshot.lock().unwrap().service_role = None;
    stack
}

fn refresh(stack: &FakeStack, task: RefreshTask, settings: RefreshSettings) -> RefreshTask {
    let clock = FakeClock(AtomicU64::new(1_000_000));
    let reach = Reach {
        updater: stack,
        secrets: &NoSecrets,
        clock: &clock,
        budget: &Unbudgeted,
    };
    futures::executor::block_on(advance(reach, settings, task, 1_600_000)).unwrap()
}

#[test]
fn a_stack_without_a_service_role_is_failed_before_any_update() {
    let stack = without_role("true");
    let t = refresh(&stack, task(&stack), SETTINGS);
    assert_eq!(t.outcome, Outcome::Failed, "never a skip: {:?}", t.reason);
    assert!(t.reason.as_deref().unwrap().contains("no service role"));
    assert!(!t.critical, "its resources are untouched");
    assert!(stack.updates.lock().unwrap().is_empty());
}

#[test]
fn a_stack_without_a_service_role_found_at_false_is_critical_and_stays_untouched() {
    let stack = without_role("false");
    let t = refresh(&stack, task(&stack), SETTINGS);
    assert_eq!(t.outcome, Outcome::Failed);
    assert!(t.critical, "left without its resources: {:?}", t.reason);
    assert!(stack.updates.lock().unwrap().is_empty());
}

#[test]
fn a_task_that_claims_phase_two_skips_no_check() {
    let stack = without_role("false");
    let mut forged = task(&stack);
    forged.phase = Phase::Enable;
    let t = refresh(&stack, forged, SETTINGS);
    assert_eq!(t.outcome, Outcome::Failed);
    assert!(
        stack.updates.lock().unwrap().is_empty(),
        "never set true with our power"
    );
}

#[test]
fn a_listed_stack_without_a_service_role_is_refreshed() {
    let stack = without_role("true");
    let settings = RefreshSettings {
        without_service_role: StacksWithoutServiceRole::parse(
            "arn:aws:cloudformation:us-east-1:111111111111:stack/app/*",
        )
        .unwrap(),
        ..SETTINGS
    };
    let t = refresh(&stack, task(&stack), settings);
    assert_eq!(t.outcome, Outcome::Refreshed, "{:?}", t.reason);
    assert_eq!(*stack.updates.lock().unwrap(), vec!["false", "true"]);
}

#[test]
fn an_in_place_stack_without_a_service_role_is_failed_before_its_update() {
    let stack = without_role("true");
    let mut t = task(&stack);
    t.mode = crate::domain::in_place::RefreshMode::InPlace;
    let t = refresh(&stack, t, SETTINGS);
    assert_eq!(t.outcome, Outcome::Failed, "{:?}", t.reason);
    assert!(t.reason.as_deref().unwrap().contains("no service role"));
    assert!(!t.critical, "in place deletes nothing");
    assert!(stack.updates.lock().unwrap().is_empty());
}

#[test]
fn a_stack_refused_between_phases_is_critical_only_while_at_false() {
    for (token, critical) in [("false", true), ("true", false)] {
        let stack = without_role(token);
        let mut between = task(&stack);
        between.phase = Phase::Enable;
        let t = refresh(&stack, between, SETTINGS);
        assert_eq!(t.outcome, Outcome::Failed);
        assert_eq!(t.critical, critical, "at {token}: {:?}", t.reason);
    }
}
