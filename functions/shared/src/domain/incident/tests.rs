use serde_json::{json, Value};

use super::*;
use crate::domain::model::Counts;

const ACCOUNT: &str = "111111111111";

fn row(stack: &str, outcome: &str, reason: Option<&str>) -> Value {
    json!({
        "account": ACCOUNT,
        "region": "us-east-1",
        "stack": stack,
        "stack_id": format!("arn:aws:cloudformation:us-east-1:{ACCOUNT}:stack/{stack}/1"),
        "outcome": outcome,
        "reason": reason,
        "mode": "two_phase",
    })
}

fn run(
    secret: &str,
    status: &str,
    rows: Vec<Value>,
    failed_targets: Vec<Value>,
) -> (IncidentRun, Option<Summary>) {
    let arn = format!("arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:{secret}-AbCdEf");
    let summary: Summary = serde_json::from_value(json!({
        "secret": {"arn": arn, "name": secret},
        "cause": "change",
        "dry_run": false,
        "parameter": "RotateToken",
        "mode": "referencing",
        "counts": serde_json::to_value(Counts::default()).unwrap(),
        "stacks": rows,
        "failed_targets": failed_targets,
    }))
    .unwrap();
    (
        IncidentRun {
            secret: secret.into(),
            secret_arn: arn,
            execution: Some(format!("rt-{secret}")),
            status: status.into(),
            started_here: false,
            note: None,
        },
        Some(summary),
    )
}

/// A run of `secret` that succeeded, with these rows and every target searched.
fn ok(secret: &str, rows: Vec<Value>) -> (IncidentRun, Option<Summary>) {
    run(secret, "SUCCEEDED", rows, vec![])
}

fn stack<'a>(incident: &'a Incident, name: &str) -> &'a IncidentStack {
    incident.stacks.iter().find(|s| s.stack == name).unwrap()
}

const LEFT: &str =
    "coalesced: refreshed once, after both changes, by run rt-c for arn:c, which it also consumes";

#[test]
fn a_stack_left_by_two_runs_and_refreshed_by_the_third_is_one_refreshed_row_naming_all_three_secrets(
) {
    let incident = merge(
        false,
        true,
        vec![
            ok("a", vec![row("app", "skipped", Some(LEFT))]),
            ok("c", vec![row("app", "refreshed", None)]),
            ok("b", vec![row("app", "skipped", Some(LEFT))]),
        ],
    );
    let app = stack(&incident, "app");
    assert_eq!(app.standing, Standing::Refreshed);
    assert_eq!(app.secrets, ["a", "b", "c"], "sorted");
    assert_eq!((app.refreshes, app.by.as_str()), (1, "rt-c"));
    assert_eq!(incident.counts.stacks, 1);
    assert_eq!(incident.counts.updates, 2);
    assert!(!incident.needs_attention(), "{incident:#?}");
}

#[test]
fn a_stack_only_ever_left_to_a_later_run_is_not_confirmed_and_names_that_run() {
    for other in [None, Some(row("app", "skipped", Some("not opted in")))] {
        let mut runs = vec![ok("a", vec![row("app", "skipped", Some(LEFT))])];
        if let Some(other) = other.clone() {
            runs.push(ok("c", vec![other]));
        }
        let incident = merge(false, true, runs);
        let app = stack(&incident, "app");
        assert_eq!(app.standing, Standing::NotConfirmed, "{other:?}");
        assert!(app.reason.as_deref().unwrap().contains("rt-c"), "{app:?}");
        assert_eq!(incident.counts.not_confirmed, 1);
        assert!(incident.needs_attention());
    }
}

#[test]
fn a_failure_in_any_run_stands_whatever_the_other_runs_did() {
    for order in [["failed", "refreshed"], ["refreshed", "failed"]] {
        let incident = merge(
            false,
            true,
            vec![
                run(
                    "a",
                    "FAILED",
                    vec![row("app", order[0], Some("Rate exceeded"))],
                    vec![],
                ),
                run(
                    "b",
                    "FAILED",
                    vec![row("app", order[1], Some("Rate exceeded"))],
                    vec![],
                ),
            ],
        );
        let app = stack(&incident, "app");
        assert_eq!(app.standing, Standing::Failed, "{order:?}");
        assert_eq!(app.refreshes, 1);
        assert_eq!(
            (incident.counts.failed, incident.counts.runs_failed),
            (1, 2)
        );
        assert!(incident.needs_attention());
    }
}

#[test]
fn a_stack_refreshed_by_two_runs_is_counted_once_and_said_to_be_refreshed_twice() {
    let incident = merge(
        false,
        true,
        vec![
            ok(
                "a",
                vec![row("app", "refreshed", None), row("web", "refreshed", None)],
            ),
            ok("b", vec![row("app", "refreshed", None)]),
        ],
    );
    assert_eq!(incident.counts.stacks, 2);
    assert_eq!(incident.counts.refreshed, 2);
    assert_eq!(incident.counts.refreshed_more_than_once, 1);
    assert_eq!(incident.counts.updates, 6);
    assert!(!incident.needs_attention());
}

