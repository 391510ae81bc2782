//! The operator's command line (`rotate-token`) against the whole pipeline on the local AWS:
//! plan, start, watch, stop, report and audit, the scheduled reconciliation that catches a
//! change whose event was lost, and the stacks it refuses to update with its own power.

use std::time::Duration;

use rotatetoken_tests::fixtures::*;
use rotatetoken_tests::pipeline::row;
use rotatetoken_tests::pipeline::{Pipeline, RUNS_BUCKET};
use serde_json::{json, Value};

/// Each consumer's freshness in an audit's JSON.
fn freshness(audit: &Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = audit["stacks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["stack"]["name"].as_str().unwrap().to_string(),
                r["freshness"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[tokio::test]
async fn the_operator_plans_starts_watches_reports_and_audits_exactly_what_the_pipeline_does() {
    let p = Pipeline::start(|env| env.set("SELECTION_MODE", "referencing")).await;
    p.emulator.control(json!({"update_delay_seconds": 0.3}));
    create_secret(&p.sm, "prod/db-password", "v1").await;
    create_stack(
        &p.cfn,
        "orders-api",
        &consumer_template("prod/db-password"),
        &[],
    )
    .await;
    let pinned = in_place_consumer_template("prod/db-password");
    create_stack(&p.cfn, "pinned-app", &pinned, &[]).await;
    // CloudFormation refuses its `false` (an output refers to a guarded resource).
    let broken = consumer_with_dangling_output("prod/db-password");
    create_stack(&p.cfn, "broken-app", &broken, &[]).await;
    // The new value: its event never arrives (the operator acts by hand).
    tokio::time::sleep(Duration::from_millis(50)).await;
    let version = put_secret(&p.sm, "prod/db-password", "v2").await;

    // plan: the pipeline's dry run, in the operator's process; exit 3 (one would fail).
    let plan = p
        .cli(&["plan", "--secret", "prod/db-password", "--output", "json"])
        .await;
    assert_eq!(plan.code, 3, "{plan:#?}");
    let planned = plan.json();
    assert_eq!(row(&planned, "orders-api")["outcome"], "would_refresh");
    assert_eq!(row(&planned, "pinned-app")["mode"], "in_place");
    assert_eq!(row(&planned, "broken-app")["outcome"], "would_fail");
    assert!(p.emulator.updates().is_empty(), "plan changes nothing");

    // audit before: every consumer still holds the earlier value; exit 3.
    let before = p
        .cli(&["audit", "--secret", "prod/db-password", "--output", "json"])
        .await;
    assert_eq!(before.code, 3, "{before:#?}");
    assert_eq!(
        freshness(&before.json()),
        pairs(&[
            ("broken-app", "stale"),
            ("orders-api", "stale"),
            ("pinned-app", "stale")
        ])
    );
    assert_eq!(before.json()["current_version"]["id"], version);

    // start + watch (piped: progress as plain lines on stderr, the summary on stdout).
    let started = p
        .cli(&["start", "--secret", "prod/db-password", "--output", "json"])
        .await;
    assert_eq!(started.code, 0, "{started:#?}");
    let name = started.json()["name"].as_str().unwrap().to_string();
    let secret_arn = planned["secret"]["arn"].as_str().unwrap();
    assert_eq!(
        name,
        rotatetoken::domain::trigger::execution_name(secret_arn, &version),
        "the trigger's name for this change"
    );
    let watched = p
        .cli(&["watch", &name, "--output", "json", "--interval", "0.3"])
        .await;
    assert_eq!(watched.code, 3, "the run failed (broken-app): {watched:#?}");
    assert!(
        watched.stderr.contains("progress: ") && watched.stderr.contains("stacks done"),
        "{}",
        watched.stderr
    );
    assert!(
        watched.stderr.contains("FAILED ") && watched.stderr.contains("broken-app"),
        "a failure is said as it happens: {}",
        watched.stderr
    );
    let finished = p.wait_for(&name, Duration::from_secs(60)).await;
    let summary = watched.json();
    assert_eq!(
        summary["stacks"], finished.summary["stacks"],
        "the execution's own summary"
    );
    assert_eq!(summary["counts"], finished.summary["counts"]);

    // The plan was what the run did, stack for stack, update for update.
    for stack in ["orders-api", "pinned-app", "broken-app"] {
        let (planned_row, done_row) = (row(&planned, stack), row(&summary, stack));
        let expected = match planned_row["outcome"].as_str().unwrap() {
            "would_refresh" => "refreshed",
            "would_fail" => "failed",
            other => other,
        };
        assert_eq!(done_row["outcome"], expected, "{stack}: {summary:#}");
        if expected == "refreshed" {
            assert_eq!(planned_row["plan"], done_row["plan"], "{stack}");
        }
    }

    // report: Markdown for the incident channel, exit 3 (the run failed).
    let report = p.cli(&["report", &name, "--format", "markdown"]).await;
    assert_eq!(report.code, 3, "{report:#?}");
    assert!(report.stdout.contains("**FAILED**"), "{}", report.stdout);
    for stack in ["orders-api", "pinned-app", "broken-app"] {
        assert!(
            report.stdout.contains(&format!("`{stack}`")),
            "{}",
            report.stdout
        );
    }

    // audit after: fresh where the run refreshed, stale where it failed.
    let after = p
        .cli(&["audit", "--secret", "prod/db-password", "--output", "json"])
        .await;
    assert_eq!(after.code, 3, "{after:#?}");
    assert_eq!(
        freshness(&after.json()),
        pairs(&[
            ("broken-app", "stale"),
            ("orders-api", "fresh"),
            ("pinned-app", "fresh")
        ])
    );

    // Errors name the problem and the fix.
    let missing = p.cli(&["plan", "--secret", "prod/no-such-secret"]).await;
    assert_eq!(missing.code, 1);
    assert!(
        missing.stderr.contains("prod/no-such-secret") && missing.stderr.contains("fix:"),
        "{missing:#?}"
    );
    let unknown = p.cli(&["watch", "rt-no-such-run"]).await;
    assert_eq!(unknown.code, 1);
    assert!(
        unknown.stderr.contains("was not found") && unknown.stderr.contains("fix:"),
        "{unknown:#?}"
    );
    let no_machine = p
        .cli(&[
            "--state-machine",
            "arn:aws:states:us-east-1:123456789012:stateMachine:gone",
            "start",
            "--secret",
            "prod/db-password",
        ])
        .await;
    assert_eq!(no_machine.code, 1);
    assert!(no_machine.stderr.contains("fix:"), "{no_machine:#?}");
}

#[tokio::test]
async fn a_stop_lets_every_begun_stack_finish_at_true_and_reports_the_rest_stopped() {
    // One stack at a time, each update held for a while: the stop lands mid-run. A short
    // step budget hands every stack back to the state machine between its invocations, so
    // the stop is seen by a stack that is between its phases too.
    let p = Pipeline::start(|env| {
        env.set("MAX_CONCURRENCY", "1")
            .set("STEP_BUDGET_SECONDS", "1")
    })
    .await;
    p.emulator.control(json!({"update_delay_seconds": 1.0}));
    create_secret(&p.sm, "prod/db-password", "v1").await;
    let stacks = ["app-1", "app-2", "app-3", "app-4"];
    for name in stacks {
        create_stack(&p.cfn, name, &consumer_template("prod/db-password"), &[]).await;
    }
    put_secret(&p.sm, "prod/db-password", "v2").await;
    let started = p
        .cli(&["start", "--secret", "prod/db-password", "--output", "json"])
        .await;
    assert_eq!(started.code, 0, "{started:#?}");
    let name = started.json()["name"].as_str().unwrap().to_string();
    // An operator follows it in a terminal while another stops it.
    let watch_args = ["watch", &name, "--interval", "0.3"];
    let watcher = p.cli_in_terminal(&watch_args);
    let stopper = async {
        let begun = std::time::Instant::now();
        while p.emulator.updates().is_empty() {
            assert!(begun.elapsed() < Duration::from_secs(60), "no stack began");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        p.cli(&["stop", &name]).await
    };
    let (watched, stopped) = tokio::join!(watcher, stopper);
    assert_eq!(stopped.code, 0, "{stopped:#?}");
    assert!(
        watched.stdout.contains("stacks done"),
        "a progress bar: {}",
        watched.stdout
    );
    assert!(
        watched.stdout.contains("[="),
        "a progress bar: {}",
        watched.stdout
    );

    let finished = p.wait_for(&name, Duration::from_secs(60)).await;
    let s = &finished.summary;
    let updated: std::collections::BTreeSet<String> =
        p.emulator.updates().into_iter().map(|u| u.stack).collect();
    let mut stopped_rows = 0;
    for stack in stacks {
        // Never left at false, whether it was refreshed or not.
        let (status, token) = stack_status_and_token(&p.cfn, stack).await;
        assert_eq!(token.as_deref(), Some("true"), "{stack} {status}");
        let r = row(s, stack);
        if updated.contains(stack) {
            assert_eq!(r["outcome"], "refreshed", "{stack} had begun: {s:#}");
        } else {
            assert_eq!(r["outcome"], "stopped", "{s:#}");
            assert_eq!(r["reason"], "stopped by operator", "{s:#}");
            stopped_rows += 1;
        }
    }
    assert!(
        stopped_rows >= 1,
        "the stop landed before the last stack began: {s:#}"
    );
    // Consumers left on the old value: a run that needs attention, never a quiet success
    // (the run fails, so the pipeline's failure alarm fires).
    assert_eq!(s["counts"]["stopped"], stopped_rows, "{s:#}");
    assert_eq!(finished.status, "FAILED", "{s:#}");
    // A second stop: the run has ended.
    let again = p.cli(&["stop", &name]).await;
    assert_eq!(again.code, 1, "{again:#?}");
}

#[tokio::test]
async fn the_scheduled_reconciliation_refreshes_only_the_consumer_whose_event_was_lost() {
    let p = Pipeline::start(|env| env.set("RECONCILE_ACTION", "refresh")).await;
    p.emulator.control(json!({"update_delay_seconds": 0.2}));
    let arn = create_secret(&p.sm, "prod/db-password", "v1").await;
    create_stack(
        &p.cfn,
        "stale-app",
        &consumer_template("prod/db-password"),
        &[],
    )
    .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    // The change's event is lost on the way: nothing runs.
    put_secret(&p.sm, "prod/db-password", "v2").await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    // A stack created after the change already holds the new value.
    create_stack(
        &p.cfn,
        "fresh-app",
        &consumer_template("prod/db-password"),
        &[],
    )
    .await;
    let (answer, name) = p.fire_schedule("2026-11-23T06:00:00Z", &arn).await;
    assert_eq!(answer["decision"], "reconciled", "{answer}");
    let done = p.wait_for(&name, Duration::from_secs(60)).await;
    assert_eq!(done.status, "SUCCEEDED", "{:#}", done.summary);
    let s = &done.summary;
    assert_eq!(row(s, "stale-app")["outcome"], "refreshed", "{s:#}");
    assert_eq!(row(s, "fresh-app")["outcome"], "skipped", "{s:#}");
    assert!(row(s, "fresh-app")["reason"]
        .as_str()
        .unwrap()
        .starts_with("fresh:"));
    let touched: Vec<String> = p.emulator.updates().into_iter().map(|u| u.stack).collect();
    assert!(touched.iter().all(|s| s == "stale-app"), "{touched:?}");
    // The run's start is planned for the stacks it kept: the stale one, first of its lane,
    // waits nothing (planned with fresh-app still first, it would have waited a second).
    let items = p
        .read_json(
            rotatetoken_tests::pipeline::RUNS_BUCKET,
            &format!("runs/{name}/selected.json"),
        )
        .await;
    assert_eq!(items.as_array().map(Vec::len), Some(1), "{items}");
    assert_eq!(items[0]["start_after_seconds"], 0, "{items}");
    // Every consumer now holds the current value.
    let audit = p
        .cli(&["audit", "--secret", &arn, "--output", "json"])
        .await;
    assert_eq!(audit.code, 0, "{audit:#?}");
    assert_eq!(
        freshness(&audit.json()),
        pairs(&[("fresh-app", "fresh"), ("stale-app", "fresh")])
    );
}

/// An incident: "which consumers still hold a value from before we contained the leak?"
/// across every secret matching a pattern. Before the rotation every consumer (and each
/// secret itself) holds a value from before `--since`: exit 3, in JSON and in Markdown for
/// the incident channel; after each secret's run, all fresh: exit 0. Secrets outside the
/// pattern are not audited; bad arguments are named.
#[tokio::test]
async fn an_incident_audit_since_a_moment_covers_every_matching_secret_and_their_consumers() {
    let p = Pipeline::start(|env| env.set("SELECTION_MODE", "referencing")).await;
    p.emulator.control(json!({"update_delay_seconds": 0.2}));
    let mut arns = vec![];
    for (name, stack) in [("prod/a", "app-a"), ("prod/b", "app-b"), ("dev/c", "app-c")] {
        arns.push(create_secret(&p.sm, name, "v1").await);
        create_stack(&p.cfn, stack, &consumer_template(name), &[]).await;
    }
    // A secret nothing consumes still holds its exposed value until it is rotated.
    create_secret(&p.sm, "prod/unused", "v1").await;
    // The leak is contained at the next whole second: every value so far is older.
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let since_ms = (now_ms / 1000 + 1) * 1000;
    tokio::time::sleep(Duration::from_millis(since_ms - now_ms + 50)).await;
    let since = rotatetoken::domain::utc::format_ms(since_ms);
    let audit = |format: &'static str| {
        let since = since.clone();
        let p = &p;
        async move {
            p.cli(&[
                "audit",
                "--secrets",
                "prod/*",
                "--since",
                &since,
                "--format",
                format,
            ])
            .await
        }
    };

    let before = audit("json").await;
    assert_eq!(before.code, 3, "{before:#?}");
    let b = before.json();
    assert_eq!(b["since"], since.as_str());
    assert_eq!(b["not_rotated_since"], 3, "{b:#}");
    assert_eq!(b["counts"]["consumers"], 2, "dev/c is not audited: {b:#}");
    assert_eq!(b["counts"]["stale"], 2, "{b:#}");
    for row in b["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["stacks"].as_array().unwrap())
    {
        assert!(
            row["detail"]
                .as_str()
                .unwrap()
                .contains("not been rotated since"),
            "{row:#}"
        );
    }
    let channel = audit("markdown").await;
    assert_eq!(channel.code, 3);
    assert!(
        channel
            .stdout
            .contains(&format!("### RotateToken audit since {since}"))
            && channel.stdout.contains("| app-a | **stale** |")
            && channel.stdout.contains("**not rotated**"),
        "{}",
        channel.stdout
    );

    // The rotation: each secret's run refreshes its consumers.
    for (name, arn) in [("prod/a", &arns[0]), ("prod/b", &arns[1])] {
        let version = put_secret(&p.sm, name, "v2").await;
        p.deliver(&sample_event("put-secret-value.json", arn, &version))
            .await;
        let done = p
            .wait_for(
                &rotatetoken::domain::trigger::execution_name(arn, &version),
                Duration::from_secs(60),
            )
            .await;
        assert_eq!(done.status, "SUCCEEDED", "{:#}", done.summary);
    }
    let after = audit("json").await;
    assert_eq!(after.code, 3, "prod/unused is not rotated yet: {after:#?}");
    let a = after.json();
    assert_eq!(a["not_rotated_since"], 1, "{a:#}");
    assert_eq!(
        (
            a["counts"]["consumers"].as_u64(),
            a["counts"]["fresh"].as_u64()
        ),
        (Some(2), Some(2)),
        "{a:#}"
    );
    put_secret(&p.sm, "prod/unused", "v2").await;
    let after = audit("json").await;
    assert_eq!(after.code, 0, "{after:#?}");
    assert_eq!(after.json()["not_rotated_since"], 0);
    let channel = audit("markdown").await;
    assert_eq!(channel.code, 0);
    assert!(
        channel
            .stdout
            .contains("Every consumer holds a fresh value."),
        "{}",
        channel.stdout
    );

    // Bad arguments, named: a moment not in UTC, one secret and a pattern at once, a
    // pattern no secret matches.
    let bad = p
        .cli(&["audit", "--secrets", "prod/*", "--since", "yesterday"])
        .await;
    assert_eq!(bad.code, 2, "{bad:#?}");
    assert!(bad.stderr.contains("--since"), "{}", bad.stderr);
    let both = p
        .cli(&["audit", "--secret", "prod/a", "--secrets", "prod/*"])
        .await;
    assert_eq!(both.code, 2, "{both:#?}");
    let none = p.cli(&["audit", "--secrets", "nothing/*"]).await;
    assert_eq!(none.code, 1, "{none:#?}");
    assert!(none.stderr.contains("no secret"), "{}", none.stderr);
}

#[tokio::test]
async fn bad_arguments_and_missing_credentials_are_refused_with_their_exit_codes() {
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let out = std::process::Command::new(rotatetoken_tests::cli::binary())
            .args(args)
            .env_clear()
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", "/nonexistent")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
            .envs(env.iter().copied())
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    rotatetoken_tests::cli::build_once();
    for (args, names) in [
        (vec![], "Usage"),
        (vec!["plan"], "--secret"),
        (vec!["report", "x", "--format", "pdf"], "pdf"),
        (vec!["watch"], "<EXECUTION>"),
        (vec!["start", "--secret", "s", "--output", "yaml"], "yaml"),
    ] {
        let (code, stderr) = run(&args, &[]);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains(names), "{args:?}: {stderr}");
    }
    // No region: said with the fix.
    let (code, stderr) = run(&["report", "x"], &[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("no region") && stderr.contains("--region"),
        "{stderr}"
    );
    // No credentials anywhere: said with the AWS CLI's ways to give them.
    let (code, stderr) = run(
        &[
            "--state-machine",
            "arn:aws:states:us-east-1:123456789012:stateMachine:m",
            "report",
            "x",
        ],
        &[
            ("AWS_REGION", "us-east-1"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
        ],
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("--profile"), "{stderr}");
    // Every subcommand's help has an example.
    for sub in [
        "plan",
        "start",
        "watch",
        "stop",
        "report",
        "audit",
        "incident start",
    ] {
        let out = std::process::Command::new(rotatetoken_tests::cli::binary())
            .args(sub.split(' ').chain(["--help"]))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(help.contains("Example:\n  rotate-token"), "{sub}: {help}");
    }
}

/// A stack's author must not borrow the pipeline's permissions: CloudFormation builds the
/// resources of a stack without a service role with the caller's (the pipeline's) power.
/// Such a consumer is refused (failed, never updated, the run fails) unless an
/// administrator listed it (`StacksWithoutServiceRole`); a stack with a service role keeps
/// it through both updates; the dry run says so first, and the scheduled reconciliation in
/// `refresh` mode refuses it again.
#[tokio::test]
async fn a_stack_without_a_service_role_is_refused_unless_an_administrator_listed_it() {
    const ROLE: &str = "arn:aws:iam::123456789012:role/cdk-hnb659fds-cfn-exec-role";
    let p = Pipeline::start(|env| {
        env.set(
            "STACKS_WITHOUT_SERVICE_ROLE",
            "arn:aws:cloudformation:*:*:stack/listed-app/*",
        )
        .set("RECONCILE_ACTION", "refresh")
    })
    .await;
    p.emulator.control(json!({"update_delay_seconds": 0.2}));
    let arn = create_secret(&p.sm, "prod/db-password", "v1").await;
    let template = consumer_template("prod/db-password");
    create_stack(&p.cfn, "borrowing-app", &template, &[]).await;
    create_stack(&p.cfn, "listed-app", &template, &[]).await;
    create_stack_with_role(&p.cfn, "role-app", &template, ROLE).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let version = put_secret(&p.sm, "prod/db-password", "v2").await;

    let plan = p
        .cli(&["plan", "--secret", "prod/db-password", "--output", "json"])
        .await;
    let planned = plan.json();
    assert_eq!(
        row(&planned, "borrowing-app")["outcome"],
        "would_fail",
        "{planned:#}"
    );
    assert_eq!(row(&planned, "listed-app")["outcome"], "would_refresh");
    assert_eq!(row(&planned, "role-app")["outcome"], "would_refresh");

    p.deliver(&sample_event("put-secret-value.json", &arn, &version))
        .await;
    let name = rotatetoken::domain::trigger::execution_name(&arn, &version);
    let done = p.wait_for(&name, Duration::from_secs(120)).await;
    assert_eq!(done.status, "FAILED", "a refused consumer needs attention");
    let s = &done.summary;
    let refused = row(s, "borrowing-app");
    assert_eq!(refused["outcome"], "failed", "{s:#}");
    assert!(
        refused["reason"]
            .as_str()
            .unwrap()
            .contains("no service role"),
        "{refused}"
    );
    assert_eq!(refused["critical"], false, "its resources are untouched");
    assert!(p
        .emulator
        .completed_token_updates("borrowing-app")
        .is_empty());
    for stack in ["listed-app", "role-app"] {
        assert_eq!(row(s, stack)["outcome"], "refreshed", "{s:#}");
        assert_eq!(
            p.emulator.completed_token_updates(stack),
            vec!["false", "true"]
        );
    }
    let role_app = p
        .cfn
        .describe_stacks()
        .stack_name("role-app")
        .send()
        .await
        .unwrap();
    assert_eq!(
        role_app.stacks()[0].role_arn(),
        Some(ROLE),
        "kept through both updates"
    );

    // The scheduled reconciliation finds it stale, and refuses it again.
    let (answer, name) = p.fire_schedule("2026-11-23T06:00:00Z", &arn).await;
    assert_eq!(answer["decision"], "reconciled", "{answer}");
    let again = p.wait_for(&name, Duration::from_secs(60)).await;
    assert_eq!(again.status, "FAILED", "{:#}", again.summary);
    assert_eq!(row(&again.summary, "borrowing-app")["outcome"], "failed");
    assert!(p
        .emulator
        .completed_token_updates("borrowing-app")
        .is_empty());
}

#[tokio::test]
async fn a_task_claiming_more_than_its_stack_shows_is_stopped_all_the_same_with_nothing_begun() {
    // Whether a stack's refresh has begun is read from the stack, never from the task: the
    // stop marker is read ahead only for a task that says nothing has begun, and read all
    // the same when the stack says so against the task (a later phase named, or an update
    // said to be begun that no event of the stack carries).
    let p = Pipeline::start(|env| env).await;
    create_secret(&p.sm, "prod/db-password", "v1").await;
    create_stack(&p.cfn, "app-1", &consumer_template("prod/db-password"), &[]).await;
    let described = p
        .cfn
        .describe_stacks()
        .stack_name("app-1")
        .send()
        .await
        .unwrap();
    let id = described.stacks()[0].stack_id().unwrap().to_string();
    let execution = "run-that-was-stopped";
    let selected = json!({
        "stack": {"account": "123456789012", "region": "us-east-1", "name": "app-1", "id": id},
        "parameter": "RotateToken", "phase": "disable", "execution": execution,
    });
    // The run selected the stack (its selection file, as discover writes it), then the
    // operator stopped it before the stack began.
    let key = rotatetoken::domain::model::RunFiles::new(RUNS_BUCKET, execution).selected_key(&id);
    aws_sdk_s3::Client::new(&p.config)
        .put_object()
        .bucket(RUNS_BUCKET)
        .key(key)
        .body(selected.to_string().into_bytes().into())
        .send()
        .await
        .unwrap();
    assert!(p.request_stop(execution).await);

    for (field, claim) in [("phase", json!("enable")), ("update_started", json!(true))] {
        let invoke = |task: &Value| {
            p.functions
                .invoke("rotatetoken-refresh", task)
                .unwrap_or_else(|e| panic!("{field}: {e}"))
        };
        // The claim said again on every look (a begun preview named by the look before,
        // too): handed back each time, never acted on.
        let mut task = selected.clone();
        let mut out = Value::Null;
        for _ in 0..3 {
            task[field] = claim.clone();
            out = invoke(&task);
            assert!(
                p.emulator.updates().is_empty(),
                "{field}: nothing was changed: {out:#}"
            );
            if out["outcome"] == "stopped" {
                break;
            }
            assert_eq!(out["outcome"], "waiting", "{field}: {out:#}");
            task = out.clone();
            // Past the change set's creation (half a second here): a preview the look
            // began is ready for the next.
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        // The claim no longer made: the next look stops it.
        if out["outcome"] != "stopped" {
            out = invoke(&task);
        }
        assert_eq!(out["outcome"], "stopped", "{field}: {out:#}");
        assert_eq!(out["phase"], "disable", "{field}: {out:#}");
        assert!(
            p.emulator.updates().is_empty(),
            "{field}: nothing was changed"
        );
    }
}
