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

use super::coalesce::left_to;
use super::model::{Outcome, RefreshMode, Summary};

/// A secret not rotated since the incident's moment: no run is started for it.
pub const NOT_ROTATED: &str = "NOT_ROTATED";
/// A secret whose run could not be found, started or read (its note says why).
pub const ERROR: &str = "ERROR";

/// A run of the incident: one secret's, for its current version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IncidentRun {
    pub secret: String,
    pub secret_arn: String,
    /// The execution's name (`None`: no run, see `note`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution: Option<String>,
    /// Step Functions' status (`RUNNING`, `SUCCEEDED`, `FAILED`, ...), `PLANNED` for a dry
    /// run's plan, [`NOT_ROTATED`] for a secret not rotated since the incident's moment (no
    /// run), [`ERROR`] when its run could not be found, started or read (see `note`).
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
    /// Not refreshed by one of its runs (and why): it may keep the exposed value, even if
    /// another run refreshed it (before that change, perhaps).
    Skipped,
    Refreshed,
    WouldRefresh,
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

    /// Anything but refreshed (a dry run: would be): in an incident a skipped consumer
    /// still holds the exposed value too.
    pub fn needs_attention(self) -> bool {
        !matches!(self, Standing::Refreshed | Standing::WouldRefresh)
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
    /// Runs that failed, were aborted or timed out, could not be started or read, or left
    /// no summary.
    pub runs_failed: usize,
    /// Secrets not rotated since the incident's moment.
    pub not_rotated: usize,
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
    /// Exit code 3: any stack not refreshed (failed, stopped, would fail, not confirmed, or
    /// skipped: in an incident a skipped consumer still holds the exposed value); any
    /// target not searched; any run failed or not started; any secret not rotated.
    pub fn needs_attention(&self) -> bool {
        let c = &self.counts;
        c.runs_failed + c.not_rotated + c.failed_targets > 0
            || self.stacks.iter().any(|s| s.standing.needs_attention())
    }
}

/// A refresh's updates: `false` then `true`, or one in place.
fn updates_of(mode: RefreshMode) -> usize {
    match mode {
        RefreshMode::TwoPhase => 2,
        RefreshMode::InPlace => 1,
    }
}

/// One row of a stack, in one run.
struct Seen {
    run: String,
    standing: Standing,
    reason: Option<String>,
    /// The run the row left the stack to (coalesced).
    left_to: Option<String>,
}

/// Merges the runs' summaries (a run with no summary: `None`) into one row per stack.
/// `coalesce`: the deployment coalesces runs (`CoalesceWindowSeconds` above 0), so a dry
/// run plans one refresh of a two-phase stack however many of the secrets it reads.
pub fn merge(dry_run: bool, coalesce: bool, runs: Vec<(IncidentRun, Option<Summary>)>) -> Incident {
    let mut counts = IncidentCounts {
        secrets: runs.len(),
        ..IncidentCounts::default()
    };
    type Key = (String, String, String, String);
    let mut stacks: BTreeMap<Key, (IncidentStack, Vec<Seen>)> = BTreeMap::new();
    let mut failed_targets = Vec::new();
    let mut out_runs = Vec::with_capacity(runs.len());
    for (mut run, summary) in runs {
        if run.status == NOT_ROTATED {
            counts.not_rotated += 1;
        } else if summary.is_none() {
            // A run whose summary could not be read hides its stacks: never taken for done.
            run.note
                .get_or_insert_with(|| "its summary could not be read".into());
            counts.runs_failed += 1;
        } else if run.needs_attention() {
            counts.runs_failed += 1;
        }
        let name = run.execution.clone().unwrap_or_default();
        for row in summary.iter().flat_map(|s| &s.stacks) {
            let key = (
                row.account.clone(),
                row.region.clone(),
                row.stack.clone(),
                row.stack_id.clone(),
            );
            let later = match row.outcome {
                Outcome::Skipped => row.reason.as_deref().and_then(left_to),
                _ => None,
            };
            let (stack, seen) = stacks.entry(key).or_insert_with(|| {
                let stack = IncidentStack {
                    account: row.account.clone(),
                    region: row.region.clone(),
                    stack: row.stack.clone(),
                    stack_id: row.stack_id.clone(),
                    standing: Standing::Skipped,
                    secrets: Vec::new(),
                    refreshes: 0,
                    by: String::new(),
                    reason: None,
                    critical: false,
                    mode: row.mode,
                };
                (stack, Vec::new())
            });
            stack.secrets.push(run.secret.clone());
            stack.critical |= row.critical;
            if matches!(row.outcome, Outcome::Refreshed | Outcome::WouldRefresh) {
                stack.refreshes += 1;
                counts.updates += updates_of(row.mode);
            }
            seen.push(Seen {
                run: name.clone(),
                standing: Standing::of(row.outcome),
                reason: row.reason.clone(),
                left_to: later.map(str::to_string),
            });
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
    let stacks: Vec<IncidentStack> = stacks
        .into_values()
        .map(|(mut stack, seen)| {
            judge(&mut stack, &seen);
            stack.secrets.sort();
            let planned_once = dry_run && coalesce && stack.mode == RefreshMode::TwoPhase;
            if planned_once && stack.refreshes > 1 {
                counts.updates -= (stack.refreshes - 1) * updates_of(stack.mode);
                stack.refreshes = 1;
            }
            stack
        })
        .collect();
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

/// A stack's standing: the worst of its rows, where a row left to a later run counts only
/// if that very run refreshed the stack, or left it in turn to a run that did (runs of
/// secrets changed one after the other hand a stack on: A to B, B to C), and else is not
/// confirmed; a row caught mid-refresh (a run aborted) is not confirmed whatever the other
/// runs did. A failure anywhere stands.
fn judge(stack: &mut IncidentStack, seen: &[Seen]) {
    let mut worst: Option<(Standing, &Seen)> = None;
    for s in seen {
        let standing = match &s.left_to {
            Some(later) if refreshed_by(seen, later, &mut Vec::new()) => continue,
            Some(_) => Standing::NotConfirmed,
            None => s.standing,
        };
        if worst.is_none_or(|(w, _)| standing < w) {
            worst = Some((standing, s));
        }
    }
    if let Some((standing, s)) = worst {
        stack.standing = standing;
        stack.by = s.run.clone();
        stack.reason = s.reason.clone();
    }
}

/// Whether `run` refreshed the stack, itself or through the runs it left it to.
fn refreshed_by<'a>(seen: &'a [Seen], run: &'a str, visited: &mut Vec<&'a str>) -> bool {
    if visited.contains(&run) {
        return false;
    }
    visited.push(run);
    seen.iter()
        .filter(|s| s.run == run)
        .any(|s| match &s.left_to {
            Some(later) => refreshed_by(seen, later, visited),
            None => matches!(s.standing, Standing::Refreshed | Standing::WouldRefresh),
        })
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
        "secrets {} runs_failed {} not_rotated {} stacks {} refreshed {} would_refresh {} skipped {} failed {} would_fail {} stopped {} not_confirmed {} critical {} refreshed_more_than_once {} updates {} failed_targets {}\n",
        c.secrets, c.runs_failed, c.not_rotated, c.stacks, c.refreshed, c.would_refresh, c.skipped, c.failed, c.would_fail, c.stopped, c.not_confirmed, c.critical, c.refreshed_more_than_once, c.updates, c.failed_targets
    ));
    out
}

#[cfg(test)]
mod tests;
