//! Coalesced refreshes (issue 28), end to end as tests/state_machine.rs runs them: an
//! incident's rotations, many secrets changed within a window, each consuming stack
//! refreshed once, after the last change to any secret it consumes, by the latest of their
//! runs; the other runs leave it to that one (rows `skipped` "coalesced: ..."). With the
//! window at 0, today's behaviour: each secret's run refreshes each of its consumers. And
//! the operator's view of it: `rotate-token incident start`, one plan, one progress view
//! and one report across the runs, and the audit `--since` the first change.

use std::collections::BTreeMap;
use std::time::Duration;

use rotatetoken::domain::trigger::execution_name;
use rotatetoken_tests::fixtures::*;
use rotatetoken_tests::pipeline::{row, Pipeline};
use rotatetoken_tests::template_facts;
use serde_json::json;

/// Secret `i` of the incident.
fn name(i: usize) -> String {
    format!("prod/leaked-{i:02}")
}

/// Stack `i` consumes 1 to 5 of the `n` secrets.
fn consumed(i: usize, n: usize) -> Vec<usize> {
    let mut out: Vec<usize> = (0..=(i % 5)).map(|k| (i * 7 + k * 11) % n).collect();
    out.sort();
    out.dedup();
    out
}

/// The pipeline selecting by reference, each run started by a change waiting
/// `window_seconds` for the changes that follow it, every stack update taking
/// `update_seconds`.
async fn coalescing(window_seconds: u64, update_seconds: f64) -> Pipeline {
    let p = Pipeline::start(|env| {
        env.set("SELECTION_MODE", "referencing")
            .set("COALESCE_WINDOW_SECONDS", &window_seconds.to_string())
    })
    .await;
    // The window is a Wait state: the behaviour under test, in AWS's time.
    p.emulator
        .control(json!({"update_delay_seconds": update_seconds, "wait_state_scale": 1.0}));
    p
}

/// The next whole second (epoch ms), once it has come: every value created so far is
/// older.
async fn next_second() -> u64 {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let at = (now_ms / 1000 + 1) * 1000;
    tokio::time::sleep(Duration::from_millis(at - now_ms + 20)).await;
    at
}

/// Rotates every secret (a new value, its CloudTrail event delivered) and waits for every
/// run; returns each run's summary by secret.
async fn rotate_all(p: &Pipeline, arns: &[String]) -> Vec<serde_json::Value> {
    let mut changes = vec![];
    for (i, arn) in arns.iter().enumerate() {
        let version = put_secret(&p.sm, &name(i), &format!("v2-{i}")).await;
        changes.push((arn, version));
    }
    let mut runs = vec![];
    for (arn, version) in changes {
        p.deliver(&sample_event("put-secret-value.json", arn, &version))
            .await;
        runs.push(execution_name(arn, &version));
    }
    let mut summaries = vec![];
    for run in runs {
        let done = p.wait_for(&run, Duration::from_secs(240)).await;
        if done.status != "SUCCEEDED" {
            panic!(
                "{run}: {} {:#}\n{:#?}",
                done.status,
                done.summary,
                p.history(&done.arn).await
            );
        }
        summaries.push(done.summary);
    }
    summaries
}

