//! What operators are told by SNS: a concise summary of every run, and a separate alert
//! naming each CRITICAL stack (left without its guarded resources) with the command that
//! restores it. Messages stay well under SNS's 256 KB; subjects under its 100 characters.

use super::report::{StackRow, Summary};

/// One SNS message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub subject: String,
    pub message: String,
}

/// Rows listed in one message; the rest are in the full summary in S3.
const MAX_ROWS: usize = 50;

/// The run summary, the CRITICAL alert when a stack needs an operator now, and the STALE
/// alert when the scheduled reconciliation (alert only) found consumers holding an
/// earlier value.
pub fn notices(summary: &Summary) -> Vec<Notice> {
    let mut out = vec![run_summary(summary)];
    if let Some(stale) = stale_alert(summary) {
        out.push(stale);
    }
    let critical: Vec<&StackRow> = summary.stacks.iter().filter(|r| r.critical).collect();
    if summary.counts.critical > 0 {
        let mut message = format!(
            "{} stack(s) were left WITHOUT their guarded resources after a refresh for {} and need an operator now.\n\n",
            summary.counts.critical, summary.secret.arn
        );
        list_rows(
            &mut message,
            &critical,
            summary.counts.critical,
            summary,
            |r| {
                r.reason
                    .as_deref()
                    .unwrap_or("no reason recorded")
                    .to_string()
            },
        );
        out.push(Notice {
            subject: clip(format!(
                "CRITICAL: RotateToken left {} stack(s) without resources",
                summary.counts.critical
            )),
            message,
        });
    }
    out
}

fn stale_alert(summary: &Summary) -> Option<Notice> {
    let reconciling = summary.cause == super::model::RECONCILE_CAUSE && summary.dry_run;
    let stale: Vec<&StackRow> = summary
        .stacks
        .iter()
        .filter(|r| r.outcome == super::model::Outcome::WouldRefresh)
        .collect();
    if !reconciling || summary.counts.would_refresh == 0 {
        return None;
    }
    // ReconcileSince: the secret itself still holds a value from before the incident's
    // moment; refreshing would re-read it.
    let not_rotated = stale.iter().any(|r| {
        r.warning
            .as_deref()
            .is_some_and(|w| w.contains(super::audit::NOT_ROTATED_SINCE))
    });
    let mut message = if not_rotated {
        format!(
            "The scheduled audit found that {} has not been rotated since the incident's \
             moment (ReconcileSince): its {} consumer(s) hold a value from before it. Rotate \
             the secret; its change refreshes them.\n\n",
            summary.secret.arn, summary.counts.would_refresh
        )
    } else {
        format!(
            "The scheduled audit found {} consumer(s) of {} that do not hold its current value \
             (an event may have been lost). Refresh them: rotate-token start --secret {}\n\n",
            summary.counts.would_refresh, summary.secret.arn, summary.secret.arn
        )
    };
    list_rows(
        &mut message,
        &stale,
        summary.counts.would_refresh,
        summary,
        |r| {
            r.warning
                .clone()
                .unwrap_or_else(|| "not proven fresh".into())
        },
    );
    Some(Notice {
        subject: clip(format!(
            "STALE: {} stack(s) still hold an earlier secret value",
            summary.counts.would_refresh
        )),
        message,
    })
}

fn run_summary(summary: &Summary) -> Notice {
    let c = &summary.counts;
    let verdict = match (summary.dry_run, summary.run_failed) {
        (true, _) => "dry run",
        (false, true) => "FAILED",
        (false, false) => "ok",
    };
    let mut message = format!(
        "RotateToken run for {} (version {}, {}): {verdict}\n\
         selected {}, refreshed {}, would refresh {}, would fail {}, skipped {}, failed {}, critical {}, stopped {}, targets not searched {}, AWS calls retried {}\n",
        summary.secret.arn,
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
        c.retried_calls,
    );
    for t in &summary.failed_targets {
        message.push_str(&format!(
            "- target {}/{} not searched: {}\n",
            t.account, t.region, t.reason
        ));
    }
    let attention: Vec<&StackRow> = summary
        .stacks
        .iter()
        .filter(|r| {
            !matches!(
                r.outcome,
                super::model::Outcome::Refreshed | super::model::Outcome::WouldRefresh
            )
        })
        .collect();
    list_rows(
        &mut message,
        &attention,
        c.skipped + c.failed + c.would_fail + c.stopped,
        summary,
        |r| {
            let reason = r.reason.as_deref().map(|x| format!(" — {x}"));
            format!("{:?}{}", r.outcome, reason.unwrap_or_default())
        },
    );
    Notice {
        subject: clip(format!(
            "RotateToken {verdict}: {} refreshed, {} skipped, {} failed{}",
            c.refreshed + c.would_refresh,
            c.skipped,
            c.failed + c.would_fail,
            if c.stopped > 0 {
                format!(", {} stopped", c.stopped)
            } else {
                String::new()
            }
        )),
        message,
    }
}

