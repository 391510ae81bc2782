//! Faults, through the real state machine and handlers on the emulator: heavy throttling of
//! CloudFormation and STS, and two secrets changing close together with overlapping stacks.

use std::time::Duration;

use rotatetoken::domain::trigger::execution_name;
use rotatetoken_tests::fixtures::*;
use rotatetoken_tests::pipeline::Pipeline;
use serde_json::{json, Value};

fn outcomes(summary: &Value) -> Vec<(String, String)> {
    let mut rows: Vec<(String, String)> = summary["stacks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["stack"].as_str().unwrap().to_string(),
                r["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    rows.sort();
    rows
}

#[tokio::test]
async fn under_30_percent_throttling_every_stack_is_still_refreshed() {
    let p = Pipeline::start(|env| env).await;
    p.emulator.control(json!({"update_delay_seconds": 0.3}));
    let arn = create_secret(&p.sm, "prod/db-password", "old").await;
    let stacks: Vec<String> = (0..8).map(|i| format!("service-{i}")).collect();
    for name in &stacks {
        create_stack(&p.cfn, name, &consumer_template("prod/db-password"), &[]).await;
    }
    // The fraction alone (no rate limit beside it): every throttled call is the product's.
    p.emulator.control(
        json!({"throttle": {"fraction": 0.3, "services": ["cloudformation", "sts"]},
        "rate_limits": {}}),
    );
    let version = put_secret(&p.sm, "prod/db-password", "new").await;

    p.deliver(&sample_event("put-secret-value.json", &arn, &version))
        .await;
    let done = p
        .wait_for(&execution_name(&arn, &version), Duration::from_secs(240))
        .await;

    let throttled = p.emulator.control(json!({}))["throttled"].as_u64().unwrap();

    assert!(throttled >= 5, "the fault was really injected: {throttled}");
    assert_eq!(done.status, "SUCCEEDED", "{:#}", done.summary);
    assert_eq!(done.summary["counts"]["refreshed"], 8, "{:#}", done.summary);
    // Healed, but not hidden: every throttled call is counted as retried in the summary.
    assert_eq!(
        done.summary["counts"]["retried_calls"].as_u64(),
        Some(throttled),
        "{:#}",
        done.summary["counts"]
    );
    for name in &stacks {
        assert_eq!(
            p.emulator.completed_token_updates(name),
            vec!["false", "true"],
            "{name}"
        );
        let res = resources(&p.cfn, name).await;
        assert_eq!(
            ssm_value(&p.ssm, &res["DatabasePassword"]).await.as_deref(),
            Some("new")
        );
    }
}

/// A consumer of two secrets: the guarded parameter holds both values.
fn two_secret_template(a: &str, b: &str) -> String {
    consumer_template(a).replace(
        ":SecretString}}\"\n  ApiKey:",
        &format!(":SecretString}}}}|{{{{resolve:secretsmanager:{b}:SecretString}}}}\"\n  ApiKey:"),
    )
}

#[tokio::test]
async fn two_secrets_changing_together_leave_every_stack_at_true_with_both_values() {
    let p = Pipeline::start(|env| env.set("SELECTION_MODE", "referencing")).await;
    // Slow updates, so the two executions really overlap on the shared stacks.
    p.emulator.control(json!({"update_delay_seconds": 1.0}));
    let db = create_secret(&p.sm, "prod/db", "db-1").await;
    let api = create_secret(&p.sm, "prod/api", "api-1").await;
    let shared = ["shared-a", "shared-b", "shared-c"];
    let template = two_secret_template("prod/db", "prod/api");
    assert!(
        template.contains("prod/db:SecretString}}|{{resolve:secretsmanager:prod/api"),
        "{template}"
    );
    for name in shared {
        create_stack(&p.cfn, name, &template, &[]).await;
    }
    create_stack(&p.cfn, "db-only", &consumer_template("prod/db"), &[]).await;
    create_stack(&p.cfn, "api-only", &consumer_template("prod/api"), &[]).await;

    let v_db = put_secret(&p.sm, "prod/db", "db-2").await;
    p.deliver(&sample_event("put-secret-value.json", &db, &v_db))
        .await;
    tokio::time::sleep(Duration::from_millis(1_500)).await; // the first run is mid-update
    let v_api = put_secret(&p.sm, "prod/api", "api-2").await;
    p.deliver(&sample_event("put-secret-value.json", &api, &v_api))
        .await;

    let first = p
        .wait_for(&execution_name(&db, &v_db), Duration::from_secs(240))
        .await;
    let second = p
        .wait_for(&execution_name(&api, &v_api), Duration::from_secs(240))
        .await;
    assert_eq!(first.status, "SUCCEEDED", "{:#}", first.summary);
    assert_eq!(second.status, "SUCCEEDED", "{:#}", second.summary);
    // The two executions really overlapped.
    let describe = |arn: String| {
        let sfn = p.sfn.clone();
        async move {
            sfn.describe_execution()
                .execution_arn(arn)
                .send()
                .await
                .unwrap()
        }
    };
    let (a, b) = (
        describe(first.arn.clone()).await,
        describe(second.arn.clone()).await,
    );
    assert!(
        b.start_date().secs() < a.stop_date().unwrap().secs(),
        "the second run started before the first ended"
    );
    let refreshed = |names: &[&str]| {
        names
            .iter()
            .map(|n| (n.to_string(), "refreshed".to_string()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        outcomes(&first.summary),
        refreshed(&["db-only", "shared-a", "shared-b", "shared-c"])
    );
    assert_eq!(
        outcomes(&second.summary),
        refreshed(&["api-only", "shared-a", "shared-b", "shared-c"])
    );

    for name in shared {
        assert_eq!(
            stack_status_and_token(&p.cfn, name).await,
            ("UPDATE_COMPLETE".to_string(), Some("true".to_string())),
            "{name}"
        );
        let res = resources(&p.cfn, name).await;
        assert_eq!(
            ssm_value(&p.ssm, &res["DatabasePassword"]).await.as_deref(),
            Some("db-2|api-2"),
            "{name} re-read both values"
        );
    }
    // Every update the emulator accepted finished; none was refused for being in progress
    // (the refresh waits for the stack instead of failing).
    for u in p.emulator.updates() {
        assert_eq!(u.result, "UPDATE_COMPLETE", "{u:?}");
    }
}

/// The trigger dies right after claiming the secret's lock, before `StartExecution` (a
/// time-out, a crash: emulator patch 44), and Lambda retries the event (patch 45). The
/// retry finds its own claim with no run behind it and starts the run, rather than taking
/// the claim for a run under way and starting nothing.
#[tokio::test]
async fn a_claim_whose_run_never_started_is_started_by_the_retry() {
    let p = Pipeline::start(|env| env).await;
    let arn = create_secret(&p.sm, "prod/db-password", "old").await;
    create_stack(
        &p.cfn,
        "service-0",
        &consumer_template("prod/db-password"),
        &[],
    )
    .await;
    p.emulator.control(json!({
        "crash_after_call": {"rotatetoken-trigger": {"action": "s3:PutObject", "times": 1}},
        "async_retry_delays_seconds": [1, 1],
    }));
    let version = put_secret(&p.sm, "prod/db-password", "new").await;

    p.deliver(&sample_event("put-secret-value.json", &arn, &version))
        .await;
    let done = p
        .wait_for(&execution_name(&arn, &version), Duration::from_secs(120))
        .await;

    let config = p.emulator.control(json!({}));
    assert_eq!(
        config["crash_after_call"]["rotatetoken-trigger"]["times"], 0,
        "the trigger was killed after its claim: {config}"
    );
    assert_eq!(done.status, "SUCCEEDED", "{:#}", done.summary);
    assert_eq!(done.summary["counts"]["refreshed"], 1, "{:#}", done.summary);
    assert_eq!(
        p.emulator.completed_token_updates("service-0"),
        vec!["false", "true"]
    );
}

/// The error a finished execution failed with (its Fail state's or the state's error).
async fn failed_with(p: &Pipeline, execution_arn: &str) -> String {
    let d = p
        .sfn
        .describe_execution()
        .execution_arn(execution_arn)
        .send()
        .await
        .unwrap();
    d.error().unwrap_or_default().to_string()
}

/// The Distributed Map cannot write its results (S3 refuses the ResultWriter: a tightened
/// bucket policy, a disabled key): the Map fails and Report never runs, so no summary and
/// no per-stack alert can come. Step Functions itself sends a CRITICAL alert naming the
/// run, the error and where its files are, and the execution fails.
#[tokio::test]
async fn a_map_that_cannot_write_its_results_still_raises_a_critical_alert() {
    let p = Pipeline::start(|env| env).await;
    let arn = create_secret(&p.sm, "prod/db-password", "old").await;
    create_stack(
        &p.cfn,
        "service-0",
        &consumer_template("prod/db-password"),
        &[],
    )
    .await;
    p.emulator
        .control(json!({"deny_s3_writes": ["map-results/*"]}));
    let version = put_secret(&p.sm, "prod/db-password", "new").await;

    p.deliver(&sample_event("put-secret-value.json", &arn, &version))
        .await;
    let name = execution_name(&arn, &version);
    let done = p.wait_for(&name, Duration::from_secs(120)).await;

    assert_eq!(done.status, "FAILED", "{}", done.raw_output);
    assert_eq!(
        failed_with(&p, &done.arn).await,
        "RotateToken.RunNotReported"
    );
    let alerts = p.alerts().await;
    let fallback = alerts
        .iter()
        .find(|(subject, _)| {
            subject.starts_with("CRITICAL") && subject.contains("without its report")
        })
        .unwrap_or_else(|| panic!("no fallback alert: {alerts:#?}"));
    let message = &fallback.1;
    for needed in [
        name.as_str(),
        arn.as_str(),
        "map-results/",
        "rotate-token audit",
    ] {
        assert!(message.contains(needed), "{needed} missing: {message}");
    }
    assert!(
        message.contains("States.ResultWriterFailed") || message.contains("AccessDenied"),
        "{message}"
    );
}

/// Report cannot write the run's summary (S3 refuses it) while a stack is CRITICAL (its
/// phase two rolled back: left at false). Report alerts before it writes, so the stack's
/// CRITICAL alert with its restore command goes out; its retries fail the same way, and
/// the fallback alert says the run ended without its report.
#[tokio::test]
async fn a_report_that_cannot_write_its_summary_still_alerts_for_its_critical_stack() {
    let p = Pipeline::start(|env| env).await;
    let arn = create_secret(&p.sm, "prod/db-password", "old").await;
    create_stack(
        &p.cfn,
        "service-0",
        &consumer_template("prod/db-password"),
        &[],
    )
    .await;
    p.emulator.control(json!({
        "fail_create": {"service-0": ["DatabasePassword"]},
        "deny_s3_writes": ["runs/*/summary.json"],
    }));
    let version = put_secret(&p.sm, "prod/db-password", "new").await;

    p.deliver(&sample_event("put-secret-value.json", &arn, &version))
        .await;
    let name = execution_name(&arn, &version);
    let done = p.wait_for(&name, Duration::from_secs(240)).await;

    assert_eq!(done.status, "FAILED", "{}", done.raw_output);
    assert_eq!(
        failed_with(&p, &done.arn).await,
        "RotateToken.RunNotReported"
    );
    let alerts = p.alerts().await;
    assert!(
        alerts
            .iter()
            .any(|(subject, m)| subject.starts_with("CRITICAL")
                && m.contains("service-0")
                && m.contains("aws cloudformation update-stack")),
        "the stack's own CRITICAL alert, with its restore command: {alerts:#?}"
    );
    assert!(
        alerts
            .iter()
            .any(|(subject, m)| subject.contains("without its report") && m.contains(&name)),
        "{alerts:#?}"
    );
}

/// An operator (or a deploy tool) aborts a run while the stacks' phase ones are under way:
/// Step Functions stops the execution and its Map's child executions (an invocation under
/// way runs to its end; no new one starts), no Report runs, and the stacks are left at
/// false. The run's end is told to the operators by the pipeline itself, naming the run,
/// the secret and where its files are.
#[tokio::test]
async fn an_aborted_run_is_told_to_the_operators_and_its_children_stop() {
    // Each refresh invocation gives up waiting after a second, so a stack's refresh is
    // many invocations: the ones after the abort must never start.
    let p = Pipeline::start(|env| {
        env.set("POLL_INTERVAL_SECONDS", "0.5")
            .set("STEP_BUDGET_SECONDS", "1")
    })
    .await;
    let arn = create_secret(&p.sm, "prod/db-password", "old").await;
    for name in ["service-0", "service-1"] {
        create_stack(&p.cfn, name, &consumer_template("prod/db-password"), &[]).await;
    }
    // Long enough that the second stack's phase one (a second behind the first, more on a
    // loaded machine: `make test` once saw the first's phase two come first at 4 s) begins
    // while the first's still runs.
    p.emulator.control(json!({"update_delay_seconds": 8.0}));
    let version = put_secret(&p.sm, "prod/db-password", "new").await;
    p.deliver(&sample_event("put-secret-value.json", &arn, &version))
        .await;
    let name = execution_name(&arn, &version);
    let mut begun = vec![];
    for _ in 0..300 {
        begun = p.emulator.updates();
        if begun.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(begun.len(), 2, "both phase ones begin");
    assert!(begun.iter().all(|u| u.token == "false"), "{begun:?}");
    let execution_arn = rotatetoken_tests::execution_arn(&name);
    p.sfn
        .stop_execution()
        .execution_arn(&execution_arn)
        .send()
        .await
        .unwrap();
    let aborted_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let done = p.wait_for(&name, Duration::from_secs(30)).await;
    assert_eq!(done.status, "ABORTED");

    let alert = p
        .wait_for_alert(Duration::from_secs(30), |subject, m| {
            subject.starts_with("CRITICAL") && m.contains(&name)
        })
        .await;
    let alert = alert.expect("a CRITICAL alert names the aborted run");
    for needed in ["ABORTED", arn.as_str(), "rotate-token audit", "runs/"] {
        assert!(alert.1.contains(needed), "{needed} missing: {}", alert.1);
    }
    // The children were stopped with their parent: the invocations under way end, no new
    // one starts, so no phase two begins and the stacks stay at false (what the alert says).
    tokio::time::sleep(Duration::from_secs(8)).await;
    let late: Vec<Value> = p
        .emulator
        .invocations()
        .into_iter()
        .filter(|i| {
            i["function"] == "rotatetoken-refresh"
                && i["started_at"].as_f64().unwrap_or(0.0) > aborted_at + 0.5
        })
        .collect();
    assert!(late.is_empty(), "refresh invoked after the abort: {late:?}");
    let tokens: Vec<String> = p
        .emulator
        .updates()
        .iter()
        .map(|u| format!("{} {}", u.stack, u.token))
        .collect();
    assert_eq!(tokens.len(), 2, "no phase two after the abort: {tokens:?}");
}
