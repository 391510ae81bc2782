//! Storm control: at most one run per secret at a time. A rotation loop or a script putting
//! twenty values in a minute must not start twenty fleet-wide delete-and-recreate runs.
//!
//! One small lock document per secret (`locks/<hash>.json` in the runs bucket) names the
//! run that holds the secret and, at most, one run waiting behind it. The trigger changes it
//! only by compare-and-swap (S3 conditional writes: `If-None-Match: *` to create, `If-Match:
//! <ETag>` to replace or delete), so two triggers racing cannot both start a run:
//! - a change with no holder claims the lock and starts its run;
//! - a change while a run holds it becomes the pending run (a newer arrival replaces an
//!   older one: every stack re-reads `AWSCURRENT` when it is updated, so one more run after
//!   the holder carries every version that arrived meanwhile);
//! - when the holder ends (Step Functions' execution status change event), the pending run
//!   takes the lock and starts, or the lock is released.
//!
//! So each consuming stack is refreshed at most twice for a burst of versions, and its last
//! refresh starts after the last version arrived. A holder that ended without its event
//! arriving (EventBridge delivers service events best effort) is taken over by the next
//! change for the secret.
//!
//! The lock names its holder's input too, so a holder that was claimed or handed the lock
//! and then never started (the trigger timed out or crashed between writing the lock and
//! `StartExecution`) is started by whoever reads the lock next: the retry of the same
//! event, the next change, the next run's end, or the scheduled audit. Starting it twice is
//! harmless: `StartExecution` with the name and input of a running execution returns that
//! execution ("StartExecution", Step Functions API reference: idempotent for a running
//! execution with the same name and input).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use serde_json::Value;

use super::error::{optional_str, required_str, InputError};
use super::model::ExecutionInput;

/// A claim written before locks named their holder's input (so nobody else can start it)
/// whose run does not exist yet is left alone this long, then taken over.
pub const UNSTARTED_CLAIM_GRACE_MS: u64 = 5 * 60 * 1000;

/// Where a secret's lock lives in the runs bucket.
pub fn lock_key(secret_arn: &str) -> String {
    let digest = Sha256::digest(secret_arn.as_bytes());
    let hash: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("locks/{hash}.json")
}

/// The lock document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunLock {
    pub secret_arn: String,
    /// The execution name of the run that holds the secret.
    pub holder: String,
    /// When the holder claimed it (epoch milliseconds).
    pub since_ms: u64,
    /// The one run to start when the holder ends.
    #[serde(default)]
    pub pending: Option<PendingRun>,
    /// The holder's input, so anyone who finds the holder never started can start it.
    /// Absent in locks written by 0.1.0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder_input: Option<ExecutionInput>,
}

/// A run waiting for the holder to end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingRun {
    pub execution_name: String,
    pub input: ExecutionInput,
    /// How many changes were folded into this one run.
    pub changes: u32,
}

/// What the trigger knows of the lock's holder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HolderState {
    Running,
    Ended,
    /// No such execution: claimed, not started yet (or its start failed).
    NotStarted,
}

/// What to do with a change for a secret, given its lock.
#[derive(Debug, Clone, PartialEq)]
pub enum OnChange {
    /// No lock: create this one and start the run.
    Claim(RunLock),
    /// The change is already the holder (a redelivery of its event).
    AlreadyHolder,
    /// A run holds the secret: replace the lock with this one (the change is now pending).
    Defer(RunLock),
    /// The holder is gone without releasing: replace the lock with this one and start its
    /// holder, this change or the real change that waited (a reconciliation never takes
    /// a waiting change's place).
    TakeOver(RunLock, PendingRun),
    /// A reconciliation while a run holds the secret: nothing to do.
    Busy,
}

/// The lock `run` holds from `now_ms`.
fn held_by(run: &PendingRun, now_ms: u64) -> RunLock {
    RunLock {
        secret_arn: run.input.secret.arn.clone(),
        holder: run.execution_name.clone(),
        since_ms: now_ms,
        pending: None,
        holder_input: Some(run.input.clone()),
    }
}

/// The holder's run, when it holds the lock but was never started and can be: its input is
/// in the lock, or `arriving` is the holder's own change again (Lambda's retry of the
/// event whose trigger wrote the claim and died before `StartExecution`). Start it, then
/// treat the holder as running.
pub fn holder_to_start(
    lock: &RunLock,
    holder: HolderState,
    arriving: Option<&PendingRun>,
) -> Option<PendingRun> {
    if holder != HolderState::NotStarted {
        return None;
    }
    let input = match arriving {
        Some(run) if run.execution_name == lock.holder => run.input.clone(),
        _ => lock.holder_input.clone()?,
    };
    Some(PendingRun {
        execution_name: lock.holder.clone(),
        input,
        changes: 1,
    })
}