/// One line per row (`- account/region stack: detail`), at most [`MAX_ROWS`], then how many
/// were left out and where the full summary is.
fn list_rows(
    message: &mut String,
    rows: &[&StackRow],
    total: usize,
    summary: &Summary,
    detail: impl Fn(&StackRow) -> String,
) {
    for r in rows.iter().take(MAX_ROWS) {
        message.push_str(&format!(
            "- {}/{} {}: {}\n",
            r.account,
            r.region,
            r.stack,
            detail(r)
        ));
    }
    more(message, total, rows.len().min(MAX_ROWS), summary);
}

fn more(message: &mut String, total: usize, listed: usize, summary: &Summary) {
    if total > listed {
        message.push_str(&format!("... and {} more", total - listed));
        if let Some(full) = &summary.full_summary {
            message.push_str(&format!(": see {full}"));
        }
        message.push('\n');
    } else if let Some(full) = &summary.full_summary {
        message.push_str(&format!("Full summary: {full}\n"));
    }
}

/// The alert for a run that ended before its report (aborted or timed out): which run,
/// which secret, where its files are and what to do. `None` for any other end (a run that
/// reached Report told its own story).
pub fn run_cut_short(run: &super::run_lock::EndedRun, runs_bucket: Option<&str>) -> Option<Notice> {
    if !run.cut_short() {
        return None;
    }
    let files = match runs_bucket {
        Some(bucket) => format!(
            "Its files: s3://{bucket}/runs/{}/ (the stacks it selected, each stack's progress) and its Map results under s3://{bucket}/map-results/.",
            run.execution_name
        ),
        None => "It kept no run files (no runs bucket).".to_string(),
    };
    Some(Notice {
        subject: clip(format!(
            "CRITICAL: a RotateToken run ended {} before its report",
            run.status
        )),
        message: format!(
            "RotateToken run {} for secret {} ended {} before its report, and its refreshes were stopped with it.\n\n\
             Stacks it was refreshing may be left with their token at false, without the resources that read the secret; \
             no summary and no per-stack alert will come for this run.\n\n{files}\n\n\
             Next: `rotate-token audit --secret {}` lists the consumers that are not fresh; \
             `rotate-token start --secret {}` runs the refresh again (a stack left at false is brought back by it).",
            run.execution_name, run.secret_arn, run.status, run.secret_arn, run.secret_arn
        ),
    })
}

