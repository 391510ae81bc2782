//! The summary rendered for people: a table for the CLI, Markdown for a ticket or a chat.

use super::super::model::{Outcome, PlannedUpdate, RefreshMode, StackRow, Summary};

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
        "scanned {} selected {} refreshed {} would_refresh {} would_fail {} skipped {} failed {} critical {} stopped {}\n",
        c.scanned, c.selected, c.refreshed, c.would_refresh, c.would_fail, c.skipped, c.failed, c.critical, c.stopped
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
         | selected | refreshed | would refresh | would fail | skipped | failed | critical | stopped | targets not searched |\n\
         |---:|---:|---:|---:|---:|---:|---:|---:|---:|\n\
         | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n\n",
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
        c.stopped,
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
        Outcome::Failed | Outcome::WouldFail | Outcome::Stopped => 1,
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
