//! Coalesced refreshes: during an incident many secrets change within minutes, and a stack
//! consuming several of them would be refreshed once per secret (two updates each, its
//! resources deleted and recreated each time). A refresh re-reads every secret a stack
//! consumes (`AWSCURRENT` of each, when CloudFormation recreates the resource), so one
//! refresh after the last change is enough.
//!
//! Each run started by a change first waits `CoalesceWindowSeconds` (the state machine's
//! `WaitForMoreChanges`), so the changes arriving meanwhile have claimed their secrets'
//! locks (storm control, [`super::run_lock`]) when it discovers. Its discovery then leaves
//! to a later run each two-phase stack that run will refresh anyway: a real run (not a dry
//! run, not a reconciliation), already started, that claimed its secret's lock after this
//! run claimed its own, for a secret the stack consumes. The later run's refresh of the
//! stack begins after its own change, which came after this run's: the stack then holds
//! both new values. The latest run refreshes it itself: changes clustered within the
//! window refresh each stack once, after the last of them.
//!
//! What it costs, said where it is used: a stack left to a later run is as fresh as that
//! run leaves it (its report and alerts name it; the scheduled audit finds it stale for this
//! secret otherwise), and changes of its secrets arriving less than a window apart, one
//! after the other, postpone its refresh until they pause. In-place stacks are never left
//! to another run: their update pins one secret's version. Decided from the pipeline's own
//! state (the locks in the runs bucket), never from a run's input.

use super::model::{ExecutionInput, SecretRef};
use super::run_lock::RunLock;

/// How a row left to a later run begins.
pub const COALESCED: &str = "coalesced:";

/// A later run that will refresh the consumers of its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaterRun {
    pub execution: String,
    pub secret: SecretRef,
}

/// A run that refreshes: not a dry run, not the scheduled reconciliation (which refreshes
/// only the consumers it finds stale for its own secret, or none).
fn refreshes(input: &ExecutionInput) -> bool {
    !input.dry_run && !input.reconcile
}

/// The runs later than `execution` (which holds `own`'s lock since `own.since_ms`): the
/// holders of other secrets' locks that claimed them after it, already started, so that
/// their discovery comes after this one's. Never a pending run: it starts only when its
/// holder ends, which an end event lost can delay, and a secret changing again and again
/// would have each run hand its stacks to the next, none refreshing (storm control's own
/// bound, at most two refreshes a burst, stands instead). Nothing when this run does not
/// hold its own lock (one started by hand): its change may be later than any other.
pub fn later_runs(execution: &str, own: Option<&RunLock>, locks: &[RunLock]) -> Vec<LaterRun> {
    let Some(own) = own.filter(|l| l.holder == execution) else {
        return Vec::new();
    };
    locks
        .iter()
        .filter(|l| l.secret_arn != own.secret_arn && l.holder != own.holder)
        // Claims in one millisecond are ordered by their run's name: of any two runs, one
        // is the later, so that exactly one refreshes a stack they share.
        .filter(|l| (l.since_ms, &l.holder) > (own.since_ms, &own.holder))
        .filter_map(|l| {
            let input = l.holder_input.as_ref().filter(|i| refreshes(i))?;
            Some(LaterRun {
                execution: l.holder.clone(),
                secret: input.secret.clone(),
            })
        })
        .collect()
}

/// The row's reason for a stack left to `later`.
pub fn reason(later: &LaterRun) -> String {
    format!(
        "{COALESCED} refreshed once, after both changes, by run {} for {}, which it also \
         consumes (that run began after this one; its report says how the stack ended)",
        later.execution, later.secret.arn
    )
}

/// The run a row's reason says the stack was left to (`None`: not a row left to a run).
pub fn left_to(reason: &str) -> Option<&str> {
    let rest = reason.strip_prefix(COALESCED)?;
    let (_, after) = rest.split_once(" by run ")?;
    after.split_whitespace().next()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::run_lock::PendingRun;

    fn input(name: &str, dry_run: bool, reconcile: bool) -> ExecutionInput {
        ExecutionInput {
            secret: SecretRef::from_arn(
                &format!("arn:aws:secretsmanager:us-east-1:111111111111:secret:{name}-AbCdEf"),
                None,
            )
            .unwrap(),
            cause: "PutSecretValue".into(),
            dry_run,
            reconcile,
            coalesce_seconds: 0,
        }
    }

    fn lock(name: &str, holder: &str, since_ms: u64, pending: Option<&str>) -> RunLock {
        RunLock {
            secret_arn: input(name, false, false).secret.arn,
            holder: holder.into(),
            since_ms,
            pending: pending.map(|p| PendingRun {
                execution_name: p.into(),
                input: input(name, false, false),
                changes: 1,
            }),
            holder_input: Some(input(name, false, false)),
        }
    }

    fn names(runs: &[LaterRun]) -> Vec<&str> {
        runs.iter().map(|r| r.execution.as_str()).collect()
    }

    #[test]
    fn later_runs_are_the_other_secrets_holders_that_claimed_after_this_one() {
        let own = lock("a", "run-a", 1_000, None);
        let locks = vec![
            own.clone(),
            lock("b", "run-b", 2_000, None),
            // Claimed before this run: its discovery may be over; not relied on.
            lock("c", "run-c", 500, None),
            // A change waiting behind an older holder starts only when that one ends (its
            // end event may be lost): never relied on.
            lock("d", "run-d", 400, Some("run-d2")),
            // Claimed in the same millisecond: the later by name only.
            lock("e", "run-0", 1_000, None),
            lock("f", "run-z", 1_000, None),
        ];
        assert_eq!(
            names(&later_runs("run-a", Some(&own), &locks)),
            vec!["run-b", "run-z"]
        );
        // This secret changing again (a rotation loop) hands nothing on: each run refreshes,
        // storm control bounds them.
        let looping = lock("a", "run-a", 1_000, Some("run-a2"));
        assert!(later_runs("run-a", Some(&looping), std::slice::from_ref(&looping)).is_empty());
    }

    #[test]
    fn dry_runs_reconciliations_and_runs_without_their_lock_are_never_relied_on() {
        let own = lock("a", "run-a", 1_000, None);
        let mut dry = lock("b", "run-b", 2_000, None);
        dry.holder_input = Some(input("b", true, false));
        let mut audit = lock("c", "run-c", 2_000, None);
        audit.holder_input = Some(input("c", false, true));
        let mut unknown = lock("d", "run-d", 2_000, None);
        unknown.holder_input = None;
        assert!(later_runs("run-a", Some(&own), &[dry, audit, unknown]).is_empty());
        // A run started by hand holds no lock (or another run's): nothing is left to others.
        let others = [lock("b", "run-b", 2_000, None)];
        assert!(later_runs("manual-run", Some(&own), &others).is_empty());
        assert!(later_runs("run-a", None, &others).is_empty());
    }

    #[test]
    fn the_reason_names_the_run_and_why_it_refreshes_the_stack() {
        let b = LaterRun {
            execution: "run-b".into(),
            secret: input("b", false, false).secret,
        };
        assert!(reason(&b).starts_with(COALESCED));
        assert_eq!(left_to(&reason(&b)), Some(b.execution.as_str()));
        assert_eq!(left_to("not opted in"), None);
        assert!(reason(&b).contains("run-b") && reason(&b).contains("which it also consumes"));
    }
}
