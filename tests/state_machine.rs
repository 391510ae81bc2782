//! End to end: the real ASL file, run by moto's Step Functions interpreter, whose Lambda
//! tasks run the real Rust handlers, against the extended emulator: on `cargo lambda watch`
//! (the README's path without Docker) for the scenario, on the suites' own Lambda host
//! (tests/harness/functions.rs) for the others.
//! The trigger receives the CloudTrail event through the EventBridge rule of template.yaml.

use std::collections::BTreeMap;
use std::time::Duration;

use rotatetoken::domain::trigger::execution_name;
use rotatetoken_tests::fixtures::*;
use rotatetoken_tests::pipeline::{row, Pipeline};
use rotatetoken_tests::wait_until;
use serde_json::json;

struct Scenario {
    p: Pipeline,
    arn: String,
    before: BTreeMap<String, BTreeMap<String, String>>,
}

const CONSUMERS: [&str; 3] = ["orders-api", "payments-worker", "reports-job"];
const BYSTANDERS: [&str; 3] = ["no-parameter", "other-secret", "stuck"];

/// Six stacks: three consumers; one without the parameter; one with the parameter that
/// reads another secret; one consumer stuck in UPDATE_ROLLBACK_FAILED.
async fn scenario(old_value: &str) -> Scenario {
    let p = Pipeline::start(|env| {
        env.set("SELECTION_MODE", "referencing")
            .on_cargo_lambda_watch()
    })
    .await;
    p.emulator.control(json!({"update_delay_seconds": 0.4}));
    let arn = create_secret(&p.sm, "prod/db-password", old_value).await;
    create_secret(&p.sm, "other/api-key", "unrelated").await;
    for name in CONSUMERS {
        create_stack(&p.cfn, name, &consumer_template("prod/db-password"), &[]).await;
    }
    create_stack(
        &p.cfn,
        "no-parameter",
        &plain_template("prod/db-password"),
        &[],
    )
    .await;
    create_stack(
        &p.cfn,
        "other-secret",
        &consumer_template("other/api-key"),
        &[],
    )
    .await;
    create_stack(&p.cfn, "stuck", &consumer_template(&arn), &[]).await;
    p.emulator.force_status(
        "stuck",
        "UPDATE_ROLLBACK_FAILED",
        "DatabasePassword failed to roll back",
    );
    let mut before = BTreeMap::new();
    for name in CONSUMERS.iter().chain(BYSTANDERS.iter()) {
        before.insert(name.to_string(), resources(&p.cfn, name).await);
    }
    Scenario { p, arn, before }
}