/// `lock` as read (None: no lock) with what is known of its holder (after
/// [`holder_to_start`] has started a holder that can be started).
pub fn on_change(lock: Option<(&RunLock, HolderState)>, run: PendingRun, now_ms: u64) -> OnChange {
    let Some((lock, holder)) = lock else {
        return OnChange::Claim(held_by(&run, now_ms));
    };
    if lock.holder == run.execution_name {
        return OnChange::AlreadyHolder;
    }
    let alive = match holder {
        HolderState::Running => true,
        HolderState::Ended => false,
        HolderState::NotStarted => now_ms.saturating_sub(lock.since_ms) < UNSTARTED_CLAIM_GRACE_MS,
    };
    if !alive {
        // The change that waited is a real one: a reconciliation (by default a dry run)
        // in its place would lose its refresh.
        let next = match &lock.pending {
            Some(waiting) if run.input.reconcile => waiting.clone(),
            _ => run,
        };
        return OnChange::TakeOver(held_by(&next, now_ms), next);
    }
    // A reconciliation only audits what the running run may already be refreshing: it
    // never waits behind it, nor replaces a change that waits (a dry run in its place
    // would lose that change's refresh).
    if run.input.reconcile {
        return OnChange::Busy;
    }
    let changes = lock.pending.as_ref().map_or(0, |p| p.changes) + run.changes;
    OnChange::Defer(RunLock {
        pending: Some(PendingRun { changes, ..run }),
        ..lock.clone()
    })
}

/// What to do when the run `ended` ends, given its secret's lock.
#[derive(Debug, Clone, PartialEq)]
pub enum OnRunEnded {
    /// The lock is not this run's (a manual run, or already handed over): nothing.
    NotHolder,
    /// Nothing waits: delete the lock.
    Release,
    /// Replace the lock with this one (the pending run holds it) and start that run.
    HandOver(Box<RunLock>, PendingRun),
}

pub fn on_run_ended(lock: Option<&RunLock>, ended: &str, now_ms: u64) -> OnRunEnded {
    match lock {
        Some(lock) if lock.holder == ended => match &lock.pending {
            None => OnRunEnded::Release,
            Some(next) => OnRunEnded::HandOver(Box::new(held_by(next, now_ms)), next.clone()),
        },
        _ => OnRunEnded::NotHolder,
    }
}

pub const STATUS_CHANGE_SOURCE: &str = "aws.states";
pub const STATUS_CHANGE_DETAIL_TYPE: &str = "Step Functions Execution Status Change";
/// The statuses in which an execution has ended ("Step Functions Execution Status Change"
/// events, EventBridge events reference; `PENDING_REDRIVE` is not an end).
pub const ENDED_STATUSES: [&str; 4] = ["SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"];

/// A run of this state machine that ended, as its status change event tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndedRun {
    pub execution_name: String,
    pub secret_arn: String,
    /// How it ended: one of [`ENDED_STATUSES`].
    pub status: String,
    /// A dry run (it changed nothing, whatever its end).
    pub dry_run: bool,
}

impl EndedRun {
    /// Ended before its report could tell anything: aborted (by an operator, a deploy of
    /// the pipeline, a parent) or timed out. Its Map's children were stopped with it, so a
    /// stack between its phases stays at false, and no summary or per-stack alert comes.
    pub fn cut_short(&self) -> bool {
        !self.dry_run && matches!(self.status.as_str(), "ABORTED" | "TIMED_OUT")
    }
}

