//! End to end with the shapes real accounts produce, none written for this product: stacks
//! as `cdk deploy` (its change sets, and `--method=direct`), `sam deploy` and the console
//! leave them (tests/fixtures/stacks), refreshed through the real state machine from a
//! CloudTrail record as the console logs it; and a new value that lacks a JSON key a
//! stack reads, which must end CRITICAL with the keys named and be healed by the next run.

use std::time::Duration;

use aws_sdk_cloudformation::types::{Capability, ChangeSetType, Parameter};
use rotatetoken::domain::trigger::execution_name;
use rotatetoken_tests::fixtures::*;
use rotatetoken_tests::pipeline::{row, Pipeline};
use rotatetoken_tests::repo_root;
use serde_json::{json, Value};

const BOOTSTRAP: &str = "/cdk-bootstrap/hnb659fds/version";

fn shape(file: &str) -> String {
    std::fs::read_to_string(repo_root().join("tests/fixtures/stacks").join(file)).unwrap()
}

/// A record of the console's "Edit secret value": the response holds only the ARN, the
/// version is the request's client token (tests/fixtures/cloudtrail).
fn console_put(arn: &str, version: &str) -> Value {
    let text = std::fs::read_to_string(
        repo_root().join("tests/fixtures/cloudtrail/console-put-secret-value.json"),
    )
    .unwrap();
    serde_json::from_str(
        &text
            .replace(SAMPLE_SECRET_ARN, arn)
            .replace(SAMPLE_VERSION, version),
    )
    .unwrap()
}

/// `cdk deploy` with its defaults: a change set named `cdk-deploy-change-set`, all three
/// capabilities, executed; a later deploy keeps every parameter it does not override.
async fn cdk_deploy(cfn: &aws_sdk_cloudformation::Client, stack: &str, template: &str) {
    let exists = cfn.describe_stacks().stack_name(stack).send().await.is_ok();
    let mut req = cfn
        .create_change_set()
        .stack_name(stack)
        .change_set_name("cdk-deploy-change-set")
        .template_body(template)
        .capabilities(Capability::CapabilityIam)
        .capabilities(Capability::CapabilityNamedIam)
        .capabilities(Capability::CapabilityAutoExpand)
        .change_set_type(if exists {
            ChangeSetType::Update
        } else {
            ChangeSetType::Create
        });
    if exists {
        for key in ["BootstrapVersion", "RotateToken"] {
            req = req.parameters(
                Parameter::builder()
                    .parameter_key(key)
                    .use_previous_value(true)
                    .build(),
            );
        }
    }
    let out = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("cdk deploy {stack}: {e:?}"));
    change_set_created(cfn, out.id().unwrap()).await;
    cfn.execute_change_set()
        .change_set_name(out.id().unwrap())
        .send()
        .await
        .unwrap_or_else(|e| panic!("execute {stack}: {e:?}"));
}

/// Every way a consuming stack arrives: (stack, how it was deployed).
async fn deploy_every_shape(p: &Pipeline) -> Vec<&'static str> {
    p.ssm
        .put_parameter()
        .name(BOOTSTRAP)
        .value("21")
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .send()
        .await
        .unwrap();
    let cdk = shape("cdk-default.template.json");
    cdk_deploy(&p.cfn, "payments-cdk", &cdk).await;
    cdk_deploy(&p.cfn, "payments-cdk", &cdk).await; // the team's next deploy
    create_stack(&p.cfn, "payments-cdk-direct", &cdk, &[]).await; // --method=direct
    deploy_with_change_set(&p.cfn, "orders-sam", &shape("sam-deploy.yaml")).await;
    deploy_with_change_set(&p.cfn, "orders-console", &shape("console-two-keys.yaml")).await;
    create_stack(
        &p.cfn,
        "fn-console",
        &shape("console-inline-function.yaml"),
        &[],
    )
    .await;
    create_stack(
        &p.cfn,
        "every-parameter",
        &shape("console-every-parameter-type.yaml"),
        &[("AdminPassword", "s3cr3t-not-logged")],
    )
    .await;
    vec![
        "payments-cdk",
        "payments-cdk-direct",
        "orders-sam",
        "orders-console",
        "fn-console",
        "every-parameter",
    ]
}

