//! An incident across runs: many secrets rotated at once, one run each, and the operator's
//! one question, "where does every consumer stand?". Each run's summary speaks for its own
//! secret; a stack consuming several of the incident's secrets has a row in each of their
//! runs, most of them `skipped` "coalesced: ..." ([`super::coalesce`]) and one that
//! refreshed it. This merges the runs' summaries into one row per stack, judged from every
//! row it has: a failure anywhere stands (never hidden behind another run's success), and a
//! stack only ever left to a later run that never refreshed it is *not confirmed*, never a
//! skip. Pure: the CLI gathers the summaries (`rotate-token incident start`).

use std::collections::BTreeMap;

use serde::Serialize;

use super::coalesce::COALESCED;
use super::model::{Outcome, RefreshMode, StackRow, Summary};

/// A run of the incident: one secret's, for its current version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IncidentRun {
    pub secret: String,
    pub secret_arn: String,
    /// The execution's name (`None`: no run, see `note`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution: Option<String>,
    /// Step Functions' status (`RUNNING`, `SUCCEEDED`, `FAILED`, ...), `PLANNED` for a dry
    /// run's plan, `NOT_STARTED` when no run was started (see `note`).
    pub status: String,
    /// Started by this command (its change had no run: an event lost, or a change made
    /// before the pipeline was deployed); else the run its change started.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub started_here: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl IncidentRun {
    /// A run that needs attention: failed, aborted, timed out, or never started.
    pub fn needs_attention(&self) -> bool {
        !matches!(self.status.as_str(), "SUCCEEDED" | "RUNNING" | "PLANNED")
    }
}

/// Where a stack stands across the incident's runs, worst first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Standing {
    Failed,
    /// An operator's stop kept it from beginning: it keeps the old value.
    Stopped,
    WouldFail,
    /// Every run of its secrets left it to a later run, and none of the incident's runs
    /// refreshed it (that run failed to, is not one of this incident's, or has not yet).
    NotConfirmed,
    Refreshed,
    WouldRefresh,
    Skipped,
}

impl Standing {
    fn of(outcome: Outcome) -> Self {
        match outcome {
            Outcome::Failed => Standing::Failed,
            Outcome::Stopped => Standing::Stopped,
            Outcome::WouldFail => Standing::WouldFail,
            Outcome::Refreshed => Standing::Refreshed,
            Outcome::WouldRefresh => Standing::WouldRefresh,
            Outcome::Skipped => Standing::Skipped,
            // A finished run's summary has no stack still waiting; one that does is not
            // confirmed.
            Outcome::Waiting => Standing::NotConfirmed,
        }
    }

    pub fn needs_attention(self) -> bool {
        matches!(
            self,
            Standing::Failed | Standing::Stopped | Standing::WouldFail | Standing::NotConfirmed
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Standing::Failed => "failed",
            Standing::Stopped => "stopped",
            Standing::WouldFail => "would_fail",
            Standing::NotConfirmed => "not_confirmed",
            Standing::Refreshed => "refreshed",
            Standing::WouldRefresh => "would_refresh",
            Standing::Skipped => "skipped",
        }
    }
}

/// One stack, across the incident's runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IncidentStack {
    pub account: String,
    pub region: String,
    pub stack: String,
    pub stack_id: String,
    pub standing: Standing,
    /// The incident's secrets whose runs selected it, by name.
    pub secrets: Vec<String>,
    /// How many of the incident's runs refreshed it (a dry run: 1 for a stack that would
    /// be refreshed, however many secrets it reads, as coalesced runs refresh it).
    pub refreshes: usize,
    /// The run whose row decided its standing.
    pub by: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub critical: bool,
    pub mode: RefreshMode,
}

