//! The run summary: counts and one row per stack, every selected stack exactly once.

use super::model::{
    ChildExecution, DiscoveryOutput, FailedTarget, Outcome, Phase, RefreshMode, RefreshTask,
    StackRef,
};
use super::refresh;

mod render;
#[cfg(test)]
mod tests;

// The summary's types live in the model (they cross to the state machine and the CLI);
// re-exported here, where readers of a summary look for them.
pub use super::model::{Counts, StackRow, Summary, TargetCounts};
pub use render::{render_markdown, render_table};

/// The stack's final task: its output when the child succeeded; otherwise its input,
/// marked failed with the child's error (a stack is never lost).
pub fn child_task(child: ChildExecution) -> Option<RefreshTask> {
    if let Some(task) = child
        .output
        .as_deref()
        .and_then(|o| serde_json::from_str::<RefreshTask>(o).ok())
    {
        return Some(task);
    }
    // Failed, timed out or aborted outside any Catch: the input is all that is known
    // (the item as discovery wrote it), not how far the refresh got.
    let task: RefreshTask = serde_json::from_str(child.input.as_deref()?).ok()?;
    let error = child
        .error
        .filter(|e| !e.is_empty())
        .unwrap_or_else(|| format!("child execution {}", child.status));
    Some(refresh::after_function_failure(
        task,
        &error,
        child.cause.as_deref().unwrap_or_default(),
    ))
}

/// A task as the Map returned it, made final: a failure the state machine caught (its
/// `error`), or a loop that ended while still waiting, becomes a failed row, CRITICAL
/// unless it is known that nothing was changed.
fn settle(task: &RefreshTask) -> RefreshTask {
    match (&task.error, task.outcome) {
        (Some(e), _) => refresh::after_function_failure(task.clone(), &e.error, &e.cause),
        (None, Outcome::Waiting) => refresh::after_function_failure(
            task.clone(),
            "RotateToken.Unfinished",
            "the refresh stopped before finishing",
        ),
        (None, _) => task.clone(),
    }
}

/// Rows kept in the execution output; the full summary is in the run's files.
pub const MAX_ROWS_IN_OUTPUT: usize = 200;

/// Bytes the compact summary may take (as JSON) in the execution output. Step Functions
/// refuses a task result over 256 KiB (262,144 bytes of UTF-8) with
/// States.DataLimitExceeded ("Step Functions service quotas": maximum input or output size
/// for a task, state, or execution; the emulator refuses it too, its docstring's item 32).
/// Report's result is this summary plus its
/// `failure_cause` (at most [`MAX_CAUSE_CHARS`] characters, so at most 128 KiB escaped)
/// plus the Lambda response's metadata: 120 KiB leaves room for both.
pub const MAX_OUTPUT_BYTES: usize = 120 * 1024;

/// The summary's row order: account, region, stack name (then id: a name can be reused).
fn by_place(a: &StackRow, b: &StackRow) -> std::cmp::Ordering {
    (&a.account, &a.region, &a.stack, &a.stack_id).cmp(&(
        &b.account,
        &b.region,
        &b.stack,
        &b.stack_id,
    ))
}

fn needs_attention(r: &StackRow) -> bool {
    !matches!(r.outcome, Outcome::Refreshed | Outcome::WouldRefresh)
}

/// Which rows a cut keeps first: a stack left without its guarded resources (the CRITICAL
/// alert lists the rows the output keeps), then any other that needs attention.
fn cut_last(r: &StackRow) -> (bool, bool) {
    (!r.critical, !needs_attention(r))
}

fn json_len(summary: &Summary) -> usize {
    serde_json::to_vec(summary)
        .map(|v| v.len())
        .unwrap_or(usize::MAX)
}

/// Keeps the summary small enough for the execution output: every row when there are at
/// most [`MAX_ROWS_IN_OUTPUT`] and they fit in [`MAX_OUTPUT_BYTES`]; otherwise the rows
/// that need attention (not refreshed), critical ones first, as many as fit. A row's plan lists every
/// resource each update deletes and creates, so a few hundred rows of big stacks would
/// otherwise fail the execution at Report. Left-out rows are counted in `rows_omitted`;
/// `full_summary` says where they all are.
pub fn compact(mut summary: Summary, full_summary: String) -> Summary {
    summary.full_summary = Some(full_summary);
    let total = summary.stacks.len();
    let too_many = total > MAX_ROWS_IN_OUTPUT;
    if too_many {
        summary.stacks.retain(needs_attention);
    }
    if too_many || json_len(&summary) > MAX_OUTPUT_BYTES {
        // Stable: within each group the rows keep their order.
        summary.stacks.sort_by_key(cut_last);
        summary.stacks.truncate(MAX_ROWS_IN_OUTPUT);
        while json_len(&summary) > MAX_OUTPUT_BYTES && !summary.stacks.is_empty() {
            let keep = summary.stacks.len() * 3 / 4;
            summary.stacks.truncate(keep);
        }
        summary.stacks.sort_by(by_place);
    }
    summary.rows_omitted = total - summary.stacks.len();
    summary
}

/// AWS's limit on a failure's `Cause` (Step Functions quotas: 32,768 characters).
pub const MAX_CAUSE_CHARS: usize = 32_768;

/// The summary as the failed execution's cause: the whole JSON when it fits in
/// [`MAX_CAUSE_CHARS`], otherwise with rows left out (critical ones, then the others that
/// need attention, kept first, as in [`compact`]) and counted in `rows_omitted`.
pub fn failure_cause(summary: &Summary) -> String {
    let mut s = summary.clone();
    s.failure_cause = None;
    s.stacks.sort_by_key(cut_last);
    loop {
        let text = serde_json::to_string(&s).unwrap_or_default();
        if text.chars().count() <= MAX_CAUSE_CHARS || s.stacks.is_empty() {
            return text;
        }
        let keep = s.stacks.len() * 3 / 4;
        s.rows_omitted += s.stacks.len() - keep;
        s.stacks.truncate(keep);
    }
}

