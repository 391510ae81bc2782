//! The trigger's use case: a Secrets Manager event becomes at most one run per secret at a
//! time (storm control, `domain::run_lock`), and the end of a run starts the one run that
//! waited behind it.

use serde::Serialize;
use serde_json::Value;
use tracing::{info, warn};

use crate::domain::error::InputError;
use crate::domain::model::{ExecutionInput, SecretRef, RECONCILE_CAUSE};
use crate::domain::notice;
use crate::domain::reconcile::{ReconcileAction, ReconcileSince};
use crate::domain::run_lock::{self, HolderState, OnChange, OnRunEnded, PendingRun, RunLock};
use crate::domain::trigger::{self, Decision, VersionClue};
use crate::handler::FunctionError;
use crate::ports::{
    AwsError, Clock, ExecutionStarter, LockStore, Notifier, SecretDirectory, StartOutcome,
};
use crate::telemetry;

/// Compare-and-swap attempts before giving up (Lambda then retries the whole event).
const LOCK_ATTEMPTS: usize = 10;

/// What the trigger decided; also its return value, so `cargo lambda invoke` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "decision")]
pub enum TriggerReport {
    Started {
        secret_arn: String,
        version_id: String,
        cause: String,
        execution_name: String,
        execution_arn: String,
    },
    /// The same secret version was already handed to an execution (at-least-once delivery).
    Duplicate {
        secret_arn: String,
        version_id: String,
        execution_name: String,
    },
    /// A run for this secret is under way: this change runs once after it (with every
    /// other change that arrives meanwhile).
    Deferred {
        secret_arn: String,
        version_id: String,
        running: String,
        pending: String,
        changes: u32,
    },
    /// A run ended: the run that waited behind it started, or the secret is free again.
    RunEnded {
        ended: String,
        secret_arn: String,
        next: Option<String>,
    },
    Ignored {
        reason: String,
    },
    /// The reconciliation schedule fired: what happened for each secret in scope.
    Reconciled {
        secrets: usize,
        runs: Vec<TriggerReport>,
    },
}

/// The trigger's collaborators: Step Functions, Secrets Manager metadata, the lock store
/// (None when `RUNS_BUCKET` is not set, a local invoke: no storm control), a clock, and the
/// alerts topic (a run that ended before its report is told there).
pub struct Trigger<'a, S, D, L, C, N> {
    pub starter: &'a S,
    pub secrets: &'a D,
    pub locks: Option<&'a L>,
    /// The runs bucket the locks and run files are in (named in alerts).
    pub runs_bucket: Option<&'a str>,
    pub clock: &'a C,
    pub notifier: &'a N,
    pub scope: &'a trigger::SecretScope,
    /// What the reconciliation schedule does with stale consumers (`RECONCILE_ACTION`).
    pub reconcile: ReconcileAction,
    /// How long each run started by a change waits for the changes that follow it
    /// (`COALESCE_WINDOW_SECONDS`; 0: it discovers at once).
    pub coalesce_seconds: u64,
    /// `RECONCILE_SINCE`: a secret not rotated since gets an alert-only reconciliation.
    pub reconcile_since: ReconcileSince,
}