#[test]
fn a_target_not_searched_and_a_run_not_started_need_attention() {
    let target =
        json!({"account": "222222222222", "region": "eu-west-1", "reason": "AccessDenied"});
    let incident = merge(
        false,
        true,
        vec![run("a", "SUCCEEDED", vec![], vec![target])],
    );
    assert_eq!(incident.failed_targets[0].secret, "a");
    assert!(incident.needs_attention());
    let not_started = IncidentRun {
        secret: "b".into(),
        secret_arn: "arn".into(),
        execution: None,
        status: NOT_ROTATED.into(),
        started_here: false,
        note: Some("not rotated since".into()),
    };
    let incident = merge(false, true, vec![(not_started, None)]);
    assert_eq!(
        (incident.counts.not_rotated, incident.counts.runs_failed),
        (1, 0)
    );
    assert!(incident.needs_attention());
    // A run that succeeded but whose summary cannot be read hides its stacks.
    let (unread, _) = ok("c", vec![]);
    let incident = merge(false, true, vec![(unread, None)]);
    assert_eq!(incident.counts.runs_failed, 1);
    assert!(incident.runs[0]
        .note
        .as_deref()
        .unwrap()
        .contains("summary"));
    assert!(incident.needs_attention());
}

#[test]
fn a_dry_run_plans_each_stack_one_refresh_whatever_the_number_of_its_secrets() {
    let planned = |secret| {
        let (mut run, mut summary) = run(
            secret,
            "PLANNED",
            vec![row("app", "would_refresh", None)],
            vec![],
        );
        run.execution = None;
        summary.as_mut().unwrap().dry_run = true;
        (run, summary)
    };
    let incident = merge(true, true, vec![planned("a"), planned("b"), planned("c")]);
    let app = stack(&incident, "app");
    assert_eq!((app.standing, app.refreshes), (Standing::WouldRefresh, 1));
    assert_eq!(app.secrets, ["a", "b", "c"]);
    assert_eq!(
        (
            incident.counts.updates,
            incident.counts.refreshed_more_than_once
        ),
        (2, 0)
    );
    assert!(!incident.needs_attention());
    assert!(render_table(&incident).contains("would_refresh"));
}

#[test]
fn a_stack_left_to_one_run_is_confirmed_only_by_that_run_and_a_stack_caught_mid_refresh_never() {
    // Left to rt-c, refreshed by another run (rt-b): rt-c's refresh is not seen.
    let incident = merge(
        false,
        true,
        vec![
            ok("a", vec![row("app", "skipped", Some(LEFT))]),
            ok("b", vec![row("app", "refreshed", None)]),
        ],
    );
    let app = stack(&incident, "app");
    assert_eq!(app.standing, Standing::NotConfirmed, "{app:?}");
    assert_eq!(app.by, "rt-a");
    // A run aborted with the stack mid-refresh: whatever another run did, not confirmed.
    let incident = merge(
        false,
        true,
        vec![
            run("a", "ABORTED", vec![row("app", "waiting", None)], vec![]),
            ok("b", vec![row("app", "refreshed", None)]),
        ],
    );
    assert_eq!(stack(&incident, "app").standing, Standing::NotConfirmed);
}

#[test]
fn without_coalescing_a_dry_run_plans_a_refresh_per_secret() {
    let planned = |secret| {
        let (mut run, summary) = run(
            secret,
            "PLANNED",
            vec![row("app", "would_refresh", None)],
            vec![],
        );
        run.execution = None;
        (run, summary)
    };
    let incident = merge(true, false, vec![planned("a"), planned("b")]);
    assert_eq!(stack(&incident, "app").refreshes, 2);
    assert_eq!(incident.counts.updates, 4);
}

#[test]
fn a_stack_handed_on_from_run_to_run_is_confirmed_by_the_last_one_that_refreshed_it() {
    let left = |to: &str| {
        format!("coalesced: refreshed once, after both changes, by run {to} for arn:x, which it also consumes")
    };
    let chain = |last: &str| {
        merge(
            false,
            true,
            vec![
                ok("a", vec![row("app", "skipped", Some(&left("rt-b")))]),
                ok("b", vec![row("app", "skipped", Some(&left("rt-c")))]),
                ok("c", vec![row("app", last, Some("x"))]),
            ],
        )
    };
    assert_eq!(
        stack(&chain("refreshed"), "app").standing,
        Standing::Refreshed
    );
    let broken = chain("failed");
    assert_eq!(stack(&broken, "app").standing, Standing::Failed);
    // Handed round in a circle, nobody refreshed it.
    let circle = merge(
        false,
        true,
        vec![
            ok("a", vec![row("app", "skipped", Some(&left("rt-b")))]),
            ok("b", vec![row("app", "skipped", Some(&left("rt-a")))]),
        ],
    );
    assert_eq!(stack(&circle, "app").standing, Standing::NotConfirmed);
}

#[test]
fn in_an_incident_a_skipped_consumer_needs_attention_it_keeps_the_exposed_value() {
    let incident = merge(
        false,
        true,
        vec![ok(
            "a",
            vec![row("app", "skipped", Some("unsafe: would delete Uploads"))],
        )],
    );
    assert_eq!(stack(&incident, "app").standing, Standing::Skipped);
    assert!(incident.needs_attention());
    // Another run's refresh does not hide it (it may have come before the skipped change).
    let incident = merge(
        false,
        true,
        vec![
            ok("a", vec![row("app", "skipped", Some("unsafe"))]),
            ok("b", vec![row("app", "refreshed", None)]),
        ],
    );
    assert_eq!(stack(&incident, "app").standing, Standing::Skipped);
}