#[tokio::test]
async fn a_put_secret_value_refreshes_exactly_the_consumers() {
    let canary_old = "CANARY-old-7f3a9c";
    let canary_new = "CANARY-new-b41e2d";
    let Scenario { p, arn, before } = scenario(canary_old).await;
    let version = put_secret(&p.sm, "prod/db-password", canary_new).await;

    p.deliver(&sample_event("put-secret-value.json", &arn, &version))
        .await;
    let name = execution_name(&arn, &version);
    let done = p.wait_for(&name, Duration::from_secs(120)).await;

    assert_eq!(done.status, "SUCCEEDED", "{:#}", done.summary);
    let s = &done.summary;
    assert_eq!(
        s["counts"],
        json!({"scanned": 6, "selected": 3, "refreshed": 3, "would_refresh": 0, "would_fail": 0, "skipped": 1, "failed": 0, "critical": 0, "stopped": 0, "failed_targets": 0, "retried_calls": 0}),
        "{s:#}"
    );
    assert_eq!(s["secret"]["version_id"], json!(version));
    assert_eq!(
        s["stacks"].as_array().unwrap().len(),
        4,
        "three refreshed, one skipped: {s:#}"
    );
    for stack in CONSUMERS {
        assert_eq!(row(s, stack)["outcome"], "refreshed");
        assert_eq!(row(s, stack)["account"], "123456789012");
        assert_eq!(row(s, stack)["region"], "us-east-1");
        assert_eq!(
            p.emulator.completed_token_updates(stack),
            vec!["false", "true"],
            "{stack}"
        );
        let after = resources(&p.cfn, stack).await;
        for guarded in ["DatabasePassword", "ApiKey"] {
            assert_ne!(
                after[guarded], before[stack][guarded],
                "{stack}/{guarded} recreated"
            );
        }
        assert_eq!(after["Settings"], before[stack]["Settings"]);
        assert_eq!(
            ssm_value(&p.ssm, &after["DatabasePassword"])
                .await
                .as_deref(),
            Some(canary_new)
        );
        assert_eq!(
            stack_status_and_token(&p.cfn, stack).await,
            ("UPDATE_COMPLETE".to_string(), Some("true".to_string()))
        );
    }
    let stuck = row(s, "stuck");
    assert_eq!(stuck["outcome"], "skipped");
    assert!(stuck["reason"]
        .as_str()
        .unwrap()
        .contains("UPDATE_ROLLBACK_FAILED"));
    for stack in BYSTANDERS {
        assert!(
            p.emulator.completed_token_updates(stack).is_empty(),
            "{stack} untouched"
        );
        assert_eq!(
            resources(&p.cfn, stack).await,
            before[stack],
            "{stack} resources untouched"
        );
    }

    // A bounded number of state transitions per stack refreshed: each stack is a
    // Distributed Map child execution of Refresh and StillUpdating? (per invocation). No
    // stack waited for a place in its lane: none ran FreePlace, which would wake no one.
    assert_eq!(
        p.functions
            .logs()
            .matches("a place in the lane was handed on")
            .count(),
        0,
        "FreePlace ran though no stack was refused a place"
    );
    for stack in CONSUMERS {
        let invocations = row(s, stack)["invocations"].as_u64().unwrap();
        assert!(
            (1..=5).contains(&invocations),
            "{stack}: {invocations} invocations"
        );
    }
    // The parent's own history does not grow with the number of stacks.
    let history = p.history(&done.arn).await;
    let parent_states = history
        .iter()
        .filter(|e| e.contains("StateEntered"))
        .count();
    assert!(
        parent_states <= 8,
        "{parent_states} parent state transitions"
    );

    // At-least-once delivery: the same version again starts nothing and changes nothing.
    let updates_before = p.emulator.updates().len();
    p.deliver(&sample_event("put-secret-value.json", &arn, &version))
        .await;
    p.deliver(&sample_event("secret-label-updated.json", &arn, &version))
        .await;
    let duplicates = wait_until(Duration::from_secs(30), || {
        (p.functions
            .logs()
            .matches("\"decision\":\"duplicate\"")
            .count()
            >= 2)
            .then_some(())
    });
    assert!(
        duplicates.is_some(),
        "both redeliveries seen as duplicates:\n{}",
        p.functions.logs()
    );
    assert_eq!(p.executions().await, vec![name.clone()]);
    assert_eq!(p.emulator.updates().len(), updates_before);

    // The pipeline never reads or logs the secret value.
    let logs = p.functions.logs();
    assert!(
        logs.contains("refresh started"),
        "function logs are captured"
    );
    // Structured logs: every line of discover, refresh and report names the execution;
    // refresh's lines also name the account, region and stack.
    let ours: Vec<&str> = logs
        .lines()
        .filter(|l| {
            l.contains("\"name\":\"discover\"")
                || l.contains("\"name\":\"refresh\"")
                || l.contains("\"name\":\"report\"")
        })
        .collect();
    assert!(ours.len() >= 5, "{logs}");
    for line in &ours {
        assert!(
            line.contains(&format!("\"execution\":\"{name}\"")),
            "{line}"
        );
        if line.contains("\"name\":\"refresh\"") {
            for field in [
                "\"account\":\"123456789012\"",
                "\"region\":\"us-east-1\"",
                "\"stack\":\"",
            ] {
                assert!(line.contains(field), "{field} missing: {line}");
            }
        }
    }
    for message in ["discovery done", "stack refreshed", "run summary"] {
        assert!(
            ours.iter().any(|l| l.contains(message)),
            "{message} is logged inside its span"
        );
    }
    for canary in [canary_old, canary_new] {
        assert!(!logs.contains(canary), "secret value in function logs");
        assert!(
            !done.raw_output.contains(canary),
            "secret value in execution output"
        );
        assert!(
            !history.iter().any(|e| e.contains(canary)),
            "secret value in execution history"
        );
    }
}

