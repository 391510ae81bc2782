//! The lane's resource budget as the step machine meets it: claimed once, right before the
//! first update, never by a stack that began or one found at `false`.

use super::*;
use crate::domain::model::PlannedChange;
use crate::fakes::{FakeClock, FakeStack, NoSecrets};
use std::sync::atomic::AtomicU64;

use super::tests::{task, SETTINGS};

/// One refresh of `stack` against `budget`, from a fresh task.
fn advance_with<B: crate::ports::ResourceBudget + Sync>(
    stack: &FakeStack,
    budget: &B,
) -> RefreshTask {
    let clock = FakeClock(AtomicU64::new(1_000_000));
    let reach = Reach {
        updater: stack,
        secrets: &NoSecrets,
        clock: &clock,
        budget,
    };
    futures::executor::block_on(advance(reach, SETTINGS, task(stack), 1_600_000)).unwrap()
}

fn change(action: &str, logical_id: &str) -> PlannedChange {
    PlannedChange {
        action: action.into(),
        logical_id: logical_id.into(),
        resource_type: "AWS::SSM::Parameter".into(),
        replacement: None,
        causes: vec![],
        recreates: vec![],
    }
}

/// A lane whose begun stacks already change too many resources: records what was claimed.
struct NoShare(std::sync::Mutex<Vec<u32>>);

impl crate::ports::ResourceBudget for NoShare {
    async fn claim(
        &self,
        _: &crate::domain::model::StackRef,
        resources: u32,
    ) -> Result<bool, AwsError> {
        self.0.lock().unwrap().push(resources);
        Ok(false)
    }
}

#[test]
fn a_stack_whose_lane_has_no_resources_to_spare_waits_for_a_place_with_nothing_changed() {
    let mut stack = FakeStack::new("UPDATE_COMPLETE", "true");
    stack.planned = vec![change("Remove", "Reader")];
    let budget = NoShare(Default::default());
    let t = advance_with(&stack, &budget);
    assert_eq!(t.outcome, Outcome::Waiting, "{t:?}");
    assert!(!t.update_started);
    assert_eq!(
        t.wait.as_ref().map(|w| w.kind),
        Some(crate::domain::model::WaitKind::Place)
    );
    assert!(stack.updates.lock().unwrap().is_empty(), "nothing updated");
    // What it asked for: the resources its guard's change set says phase one changes.
    let planned = t
        .plan
        .iter()
        .map(PlannedUpdate::resources)
        .max()
        .unwrap_or(0);
    assert_eq!(planned, 1, "{:?}", t.plan);
    assert_eq!(
        *budget.0.lock().unwrap(),
        vec![planned],
        "claimed once, as planned"
    );
}

/// Grants the first claim only: a second one would be refused.
struct OneShare(std::sync::atomic::AtomicU32);

impl crate::ports::ResourceBudget for OneShare {
    async fn claim(&self, _: &crate::domain::model::StackRef, _: u32) -> Result<bool, AwsError> {
        Ok(self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0)
    }
}

#[test]
fn a_stack_that_began_is_never_held_back_by_its_lanes_resources() {
    let stack = FakeStack::new("UPDATE_COMPLETE", "true");
    let budget = OneShare(Default::default());
    let t = advance_with(&stack, &budget);
    assert_eq!(t.outcome, Outcome::Refreshed, "{t:?}");
    assert_eq!(*stack.updates.lock().unwrap(), vec!["false", "true"]);
    assert_eq!(
        budget.0.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "claimed once, before phase one"
    );
    // A stack found at `false` is restored without a claim: it has nothing to begin.
    let at_false = FakeStack::new("UPDATE_COMPLETE", "false");
    let refused = NoShare(Default::default());
    let t = advance_with(&at_false, &refused);
    assert_eq!(t.outcome, Outcome::Refreshed, "{t:?}");
    assert_eq!(at_false.token(), "true");
    assert!(
        refused.0.lock().unwrap().is_empty(),
        "no claim for a stack at false"
    );
}