pub async fn trigger<S, D, L, C, N>(
    t: &Trigger<'_, S, D, L, C, N>,
    event: &Value,
) -> Result<TriggerReport, FunctionError>
where
    S: ExecutionStarter + Sync,
    D: SecretDirectory + Sync,
    L: LockStore + Sync,
    C: Clock + Sync,
    N: Notifier + Sync,
{
    if let Some(ended) = run_lock::ended_run(event, t.starter.state_machine_arn())? {
        // Told first: whatever happens to the lock below, the operators hear of a run
        // that stopped before its report. A failed publish does not hold the secret's lock
        // back either: the lock is handled, then the error fails the invocation, so Lambda
        // retries the event (the lock part is then a no-op; the alert may be told twice).
        let mut told = Ok(());
        if let Some(n) = notice::run_cut_short(&ended, t.runs_bucket) {
            warn!(execution_name = %ended.execution_name, status = %ended.status, secret_arn = %ended.secret_arn, "a run ended before its report: alerting");
            told = t.notifier.publish(&n.subject, &n.message).await;
        }
        let handled = match t.locks {
            Some(locks) => run_ended(t.starter, locks, t.clock, &ended).await,
            None => Ok(ignored(format!(
                "run {} ended; no storm control without RUNS_BUCKET",
                ended.execution_name
            ))),
        };
        told?;
        return handled;
    }
    let change = match trigger::interpret(event)? {
        Decision::Ignore(reason) => return Ok(ignored(reason)),
        Decision::Reconcile { time_ms } => return reconcile(t, time_ms).await,
        Decision::Act(change) => change,
    };
    let arn = match change.arn.clone() {
        Some(arn) => arn,
        None => t.secrets.secret_arn(&change.secret_id).await?,
    };
    // Only the secrets this deployment refreshes for start anything (decided before any
    // further call: a secret outside the scope costs no Secrets Manager call).
    let named = SecretRef::from_arn(&arn, None)?;
    if !t.scope.admits(&named) {
        return Ok(ignored(format!(
            "secret {arn} is outside this deployment's scope ({})",
            t.scope.why_not(&named)
        )));
    }
    let version_id = match version_of(t.secrets, &arn, &change).await? {
        Ok(v) => v,
        Err(reason) => return Ok(ignored(reason)),
    };
    let secret = SecretRef::from_arn(&arn, Some(version_id.clone()))?;
    // One name per change. Taken already: a redelivery of this change (the run started
    // after the event happened, or is still running) is a duplicate; a run that had ended
    // before this event happened means the version became current again (AWSCURRENT moved
    // back to it), which needs a run of its own.
    let mut name = trigger::execution_name(&arn, &version_id);
    if let Some(earlier) = t.starter.existing(&name).await? {
        match change.time_ms {
            Some(event_ms) if !earlier.running && earlier.started_ms < event_ms => {
                name = trigger::rerun_execution_name(&arn, &version_id, event_ms);
                info!(execution_name = %name, "version current again after its run ended: a new run");
            }
            _ => return Ok(duplicate(&arn, &version_id, name)),
        }
    }
    let run = PendingRun {
        execution_name: name,
        input: ExecutionInput {
            secret,
            cause: change.cause.clone(),
            dry_run: false,
            reconcile: false,
            coalesce_seconds: t.coalesce_seconds,
        },
        changes: 1,
    };
    launch(t, run).await
}

/// The version a change made current: from the record where it says, else from Secrets
/// Manager's metadata (never a value). `Ok(Err(reason))`: the change stored no value.
async fn version_of<D: SecretDirectory + Sync>(
    secrets: &D,
    arn: &str,
    change: &trigger::SecretChange,
) -> Result<Result<String, String>, FunctionError> {
    Ok(match &change.version {
        VersionClue::Named(v) | VersionClue::RequestToken(v) => Ok(v.clone()),
        // The labelled versions (DescribeSecret, which the trigger may already call): a
        // value UpdateSecret stored is AWSCURRENT, or AWSPREVIOUS after one more change; a
        // version superseded twice is unlabelled, and the later changes' own events carry
        // their consumers to the newest value anyway.
        VersionClue::TokenIfStored(token) => {
            if secrets.versions(arn).await?.stages.contains_key(token) {
                Ok(token.clone())
            } else {
                Err(format!(
                    "{} changed metadata only: {arn} has no labelled version {token}",
                    change.cause
                ))
            }
        }
        VersionClue::Current => {
            let versions = secrets.versions(arn).await?;
            let current = versions.current().ok_or_else(|| {
                InputError::new(
                    "detail",
                    format!("names no version, and {arn} has no version labelled AWSCURRENT"),
                )
            })?;
            info!(secret_arn = %arn, version_id = %current, cause = %change.cause, "the record names no version: the one labelled AWSCURRENT");
            Ok(current.to_string())
        }
    })
}

/// Starts `run`, through storm control when there is a lock store.
async fn launch<S, D, L, C, N>(
    t: &Trigger<'_, S, D, L, C, N>,
    run: PendingRun,
) -> Result<TriggerReport, FunctionError>
where
    S: ExecutionStarter + Sync,
    D: SecretDirectory + Sync,
    L: LockStore + Sync,
    C: Clock + Sync,
{
    match t.locks {
        None => start(t.starter, &run).await,
        Some(locks) => start_or_defer(t.starter, locks, t.clock, run).await,
    }
}