#[tokio::test]
async fn a_failed_phase_two_fails_the_execution_and_names_the_stack() {
    let Scenario { p, arn, .. } = scenario("v1").await;
    p.emulator
        .control(json!({"fail_create": {"payments-worker": ["ApiKey"]}}));
    let version = put_secret(&p.sm, "prod/db-password", "v2").await;

    p.deliver(&sample_event("put-secret-value.json", &arn, &version))
        .await;
    let done = p
        .wait_for(&execution_name(&arn, &version), Duration::from_secs(120))
        .await;

    assert_eq!(
        done.status, "FAILED",
        "an alarm on failed executions must fire"
    );
    let s = &done.summary;
    assert_eq!(s["counts"]["refreshed"], 2, "{s:#}");
    assert_eq!(s["counts"]["failed"], 1);
    assert_eq!(s["counts"]["critical"], 1);
    let failed = row(s, "payments-worker");
    assert_eq!(failed["outcome"], "failed");
    assert_eq!(failed["phase"], "true");
    assert_eq!(failed["status"], "UPDATE_ROLLBACK_COMPLETE");
    assert_eq!(failed["critical"], true);
    let reason = failed["reason"].as_str().unwrap();
    assert!(reason.contains("ApiKey"), "{reason}");
    assert!(
        reason.contains("attempt 3 of 3"),
        "phase two was retried: {reason}"
    );
    assert!(
        reason.contains("aws cloudformation update-stack"),
        "{reason}"
    );
    assert!(
        reason.contains("ParameterKey=Environment,UsePreviousValue=true"),
        "the restore command keeps every other parameter: {reason}"
    );
    assert_eq!(row(s, "orders-api")["outcome"], "refreshed");
    let attempts: Vec<(String, String)> = p
        .emulator
        .updates()
        .into_iter()
        .filter(|u| u.stack == "payments-worker")
        .map(|u| (u.token, u.result))
        .collect();
    let rolled_back = ("true".to_string(), "UPDATE_ROLLBACK_COMPLETE".to_string());
    assert_eq!(
        attempts,
        vec![
            ("false".to_string(), "UPDATE_COMPLETE".to_string()),
            rolled_back.clone(),
            rolled_back.clone(),
            rolled_back
        ],
        "phase one once, phase two three times"
    );

    // The operators are told: the run summary, and a CRITICAL alert with the command.
    let alerts = p.alerts().await;
    let critical: Vec<_> = alerts
        .iter()
        .filter(|(subject, _)| subject.starts_with("CRITICAL"))
        .collect();
    assert_eq!(critical.len(), 1, "{alerts:#?}");
    assert!(
        critical[0].1.contains("payments-worker"),
        "{}",
        critical[0].1
    );
    assert!(critical[0].1.contains("aws cloudformation update-stack"));
    assert!(
        alerts
            .iter()
            .any(|(subject, _)| subject.starts_with("RotateToken FAILED")),
        "{alerts:#?}"
    );
}

/// A child execution that ends outside any Catch (here aborted, as an operator's
/// StopExecution on it would) is a failed item of the Distributed Map. On AWS one such
/// child fails the whole Map by default (ToleratedFailurePercentage 0) and Report never
/// runs; the state machine tolerates it and Report gives the stack a CRITICAL row, since
/// nothing says how far its refresh got.
#[tokio::test]
async fn a_child_that_ends_outside_the_catch_still_gets_a_critical_row_and_an_alert() {
    let Scenario { p, arn, .. } = scenario("v1").await;
    p.emulator
        .control(json!({"abort_children": ["payments-worker"]}));
    let version = put_secret(&p.sm, "prod/db-password", "v2").await;

    p.deliver(&sample_event("put-secret-value.json", &arn, &version))
        .await;
    let done = p
        .wait_for(&execution_name(&arn, &version), Duration::from_secs(120))
        .await;

    assert_eq!(done.status, "FAILED", "{}", done.raw_output);
    let s = &done.summary;
    assert_eq!(
        s["counts"]["selected"], 3,
        "every selected stack has a row: {s:#}"
    );
    assert_eq!(s["counts"]["refreshed"], 2, "{s:#}");
    let aborted = row(s, "payments-worker");
    assert_eq!(aborted["outcome"], "failed");
    assert_eq!(aborted["critical"], true);
    let reason = aborted["reason"].as_str().unwrap();
    assert!(reason.contains("ABORTED"), "{reason}");
    assert!(
        reason.contains("aws cloudformation update-stack"),
        "{reason}"
    );
    assert_eq!(row(s, "orders-api")["outcome"], "refreshed");
    let alerts = p.alerts().await;
    assert!(
        alerts
            .iter()
            .any(|(subject, m)| subject.starts_with("CRITICAL") && m.contains("payments-worker")),
        "{alerts:#?}"
    );
}

