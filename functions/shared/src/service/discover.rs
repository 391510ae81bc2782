//! Discover's use case: the stacks to refresh in every target, and the run files the
//! Distributed Map reads them from.

use futures::StreamExt;
use serde_json::Value;
use tracing::{info, warn, Instrument};

use super::discovery_pace::PacedAccess;
use super::{audit, coalesce, resolve_targets, with_replicas, Scope};
use crate::domain::discovery::{self, DiscoverySettings};
use crate::domain::error::{from_step_input, InputError};
use crate::domain::lanes;
use crate::domain::model::{DiscoveryOutput, ExecutionInput, RunFiles, SecretRef};
use crate::domain::targets::session_name;
use crate::handler::FunctionError;
use crate::ports::{
    AccountDirectory, LockStore, RetryTally, RunStore, SecretDirectory, TargetAccess, WaitBoard,
};

/// The state machine wraps the execution input with the execution's name:
/// `{"execution": "<name>", "request": <input>}`; a bare input (a local invoke) also works.
// The function's five ports, its scope and settings, and the input: one call site per
// caller (the main, the CLI's plan); a struct would only rename them.
#[allow(clippy::too_many_arguments)]
pub async fn discover<A, O, S, D, T>(
    access: &A,
    org: &O,
    store: Option<&S>,
    secrets: &D,
    retries: &T,
    scope: &Scope,
    settings: &DiscoverySettings,
    input: Value,
) -> Result<DiscoveryOutput, FunctionError>
where
    A: TargetAccess + Sync,
    O: AccountDirectory + Sync,
    S: RunStore + WaitBoard + LockStore + Sync,
    D: SecretDirectory + Sync,
    T: RetryTally + Sync,
{
    let (execution, request, what) = match input {
        Value::Object(mut map) if map.contains_key("request") => {
            let execution = map
                .get("execution")
                .and_then(Value::as_str)
                .unwrap_or("manual")
                .to_string();
            (
                execution,
                map.remove("request").unwrap_or_default(),
                "input.request",
            )
        }
        other => ("manual".to_string(), other, "input"),
    };
    let span = tracing::info_span!("discover", execution = %execution);
    // Every CloudFormation call of this run's discovery (selection, guard, audit,
    // coalescing) waits for its slot in its account-region, shared with the other runs
    // discovering there (`DiscoveryCallsPerSecond`); the seats are given back at the end,
    // whatever it was.
    let paced = PacedAccess::new(access, store, &execution, settings.calls_per_second);
    let access = &paced;
    let found = async {
    let mut input: ExecutionInput = from_step_input(what, request)?;
    let parsed = SecretRef::from_arn(&input.secret.arn, input.secret.version_id.clone())
        .map_err(|e| InputError::new(format!("{what}.secret.arn"), e.problem))?;
    // The trigger starts runs only for the deployment's secrets; a run started by hand (or
    // by anyone who may start executions) is held to the same scope here.
    if let Some(scope) = settings.secret_scope.as_ref().filter(|s| !s.admits(&parsed)) {
        return Err(InputError::new(
            format!("{what}.secret.arn"),
            format!(
                "`{}` is not one of this deployment's secrets ({}): nothing was searched",
                parsed.arn,
                scope.why_not(&parsed)
            ),
        )
        .into());
    }
    input.secret = parsed;
    let retried_before = retries.retried_calls();
    let referencing = settings.mode == crate::domain::selection::SelectionMode::Referencing;
    let replicas_unread = with_replicas(secrets, &mut input.secret, referencing).await;
    let (resolved, unlisted) = resolve_targets(org, scope).await;
    let targets = resolved.targets(&scope.own_region);
    let session = session_name(&execution);
    let reconcile = input.reconcile;
    // Coalescing's later runs, as the locks say when this discovery begins.
    let board = store.filter(|_| settings.coalesce && !input.dry_run && !reconcile);
    let later = match board {
        Some(board) => Some(coalesce::later_runs(board, &input.secret.arn, &execution).await),
        None => None,
    };
    let mut out = discovery::discover(access, &targets, input, settings, &session, secrets).await;
    out.failed_targets.extend(unlisted);
    out.failed_targets.extend(replicas_unread);
    if reconcile {
        // Boxed: nested in discovery's future, the audit's would exceed the compiler's
        // type-depth limit in the discover binary.
        let since_ms = settings.reconcile_since.moment()?;
        Box::pin(audit::keep_only_stale(access, secrets, &resolved, &scope.own_region, &session, since_ms, &mut out)).await?;
        // Only the stale stacks are left: their lanes' order, the Map's concurrency and the
        // stagger are planned again for them.
        lanes::schedule(&mut out, settings.max_concurrency);
    }
    // Coalescing: what a later run refreshes anyway is left to it (domain::coalesce).
    if let Some(later) = later {
        let before = out.selected.len();
        coalesce::leave_to_later_runs(access, &later, &resolved, &scope.own_region, settings.mode, &mut out).await;
        if out.selected.len() != before {
            lanes::schedule(&mut out, settings.max_concurrency);
        }
    }
    out.retried_calls = retries.retried_calls() - retried_before;
    for task in &mut out.selected {
        task.execution = Some(execution.clone());
    }
    info!(
        secret_arn = %out.secret.arn, execution = %execution, targets = out.targets, failed_targets = out.failed_targets.len(),
        scanned = out.scanned, selected = out.selected.len(), skipped = out.skipped.len(), dry_run = out.dry_run,
        mode = %out.mode, "discovery done"
    );
    for s in &out.skipped {
        warn!(account = %s.stack.account, region = %s.stack.region, stack = %s.stack.name, status = %s.status, reason = %s.reason, "stack skipped");
    }
    for t in &out.failed_targets {
        tracing::error!(account = %t.account, region = %t.region, reason = %t.reason, "target could not be searched");
    }
    // No more CloudFormation calls: the seats go back before the run files are written.
    access.leave().await;
    match store {
        None => Ok(out),
        Some(store) => Ok(keep_lists_in_the_run_files(store, out, &execution).await?),
    }
    }
    .instrument(span)
    .await;
    // Whatever ended it (a seat already given back is not given back twice).
    paced.leave().await;
    found
}

