//! Discovery's coalescing step ([`crate::domain::coalesce`]): the stacks a later run will
//! refresh anyway are left to it, each a row `skipped` that names that run.

use std::collections::HashMap;

use futures::{stream, StreamExt};
use tracing::{info, warn};

use crate::domain::built_refs::{built_reference, Built};
use crate::domain::coalesce::{self, LaterRun};
use crate::domain::guard::parse_template;
use crate::domain::in_place::RefreshMode;
use crate::domain::model::{DiscoveryOutput, RefreshTask, SkippedStack, Target};
use crate::domain::run_lock::{lock_key, RunLock};
use crate::domain::selection::{mentions_secret, parameters_mention_secret, SelectionMode};
use crate::domain::targets::TargetSettings;
use crate::ports::{AwsError, StackDirectory, StackUpdater, TargetAccess, WaitBoard};

/// Every secret's lock in the runs bucket, this run's own apart (None: it holds none).
async fn locks<B: WaitBoard + Sync>(
    board: &B,
    own_key: &str,
) -> Result<(Option<RunLock>, Vec<RunLock>), AwsError> {
    let mut own = None;
    let mut others = Vec::new();
    for key in board.keys("locks/").await? {
        // Released meanwhile, or unreadable: a later run not known is one not relied on.
        let body = match board.find(&key).await {
            Ok(Some(body)) => body,
            Ok(None) => continue,
            Err(e) => {
                warn!(key = %key, error = %e, "a lock could not be read: its run is not relied on");
                continue;
            }
        };
        match serde_json::from_slice::<RunLock>(&body) {
            Ok(lock) if key == own_key => own = Some(lock),
            Ok(lock) => others.push(lock),
            Err(e) => warn!(key = %key, error = %e, "a lock that does not parse is not relied on"),
        }
    }
    Ok((own, others))
}

/// The later runs this run may leave stacks to ([`coalesce::later_runs`]), read from the
/// locks when its discovery begins: a later run that ends while this one discovers (a
/// paced discovery of many stacks takes minutes) has refreshed them after its own change,
/// which came after this run's, so it still covers them. Locks that cannot be read: none
/// (every selected stack is refreshed by this run).
pub async fn later_runs<B: WaitBoard + Sync>(
    board: &B,
    secret_arn: &str,
    execution: &str,
) -> Vec<LaterRun> {
    match locks(board, &lock_key(secret_arn)).await {
        Ok((own, others)) => coalesce::later_runs(execution, own.as_ref(), &others),
        Err(e) => {
            warn!(error = %e, "the locks could not be read: every selected stack is refreshed by this run");
            Vec::new()
        }
    }
}

/// Leaves to one of `later` (read by [`later_runs`]) each selected stack it will refresh
/// anyway. Any failure to read a stack leaves the stack selected: coalescing saves updates,
/// never skips one that is needed.
pub async fn leave_to_later_runs<A>(
    access: &A,
    later: &[LaterRun],
    targets: &TargetSettings,
    own_region: &str,
    mode: SelectionMode,
    out: &mut DiscoveryOutput,
) where
    A: TargetAccess + Sync,
{
    if out.selected.is_empty() || later.is_empty() {
        return;
    }
    let session = out
        .selected
        .first()
        .and_then(|t| t.session.clone())
        .unwrap_or_default();
    // Each target opened once (one AssumeRole), then the stacks looked at a few at a time.
    let mut opened: HashMap<Target, Option<A::Stacks>> = HashMap::new();
    let mut placed = Vec::with_capacity(out.selected.len());
    for task in &out.selected {
        let target = targets.target_of(&task.stack, own_region).ok();
        if let Some(t) = target.as_ref().filter(|t| !opened.contains_key(*t)) {
            opened.insert(t.clone(), access.open(t, &session).await.ok());
        }
        placed.push(target);
    }
    let (opened, later) = (&opened, &later);
    let covering: Vec<Option<&LaterRun>> = stream::iter(out.selected.iter().zip(placed))
        .map(|(task, target)| async move {
            match target.and_then(|t| opened[&t].as_ref()) {
                Some(directory) => covering_run(directory, task, mode, later).await,
                None => None,
            }
        })
        .buffered(AT_ONCE)
        .collect()
        .await;
    let selected = std::mem::take(&mut out.selected);
    for (task, covering) in selected.into_iter().zip(covering) {
        match covering {
            Some(run) => {
                info!(stack = %task.stack.name, later = %run.execution, "left to a later run");
                out.skipped.push(SkippedStack {
                    reason: coalesce::reason(run),
                    stack: task.stack,
                    status: "-".into(),
                    mode: task.mode,
                });
            }
            None => out.selected.push(task),
        }
    }
    out.selected_count = out.selected.len();
    out.skipped_count = out.skipped.len();
}

/// Stacks looked at at once (as discovery reads templates: a few calls in flight per run).
const AT_ONCE: usize = 8;

/// The first later run whose secret the stack consumes, judged as discovery judges it:
/// in `all` mode every two-phase stack with the token is every run's; in `referencing`
/// mode the stack's parameters or template mention the secret, written out or built.
/// Never for an in-place stack (its update pins this run's secret's version, which another
/// secret's run would not). Unknown (a call failed): none.
async fn covering_run<'a, D: StackDirectory + StackUpdater + Sync>(
    directory: &D,
    task: &RefreshTask,
    mode: SelectionMode,
    later: &'a [LaterRun],
) -> Option<&'a LaterRun> {
    if task.mode != RefreshMode::TwoPhase {
        return None;
    }
    if mode == SelectionMode::All {
        return later.first();
    }
    let snapshot = directory.describe(&task.stack).await.ok()??;
    let body = directory.template_body(&task.stack).await.ok()?;
    let parsed = parse_template(&body).ok();
    later.iter().find(|run| {
        let secret = run.secret.as_seen_from(&task.stack);
        parameters_mention_secret(&snapshot, &secret)
            || mentions_secret(&body, &secret)
            || parsed
                .as_ref()
                .is_some_and(|t| built_reference(t, &snapshot, &secret) == Built::Mentions)
    })
}