/// The schedule fired: one reconciliation run per secret in scope, each auditing that
/// secret's consumers in discovery and refreshing (or, by default, only reporting and
/// alerting about) those not proven fresh. It catches changes whose event was lost on the
/// way (CloudTrail and EventBridge deliver best effort). A secret with a run under way is
/// left to that run. Every secret is tried; the first failure is returned at the end (Lambda
/// retries the event, and the runs already started are recognised by name).
async fn reconcile<S, D, L, C, N>(
    t: &Trigger<'_, S, D, L, C, N>,
    time_ms: u64,
) -> Result<TriggerReport, FunctionError>
where
    S: ExecutionStarter + Sync,
    D: SecretDirectory + Sync,
    L: LockStore + Sync,
    C: Clock + Sync,
{
    let mut in_scope = Vec::new();
    for arn in t.secrets.secret_arns().await? {
        let secret = SecretRef::from_arn(&arn, None)?;
        if t.scope.admits(&secret) {
            in_scope.push(secret);
        }
    }
    // A bad ReconcileSince fails the scheduled audit, naming the variable.
    let since_ms = t.reconcile_since.moment()?;
    let mut runs = Vec::new();
    let mut first_error = None;
    for secret in in_scope.iter().cloned() {
        // Only a reconciliation that would refresh needs to know (an alert-only one is a
        // dry run whatever the secret's age).
        let created_ms = match (since_ms, t.reconcile) {
            (Some(_), ReconcileAction::Refresh) => current_created(t.secrets, &secret.arn).await,
            _ => None,
        };
        let run = PendingRun {
            execution_name: trigger::reconcile_execution_name(&secret.arn, time_ms),
            input: ExecutionInput {
                secret,
                cause: RECONCILE_CAUSE.to_string(),
                dry_run: t.reconcile.alert_only(since_ms, created_ms),
                reconcile: true,
                coalesce_seconds: 0,
            },
            changes: 1,
        };
        match launch(t, run).await {
            Ok(report) => runs.push(report),
            Err(e) => {
                warn!(error = %e, "reconciliation could not start for a secret");
                first_error.get_or_insert(e);
            }
        }
    }
    info!(
        decision = "reconciled",
        secrets = in_scope.len(),
        started = runs
            .iter()
            .filter(|r| matches!(r, TriggerReport::Started { .. }))
            .count(),
        "reconciliation schedule fired"
    );
    match first_error {
        Some(e) => Err(e),
        None => Ok(TriggerReport::Reconciled {
            secrets: in_scope.len(),
            runs,
        }),
    }
}

/// When the secret's current value was created (metadata only); `None` when it cannot be
/// read (its reconciliation then only alerts).
async fn current_created<D: SecretDirectory + Sync>(secrets: &D, secret_arn: &str) -> Option<u64> {
    let versions = match secrets.versions(secret_arn).await {
        Ok(v) => v,
        Err(e) => {
            warn!(secret_arn, error = %e, "the current version could not be read: the reconciliation only alerts");
            return None;
        }
    };
    let current = versions.current()?.to_string();
    match secrets.version_created(secret_arn, &current).await {
        Ok(created) => created,
        Err(e) => {
            warn!(secret_arn, error = %e, "the current version's creation could not be read: the reconciliation only alerts");
            None
        }
    }
}

async fn start_or_defer<S, L, C>(
    starter: &S,
    locks: &L,
    clock: &C,
    run: PendingRun,
) -> Result<TriggerReport, FunctionError>
where
    S: ExecutionStarter + Sync,
    L: LockStore + Sync,
    C: Clock + Sync,
{
    let arn = run.input.secret.arn.clone();
    let version = run.input.secret.version_id.clone().unwrap_or_default();
    let key = run_lock::lock_key(&arn);
    for attempt in 0..LOCK_ATTEMPTS {
        contention_pause(attempt).await;
        let current = read_lock(locks, &key).await?;
        let mut holder = HolderState::Running;
        if let Some((lock, _)) = &current {
            holder = holder_state(starter, &lock.holder).await?;
            // A holder claimed or handed the lock and never started (its trigger died
            // before StartExecution): started here, whoever we are.
            if let Some(unstarted) = run_lock::holder_to_start(lock, holder, Some(&run)) {
                warn!(secret_arn = %arn, holder = %unstarted.execution_name, "the run holding this secret was never started: starting it");
                let report = start(starter, &unstarted).await?;
                if unstarted.execution_name == run.execution_name {
                    return Ok(report);
                }
                holder = HolderState::Running;
            }
        }
        let seen = current.as_ref().map(|(lock, _)| (lock, holder));
        let (claim, written, next) = match run_lock::on_change(seen, run.clone(), clock.now_ms()) {
            OnChange::AlreadyHolder => return Ok(duplicate(&arn, &version, run.execution_name)),
            OnChange::Busy => {
                return Ok(ignored(format!(
                    "a run for {arn} is under way: the scheduled audit leaves it to that run"
                )))
            }
            OnChange::Claim(lock) => {
                let body = to_body(&lock)?;
                let written = locks.create(&key, body).await?;
                (lock, written, run.clone())
            }
            OnChange::TakeOver(lock, next) => {
                let (old, tag) = current.as_ref().expect("a take-over replaces a lock");
                warn!(secret_arn = %arn, holder = %old.holder, next = %next.execution_name, "the run holding this secret ended without releasing it: taken over");
                let body = to_body(&lock)?;
                let written = locks.replace(&key, body, tag).await?;
                (lock, written, next)
            }
            OnChange::Defer(lock) => {
                let (_, tag) = current.as_ref().expect("a deferral replaces a lock");
                if !locks.replace(&key, to_body(&lock)?, tag).await? {
                    continue;
                }
                let pending = lock
                    .pending
                    .as_ref()
                    .expect("a deferral sets the pending run");
                info!(decision = "deferred", secret_arn = %arn, version_id = %version, running = %lock.holder, pending = %pending.execution_name, changes = pending.changes, "a run for this secret is under way: this change runs once after it");
                telemetry::emit_metrics(&[("ChangesDeferred", 1.0, "Count")]);
                return Ok(TriggerReport::Deferred {
                    secret_arn: arn,
                    version_id: version,
                    running: lock.holder.clone(),
                    pending: pending.execution_name.clone(),
                    changes: pending.changes,
                });
            }
        };
        if !written {
            continue;
        }
        return match start(starter, &next).await {
            // Already exists: whoever read the lock first started it (`holder_to_start`);
            // the lock names a run that is there, so it stays.
            Ok(report) => Ok(report),
            // Not started: the claim is let go so the next change is not held behind a
            // run that is not there (were it kept, the retry would start it anyway).
            Err(e) => {
                release_claim(locks, &key, &claim).await;
                Err(e)
            }
        };
    }
    Err(lock_kept_changing(&key))
}