/// A target (account, region) one of the runs could not search.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IncidentTarget {
    pub secret: String,
    pub account: String,
    pub region: String,
    pub reason: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct IncidentCounts {
    pub secrets: usize,
    pub runs_failed: usize,
    pub stacks: usize,
    pub refreshed: usize,
    pub would_refresh: usize,
    pub skipped: usize,
    pub failed: usize,
    pub would_fail: usize,
    pub stopped: usize,
    pub not_confirmed: usize,
    pub critical: usize,
    /// Stacks refreshed by more than one run (one of their secrets changed again during
    /// the refresh, or the coalescing window is 0).
    pub refreshed_more_than_once: usize,
    pub failed_targets: usize,
    /// Updates the refreshes made (a dry run: would make), two per two-phase refresh.
    pub updates: usize,
}

/// The whole incident: every run, every stack once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Incident {
    pub dry_run: bool,
    pub counts: IncidentCounts,
    pub runs: Vec<IncidentRun>,
    pub failed_targets: Vec<IncidentTarget>,
    pub stacks: Vec<IncidentStack>,
}

impl Incident {
    /// Exit code 3: any stack failed, stopped, would fail or is not confirmed; any target
    /// not searched; any run failed or not started.
    pub fn needs_attention(&self) -> bool {
        let c = &self.counts;
        c.runs_failed + c.failed + c.stopped + c.would_fail + c.not_confirmed + c.failed_targets > 0
    }
}

/// A refresh's updates: `false` then `true`, or one in place.
fn updates_of(mode: RefreshMode) -> usize {
    match mode {
        RefreshMode::TwoPhase => 2,
        RefreshMode::InPlace => 1,
    }
}

fn coalesced(row: &StackRow) -> bool {
    row.outcome == Outcome::Skipped
        && row
            .reason
            .as_deref()
            .is_some_and(|r| r.starts_with(COALESCED))
}

/// Merges the runs' summaries (a run with no summary yet: `None`) into one row per stack.
pub fn merge(dry_run: bool, runs: Vec<(IncidentRun, Option<Summary>)>) -> Incident {
    let mut counts = IncidentCounts {
        secrets: runs.len(),
        ..IncidentCounts::default()
    };
    let mut stacks: BTreeMap<(String, String, String, String), IncidentStack> = BTreeMap::new();
    let mut failed_targets = Vec::new();
    let mut out_runs = Vec::with_capacity(runs.len());
    for (run, summary) in runs {
        counts.runs_failed += usize::from(run.needs_attention());
        let by = run.execution.clone().unwrap_or_default();
        for row in summary.iter().flat_map(|s| &s.stacks) {
            let key = (
                row.account.clone(),
                row.region.clone(),
                row.stack.clone(),
                row.stack_id.clone(),
            );
            // A row left to a later run decides nothing, unless nothing else does.
            let standing = if coalesced(row) {
                Standing::NotConfirmed
            } else {
                Standing::of(row.outcome)
            };
            let refreshed = matches!(row.outcome, Outcome::Refreshed | Outcome::WouldRefresh);
            if refreshed {
                counts.updates += updates_of(row.mode);
            }
            let entry = stacks.entry(key).or_insert_with(|| IncidentStack {
                account: row.account.clone(),
                region: row.region.clone(),
                stack: row.stack.clone(),
                stack_id: row.stack_id.clone(),
                standing,
                secrets: Vec::new(),
                refreshes: 0,
                by: by.clone(),
                reason: row.reason.clone(),
                critical: false,
                mode: row.mode,
            });
            entry.secrets.push(run.secret.clone());
            entry.refreshes += usize::from(refreshed);
            entry.critical |= row.critical;
            if decides(standing, entry.standing) {
                entry.standing = standing;
                entry.by = by.clone();
                entry.reason = row.reason.clone();
            }
        }
        for t in summary.iter().flat_map(|s| &s.failed_targets) {
            failed_targets.push(IncidentTarget {
                secret: run.secret.clone(),
                account: t.account.clone(),
                region: t.region.clone(),
                reason: t.reason.clone(),
            });
        }
        out_runs.push(run);
    }
    let mut stacks: Vec<IncidentStack> = stacks.into_values().collect();
    if dry_run {
        // The plan is of coalesced runs: each stack refreshed once, after the last change
        // to its secrets (CoalesceWindowSeconds above 0, the rotations within it).
        counts.updates = 0;
        for s in stacks.iter_mut().filter(|s| s.refreshes > 1) {
            s.refreshes = 1;
        }
        for s in stacks.iter().filter(|s| s.refreshes > 0) {
            counts.updates += updates_of(s.mode);
        }
    }
    for s in &stacks {
        match s.standing {
            Standing::Failed => counts.failed += 1,
            Standing::Stopped => counts.stopped += 1,
            Standing::WouldFail => counts.would_fail += 1,
            Standing::NotConfirmed => counts.not_confirmed += 1,
            Standing::Refreshed => counts.refreshed += 1,
            Standing::WouldRefresh => counts.would_refresh += 1,
            Standing::Skipped => counts.skipped += 1,
        }
        counts.critical += usize::from(s.critical);
        counts.refreshed_more_than_once += usize::from(s.refreshes > 1);
    }
    counts.stacks = stacks.len();
    counts.failed_targets = failed_targets.len();
    Incident {
        dry_run,
        counts,
        runs: out_runs,
        failed_targets,
        stacks,
    }
}