async fn every_shape_is_refreshed_in(mode: &str) {
    let p = Pipeline::start(|env| env.set("SELECTION_MODE", mode)).await;
    p.emulator.control(json!({"update_delay_seconds": 0.3}));
    let arn = create_secret(&p.sm, "prod/db", r#"{"username":"app","password":"p1"}"#).await;
    let stacks = deploy_every_shape(&p).await;
    let version = put_secret(&p.sm, "prod/db", r#"{"username":"app","password":"p2"}"#).await;

    p.deliver(&console_put(&arn, &version)).await;
    let done = p
        .wait_for(&execution_name(&arn, &version), Duration::from_secs(180))
        .await;

    assert_eq!(done.status, "SUCCEEDED", "{:#}", done.summary);
    for stack in &stacks {
        let r = row(&done.summary, stack);
        assert_eq!(r["outcome"], "refreshed", "{stack} ({mode}): {r:#}");
        assert_eq!(
            p.emulator.completed_token_updates(stack),
            ["false", "true"],
            "{stack} ({mode})"
        );
        assert_eq!(
            stack_status_and_token(&p.cfn, stack).await,
            ("UPDATE_COMPLETE".to_string(), Some("true".to_string())),
            "{stack}"
        );
    }
    // The guarded resources were recreated and re-read the new value.
    for (stack, logical) in [
        ("payments-cdk", "ApiKeyParameterA1B2C3D4"),
        ("payments-cdk-direct", "ApiKeyParameterA1B2C3D4"),
        ("orders-console", "DatabasePassword"),
        ("fn-console", "ApiPassword"),
        ("every-parameter", "Password"),
    ] {
        let physical = resources(&p.cfn, stack).await.remove(logical).unwrap();
        assert_eq!(
            ssm_value(&p.ssm, &physical).await.as_deref(),
            Some("p2"),
            "{stack}"
        );
    }
    // The CDK's own parts are as the CDK left them: the bootstrap parameter by name, its
    // metadata resource never touched.
    let cdk = resources(&p.cfn, "payments-cdk").await;
    assert!(cdk.contains_key("CDKMetadata"), "{cdk:?}");
    let described = p
        .cfn
        .describe_stacks()
        .stack_name("payments-cdk")
        .send()
        .await
        .unwrap();
    let bootstrap = described.stacks()[0]
        .parameters()
        .iter()
        .find(|p| p.parameter_key() == Some("BootstrapVersion"))
        .unwrap()
        .clone();
    assert_eq!(bootstrap.parameter_value(), Some(BOOTSTRAP));
    // A NoEcho value is neither shown by CloudFormation nor written anywhere by the run.
    assert!(!done.raw_output.contains("s3cr3t-not-logged"));
    assert!(!p.functions.logs().contains("s3cr3t-not-logged"));
}

#[tokio::test]
async fn stacks_as_the_cdk_sam_and_the_console_deploy_them_are_refreshed_in_referencing_mode() {
    every_shape_is_refreshed_in("referencing").await;
}

#[tokio::test]
async fn stacks_as_the_cdk_sam_and_the_console_deploy_them_are_refreshed_in_all_mode() {
    every_shape_is_refreshed_in("all").await;
}

/// Under incident pressure someone puts a value without a key a template reads. Phase one
/// deletes the guarded resources; phase two cannot recreate them (CloudFormation: "Could not
/// find a value associated with JSONKey in SecretString", naming no key). The run ends
/// CRITICAL naming the resource, the keys this stack reads of this secret, and the next
/// step; the corrected value's own run brings the stack back.
#[tokio::test]
async fn a_new_value_without_a_key_the_stack_reads_ends_critical_naming_the_keys_and_the_next_run_heals_it(
) {
    let p = Pipeline::start(|env| env.set("SELECTION_MODE", "referencing")).await;
    p.emulator.control(json!({"update_delay_seconds": 0.2}));
    let arn = create_secret(&p.sm, "prod/db", r#"{"username":"app","password":"p1"}"#).await;
    deploy_with_change_set(&p.cfn, "orders-console", &shape("console-two-keys.yaml")).await;
    create_stack(
        &p.cfn,
        "fn-console",
        &shape("console-inline-function.yaml"),
        &[],
    )
    .await;

    let broken = put_secret(&p.sm, "prod/db", r#"{"password":"p2"}"#).await;
    p.deliver(&console_put(&arn, &broken)).await;
    let done = p
        .wait_for(&execution_name(&arn, &broken), Duration::from_secs(180))
        .await;

    assert_eq!(done.status, "FAILED", "{:#}", done.summary);
    let r = row(&done.summary, "orders-console");
    assert_eq!(
        (&r["outcome"], &r["phase"], &r["critical"]),
        (&json!("failed"), &json!("true"), &json!(true)),
        "{r:#}"
    );
    let reason = r["reason"].as_str().unwrap();
    for needed in [
        "DatabaseUser CREATE_FAILED: Could not find a value associated with JSONKey in SecretString",
        "`password`, `username` of secret prod/db",
        "put a corrected value",
        "aws cloudformation update-stack",
    ] {
        assert!(reason.contains(needed), "missing `{needed}` in: {reason}");
    }
    // The stack that reads only `password` was refreshed with the new value.
    assert_eq!(row(&done.summary, "fn-console")["outcome"], "refreshed");
    let critical: Vec<_> = p
        .alerts()
        .await
        .into_iter()
        .filter(|(subject, _)| subject.starts_with("CRITICAL"))
        .collect();
    assert_eq!(critical.len(), 1, "{critical:#?}");
    assert!(
        critical[0].1.contains("orders-console") && critical[0].1.contains("`username`"),
        "{}",
        critical[0].1
    );
    assert_eq!(
        stack_status_and_token(&p.cfn, "orders-console")
            .await
            .1
            .as_deref(),
        Some("false"),
        "left without its resources, and said so"
    );

    // The next step, as the reason says: a corrected value; its own run heals the stack.
    let fixed = put_secret(&p.sm, "prod/db", r#"{"username":"app","password":"p3"}"#).await;
    p.deliver(&console_put(&arn, &fixed)).await;
    let healed = p
        .wait_for(&execution_name(&arn, &fixed), Duration::from_secs(180))
        .await;
    assert_eq!(healed.status, "SUCCEEDED", "{:#}", healed.summary);
    assert_eq!(
        row(&healed.summary, "orders-console")["outcome"],
        "refreshed"
    );
    assert_eq!(
        stack_status_and_token(&p.cfn, "orders-console").await,
        ("UPDATE_COMPLETE".to_string(), Some("true".to_string()))
    );
    let live = resources(&p.cfn, "orders-console").await;
    assert_eq!(
        ssm_value(&p.ssm, &live["DatabaseUser"]).await.as_deref(),
        Some("app")
    );
    assert_eq!(
        ssm_value(&p.ssm, &live["DatabasePassword"])
            .await
            .as_deref(),
        Some("p3")
    );
}