/// SNS subjects: ASCII, no line breaks, at most 100 characters.
fn clip(subject: String) -> String {
    let mut s: String = subject
        .chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() {
                c
            } else {
                ' '
            }
        })
        .collect();
    s.truncate(100);
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::model::{DiscoveryOutput, Outcome, Phase, RefreshTask, SecretRef, StackRef};
    use crate::domain::report::summarise;

    fn discovery(n: usize) -> (DiscoveryOutput, Vec<RefreshTask>) {
        let secret = SecretRef::from_arn(
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf",
            Some("v2".into()),
        )
        .unwrap();
        let mut d: DiscoveryOutput = serde_json::from_value(serde_json::json!({
            "secret": secret, "cause": "PutSecretValue", "dry_run": false, "parameter": "RotateToken",
            "mode": "all", "max_concurrency": 5, "scanned": n, "not_consumers": 0, "selected": [],
            "skipped": [], "targets": 1, "failed_targets": []
        }))
        .unwrap();
        let mut results = vec![];
        for i in 0..n {
            let stack = StackRef::from_stack_id(&format!(
                "arn:aws:cloudformation:us-east-1:111111111111:stack/app-{i}/x{i}"
            ))
            .unwrap();
            let task = RefreshTask::new(stack, "RotateToken");
            d.selected.push(task.clone());
            let mut done = task;
            done.phase = Phase::Enable;
            done.outcome = Outcome::Failed;
            done.critical = true;
            done.reason = Some(format!("update to true ended in UPDATE_ROLLBACK_COMPLETE. CRITICAL: restore with `aws cloudformation update-stack ... app-{i}`"));
            results.push(done);
        }
        (d, results)
    }

    #[test]
    fn a_critical_stack_gets_its_own_alert_with_the_restore_command() {
        let (d, results) = discovery(1);
        let notices = notices(&summarise(d, Some(results)));
        assert_eq!(notices.len(), 2);
        assert!(
            notices[0].subject.starts_with("RotateToken FAILED"),
            "{:?}",
            notices[0]
        );
        assert!(notices[1].subject.starts_with("CRITICAL"));
        assert!(notices[1].message.contains("111111111111/us-east-1 app-0"));
        assert!(notices[1]
            .message
            .contains("aws cloudformation update-stack"));
    }

    #[test]
    fn long_runs_stay_within_sns_limits() {
        let (d, results) = discovery(3_000);
        let mut summary = summarise(d, Some(results));
        summary.full_summary = Some("s3://b/runs/x/summary.json".into());
        for n in notices(&summary) {
            assert!(n.subject.len() <= 100 && n.subject.is_ascii());
            assert!(n.message.len() < 64 * 1024, "{}", n.message.len());
            assert!(n
                .message
                .contains("and 2950 more: see s3://b/runs/x/summary.json"));
        }
    }

    #[test]
    fn a_clean_run_gets_only_the_summary() {
        let (mut d, _) = discovery(0);
        d.dry_run = true;
        let notices = notices(&summarise(d, None));
        assert_eq!(notices.len(), 1);
        assert!(notices[0].subject.starts_with("RotateToken dry run"));
    }

    #[test]
    fn an_alert_only_reconciliation_that_finds_stale_consumers_names_them_in_a_stale_alert() {
        let (mut d, _) = discovery(2);
        d.dry_run = true;
        d.cause = crate::domain::model::RECONCILE_CAUSE.into();
        for t in &mut d.selected {
            t.warning = Some("stale: Db (AWS::SSM::Parameter) was last updated 3 days before the current version was created".into());
        }
        let would: Vec<RefreshTask> = d
            .selected
            .iter()
            .cloned()
            .map(|mut t| {
                t.outcome = Outcome::WouldRefresh;
                t
            })
            .collect();
        let notices = notices(&summarise(d.clone(), Some(would.clone())));
        let stale: Vec<&Notice> = notices
            .iter()
            .filter(|n| n.subject.starts_with("STALE"))
            .collect();
        assert_eq!(stale.len(), 1, "{notices:#?}");
        assert!(
            stale[0].message.contains("app-0") && stale[0].message.contains("3 days before"),
            "{}",
            stale[0].message
        );
        assert!(stale[0].message.contains("rotate-token start --secret"));
        // The same dry run started by hand, or a reconciliation that refreshes: no STALE alert.
        d.cause = "manual".into();
        let by_hand = super::notices(&summarise(d, Some(would)));
        assert!(by_hand.iter().all(|n| !n.subject.starts_with("STALE")));
    }

    #[test]
    fn a_run_cut_short_is_told_with_its_files_and_next_steps_and_no_other_end_is() {
        use crate::domain::run_lock::EndedRun;
        let run = |status: &str| EndedRun {
            execution_name: "rt-abc".into(),
            secret_arn: "arn:aws:secretsmanager:us-east-1:111111111111:secret:db-AbCdEf".into(),
            status: status.into(),
            dry_run: false,
        };
        for status in ["ABORTED", "TIMED_OUT"] {
            let n = run_cut_short(&run(status), Some("runs")).unwrap();
            assert!(n.subject.starts_with("CRITICAL") && n.subject.contains(status));
            assert!(n.subject.len() <= 100 && n.subject.is_ascii());
            for needed in [
                "rt-abc",
                "secret:db-AbCdEf",
                "s3://runs/runs/rt-abc/",
                "rotate-token audit",
            ] {
                assert!(n.message.contains(needed), "{needed}: {}", n.message);
            }
        }
        for status in ["SUCCEEDED", "FAILED"] {
            assert_eq!(run_cut_short(&run(status), Some("runs")), None);
        }
        let dry = EndedRun {
            dry_run: true,
            ..run("ABORTED")
        };
        assert_eq!(
            run_cut_short(&dry, Some("runs")),
            None,
            "a dry run changed nothing"
        );
    }
}