/// The commonest stack in a real organisation: deployed by `sam deploy` (a change set, so
/// DescribeStacks lists only CAPABILITY_IAM), with a Transform CloudFormation re-expands
/// on every update, which it refuses without CAPABILITY_AUTO_EXPAND.
#[tokio::test]
async fn a_stack_deployed_by_sam_deploy_is_refreshed_through_its_transform() {
    let p = Pipeline::start(|env| env.set("SELECTION_MODE", "referencing")).await;
    let arn = create_secret(&p.sm, "prod/db-password", "v1").await;
    deploy_with_change_set(
        &p.cfn,
        "sam-app",
        &sam_consumer_template("prod/db-password"),
    )
    .await;
    let described = p
        .cfn
        .describe_stacks()
        .stack_name("sam-app")
        .send()
        .await
        .unwrap();
    let caps: Vec<String> = described.stacks()[0]
        .capabilities()
        .iter()
        .map(|c| c.as_str().to_string())
        .collect();
    assert_eq!(caps, vec!["CAPABILITY_IAM"], "as sam deploy leaves it");
    let lambda = aws_sdk_lambda::Client::new(&p.config);
    assert_eq!(
        function_env(&p.cfn, &lambda, "sam-app", "Reader", "DB_PASSWORD")
            .await
            .as_deref(),
        Some("v1")
    );

    let version = put_secret(&p.sm, "prod/db-password", "v2").await;
    p.deliver(&sample_event("put-secret-value.json", &arn, &version))
        .await;
    let done = p
        .wait_for(&execution_name(&arn, &version), Duration::from_secs(120))
        .await;

    assert_eq!(done.status, "SUCCEEDED", "{:#}", done.summary);
    assert_eq!(row(&done.summary, "sam-app")["outcome"], "refreshed");
    assert_eq!(
        p.emulator.completed_token_updates("sam-app"),
        vec!["false", "true"]
    );
    assert_eq!(
        function_env(&p.cfn, &lambda, "sam-app", "Reader", "DB_PASSWORD")
            .await
            .as_deref(),
        Some("v2"),
        "the recreated function re-read the secret"
    );
}

/// What CloudFormation refuses, and what it fails to clean up, are failures the operator
/// sees and the alarm counts: never skips, never "refreshed".
#[tokio::test]
async fn refused_updates_and_cleanup_failures_are_reported_failed() {
    let p = Pipeline::start(|env| env.set("SELECTION_MODE", "referencing")).await;
    p.emulator.control(
        json!({"update_delay_seconds": 0.3, "fail_delete": {"orphaning": ["DatabasePassword"]}}),
    );
    let arn = create_secret(&p.sm, "prod/db-password", "v1").await;
    for name in ["orders-api", "orphaning"] {
        create_stack(&p.cfn, name, &consumer_template("prod/db-password"), &[]).await;
    }
    create_stack(
        &p.cfn,
        "dangling",
        &consumer_with_dangling_output("prod/db-password"),
        &[],
    )
    .await;
    p.ssm
        .put_parameter()
        .name("/app/ami")
        .value("ami-1")
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .send()
        .await
        .unwrap();
    create_stack(
        &p.cfn,
        "ami-follower",
        &consumer_with_ssm_typed_parameter("prod/db-password"),
        &[],
    )
    .await;
    p.ssm
        .put_parameter()
        .name("/app/ami")
        .value("ami-2")
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .overwrite(true)
        .send()
        .await
        .unwrap();
    let orphan = resources(&p.cfn, "orphaning").await["DatabasePassword"].clone();
    let version = put_secret(&p.sm, "prod/db-password", "v2").await;

    p.deliver(&sample_event("put-secret-value.json", &arn, &version))
        .await;
    let done = p
        .wait_for(&execution_name(&arn, &version), Duration::from_secs(120))
        .await;

    assert_eq!(
        done.status, "FAILED",
        "the alarm must fire: {:#}",
        done.summary
    );
    let s = &done.summary;
    assert_eq!(row(s, "orders-api")["outcome"], "refreshed");
    let dangling = row(s, "dangling");
    assert_eq!(dangling["outcome"], "failed", "{s:#}");
    assert_eq!(dangling["critical"], false);
    let reason = dangling["reason"].as_str().unwrap();
    assert!(
        reason.contains("output PasswordParameterName refers to DatabasePassword"),
        "{reason}"
    );
    assert!(
        p.emulator.completed_token_updates("dangling").is_empty(),
        "nothing changed"
    );

    let orphaning = row(s, "orphaning");
    assert_eq!(orphaning["outcome"], "failed", "{s:#}");
    let reason = orphaning["reason"].as_str().unwrap();
    assert!(
        reason.contains(&format!("DatabasePassword ({orphan})")),
        "{reason}"
    );
    assert_eq!(
        p.emulator.completed_token_updates("orphaning"),
        vec!["false", "true"],
        "phase two still brought the stack back"
    );
    assert_eq!(
        ssm_value(&p.ssm, &orphan).await.as_deref(),
        Some("v1"),
        "the orphan lives on with the old value, as the row says"
    );

    // Its AMI parameter moved on: phase one would replace more than the guarded resources.
    let follower = row(s, "ami-follower");
    assert_eq!(follower["outcome"], "skipped", "{s:#}");
    let reason = follower["reason"].as_str().unwrap();
    assert!(
        reason.contains("Server (AWS::SSM::Parameter): Modify"),
        "{reason}"
    );
    assert!(p
        .emulator
        .completed_token_updates("ami-follower")
        .is_empty());
}