/// The end of a run: release its lock, or hand it to the run that waited.
async fn run_ended<S, L, C>(
    starter: &S,
    locks: &L,
    clock: &C,
    ended: &run_lock::EndedRun,
) -> Result<TriggerReport, FunctionError>
where
    S: ExecutionStarter + Sync,
    L: LockStore + Sync,
    C: Clock + Sync,
{
    let key = run_lock::lock_key(&ended.secret_arn);
    for attempt in 0..LOCK_ATTEMPTS {
        contention_pause(attempt).await;
        let current = read_lock(locks, &key).await?;
        let lock = current.as_ref().map(|(lock, _)| lock);
        match run_lock::on_run_ended(lock, &ended.execution_name, clock.now_ms()) {
            OnRunEnded::NotHolder => {
                // The retry of a hand-over that wrote the lock and died before starting
                // the next run: that run holds the lock and is started here.
                if let Some(lock) = lock {
                    let state = holder_state(starter, &lock.holder).await?;
                    if let Some(unstarted) = run_lock::holder_to_start(lock, state, None) {
                        warn!(secret_arn = %ended.secret_arn, holder = %unstarted.execution_name, "the run holding this secret was never started: starting it");
                        start(starter, &unstarted).await?;
                        return Ok(TriggerReport::RunEnded {
                            ended: ended.execution_name.clone(),
                            secret_arn: ended.secret_arn.clone(),
                            next: Some(unstarted.execution_name),
                        });
                    }
                }
                return Ok(ignored(format!(
                    "run {} ended; it does not hold the lock for {}",
                    ended.execution_name, ended.secret_arn
                )));
            }
            OnRunEnded::Release => {
                let (_, tag) = current.as_ref().expect("a release deletes a lock");
                if !locks.remove(&key, tag).await? {
                    continue;
                }
                info!(decision = "released", secret_arn = %ended.secret_arn, ended = %ended.execution_name, "run ended; nothing waits for this secret");
                return Ok(TriggerReport::RunEnded {
                    ended: ended.execution_name.clone(),
                    secret_arn: ended.secret_arn.clone(),
                    next: None,
                });
            }
            OnRunEnded::HandOver(next_lock, next) => {
                let (old, tag) = current.as_ref().expect("a hand-over replaces a lock");
                if !locks.replace(&key, to_body(&next_lock)?, tag).await? {
                    continue;
                }
                info!(secret_arn = %ended.secret_arn, ended = %ended.execution_name, next = %next.execution_name, changes = next.changes, "run ended; starting the run that waited");
                return match start(starter, &next).await {
                    Err(e) => {
                        // Put the lock back as it was, so Lambda's retry of this event
                        // hands over again rather than finding a holder that never ran.
                        restore(locks, &key, old).await;
                        Err(e)
                    }
                    Ok(_) => Ok(TriggerReport::RunEnded {
                        ended: ended.execution_name.clone(),
                        secret_arn: ended.secret_arn.clone(),
                        next: Some(next.execution_name),
                    }),
                };
            }
        }
    }
    Err(lock_kept_changing(&key))
}