fn row(stack: &StackRef, outcome: Outcome) -> StackRow {
    StackRow {
        account: stack.account.clone(),
        region: stack.region.clone(),
        stack: stack.name.clone(),
        stack_id: stack.id.clone(),
        outcome,
        phase: None,
        status: None,
        reason: None,
        critical: false,
        invocations: 0,
        mode: RefreshMode::TwoPhase,
        version: None,
        plan: vec![],
        warning: None,
    }
}

/// `results`: one final task per selected stack; `None` for a dry run.
pub fn summarise(d: DiscoveryOutput, results: Option<Vec<RefreshTask>>) -> Summary {
    let mut rows: Vec<StackRow> = d
        .skipped
        .iter()
        .map(|s| StackRow {
            status: Some(s.status.clone()),
            reason: Some(s.reason.clone()),
            mode: s.mode,
            ..row(&s.stack, Outcome::Skipped)
        })
        .collect();

    let results = results.unwrap_or_default();
    for selected in &d.selected {
        // Match on the stack id: the Map keeps order, but a row must never be lost or
        // doubled even if it did not.
        let result = results.iter().find(|r| r.stack.id == selected.stack.id);
        rows.push(match (d.dry_run, result) {
            // Discovery's dry run found that CloudFormation would refuse the update.
            // Discovery's warning (a reconciliation's evidence of staleness) is said too.
            (true, _) if selected.reason.is_some() => StackRow {
                reason: selected.reason.clone(),
                mode: selected.mode,
                warning: selected.warning.clone(),
                ..row(&selected.stack, Outcome::WouldFail)
            },
            (true, _) => StackRow {
                mode: selected.mode,
                plan: selected.plan.clone(),
                warning: selected.warning.clone(),
                ..row(&selected.stack, Outcome::WouldRefresh)
            },
            (false, None) => StackRow {
                reason: Some("no result was recorded for this stack; check it by hand".into()),
                // An in-place update deletes nothing: never without its resources.
                critical: selected.mode == RefreshMode::TwoPhase,
                mode: selected.mode,
                ..row(&selected.stack, Outcome::Failed)
            },
            (false, Some(r)) => result_row(r),
        });
    }
    rows.sort_by(by_place);

    let count = |o: Outcome| rows.iter().filter(|r| r.outcome == o).count();
    let counts = Counts {
        scanned: d.scanned,
        selected: d.selected.len(),
        refreshed: count(Outcome::Refreshed),
        would_refresh: count(Outcome::WouldRefresh),
        would_fail: count(Outcome::WouldFail),
        skipped: count(Outcome::Skipped),
        failed: count(Outcome::Failed),
        critical: rows.iter().filter(|r| r.critical).count(),
        stopped: count(Outcome::Stopped),
        failed_targets: d.failed_targets.len(),
        retried_calls: d.retried_calls + results.iter().map(|r| r.retried_calls).sum::<u64>(),
    };
    Summary {
        // A stop leaves consumers on the old value: never a quiet success.
        run_failed: counts.failed > 0 || counts.failed_targets > 0 || counts.stopped > 0,
        secret: d.secret,
        cause: d.cause,
        dry_run: d.dry_run,
        parameter: d.parameter,
        mode: d.mode,
        counts,
        by_target: group_by_target(&rows, &d.failed_targets),
        failed_targets: d.failed_targets,
        stacks: rows,
        full_summary: None,
        rows_omitted: 0,
        notice_error: None,
        failure_cause: None,
    }
}

fn group_by_target(rows: &[StackRow], failed: &[FailedTarget]) -> Vec<TargetCounts> {
    let mut groups: std::collections::BTreeMap<(String, String), TargetCounts> = Default::default();
    for r in rows {
        let g = groups
            .entry((r.account.clone(), r.region.clone()))
            .or_insert_with(|| TargetCounts {
                account: r.account.clone(),
                region: r.region.clone(),
                ..Default::default()
            });
        match r.outcome {
            Outcome::Refreshed => g.refreshed += 1,
            Outcome::WouldRefresh => g.would_refresh += 1,
            Outcome::WouldFail => g.would_fail += 1,
            Outcome::Skipped => g.skipped += 1,
            Outcome::Stopped => g.stopped += 1,
            Outcome::Failed | Outcome::Waiting => g.failed += 1,
        }
        g.critical += usize::from(r.critical);
    }
    for t in failed {
        groups
            .entry((t.account.clone(), t.region.clone()))
            .or_insert_with(|| TargetCounts {
                account: t.account.clone(),
                region: t.region.clone(),
                ..Default::default()
            })
            .error = Some(t.reason.clone());
    }
    groups.into_values().collect()
}

fn result_row(r: &RefreshTask) -> StackRow {
    let r = &settle(r);
    let failed = r.outcome == Outcome::Failed;
    StackRow {
        // The phase a two-phase failure happened in; an in-place refresh has one update.
        phase: (failed && r.mode == RefreshMode::TwoPhase).then(|| match r.phase {
            Phase::Disable => "false".to_string(),
            Phase::Enable | Phase::Done => "true".to_string(),
        }),
        status: r.status.clone(),
        reason: r.reason.clone(),
        critical: r.critical,
        invocations: r.invocations,
        mode: r.mode,
        version: r.version.clone(),
        plan: r.plan.clone(),
        warning: r.warning.clone(),
        ..row(&r.stack, r.outcome)
    }
}