#[tokio::test]
async fn an_incidents_rotations_refresh_each_consumer_once_after_its_last_change() {
    const SECRETS: usize = 30;
    const STACKS: usize = 60;
    // A window of 100 s, 20 s here (the suites' Wait states run at a fifth, WAIT_STATE_SCALE):
    // what coalesces is decided from the order of the runs' claims, never from a clock, so
    // the window only has to outlast the 30 deliveries (3.4 s on an idle machine), as on AWS
    // it outlasts the incident's changes. The pauses of the refreshes are a fifth too.
    let p = Pipeline::start(|env| {
        env.set("SELECTION_MODE", "referencing")
            .set("COALESCE_WINDOW_SECONDS", "100")
            .set("MAX_CONCURRENCY", "20")
            // 30 runs discovering at once in one account-region share its budget: each
            // run's stack policy reads come one every 30 / 4 s (15 s at the default 2,
            // about 290 s for this test on an idle machine, near its 240 s a run).
            .set("DISCOVERY_CALLS_PER_SECOND", "4")
    })
    .await;
    p.emulator.control(json!({"update_delay_seconds": 0.2}));
    let mut arns = vec![];
    for i in 0..SECRETS {
        arns.push(create_secret(&p.sm, &name(i), &format!("v1-{i}")).await);
    }
    let mut reads: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for i in 0..STACKS {
        let secrets = consumed(i, SECRETS);
        let stack = format!("app-{i:02}");
        let names: Vec<String> = secrets.iter().map(|s| name(*s)).collect();
        create_stack(&p.cfn, &stack, &consumer_of(&names), &[]).await;
        reads.insert(stack, secrets);
    }

    let since = rotatetoken::domain::utc::format_ms(next_second().await);
    let summaries = rotate_all(&p, &arns).await;

    // No alarm but the run summaries: each alarm on the functions' own metrics stays
    // below its threshold (every run succeeded: none on the state machine's either), while
    // the runs started are more than UnusualRunsPerHour.
    let sums = p.functions.metric_sums();
    assert_eq!(sums.get("RunsStarted"), Some(&(SECRETS as f64)), "{sums:?}");
    for alarm in template_facts()["alarms"].as_array().unwrap() {
        if alarm["namespace"] != "RotateToken" {
            continue;
        }
        let metric = alarm["metric"].as_str().unwrap();
        let sum = sums.get(metric).copied().unwrap_or(0.0);
        let threshold = alarm["threshold"].as_f64().unwrap();
        let fires = match alarm["comparison"].as_str().unwrap() {
            "GreaterThanThreshold" => sum > threshold,
            "GreaterThanOrEqualToThreshold" => sum >= threshold,
            other => panic!("{other}: {alarm}"),
        };
        assert!(!fires, "{} fires: {metric} {sum} ({alarm})", alarm["name"]);
    }

    // The operator's one view: every run found (none started again), every stack once.
    let incident = p
        .cli(&[
            "incident",
            "start",
            "--secrets",
            "prod/leaked-*",
            "--since",
            &since,
            "--output",
            "json",
        ])
        .await;
    assert_eq!(incident.code, 0, "{incident:#?}");
    let i = incident.json();
    let c = &i["counts"];
    assert_eq!(
        (
            c["secrets"].as_u64(),
            c["runs_failed"].as_u64(),
            c["stacks"].as_u64()
        ),
        (Some(SECRETS as u64), Some(0), Some(STACKS as u64)),
        "{c:#}"
    );
    assert_eq!(
        (
            c["refreshed"].as_u64(),
            c["refreshed_more_than_once"].as_u64(),
            c["not_confirmed"].as_u64()
        ),
        (Some(STACKS as u64), Some(0), Some(0)),
        "{c:#}"
    );
    assert_eq!(c["updates"], 2 * STACKS, "{c:#}");
    assert!(
        i["runs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r.get("started_here").is_none()),
        "{i:#}"
    );
    // Every consumer fresh since the first change.
    let audit = p
        .cli(&[
            "audit",
            "--secrets",
            "prod/leaked-*",
            "--since",
            &since,
            "--output",
            "json",
        ])
        .await;
    assert_eq!(audit.code, 0, "{audit:#?}");
    // Counted per secret: a stack reading three of them is three consumers.
    let consumers: usize = reads.values().map(Vec::len).sum();
    let counts = &audit.json()["counts"];
    assert_eq!(
        (counts["consumers"].as_u64(), counts["fresh"].as_u64()),
        (Some(consumers as u64), Some(consumers as u64)),
        "{counts:#}"
    );

    for (stack, secrets) in &reads {
        assert_eq!(
            p.emulator.completed_token_updates(stack),
            vec!["false", "true"],
            "{stack} (reads {secrets:?}) is refreshed exactly once"
        );
        let res = resources(&p.cfn, stack).await;
        for (k, s) in secrets.iter().enumerate() {
            assert_eq!(
                ssm_value(&p.ssm, &res[&format!("Reader{k}")]).await,
                Some(format!("v2-{s}")),
                "{stack} holds the new value of {}",
                name(*s)
            );
        }
        // One run refreshed it; every other run of its secrets left it to a later one.
        let rows: Vec<String> = summaries
            .iter()
            .filter(|s| {
                s["stacks"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|r| r["stack"] == stack.as_str())
            })
            .map(|s| row(s, stack)["outcome"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(
            rows.iter().filter(|o| *o == "refreshed").count(),
            1,
            "{stack}: {rows:?}"
        );
        assert_eq!(
            rows.len(),
            secrets.len(),
            "a row in each of its secrets' runs"
        );
    }
    for s in &summaries {
        for r in s["stacks"].as_array().unwrap() {
            if r["outcome"] == "skipped" {
                assert!(
                    r["reason"].as_str().unwrap().starts_with("coalesced:"),
                    "{r:#}"
                );
            }
        }
    }
}

#[tokio::test]
async fn with_no_window_each_secrets_run_refreshes_each_of_its_consumers() {
    let p = coalescing(0, 0.2).await;
    let mut arns = vec![];
    for i in 0..3 {
        arns.push(create_secret(&p.sm, &name(i), &format!("v1-{i}")).await);
    }
    let names: Vec<String> = (0..3).map(name).collect();
    create_stack(&p.cfn, "app", &consumer_of(&names), &[]).await;

    let summaries = rotate_all(&p, &arns).await;

    // Each run refreshes it (none `coalesced:`); overlapping runs converge, so how many
    // updates is CloudFormation's timing (how-it-works.md, "Two secrets at once").
    let updates = p.emulator.completed_token_updates("app");
    assert!(
        updates.len() >= 2 && updates.last().unwrap() == "true",
        "{updates:?}"
    );
    let res = resources(&p.cfn, "app").await;
    for k in 0..3 {
        let value = ssm_value(&p.ssm, &res[&format!("Reader{k}")]).await;
        assert_eq!(value, Some(format!("v2-{k}")), "{}", name(k));
    }
    for s in &summaries {
        assert_eq!(row(s, "app")["outcome"], "refreshed", "{s:#}");
    }
}

/// `rotate-token incident start` as an operator runs it in an incident: one plan for every
/// matching secret (each stack once), then the runs (the ones their changes started, and
/// one started here for a change whose event was lost), one progress view, one report;
/// started again, it starts nothing and says the same. A secret not rotated since the leak
/// is named, not refreshed.
#[tokio::test]
async fn the_operator_plans_follows_and_reports_an_incident_as_one() {
    let p = coalescing(3, 0.3).await;
    let mut arns = BTreeMap::new();
    for secret in ["prod/a", "prod/b", "prod/c", "prod/unrotated", "dev/other"] {
        arns.insert(secret, create_secret(&p.sm, secret, "v1").await);
    }
    let shop_reads = vec!["prod/a".to_string(), "prod/b".to_string()];
    create_stack(&p.cfn, "shop", &consumer_of(&shop_reads), &[]).await;
    create_stack(
        &p.cfn,
        "billing",
        &consumer_of(&["prod/c".to_string()]),
        &[],
    )
    .await;
    // CloudFormation refuses its `false` (an output refers to a guarded resource).
    create_stack(
        &p.cfn,
        "broken",
        &consumer_with_dangling_output("prod/c"),
        &[],
    )
    .await;
    create_stack(
        &p.cfn,
        "dev-app",
        &consumer_of(&["dev/other".to_string()]),
        &[],
    )
    .await;
    let incident = |extra: &[&str]| {
        let mut args = vec![
            "incident",
            "start",
            "--secrets",
            "prod/*",
            "--interval",
            "0.3",
        ];
        args.extend_from_slice(extra);
        args.iter().map(|a| a.to_string()).collect::<Vec<_>>()
    };
    let cli = |args: Vec<String>| {
        let p = &p;
        async move {
            p.cli(&args.iter().map(String::as_str).collect::<Vec<_>>())
                .await
        }
    };

    // The plan: one row per stack, shop's two secrets on one row, one refresh; exit 3
    // (broken would fail); nothing changed, nothing started.
    let plan = cli(incident(&["--dry-run", "--output", "json"])).await;
    assert_eq!(plan.code, 3, "{plan:#?}");
    let planned = plan.json();
    let stack = |report: &serde_json::Value, name: &str| {
        report["stacks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["stack"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no row for {name}: {report:#}"))
    };
    let shop = stack(&planned, "shop");
    assert_eq!(
        (shop["standing"].as_str(), shop["refreshes"].as_u64()),
        (Some("would_refresh"), Some(1)),
        "{planned:#}"
    );
    assert_eq!(shop["secrets"], json!(["prod/a", "prod/b"]));
    assert_eq!(stack(&planned, "broken")["standing"], "would_fail");
    assert_eq!(
        planned["counts"]["secrets"], 4,
        "dev/other does not match: {planned:#}"
    );
    assert!(!planned["stacks"].to_string().contains("dev-app"));
    assert!(p.emulator.updates().is_empty(), "the plan changes nothing");
    assert!(p.executions().await.is_empty(), "the plan starts nothing");

    // The leak is contained; then three rotations, prod/c's event lost.
    let since = rotatetoken::domain::utc::format_ms(next_second().await);
    let mut changed = BTreeMap::new();
    for secret in ["prod/a", "prod/b"] {
        changed.insert(secret, put_secret(&p.sm, secret, "v2").await);
    }
    for secret in ["prod/a", "prod/b"] {
        p.deliver(&sample_event(
            "put-secret-value.json",
            &arns[secret],
            &changed[secret],
        ))
        .await;
    }
    // Their runs have begun (EventBridge delivers to the trigger asynchronously).
    for _ in 0..300 {
        let names = p.executions().await;
        if ["prod/a", "prod/b"]
            .iter()
            .all(|s| names.contains(&execution_name(&arns[s], &changed[s])))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    changed.insert("prod/c", put_secret(&p.sm, "prod/c", "v2").await);
    // prod/c's run is awaited a little (its event may be on the way), then started here.
    let followed = cli(incident(&[
        "--since", &since, "--grace", "20", "--output", "json",
    ]))
    .await;
    assert_eq!(
        followed.code, 3,
        "broken failed, prod/unrotated is not rotated: {followed:#?}"
    );
    assert!(
        followed.stderr.contains("up to 20s after each change")
            && followed.stderr.contains("prod/c: its event may still be on the way")
            && followed.stderr.contains(
                "3 run(s), 1 started here, 2 found started by their changes; 1 secret(s) not rotated"
            ),
        "{}",
        followed.stderr
    );
    assert!(
        followed.stderr.contains("progress: ") && followed.stderr.contains("runs 3/3 ended"),
        "one progress view for every run: {}",
        followed.stderr
    );
    assert!(
        followed.stderr.contains("FAILED ") && followed.stderr.contains("broken"),
        "a failure is said as it happens: {}",
        followed.stderr
    );
    let report = followed.json();
    let runs = report["runs"].as_array().unwrap();
    let run_of = |secret: &str| runs.iter().find(|r| r["secret"] == secret).unwrap().clone();
    assert_eq!(run_of("prod/c")["started_here"], true, "{report:#}");
    assert_eq!(
        run_of("prod/c")["execution"],
        execution_name(&arns["prod/c"], &changed["prod/c"]).as_str(),
        "the trigger's own name: its event, if it comes, is a duplicate"
    );
    assert_eq!(run_of("prod/a")["status"], "SUCCEEDED");
    assert_eq!(run_of("prod/c")["status"], "FAILED");
    assert_eq!(run_of("prod/unrotated")["status"], "NOT_ROTATED");
    assert!(run_of("prod/unrotated").get("execution").is_none());
    // shop: refreshed once, by the later of its two secrets' runs.
    let shop = stack(&report, "shop");
    assert_eq!(
        (shop["standing"].as_str(), shop["refreshes"].as_u64()),
        (Some("refreshed"), Some(1)),
        "{report:#}"
    );
    assert_eq!(
        p.emulator.completed_token_updates("shop"),
        vec!["false", "true"]
    );
    assert_eq!(stack(&report, "billing")["standing"], "refreshed");
    assert_eq!(stack(&report, "broken")["standing"], "failed");
    let counts = &report["counts"];
    assert_eq!(
        (
            counts["failed"].as_u64(),
            counts["runs_failed"].as_u64(),
            counts["not_rotated"].as_u64()
        ),
        (Some(1), Some(1), Some(1)),
        "prod/c's run failed (broken), prod/unrotated has none: {report:#}"
    );
    // The earlier of prod/a's and prod/b's runs (by their locks' claims: the trigger takes
    // events concurrently) left shop to the later one, which refreshed it.
    let refreshed_by = shop["by"].as_str().unwrap().to_string();
    let other = ["prod/a", "prod/b"]
        .map(|s| run_of(s)["execution"].as_str().unwrap().to_string())
        .into_iter()
        .find(|r| *r != refreshed_by)
        .unwrap();
    let earlier = p.wait_for(&other, Duration::from_secs(10)).await;
    let left = row(&earlier.summary, "shop")["reason"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        left.starts_with("coalesced:") && left.contains(&refreshed_by),
        "{left}: {:#}",
        earlier.summary
    );

    // Again, in a terminal: nothing starts, the same report, as the operator sees it.
    let before = p.executions().await.len();
    let again = p
        .cli_in_terminal(
            &incident(&["--since", &since])
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
        )
        .await;
    assert_eq!(again.code, 3, "{again:#?}");
    assert_eq!(p.executions().await.len(), before, "nothing runs twice");
    assert!(
        again.stdout.contains("0 started here, 3 found")
            && again.stdout.contains("stacks done")
            && again.stdout.contains("STANDING")
            && again.stdout.contains("NOT_ROTATED"),
        "{}",
        again.stdout
    );

    // Bad arguments, named.
    for (args, names, code) in [
        (vec!["incident", "start"], "--secrets", 2),
        (
            vec![
                "incident",
                "start",
                "--secrets",
                "prod/*",
                "--dry-run",
                "--detach",
            ],
            "--detach",
            2,
        ),
        (
            vec![
                "incident",
                "start",
                "--secrets",
                "prod/*",
                "--since",
                "yesterday",
            ],
            "--since",
            2,
        ),
        (
            vec!["incident", "start", "--secrets", "nothing/*"],
            "no secret",
            1,
        ),
    ] {
        let out = p.cli(&args).await;
        assert_eq!(out.code, code, "{args:?}: {out:#?}");
        assert!(out.stderr.contains(names), "{args:?}: {}", out.stderr);
    }
}

/// The scheduled audit given the incident's moment (`ReconcileSince`), with
/// `ReconcileAction=refresh`: a consumer of a secret rotated after the moment (its event
/// lost) is refreshed; the consumers of a secret not rotated since are never refreshed
/// (they would re-read the exposed value): that secret's reconciliation is a dry run whose
/// STALE alert says to rotate it.
#[tokio::test]
async fn the_scheduled_audit_since_the_incident_refreshes_the_rotated_and_alerts_on_the_unrotated()
{
    let p = Pipeline::start_prepared(
        |config| async move {
            let sm = aws_sdk_secretsmanager::Client::new(&config);
            let cfn = aws_sdk_cloudformation::Client::new(&config);
            for (secret, stack) in [
                ("prod/rotated", "rotated-app"),
                ("prod/exposed", "exposed-app"),
            ] {
                create_secret(&sm, secret, "v1").await;
                create_stack(&cfn, stack, &consumer_template(secret), &[]).await;
            }
            let since = rotatetoken::domain::utc::format_ms(next_second().await);
            vec![("RECONCILE_SINCE", since)]
        },
        |env| {
            env.set("RECONCILE_ACTION", "refresh")
                .set("SELECTION_MODE", "referencing")
        },
    )
    .await;
    p.emulator.control(json!({"update_delay_seconds": 0.2}));
    let rotated =
        p.sm.describe_secret()
            .secret_id("prod/rotated")
            .send()
            .await
            .unwrap();
    let exposed =
        p.sm.describe_secret()
            .secret_id("prod/exposed")
            .send()
            .await
            .unwrap();
    let (rotated_arn, exposed_arn) = (rotated.arn().unwrap(), exposed.arn().unwrap());
    // prod/rotated is rotated after the moment; its event is lost.
    put_secret(&p.sm, "prod/rotated", "v2").await;

    let time = "2026-11-23T06:00:00Z";
    let (answer, rotated_run) = p.fire_schedule(time, rotated_arn).await;
    assert_eq!(answer["decision"], "reconciled", "{answer}");
    let exposed_run = rotatetoken::domain::trigger::reconcile_execution_name(
        exposed_arn,
        rotatetoken::domain::utc::parse_instant("2026-11-23T06:00Z").unwrap(),
    );
    let done = p.wait_for(&rotated_run, Duration::from_secs(60)).await;
    assert_eq!(done.status, "SUCCEEDED", "{:#}", done.summary);
    assert_eq!(
        row(&done.summary, "rotated-app")["outcome"],
        "refreshed",
        "{:#}",
        done.summary
    );
    let alerted = p.wait_for(&exposed_run, Duration::from_secs(60)).await;
    assert_eq!(alerted.status, "SUCCEEDED", "{:#}", alerted.summary);
    assert_eq!(alerted.summary["dry_run"], true, "{:#}", alerted.summary);
    let exposed_row = row(&alerted.summary, "exposed-app");
    assert_eq!(
        exposed_row["outcome"], "would_refresh",
        "{:#}",
        alerted.summary
    );
    assert!(
        exposed_row["warning"]
            .as_str()
            .unwrap_or_default()
            .contains(rotatetoken::domain::audit::NOT_ROTATED_SINCE),
        "{exposed_row:#}"
    );
    let touched: Vec<String> = p.emulator.updates().into_iter().map(|u| u.stack).collect();
    assert!(touched.iter().all(|s| s == "rotated-app"), "{touched:?}");
    let alert = p
        .wait_for_alert(Duration::from_secs(20), |subject, message| {
            subject.starts_with("STALE") && message.contains(exposed_arn)
        })
        .await;
    let (_, message) = alert.expect("a STALE alert for prod/exposed");
    assert!(
        message.contains("has not been rotated since") && message.contains("Rotate"),
        "{message}"
    );
}

/// Coalescing on, a stack reading two secrets, the second changed while the first's run is
/// already refreshing the stack (past its discovery, so nothing is left to the later run):
/// the second's run refreshes it too, and it ends holding both new values, never left
/// behind.
#[tokio::test]
async fn a_secret_changed_during_a_stacks_refresh_refreshes_it_once_more_and_it_ends_fresh() {
    let p = coalescing(2, 1.0).await;
    let reads = vec!["prod/first".to_string(), "prod/second".to_string()];
    let first = create_secret(&p.sm, &reads[0], "first-1").await;
    let second = create_secret(&p.sm, &reads[1], "second-1").await;
    create_stack(&p.cfn, "shared", &consumer_of(&reads), &[]).await;
    let since = rotatetoken::domain::utc::format_ms(next_second().await);

    let v1 = put_secret(&p.sm, &reads[0], "first-2").await;
    p.deliver(&sample_event("put-secret-value.json", &first, &v1))
        .await;
    // The first run's refresh of the stack has begun.
    for _ in 0..300 {
        if p.emulator.updates().iter().any(|u| u.stack == "shared") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(p.emulator.updates().iter().any(|u| u.stack == "shared"));
    let v2 = put_secret(&p.sm, &reads[1], "second-2").await;
    p.deliver(&sample_event("put-secret-value.json", &second, &v2))
        .await;
    for (arn, version) in [(&first, &v1), (&second, &v2)] {
        let done = p
            .wait_for(&execution_name(arn, version), Duration::from_secs(120))
            .await;
        assert_eq!(done.status, "SUCCEEDED", "{:#}", done.summary);
        assert_eq!(
            row(&done.summary, "shared")["outcome"],
            "refreshed",
            "{:#}",
            done.summary
        );
    }
    // The second run refreshed it after its change (converging with the first where they
    // overlap: how-it-works.md, "Two secrets at once"): at true, with both new values.
    let updates = p.emulator.completed_token_updates("shared");
    assert_eq!(
        updates.last().map(String::as_str),
        Some("true"),
        "{updates:?}"
    );
    let res = resources(&p.cfn, "shared").await;
    assert_eq!(
        ssm_value(&p.ssm, &res["Reader0"]).await.as_deref(),
        Some("first-2")
    );
    assert_eq!(
        ssm_value(&p.ssm, &res["Reader1"]).await.as_deref(),
        Some("second-2")
    );
    let audit = p
        .cli(&[
            "audit",
            "--secrets",
            "prod/*",
            "--since",
            &since,
            "--output",
            "json",
        ])
        .await;
    assert_eq!(audit.code, 0, "{audit:#?}");
}
