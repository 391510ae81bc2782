//! The Docker-free path of the README, exactly: `cargo lambda watch` serving the functions
//! and `cargo lambda invoke --data-file events/<file>` for each shipped event. Also: bad
//! input gets an error naming the field, and the function keeps serving afterwards.

use std::process::Command;
use std::time::Duration;

use rotatetoken_tests::fixtures::*;
use rotatetoken_tests::pipeline::Pipeline;
use rotatetoken_tests::repo_root;
use serde_json::Value;

fn cargo_lambda_invoke(port: u16, function: &str, data: (&str, &str)) -> (bool, String) {
    let out = Command::new(repo_root().join(".venv/bin/cargo-lambda"))
        .args([
            "lambda",
            "invoke",
            function,
            "--invoke-address",
            "127.0.0.1",
            "--invoke-port",
            &port.to_string(),
            data.0,
            data.1,
        ])
        .current_dir(repo_root())
        .output()
        .expect("run cargo lambda invoke");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn invoke_file(p: &Pipeline, function: &str, file: &str) -> Value {
    let (ok, text) = cargo_lambda_invoke(
        p.functions.port,
        function,
        ("--data-file", &format!("events/{file}")),
    );
    assert!(ok, "{function} {file}: {text}");
    serde_json::from_str(text.trim())
        .unwrap_or_else(|e| panic!("{function} {file} printed non-JSON ({e}): {text}"))
}

#[tokio::test]
async fn every_shipped_event_runs_through_cargo_lambda_invoke() {
    let p = Pipeline::start(|env| env.on_cargo_lambda_watch()).await;
    create_secret(&p.sm, "prod/db-password", "v1").await;
    create_stack(
        &p.cfn,
        "orders-api",
        &consumer_template("prod/db-password"),
        &[],
    )
    .await;

    // The refresh function, deployed (run files kept), acts only for a stack a run selected:
    // the sample task names no run, and a task naming one that did not select its stack
    // (here a real consumer) is refused too, changing nothing.
    let (ok, text) = cargo_lambda_invoke(
        p.functions.port,
        "rotatetoken-refresh",
        ("--data-file", "events/refresh.json"),
    );
    assert!(!ok && text.contains("`input.execution`"), "{text}");
    let orders = p
        .cfn
        .describe_stacks()
        .stack_name("orders-api")
        .send()
        .await
        .unwrap();
    let id = orders.stacks()[0].stack_id().unwrap();
    let forged = serde_json::json!({
        "stack": {"account": "123456789012", "region": "us-east-1", "name": "orders-api", "id": id},
        "parameter": "RotateToken", "phase": "disable", "execution": "someone-elses-run",
    });
    let (ok, text) = cargo_lambda_invoke(
        p.functions.port,
        "rotatetoken-refresh",
        ("--data-ascii", &forged.to_string()),
    );
    assert!(!ok, "a forged task was acted on: {text}");
    assert!(
        text.contains("RotateToken.InvalidInput") && text.contains("not selected by run"),
        "{text}"
    );
    assert!(
        p.emulator.updates().is_empty(),
        "the forged task changed nothing"
    );

    let started = invoke_file(&p, "rotatetoken-trigger", "put-secret-value.json");
    assert_eq!(started["decision"], "started", "{started}");
    assert_eq!(
        started["secret_arn"],
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-password-AbCdEf"
    );
    for file in [
        "update-secret.json",
        "update-secret-version-stage.json",
        "secret-label-updated.json",
        "put-secret-value-legacy-arn-key.json",
    ] {
        let again = invoke_file(&p, "rotatetoken-trigger", file);
        assert!(
            again["decision"] == "duplicate" || again["execution_arn"] == started["execution_arn"],
            "{file}: {again}"
        );
    }
    for file in [
        "put-secret-value-pending.json",
        "put-secret-value-failed.json",
        "update-secret-description-only.json",
    ] {
        let ignored = invoke_file(&p, "rotatetoken-trigger", file);
        assert_eq!(ignored["decision"], "ignored", "{file}: {ignored}");
        assert!(ignored["reason"].as_str().unwrap().len() > 10);
    }

    let discovered = invoke_file(&p, "rotatetoken-discover", "discover.json");
    assert_eq!(discovered["dry_run"], true);
    // With RUNS_BUCKET set (as deployed), the list goes to S3 and the output points to it.
    assert_eq!(discovered["selected_count"], 1, "{discovered}");
    let items = p
        .read_json(
            discovered["run"]["bucket"].as_str().unwrap(),
            discovered["run"]["items_key"].as_str().unwrap(),
        )
        .await;
    assert_eq!(items[0]["stack"]["name"], "orders-api", "{items}");

    let summary = invoke_file(&p, "rotatetoken-report", "report.json");
    assert_eq!(summary["counts"]["refreshed"], 1, "{summary}");
    assert_eq!(summary["counts"]["skipped"], 1);

    // The execution the trigger started runs to the end on the emulator.
    let name = started["execution_name"].as_str().unwrap();
    let done = p.wait_for(name, Duration::from_secs(60)).await;
    assert_eq!(done.status, "SUCCEEDED", "{:?}", done);
}

#[tokio::test]
async fn bad_input_is_named_and_the_functions_keep_serving() {
    let p = Pipeline::start(|env| env.on_cargo_lambda_watch()).await;
    for (function, data, field) in [
        (
            "rotatetoken-trigger",
            r#"{"source":"aws.secretsmanager","detail-type":"AWS API Call via CloudTrail","detail":{"eventSource":"secretsmanager.amazonaws.com","eventName":"PutSecretValue","requestParameters":{"secretId":"x"},"responseElements":{"versionId":7}}}"#,
            "detail.responseElements.versionId",
        ),
        ("rotatetoken-trigger", r#"[1,2,3]"#, "event"),
        (
            "rotatetoken-discover",
            r#"{"secret":{"arn":"not-an-arn"}}"#,
            "input.secret.arn",
        ),
        (
            "rotatetoken-refresh",
            r#"{"stack":{"account":"1"},"parameter":"RotateToken"}"#,
            "input.stack.region",
        ),
        (
            "rotatetoken-report",
            r#"{"secret":{"arn":"arn:aws:secretsmanager:us-east-1:1:secret:a-AbCdEf"}}"#,
            "input.cause",
        ),
    ] {
        let (ok, text) = cargo_lambda_invoke(p.functions.port, function, ("--data-ascii", data));
        assert!(!ok, "{function} accepted bad input: {text}");
        assert!(
            text.contains("RotateToken.InvalidInput"),
            "{function}: {text}"
        );
        assert!(
            text.contains(&format!("`{field}`")),
            "{function}: expected field {field}: {text}"
        );
    }
    // Still serving: no panic took a runtime down.
    let (ok, text) = cargo_lambda_invoke(
        p.functions.port,
        "rotatetoken-report",
        ("--data-file", "events/report.json"),
    );
    assert!(ok, "{text}");
    assert!(p.emulator.updates().is_empty(), "bad input changed nothing");
    assert!(
        !p.functions.logs().contains("panicked"),
        "no handler panicked"
    );
}

/// A required setting missing at start-up (`sam local invoke` without `--env-vars`): the
/// function exits naming the setting in a sentence, never printing a Rust struct.
#[test]
fn a_missing_setting_at_start_up_is_named_in_a_sentence() {
    let binary = rotatetoken_tests::target_dir()
        .join(rotatetoken_tests::functions_profile())
        .join("rotatetoken-trigger");
    // Built by the other tests' harness, or here.
    if !binary.exists() {
        let built = Command::new("cargo")
            .args([
                "build",
                "--locked",
                "--quiet",
                "--bin",
                "rotatetoken-trigger",
            ])
            .current_dir(repo_root())
            .status()
            .unwrap();
        assert!(built.success());
    }
    let out = Command::new(&binary)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env(
            "STATE_MACHINE_ARN",
            "arn:aws:states:us-east-1:123456789012:stateMachine:rotatetoken",
        )
        .env("SECRET_NAME_PREFIXES", "")
        .env("AWS_ENDPOINT_URL", "")
        .output()
        .expect("run the trigger binary");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("invalid input: `SECRET_NAME_PREFIXES` names no secret"),
        "{stderr}"
    );
    assert!(!stderr.contains("InputError {"), "a debug struct: {stderr}");
}
