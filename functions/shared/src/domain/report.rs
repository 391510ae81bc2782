//! The run summary: counts and one row per stack, every selected stack exactly once.

use serde::{Deserialize, Serialize};

use super::model::{
    DiscoveryOutput, FailedTarget, Outcome, Phase, PlannedUpdate, RefreshMode, RefreshTask,
    SecretRef, StackRef,
};
use super::refresh;

/// The Map's results as the state machine hands them over: inline, or (Distributed Map)
/// written to S3 by its ResultWriter.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum MapResults {
    Inline(Vec<RefreshTask>),
    Written {
        #[serde(rename = "ResultWriterDetails")]
        details: S3Object,
    },
}

#[derive(Debug, Clone, Deserialize)]
pub struct S3Object {
    #[serde(rename = "Bucket")]
    pub bucket: String,
    #[serde(rename = "Key")]
    pub key: String,
}

/// What the report function receives: discovery's output with the Map's results
/// (absent for a dry run).
#[derive(Debug, Clone, Deserialize)]
pub struct ReportInput {
    #[serde(flatten)]
    pub discovery: DiscoveryOutput,
    #[serde(default)]
    pub results: Option<MapResults>,
}

/// A ResultWriter manifest (the parts the report reads).
#[derive(Debug, Clone, Deserialize)]
pub struct ResultManifest {
    #[serde(rename = "DestinationBucket")]
    pub bucket: String,
    #[serde(rename = "ResultFiles")]
    pub files: ResultFiles,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ResultFiles {
    #[serde(rename = "SUCCEEDED", default)]
    pub succeeded: Vec<ResultFile>,
    #[serde(rename = "FAILED", default)]
    pub failed: Vec<ResultFile>,
    #[serde(rename = "PENDING", default)]
    pub pending: Vec<ResultFile>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ResultFile {
    #[serde(rename = "Key")]
    pub key: String,
}

/// One child execution in a result file.
#[derive(Debug, Clone, Deserialize)]
pub struct ChildExecution {
    #[serde(rename = "Status", default)]
    pub status: String,
    #[serde(rename = "Input", default)]
    pub input: Option<String>,
    #[serde(rename = "Output", default)]
    pub output: Option<String>,
    #[serde(rename = "Error", default)]
    pub error: Option<String>,
    #[serde(rename = "Cause", default)]
    pub cause: Option<String>,
}

impl ChildExecution {
    /// The stack's final task: its output when the child succeeded; otherwise its input,
    /// marked failed with the child's error (a stack is never lost).
    pub fn into_task(self) -> Option<RefreshTask> {
        if let Some(task) = self
            .output
            .as_deref()
            .and_then(|o| serde_json::from_str::<RefreshTask>(o).ok())
        {
            return Some(task);
        }
        // Failed, timed out or aborted outside any Catch: the input is all that is known
        // (the item as discovery wrote it), not how far the refresh got.
        let task: RefreshTask = serde_json::from_str(self.input.as_deref()?).ok()?;
        let error = self
            .error
            .filter(|e| !e.is_empty())
            .unwrap_or_else(|| format!("child execution {}", self.status));
        Some(refresh::after_function_failure(
            task,
            &error,
            self.cause.as_deref().unwrap_or_default(),
        ))
    }
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StackRow {
    pub account: String,
    pub region: String,
    pub stack: String,
    pub stack_id: String,
    pub outcome: Outcome,
    /// The phase a failure happened in (`false` or `true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default)]
    pub critical: bool,
    /// Refresh function invocations for this stack: its child execution took
    /// `2 × invocations + 1` state transitions (Refresh, StillUpdating?, ..., StackDone).
    #[serde(default, skip_serializing_if = "super::model::is_zero")]
    pub invocations: u32,
    /// How the stack is (or would be) refreshed: `two_phase` or `in_place`.
    #[serde(default)]
    pub mode: RefreshMode,
    /// In-place mode: the secret version the stack was pinned to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// What each update did (a dry run: would do) to the stack's resources.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plan: Vec<PlannedUpdate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub scanned: usize,
    pub selected: usize,
    pub refreshed: usize,
    pub would_refresh: usize,
    /// Dry run: stacks whose update CloudFormation would refuse.
    #[serde(default)]
    pub would_fail: usize,
    pub skipped: usize,
    pub failed: usize,
    pub critical: usize,
    /// Targets (account, region) that could not be searched.
    #[serde(default)]
    pub failed_targets: usize,
    /// AWS calls retried by the SDK (throttling, transient errors): healed, but said.
    #[serde(default)]
    pub retried_calls: u64,
}

/// The counts of one account and region.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetCounts {
    pub account: String,
    pub region: String,
    pub refreshed: usize,
    pub would_refresh: usize,
    #[serde(default)]
    pub would_fail: usize,
    pub skipped: usize,
    pub failed: usize,
    pub critical: usize,
    /// Why the target could not be searched, if it could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub secret: SecretRef,
    pub cause: String,
    pub dry_run: bool,
    pub parameter: String,
    pub mode: String,
    pub counts: Counts,
    /// A stack or a target failed: the state machine fails the execution on this (one
    /// place decides what fails a run), so an alarm on failed executions fires.
    #[serde(default)]
    pub run_failed: bool,
    /// One entry per account and region with stacks or an error, sorted.
    #[serde(default)]
    pub by_target: Vec<TargetCounts>,
    #[serde(default)]
    pub failed_targets: Vec<FailedTarget>,
    /// Sorted by account, region, stack name.
    pub stacks: Vec<StackRow>,
    /// Where the complete summary is (`s3://...`) when rows were left out here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_summary: Option<String>,
    #[serde(default)]
    pub rows_omitted: usize,
    /// The SNS notice could not be published (the summary and alarms still say it all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice_error: Option<String>,
    /// When the run failed: this summary as JSON, cut to fit the Fail state's cause.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_cause: Option<String>,
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
        failed_targets: d.failed_targets.len(),
        retried_calls: d.retried_calls + results.iter().map(|r| r.retried_calls).sum::<u64>(),
    };
    Summary {
        run_failed: counts.failed > 0 || counts.failed_targets > 0,
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

/// A fixed-width table for people (the demo and logs); the JSON summary is the contract.
pub fn render_table(summary: &Summary) -> String {
    let mut out = format!(
        "secret {} (version {}){}\n{:<14} {:<12} {:<28} {:<14} {:<9} {}\n",
        summary.secret.name,
        summary.secret.version_id.as_deref().unwrap_or("-"),
        if summary.dry_run { " DRY RUN" } else { "" },
        "ACCOUNT",
        "REGION",
        "STACK",
        "OUTCOME",
        "MODE",
        "DETAIL"
    );
    for r in &summary.stacks {
        let outcome = serde_json::to_value(r.outcome)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let detail = [
            r.critical.then(|| "CRITICAL".to_string()),
            r.phase.as_ref().map(|p| format!("phase={p}")),
            r.status.clone(),
            r.reason.clone(),
            r.warning.clone(),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
        let mode = match r.mode {
            RefreshMode::TwoPhase => "two-phase",
            RefreshMode::InPlace => "in-place",
        };
        out.push_str(&format!(
            "{:<14} {:<12} {:<28} {:<14} {:<9} {}\n",
            r.account, r.region, r.stack, outcome, mode, detail
        ));
        for step in &r.plan {
            out.push_str(&format!("{:<81}  {}\n", "", step.describe()));
        }
    }
    for t in &summary.failed_targets {
        out.push_str(&format!(
            "{:<14} {:<12} {:<28} {:<14} {:<9} {}\n",
            t.account, t.region, "(target)", "failed", "-", t.reason
        ));
    }
    let c = &summary.counts;
    out.push_str(&format!(
        "scanned {} selected {} refreshed {} would_refresh {} would_fail {} skipped {} failed {} critical {}\n",
        c.scanned, c.selected, c.refreshed, c.would_refresh, c.would_fail, c.skipped, c.failed, c.critical
    ));
    out
}

/// The summary in Markdown, ready to paste into an incident channel: a headline, the
/// counts, then the rows that need attention before the rest.
pub fn render_markdown(summary: &Summary) -> String {
    let c = &summary.counts;
    let verdict = match (summary.dry_run, summary.run_failed) {
        (true, _) => "dry run",
        (false, true) => "**FAILED**",
        (false, false) => "ok",
    };
    let mut out = format!(
        "### RotateToken: `{}` (version `{}`, {}): {verdict}\n\n\
         | selected | refreshed | would refresh | would fail | skipped | failed | critical | targets not searched |\n\
         |---:|---:|---:|---:|---:|---:|---:|---:|\n\
         | {} | {} | {} | {} | {} | {} | {} | {} |\n\n",
        summary.secret.name,
        summary.secret.version_id.as_deref().unwrap_or("-"),
        summary.cause,
        c.selected,
        c.refreshed,
        c.would_refresh,
        c.would_fail,
        c.skipped,
        c.failed,
        c.critical,
        c.failed_targets,
    );
    if summary.stacks.is_empty() && summary.failed_targets.is_empty() {
        out.push_str("No consuming stack was found.\n");
        return out;
    }
    out.push_str(
        "| account | region | stack | outcome | mode | detail |\n|---|---|---|---|---|---|\n",
    );
    let cell = |s: &str| s.replace('|', "\\|").replace('\n', " ");
    let mut rows: Vec<&StackRow> = summary.stacks.iter().collect();
    rows.sort_by_key(|r| match r.outcome {
        _ if r.critical => 0,
        Outcome::Failed | Outcome::WouldFail => 1,
        Outcome::Skipped => 2,
        _ => 3,
    });
    for r in rows {
        let outcome = serde_json::to_value(r.outcome)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let outcome = if r.critical {
            format!("**CRITICAL {outcome}**")
        } else {
            outcome
        };
        let mode = match r.mode {
            RefreshMode::TwoPhase => "two-phase",
            RefreshMode::InPlace => "in-place",
        };
        let detail: Vec<String> = [r.reason.clone(), r.warning.clone()]
            .into_iter()
            .flatten()
            .chain(r.plan.iter().map(PlannedUpdate::describe))
            .collect();
        out.push_str(&format!(
            "| {} | {} | `{}` | {outcome} | {mode} | {} |\n",
            r.account,
            r.region,
            r.stack,
            cell(&detail.join("; "))
        ));
    }
    for t in &summary.failed_targets {
        out.push_str(&format!(
            "| {} | {} | (target) | **not searched** | - | {} |\n",
            t.account,
            t.region,
            cell(&t.reason)
        ));
    }
    if let Some(full) = &summary.full_summary {
        out.push_str(&format!("\nFull summary: `{full}`\n"));
    }
    out
}

#[cfg(test)]
mod tests {

    #[test]
    fn the_failure_cause_fits_aws_limit_whatever_the_number_of_rows() {
        let stack = |i: usize| {
            StackRef::from_stack_id(&format!(
                "arn:aws:cloudformation:us-east-1:111111111111:stack/s{i}/{}",
                "x".repeat(60)
            ))
            .unwrap()
        };
        let mut summary = summarise(
            serde_json::from_value(serde_json::json!({
                "secret": {"arn": "arn:aws:secretsmanager:us-east-1:1:secret:a-AbCdEf"},
                "cause": "c", "dry_run": false, "parameter": "RotateToken", "mode": "all",
                "max_concurrency": 1, "scanned": 0, "not_consumers": 0, "selected": [], "skipped": []
            }))
            .unwrap(),
            None,
        );
        summary.stacks = (0..2_000)
            .map(|i| StackRow {
                reason: Some("r".repeat(200)),
                ..row(
                    &stack(i),
                    if i == 7 {
                        Outcome::Failed
                    } else {
                        Outcome::Refreshed
                    },
                )
            })
            .collect();
        let cause = failure_cause(&summary);
        assert!(cause.chars().count() <= MAX_CAUSE_CHARS);
        let back: Summary = serde_json::from_str(&cause).unwrap();
        assert!(back.rows_omitted > 0);
        assert_eq!(back.stacks[0].stack, "s7", "the failed row is kept first");
    }

    /// A summary of `n` rows of stacks in two accounts, each row carrying a plan that
    /// deletes and recreates `resources` resources; the rows in `failed` failed, with a
    /// long reason.
    fn big_summary(n: usize, resources: usize, failed: &[usize]) -> Summary {
        let named = |i: usize| {
            format!("GuardedResourceNumber{i:04} (AWS::SecretsManager::SecretTargetAttachment)")
        };
        let first = PlannedUpdate {
            sets: "RotateToken=false".into(),
            delete: (0..resources).map(named).collect(),
            ..Default::default()
        };
        let second = first.undone("RotateToken=true".into());
        let mut summary = summarise(discovery(false), Some(vec![]));
        summary.stacks = (0..n)
            .map(|i| {
                let account = if i % 2 == 0 {
                    "111111111111"
                } else {
                    "222222222222"
                };
                let stack = StackRef::from_stack_id(&format!(
                    "arn:aws:cloudformation:eu-west-1:{account}:stack/consumer-{i:05}/{}",
                    "7".repeat(36)
                ))
                .unwrap();
                let outcome = if failed.contains(&i) {
                    Outcome::Failed
                } else {
                    Outcome::Refreshed
                };
                StackRow {
                    reason: failed.contains(&i).then(|| "é\"".repeat(300)),
                    plan: vec![first.clone(), second.clone()],
                    ..row(&stack, outcome)
                }
            })
            .collect();
        summary.stacks.sort_by(by_place);
        summary
    }

    #[test]
    fn a_small_run_keeps_every_row_in_the_execution_output() {
        let summary = big_summary(20, 2, &[3]);
        let out = compact(summary.clone(), "s3://b/summary.json".into());
        assert_eq!(out.stacks, summary.stacks);
        assert_eq!(out.rows_omitted, 0);
        assert_eq!(out.full_summary.as_deref(), Some("s3://b/summary.json"));
    }

    #[test]
    fn a_large_run_keeps_only_the_rows_that_need_attention_in_the_execution_output() {
        let out = compact(big_summary(300, 0, &[5, 250, 17]), "s3://b/s.json".into());
        let kept: Vec<&str> = out.stacks.iter().map(|r| r.stack.as_str()).collect();
        // In the summary's own order: account, then region, then name.
        assert_eq!(kept, ["consumer-00250", "consumer-00005", "consumer-00017"]);
        assert_eq!(out.rows_omitted, 297);
    }

    #[test]
    fn critical_rows_are_the_last_a_cut_leaves_out() {
        // 250 failed rows with long reasons: the output keeps what fits in its bytes, the
        // failure cause fewer still. The three critical ones come last by place, where a
        // cut in the summary's order would fall.
        let mut summary = big_summary(300, 0, &(0..250).collect::<Vec<_>>());
        for r in summary
            .stacks
            .iter_mut()
            .rev()
            .filter(|r| r.outcome == Outcome::Failed)
            .take(3)
        {
            r.critical = true;
        }
        let out = compact(summary, "s3://b/s.json".into());
        assert!(out.stacks.len() < 250, "the output is cut");
        assert_eq!(out.rows_omitted, 300 - out.stacks.len());
        assert_eq!(out.stacks.iter().filter(|r| r.critical).count(), 3);
        let cause: Summary = serde_json::from_str(&failure_cause(&out)).unwrap();
        assert!(
            cause.stacks.len() < out.stacks.len(),
            "the cause is cut too"
        );
        assert_eq!(cause.stacks.iter().filter(|r| r.critical).count(), 3);
    }

    #[test]
    fn the_execution_output_fits_aws_payload_limit_whatever_the_rows_carry() {
        // 150 stacks of 40 guarded resources: every row would fit the row count, not the
        // bytes. 2,000 stacks of 400: the worst a run can be, with the failure cause too.
        for (n, resources, failed) in [(150, 40, vec![]), (2_000, 400, (0..2_000).collect())] {
            let summary = big_summary(n, resources, &failed);
            let mut out = compact(summary.clone(), "s3://b/s.json".into());
            out.run_failed = true;
            out.failure_cause = Some(failure_cause(&out));
            let bytes = serde_json::to_vec(&out).unwrap().len();
            assert!(bytes < 262_144 - 4_096, "{n} rows: {bytes} bytes of output");
            assert!(!out.stacks.is_empty(), "{n} rows: some rows are kept");
            assert_eq!(out.rows_omitted, n - out.stacks.len());
            let mut in_order = out.stacks.clone();
            in_order.sort_by(by_place);
            assert_eq!(
                out.stacks, in_order,
                "{n} rows: kept in the summary's order"
            );
        }
        // The rows that need attention are kept before the refreshed ones.
        let out = compact(big_summary(190, 40, &[150, 189]), "s3://b/s.json".into());
        assert!(out.rows_omitted > 0);
        let failed = out
            .stacks
            .iter()
            .filter(|r| r.outcome == Outcome::Failed)
            .count();
        assert_eq!(failed, 2, "both failed rows are kept");
    }

    use super::*;
    use crate::domain::model::SkippedStack;

    fn stack(n: &str) -> StackRef {
        StackRef::from_stack_id(&format!(
            "arn:aws:cloudformation:us-east-1:111111111111:stack/{n}/id-{n}"
        ))
        .unwrap()
    }

    fn discovery(dry_run: bool) -> DiscoveryOutput {
        DiscoveryOutput {
            secret: SecretRef::from_arn(
                "arn:aws:secretsmanager:us-east-1:1:secret:db-AbCdEf",
                Some("v2".into()),
            )
            .unwrap(),
            cause: "PutSecretValue".into(),
            dry_run,
            parameter: "RotateToken".into(),
            mode: "all".into(),
            max_concurrency: 5,
            scanned: 9,
            not_consumers: 0,
            selected: vec![
                RefreshTask::new(stack("a"), "RotateToken"),
                RefreshTask::new(stack("b"), "RotateToken"),
                RefreshTask::new(stack("c"), "RotateToken"),
            ],
            skipped: vec![SkippedStack {
                mode: RefreshMode::TwoPhase,
                stack: stack("z"),
                status: "UPDATE_ROLLBACK_FAILED".into(),
                reason: "needs operator".into(),
            }],
            targets: 1,
            failed_targets: vec![],
            run: None,
            selected_count: 3,
            skipped_count: 1,
            retried_calls: 0,
        }
    }

    #[test]
    fn every_stack_is_accounted_for_once() {
        let d = discovery(false);
        let mut a = d.selected[0].clone();
        a.outcome = Outcome::Refreshed;
        a.phase = Phase::Done;
        let mut b = d.selected[1].clone();
        b.outcome = Outcome::Failed;
        b.phase = Phase::Enable;
        b.critical = true;
        b.reason = Some("rolled back".into());
        // c has no result at all
        let s = summarise(d, Some(vec![b, a]));
        assert_eq!(s.stacks.len(), 4);
        assert_eq!(
            s.counts,
            Counts {
                scanned: 9,
                selected: 3,
                refreshed: 1,
                would_refresh: 0,
                would_fail: 0,
                skipped: 1,
                failed: 2,
                critical: 2,
                failed_targets: 0,
                retried_calls: 0,
            }
        );
        let names: Vec<_> = s.stacks.iter().map(|r| r.stack.as_str()).collect();
        assert_eq!(names, vec!["a", "b", "c", "z"]);
        assert_eq!(s.stacks[1].phase.as_deref(), Some("true"));
        assert!(s.run_failed);
        assert!(render_table(&s).contains("CRITICAL"));
        let md = render_markdown(&s);
        assert!(md.contains("**FAILED**"), "{md}");
        // The CRITICAL rows come first, each stack exactly once.
        let table: Vec<&str> = md
            .lines()
            .filter(|l| l.starts_with("| 1") || l.starts_with("| 0") || l.starts_with("| 2"))
            .collect();
        assert!(table[0].contains("CRITICAL"), "{md}");
        for name in ["`a`", "`b`", "`c`", "`z`"] {
            assert_eq!(md.matches(name).count(), 1, "{name} in {md}");
        }
    }

    #[test]
    fn a_waiting_result_is_never_refreshed() {
        let d = discovery(false);
        let results = d.selected.clone();
        let s = summarise(d, Some(results));
        assert_eq!(s.counts.refreshed, 0);
        assert_eq!(s.counts.failed, 3);
    }

    #[test]
    fn results_are_grouped_by_target_with_failed_targets_named() {
        let mut d = discovery(false);
        d.selected[2].stack =
            StackRef::from_stack_id("arn:aws:cloudformation:eu-west-1:222222222222:stack/c/id-c")
                .unwrap();
        d.failed_targets.push(FailedTarget {
            account: "333333333333".into(),
            region: "us-east-1".into(),
            reason: "AccessDenied".into(),
        });
        let mut results = d.selected.clone();
        for r in &mut results {
            r.outcome = Outcome::Refreshed;
        }
        let s = summarise(d, Some(results));
        assert_eq!(s.counts.failed_targets, 1);
        let groups: Vec<_> = s
            .by_target
            .iter()
            .map(|g| {
                (
                    g.account.as_str(),
                    g.region.as_str(),
                    g.refreshed,
                    g.skipped,
                    g.error.is_some(),
                )
            })
            .collect();
        assert_eq!(
            groups,
            vec![
                ("111111111111", "us-east-1", 2, 1, false),
                ("222222222222", "eu-west-1", 1, 0, false),
                ("333333333333", "us-east-1", 0, 0, true),
            ]
        );
        assert!(render_table(&s).contains("AccessDenied"));
    }

    #[test]
    fn dry_run_reports_would_refresh() {
        let s = summarise(discovery(true), None);
        assert_eq!(s.counts.would_refresh, 3);
        assert!(!s.run_failed);
        assert_eq!(s.counts.failed, 0);
    }
}