async fn start<S: ExecutionStarter + Sync>(
    starter: &S,
    run: &PendingRun,
) -> Result<TriggerReport, FunctionError> {
    let body =
        serde_json::to_string(&run.input).map_err(|e| InputError::new("event", e.to_string()))?;
    let arn = &run.input.secret.arn;
    let version = run.input.secret.version_id.clone().unwrap_or_default();
    let cause = &run.input.cause;
    let name = &run.execution_name;
    match starter.start_execution(name, &body).await? {
        StartOutcome::Started { execution_arn } => {
            info!(decision = "started", secret_arn = %arn, version_id = %version, %cause, %execution_arn, changes = run.changes, "refresh started");
            telemetry::emit_metrics(&[("RunsStarted", 1.0, "Count")]);
            Ok(TriggerReport::Started {
                secret_arn: arn.clone(),
                version_id: version,
                cause: cause.clone(),
                execution_name: name.clone(),
                execution_arn,
            })
        }
        StartOutcome::AlreadyExists => Ok(duplicate(arn, &version, name.clone())),
    }
}

async fn holder_state<S: ExecutionStarter + Sync>(
    starter: &S,
    holder: &str,
) -> Result<HolderState, AwsError> {
    Ok(match starter.existing(holder).await? {
        Some(e) if e.running => HolderState::Running,
        Some(_) => HolderState::Ended,
        None => HolderState::NotStarted,
    })
}

async fn read_lock<L: LockStore + Sync>(
    locks: &L,
    key: &str,
) -> Result<Option<(RunLock, String)>, FunctionError> {
    match locks.read(key).await? {
        None => Ok(None),
        Some((body, tag)) => {
            let lock = serde_json::from_slice(&body).map_err(|e| {
                InputError::new(
                    key,
                    format!("is not a RotateToken lock ({e}); delete it to free the secret"),
                )
            })?;
            Ok(Some((lock, tag)))
        }
    }
}

/// Lets go of a claim this invocation made, if it is still as written (best effort: a
/// claim left behind is taken over once its grace has passed).
async fn release_claim<L: LockStore + Sync>(locks: &L, key: &str, claim: &RunLock) {
    if let Ok(Some((lock, tag))) = read_lock(locks, key).await {
        if &lock == claim {
            if let Err(e) = locks.remove(key, &tag).await {
                warn!(error = %e, key, "could not let go of the claim");
            }
        }
    }
}

async fn restore<L: LockStore + Sync>(locks: &L, key: &str, old: &RunLock) {
    let restored = async {
        let (_, tag) = locks.read(key).await?.ok_or_else(|| AwsError {
            operation: "GetObject",
            code: Some("NoSuchKey".into()),
            message: format!("{key}: gone"),
        })?;
        let body = serde_json::to_vec(old).unwrap_or_default();
        locks.replace(key, body, &tag).await
    };
    if let Err(e) = restored.await {
        warn!(error = %e, key, "could not put the lock back; the next change for this secret takes it over");
    }
}

/// Before compare-and-swap attempt `attempt` (from 0): nothing the first time, then a
/// jittered, growing pause ("full jitter", as the AWS SDKs back off: "Exponential Backoff
/// And Jitter", AWS Architecture Blog). Twenty changes of one secret arriving at once all
/// write its lock; retried in lockstep they kept colliding until one ran out of attempts.
async fn contention_pause(attempt: usize) {
    if attempt == 0 {
        return;
    }
    use std::hash::{BuildHasher, Hasher};
    let ceiling_ms = 20u64 << attempt.min(6);
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    tokio::time::sleep(std::time::Duration::from_millis(random % ceiling_ms + 1)).await;
}

fn to_body(lock: &RunLock) -> Result<Vec<u8>, FunctionError> {
    serde_json::to_vec(lock).map_err(|e| InputError::new("lock", e.to_string()).into())
}

fn lock_kept_changing(key: &str) -> FunctionError {
    FunctionError::Aws(AwsError {
        operation: "PutObject",
        code: Some("PreconditionFailed".into()),
        message: format!("{key}: changed {LOCK_ATTEMPTS} times while being updated; retried"),
    })
}

fn ignored(reason: String) -> TriggerReport {
    info!(decision = "ignored", %reason, "event ignored");
    TriggerReport::Ignored { reason }
}

fn duplicate(arn: &str, version: &str, name: String) -> TriggerReport {
    info!(decision = "duplicate", secret_arn = %arn, version_id = %version, execution_name = %name, "already handled");
    TriggerReport::Duplicate {
        secret_arn: arn.to_string(),
        version_id: version.to_string(),
        execution_name: name,
    }
}