#[tokio::test]
async fn a_dry_run_selects_and_reports_but_changes_nothing() {
    let Scenario { p, arn, before } = scenario("v1").await;
    let input = json!({"secret": {"arn": arn}, "dry_run": true});
    p.start_execution("dry-run-1", &input).await;
    let done = p.wait_for("dry-run-1", Duration::from_secs(60)).await;

    assert_eq!(done.status, "SUCCEEDED");
    assert_eq!(
        done.summary["counts"]["would_refresh"], 3,
        "{:#}",
        done.summary
    );
    assert_eq!(done.summary["counts"]["skipped"], 1);
    assert_eq!(done.summary["dry_run"], true);
    for stack in CONSUMERS {
        assert_eq!(row(&done.summary, stack)["outcome"], "would_refresh");
    }
    assert!(p.emulator.updates().is_empty(), "a dry run changes nothing");
    for (stack, res) in &before {
        assert_eq!(&resources(&p.cfn, stack).await, res);
    }
}

#[tokio::test]
async fn events_that_change_no_current_value_or_are_out_of_scope_start_nothing() {
    const SOURCE: &str = "333333333333";
    let p = Pipeline::start(|env| {
        env.set("SECRET_NAME_PREFIXES", "prod/,shared/")
            .set("SOURCE_ACCOUNTS", SOURCE)
    })
    .await;
    let arn = create_secret(&p.sm, "prod/db-password", "v1").await;
    for file in [
        "put-secret-value-pending.json",
        "put-secret-value-failed.json",
        "update-secret-description-only.json",
    ] {
        p.deliver(&sample_event(file, &arn, "v-x")).await;
    }
    // A real new value, of a secret outside SecretNamePrefixes (issue 9).
    let sandbox = create_secret(&p.sm, "sandbox/db-password", "s1").await;
    let version = put_secret(&p.sm, "sandbox/db-password", "s2").await;
    p.deliver(&sample_event("put-secret-value.json", &sandbox, &version))
        .await;
    // A source account's secret named like this deployment's: its name is its own choice,
    // so only an ARN prefix naming the account would admit it (issue 27).
    let source_sm =
        aws_sdk_secretsmanager::Client::new(&p.emulator.sdk_config_in(SOURCE, "us-east-1").await);
    let lookalike = create_secret(&source_sm, "prod/db-password", "x1").await;
    let version = put_secret(&source_sm, "prod/db-password", "x2").await;
    p.deliver(&sample_event("put-secret-value.json", &lookalike, &version))
        .await;
    let ignored = wait_until(Duration::from_secs(30), || {
        (p.functions
            .logs()
            .matches("\"decision\":\"ignored\"")
            .count()
            >= 5)
            .then_some(())
    });
    assert!(
        ignored.is_some(),
        "five ignore decisions logged:\n{}",
        p.functions.logs()
    );
    assert!(p.executions().await.is_empty());
    let logs = p.functions.logs();
    for reason in [
        "AWSPENDING",
        "AccessDenied",
        "metadata only",
        "is outside this deployment's scope (SecretNamePrefixes: prod/,shared/",
        "a name prefix admits no secret of the source account 333333333333",
    ] {
        assert!(logs.contains(reason), "reason {reason} logged");
    }
}

#[tokio::test]
async fn update_secret_version_stage_from_rotation_refreshes() {
    let p = Pipeline::start(|env| env).await;
    let arn = create_secret(&p.sm, "prod/db-password", "v1").await;
    create_stack(
        &p.cfn,
        "orders-api",
        &consumer_template("prod/db-password"),
        &[],
    )
    .await;
    let version = put_secret(&p.sm, "prod/db-password", "v2").await;

    p.deliver(&sample_event(
        "update-secret-version-stage.json",
        &arn,
        &version,
    ))
    .await;
    let done = p
        .wait_for(&execution_name(&arn, &version), Duration::from_secs(60))
        .await;

    assert_eq!(done.status, "SUCCEEDED");
    assert_eq!(done.summary["counts"]["refreshed"], 1);
    assert_eq!(done.summary["cause"], "UpdateSecretVersionStage");
}