/// Selection files written at once (S3 takes 3,500 writes a second per prefix: "Best
/// practices design patterns: optimizing Amazon S3 performance").
const SELECTION_WRITES: usize = 32;

/// The state machine's path: the selected list goes to S3 for the Distributed Map's
/// ItemReader and the full discovery for the report; the state carries only pointers and
/// counts, whatever the number of stacks (the 256 KiB payload limit).
async fn keep_lists_in_the_run_files<S: RunStore + Sync>(
    store: &S,
    mut out: DiscoveryOutput,
    execution: &str,
) -> Result<DiscoveryOutput, FunctionError> {
    let run = RunFiles::new(store.bucket(), execution);
    let items = serde_json::to_vec(&out.selected)
        .map_err(|e| InputError::new("selected", e.to_string()))?;
    store.put(&run.items_key, items).await?;
    // Each stack a real run selected, bound to the run: what the refresh function checks a
    // task against (a dry run never reaches it). Written before the Map can start.
    if !out.dry_run {
        let marks = out.selected.iter().map(|task| {
            let key = run.selected_key(&task.stack.id);
            let body = serde_json::to_vec(task).unwrap_or_default();
            async move { store.put(&key, body).await }
        });
        let written: Vec<Result<(), _>> = futures::stream::iter(marks)
            .buffer_unordered(SELECTION_WRITES)
            .collect()
            .await;
        written.into_iter().collect::<Result<Vec<()>, _>>()?;
    }
    out.run = Some(run.clone());
    let full = serde_json::to_vec(&out).map_err(|e| InputError::new("discovery", e.to_string()))?;
    store.put(&run.discovery_key, full).await?;
    out.selected.clear();
    out.skipped.clear();
    Ok(out)
}
