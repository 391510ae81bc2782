//! The summary: every stack once, the output within AWS's limits.

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
use crate::domain::model::{PlannedUpdate, SecretRef};

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
            stopped: 0,
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

#[test]
fn a_stopped_run_fails_and_says_how_many_it_stopped() {
    let d = discovery(false);
    let tasks: Vec<RefreshTask> = d
        .selected
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let mut t = t.clone();
            t.outcome = if i == 0 {
                Outcome::Refreshed
            } else {
                Outcome::Stopped
            };
            t.phase = Phase::Done;
            t
        })
        .collect();
    let s = summarise(d, Some(tasks));
    assert_eq!((s.counts.stopped, s.counts.failed), (2, 0));
    assert!(
        s.run_failed,
        "consumers kept on the old value need attention"
    );
    let by_target: usize = s.by_target.iter().map(|t| t.stopped).sum();
    assert_eq!(by_target, 2);
    let markdown = super::render_markdown(&s);
    assert!(
        markdown.contains("| stopped |") && markdown.contains("**FAILED**"),
        "{markdown}"
    );
}