/// Whether a row's standing replaces the one a stack has so far: the worse wins, except
/// that a row left to a later run gives way to a run that refreshed the stack (that run's
/// row says what happened to it). A skip does not confirm it: the later run did not refresh
/// it for the earlier change.
fn decides(new: Standing, so_far: Standing) -> bool {
    let refreshed = |s| matches!(s, Standing::Refreshed | Standing::WouldRefresh);
    match (new, so_far) {
        (Standing::NotConfirmed, s) if refreshed(s) => false,
        (s, Standing::NotConfirmed) if refreshed(s) => true,
        (new, so_far) => new < so_far,
    }
}

/// The incident for people: its runs, then each stack once, then the totals.
pub fn render_table(incident: &Incident) -> String {
    let mut out = format!(
        "incident: {} secret(s){}\n{:<40} {:<14} {}\n",
        incident.runs.len(),
        if incident.dry_run { " DRY RUN" } else { "" },
        "SECRET",
        "RUN",
        "EXECUTION"
    );
    for r in &incident.runs {
        let started = if r.started_here {
            " (started here)"
        } else {
            ""
        };
        out.push_str(&format!(
            "{:<40} {:<14} {}{started}{}\n",
            r.secret,
            r.status,
            r.execution.as_deref().unwrap_or("-"),
            r.note
                .as_deref()
                .map(|n| format!(" {n}"))
                .unwrap_or_default()
        ));
    }
    out.push_str(&format!(
        "\n{:<14} {:<12} {:<28} {:<14} {:<9} {}\n",
        "ACCOUNT", "REGION", "STACK", "STANDING", "REFRESHES", "SECRETS / DETAIL"
    ));
    for s in &incident.stacks {
        let detail = [
            s.critical.then(|| "CRITICAL".to_string()),
            Some(s.secrets.join(",")),
            s.reason.clone(),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
        out.push_str(&format!(
            "{:<14} {:<12} {:<28} {:<14} {:<9} {}\n",
            s.account,
            s.region,
            s.stack,
            s.standing.as_str(),
            s.refreshes,
            detail
        ));
    }
    for t in &incident.failed_targets {
        out.push_str(&format!(
            "{:<14} {:<12} {:<28} {:<14} {:<9} {} {}\n",
            t.account, t.region, "(target)", "failed", "-", t.secret, t.reason
        ));
    }
    let c = &incident.counts;
    out.push_str(&format!(
        "secrets {} runs_failed {} stacks {} refreshed {} would_refresh {} skipped {} failed {} would_fail {} stopped {} not_confirmed {} critical {} refreshed_more_than_once {} updates {} failed_targets {}\n",
        c.secrets, c.runs_failed, c.stacks, c.refreshed, c.would_refresh, c.skipped, c.failed, c.would_fail, c.stopped, c.not_confirmed, c.critical, c.refreshed_more_than_once, c.updates, c.failed_targets
    ));
    out
}

#[cfg(test)]
mod tests;