/// `Some` for the end of a run of `state_machine_arn`; `None` for any other event (a
/// Secrets Manager event, another state machine's execution, a start). The secret is read
/// from the execution's input, which this pipeline wrote; only the lock's own holder name
/// decides what is released.
pub fn ended_run(event: &Value, state_machine_arn: &str) -> Result<Option<EndedRun>, InputError> {
    if event.get("source").and_then(Value::as_str) != Some(STATUS_CHANGE_SOURCE)
        || event.get("detail-type").and_then(Value::as_str) != Some(STATUS_CHANGE_DETAIL_TYPE)
    {
        return Ok(None);
    }
    if required_str(event, &["detail", "stateMachineArn"])? != state_machine_arn {
        return Ok(None);
    }
    let status = required_str(event, &["detail", "status"])?;
    if !ENDED_STATUSES.contains(&status) {
        return Ok(None);
    }
    let execution_name = required_str(event, &["detail", "name"])?.to_string();
    // A run started by hand with an input that is not ours holds no lock.
    let input = optional_str(event, &["detail", "input"])?.unwrap_or("{}");
    let Ok(input) = serde_json::from_str::<ExecutionInput>(input) else {
        return Ok(None);
    };
    Ok(Some(EndedRun {
        execution_name,
        secret_arn: input.secret.arn,
        status: status.to_string(),
        dry_run: input.dry_run,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::model::SecretRef;

    const ARN: &str = "arn:aws:secretsmanager:us-east-1:111111111111:secret:db-AbCdEf";

    fn run(name: &str, version: &str) -> PendingRun {
        PendingRun {
            execution_name: name.into(),
            input: ExecutionInput {
                secret: SecretRef::from_arn(ARN, Some(version.into())).unwrap(),
                cause: "PutSecretValue".into(),
                dry_run: false,
                reconcile: false,
                coalesce_seconds: 0,
            },
            changes: 1,
        }
    }

    fn held_by(name: &str, since_ms: u64) -> RunLock {
        RunLock {
            secret_arn: ARN.into(),
            holder: name.into(),
            since_ms,
            pending: None,
            holder_input: Some(run(name, "v0").input),
        }
    }

    #[test]
    fn a_change_with_no_lock_claims_it() {
        let OnChange::Claim(lock) = on_change(None, run("a", "v1"), 7) else {
            panic!("expected a claim");
        };
        assert_eq!((lock.holder.as_str(), lock.since_ms), ("a", 7));
        assert_eq!(lock.secret_arn, ARN);
        assert!(lock.pending.is_none());
    }

    #[test]
    fn changes_during_a_run_fold_into_one_pending_run_the_newest_arrival_naming_it() {
        let lock = held_by("a", 0);
        let OnChange::Defer(lock) =
            on_change(Some((&lock, HolderState::Running)), run("b", "v2"), 10)
        else {
            panic!("expected a deferral");
        };
        let OnChange::Defer(lock) =
            on_change(Some((&lock, HolderState::Running)), run("c", "v3"), 20)
        else {
            panic!("expected a deferral");
        };
        assert_eq!(lock.holder, "a");
        let pending = lock.pending.unwrap();
        assert_eq!(pending.execution_name, "c");
        assert_eq!(pending.input.secret.version_id.as_deref(), Some("v3"));
        assert_eq!(pending.changes, 2);
    }

    #[test]
    fn a_reconciliation_never_waits_behind_a_run_nor_replaces_a_waiting_change() {
        let mut lock = held_by("a", 0);
        lock.pending = Some(run("b", "v2"));
        let mut audit = run("r", "");
        audit.input.reconcile = true;
        assert_eq!(
            on_change(Some((&lock, HolderState::Running)), audit.clone(), 10),
            OnChange::Busy
        );
        // A free secret, or a holder gone without releasing: the reconciliation runs.
        assert!(matches!(
            on_change(None, audit.clone(), 10),
            OnChange::Claim(_)
        ));
        assert!(matches!(
            on_change(Some((&lock, HolderState::Ended)), audit, 10),
            OnChange::TakeOver(..)
        ));
    }

    #[test]
    fn a_redelivery_of_the_holders_change_is_recognised() {
        let lock = held_by("a", 0);
        assert_eq!(
            on_change(Some((&lock, HolderState::Ended)), run("a", "v1"), 1),
            OnChange::AlreadyHolder
        );
    }

    #[test]
    fn a_holder_that_ended_without_releasing_is_taken_over() {
        let lock = RunLock {
            pending: Some(run("b", "v2")),
            ..held_by("a", 0)
        };
        let OnChange::TakeOver(lock, next) =
            on_change(Some((&lock, HolderState::Ended)), run("c", "v3"), 50)
        else {
            panic!("expected a take-over");
        };
        assert_eq!((lock.holder.as_str(), lock.since_ms), ("c", 50));
        assert_eq!(next.execution_name, "c");
        assert_eq!(lock.holder_input, Some(next.input));
        assert!(
            lock.pending.is_none(),
            "the new run carries the pending change"
        );
    }

    #[test]
    fn a_reconciliation_taking_over_an_ended_holder_starts_the_change_that_waited() {
        let mut lock = held_by("a", 0);
        lock.pending = Some(run("b", "v2"));
        let mut audit = run("r", "");
        audit.input.reconcile = true;
        let OnChange::TakeOver(lock, next) =
            on_change(Some((&lock, HolderState::Ended)), audit, 10)
        else {
            panic!("expected a take-over");
        };
        assert_eq!(next.execution_name, "b", "the real change, not the audit");
        assert!(!next.input.reconcile);
        assert_eq!(lock.holder, "b");
        assert!(lock.pending.is_none());
    }

    #[test]
    fn a_holder_never_started_is_started_by_whoever_reads_the_lock() {
        let lock = held_by("a", 0);
        // Anyone: the lock names the holder's input.
        let started = holder_to_start(&lock, HolderState::NotStarted, None).unwrap();
        assert_eq!(started.execution_name, "a");
        assert_eq!(Some(started.input), lock.holder_input);
        // The retry of the holder's own change, even with a lock from 0.1.0 (no input).
        let old = RunLock {
            holder_input: None,
            ..lock.clone()
        };
        assert!(holder_to_start(&old, HolderState::NotStarted, None).is_none());
        let retry = run("a", "v1");
        assert_eq!(
            holder_to_start(&old, HolderState::NotStarted, Some(&retry)),
            Some(retry)
        );
        // A holder that runs or ran is left alone.
        for state in [HolderState::Running, HolderState::Ended] {
            assert!(holder_to_start(&lock, state, None).is_none());
        }
    }

    #[test]
    fn a_hand_over_names_the_next_holders_input() {
        let waiting = RunLock {
            pending: Some(run("b", "v2")),
            ..held_by("a", 0)
        };
        let OnRunEnded::HandOver(lock, next) = on_run_ended(Some(&waiting), "a", 9) else {
            panic!("expected a hand-over");
        };
        assert_eq!(lock.holder_input, Some(next.input));
    }

    #[test]
    fn an_unstarted_claim_from_before_holder_inputs_is_waited_for_then_taken_over() {
        let lock = RunLock {
            holder_input: None,
            ..held_by("a", 1_000)
        };
        let soon = 1_000 + UNSTARTED_CLAIM_GRACE_MS - 1;
        assert!(matches!(
            on_change(Some((&lock, HolderState::NotStarted)), run("b", "v2"), soon),
            OnChange::Defer(_)
        ));
        assert!(matches!(
            on_change(
                Some((&lock, HolderState::NotStarted)),
                run("b", "v2"),
                soon + 1
            ),
            OnChange::TakeOver(..)
        ));
    }

    #[test]
    fn the_holders_end_starts_the_pending_run_or_releases_the_lock() {
        let lock = held_by("a", 0);
        assert_eq!(on_run_ended(Some(&lock), "a", 9), OnRunEnded::Release);
        let waiting = RunLock {
            pending: Some(run("b", "v2")),
            ..lock.clone()
        };
        let OnRunEnded::HandOver(next_lock, next) = on_run_ended(Some(&waiting), "a", 9) else {
            panic!("expected a hand-over");
        };
        assert_eq!((next_lock.holder.as_str(), next_lock.since_ms), ("b", 9));
        assert!(next_lock.pending.is_none());
        assert_eq!(next.execution_name, "b");
    }

    #[test]
    fn the_end_of_a_run_that_does_not_hold_the_lock_changes_nothing() {
        assert_eq!(on_run_ended(None, "a", 1), OnRunEnded::NotHolder);
        assert_eq!(
            on_run_ended(Some(&held_by("b", 0)), "a", 1),
            OnRunEnded::NotHolder
        );
    }

    #[test]
    fn only_the_end_of_a_run_of_this_state_machine_is_a_run_end() {
        let sm = "arn:aws:states:us-east-1:111111111111:stateMachine:rt";
        let input = serde_json::to_string(&run("a", "v1").input).unwrap();
        let event = |status: &str, machine: &str| {
            serde_json::json!({
                "source": "aws.states",
                "detail-type": "Step Functions Execution Status Change",
                "detail": {"name": "a", "status": status, "stateMachineArn": machine, "input": input},
            })
        };
        for status in ENDED_STATUSES {
            assert_eq!(
                ended_run(&event(status, sm), sm).unwrap(),
                Some(EndedRun {
                    execution_name: "a".into(),
                    secret_arn: ARN.into(),
                    status: status.into(),
                    dry_run: false,
                })
            );
        }
        assert_eq!(ended_run(&event("RUNNING", sm), sm).unwrap(), None);
        assert_eq!(
            ended_run(&event("SUCCEEDED", &format!("{sm}-other")), sm).unwrap(),
            None
        );
        let mut foreign = event("FAILED", sm);
        foreign["detail"]["input"] = "{\"not\": \"ours\"}".into();
        assert_eq!(ended_run(&foreign, sm).unwrap(), None);
        let mut nameless = event("FAILED", sm);
        nameless["detail"].as_object_mut().unwrap().remove("name");
        assert_eq!(ended_run(&nameless, sm).unwrap_err().field, "detail.name");
    }

    #[test]
    fn lock_keys_are_per_secret_and_safe_in_s3() {
        let a = lock_key(ARN);
        assert!(a.starts_with("locks/") && a.ends_with(".json"));
        assert_ne!(a, lock_key(&ARN.replace("db", "other")));
        assert!(a
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._".contains(c)));
    }
}
