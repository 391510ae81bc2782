//! Coalesced refreshes: during an incident many secrets change within minutes, and a stack
//! consuming several of them would be refreshed once per secret (two updates each, its
//! resources deleted and recreated each time). A refresh re-reads every secret a stack
//! consumes (`AWSCURRENT` of each, when CloudFormation recreates the resource), so one
//! refresh after the last change is enough.
//!
//! Each run started by a change first waits `CoalesceWindowSeconds` (the state machine's
//! `WaitForMoreChanges`), so the changes arriving meanwhile have claimed their secrets'
//! locks (storm control, [`super::run_lock`]) when it discovers. Its discovery then leaves
//! to a later run every stack that run will refresh anyway: a real run (not a dry run, not
//! a reconciliation) that claimed its lock after this run claimed its own, or one pending
//! behind a holder (it starts after now), for a secret the stack consumes. The later run's
//! refresh of the stack begins after its own change, which came after this run's: the
//! stack then holds both new values. The latest run refreshes it itself, so every stack is
//! refreshed once, after the last change to any secret it consumes, and a stack whose
//! secret changes again during its refresh is refreshed again by that change's run.
//!
//! Decided from the pipeline's own state (the locks in the runs bucket), never from a
//! run's input; a stack is left to a later run only when it consumes that run's secret,
//! judged as discovery judges it (in `all` mode every two-phase stack is every run's).

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

/// The runs later than `execution` (which holds `own`'s lock since `own.since_ms`), from
/// every secret's lock: holders that claimed their lock after it, and the pending runs
/// (they start once their holder ends, after now), its own secret's pending one included
/// (a newer version of the same secret, whose run refreshes every consumer again).
/// Nothing when this run does not hold its own lock (a run started by hand): then its
/// change may be later than any other.
pub fn later_runs(execution: &str, own: Option<&RunLock>, locks: &[RunLock]) -> Vec<LaterRun> {
    let Some(own) = own.filter(|l| l.holder == execution) else {
        return Vec::new();
    };
    let run = |execution: &str, input: &ExecutionInput| LaterRun {
        execution: execution.to_string(),
        secret: input.secret.clone(),
    };
    let mut out = Vec::new();
    for lock in std::iter::once(own).chain(locks.iter().filter(|l| l.holder != own.holder)) {
        // Claims in one millisecond are ordered by their run's name: of any two runs, one
        // is the later, so that exactly one refreshes a stack they share.
        if lock.holder != own.holder && (lock.since_ms, &lock.holder) > (own.since_ms, &own.holder)
        {
            if let Some(input) = lock.holder_input.as_ref().filter(|i| refreshes(i)) {
                out.push(run(&lock.holder, input));
            }
        }
        if let Some(pending) = lock.pending.as_ref().filter(|p| refreshes(&p.input)) {
            out.push(run(&pending.execution_name, &pending.input));
        }
    }
    out
}

/// The row's reason for a stack left to `later`.
pub fn reason(later: &LaterRun, own_secret: &SecretRef) -> String {
    let what = if later.secret.arn == own_secret.arn {
        "a newer version of this secret".to_string()
    } else {
        format!("{}, which it also consumes", later.secret.arn)
    };
    format!(
        "{COALESCED} refreshed once, after both changes, by run {} for {what} (it began after this run)",
        later.execution
    )
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
    fn later_runs_are_those_that_claimed_after_this_one_and_every_pending_one() {
        let own = lock("a", "run-a", 1_000, None);
        let locks = vec![
            own.clone(),
            lock("b", "run-b", 2_000, None),
            // Claimed before this run: its discovery may be over; not relied on.
            lock("c", "run-c", 500, None),
            // Older, but a change waits behind it: that run starts after now.
            lock("d", "run-d", 400, Some("run-d2")),
            // Claimed in the same millisecond: the later by name only.
            lock("e", "run-0", 1_000, None),
            lock("f", "run-z", 1_000, None),
        ];
        assert_eq!(
            names(&later_runs("run-a", Some(&own), &locks)),
            vec!["run-b", "run-d2", "run-z"]
        );
        // A newer version of this run's own secret, pending behind it.
        let own = lock("a", "run-a", 1_000, Some("run-a2"));
        assert_eq!(names(&later_runs("run-a", Some(&own), &[])), vec!["run-a2"]);
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
        let own = input("a", false, false).secret;
        let b = LaterRun {
            execution: "run-b".into(),
            secret: input("b", false, false).secret,
        };
        assert!(reason(&b, &own).starts_with(COALESCED));
        assert!(
            reason(&b, &own).contains("run-b")
                && reason(&b, &own).contains("which it also consumes")
        );
        let a2 = LaterRun {
            execution: "run-a2".into(),
            secret: own.clone(),
        };
        assert!(reason(&a2, &own).contains("a newer version of this secret"));
    }
}
