//! The emulator's own suite: behaviours of the local AWS (tests/emulator/rotatetoken/), each
//! checked on its own through the AWS SDK, with no product code involved. The product's
//! suites rely on them; these say which patch broke when one does. The emulator's Python
//! suite (tests/emulator/test_*.py, in `make test`) checks the rest, and the registry.

use rotatetoken_tests::fixtures::*;
use rotatetoken_tests::Emulator;
use serde_json::json;

struct World {
    emulator: Emulator,
    cfn: aws_sdk_cloudformation::Client,
    sm: aws_sdk_secretsmanager::Client,
    ssm: aws_sdk_ssm::Client,
}

async fn world() -> World {
    let emulator = Emulator::start();
    let config = emulator.sdk_config().await;
    World {
        cfn: aws_sdk_cloudformation::Client::new(&config),
        sm: aws_sdk_secretsmanager::Client::new(&config),
        ssm: aws_sdk_ssm::Client::new(&config),
        emulator,
    }
}

/// A misspelt control key fails the test that sent it: the emulator refuses it (HTTP 400,
/// the key named) and the harness's `control()` panics with the emulator's message.
#[test]
#[should_panic(expected = "unknown config key 'update_delay_second'")]
fn a_misspelt_control_key_fails_the_test_that_sent_it() {
    let emulator = Emulator::start();
    emulator.control(json!({"update_delay_second": 1.0}));
}

/// A direct `RotateToken=false` update of stack `app` (the consumer template), as the
/// refresh would send it: what the emulator alone does with it.
async fn false_update_of_app(
    w: &World,
) -> Result<
    aws_sdk_cloudformation::operation::update_stack::UpdateStackOutput,
    aws_sdk_cloudformation::error::SdkError<
        aws_sdk_cloudformation::operation::update_stack::UpdateStackError,
    >,
> {
    update_with_previous_template(
        &w.cfn,
        "app",
        &[("RotateToken", Some("false")), ("Environment", None)],
    )
    .await
}

#[tokio::test]
async fn the_emulator_refuses_a_false_update_that_leaves_a_reference_dangling() {
    let w = world().await;
    create_secret(&w.sm, "prod/db", "v1").await;
    create_stack(
        &w.cfn,
        "app",
        &consumer_with_dangling_output("prod/db"),
        &[],
    )
    .await;
    let err = false_update_of_app(&w).await.unwrap_err();
    let err = err.into_service_error();
    use aws_sdk_cloudformation::error::ProvideErrorMetadata;
    assert_eq!(err.code(), Some("ValidationError"));
    assert_eq!(
        err.message(),
        Some("Template format error: Unresolved resource dependencies [DatabasePassword] in the Outputs block of the template")
    );
}

#[tokio::test]
async fn the_emulator_refuses_updates_without_the_capabilities_aws_requires() {
    let w = world().await;
    create_secret(&w.sm, "prod/db", "v1").await;
    deploy_with_change_set(&w.cfn, "sam-app", &sam_consumer_template("prod/db")).await;
    let update = |caps: Vec<aws_sdk_cloudformation::types::Capability>| {
        w.cfn
            .update_stack()
            .stack_name("sam-app")
            .use_previous_template(true)
            .parameters(
                aws_sdk_cloudformation::types::Parameter::builder()
                    .parameter_key("RotateToken")
                    .parameter_value("false")
                    .build(),
            )
            .set_capabilities(Some(caps))
            .send()
    };
    use aws_sdk_cloudformation::error::ProvideErrorMetadata;
    use aws_sdk_cloudformation::types::Capability;
    let err = update(vec![Capability::CapabilityIam])
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("InsufficientCapabilitiesException"));
    assert_eq!(
        err.message(),
        Some("Requires capabilities : [CAPABILITY_AUTO_EXPAND]")
    );
    let err = update(vec![Capability::CapabilityAutoExpand])
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(
        err.message(),
        Some("Requires capabilities : [CAPABILITY_IAM]"),
        "the SAM function's role needs it"
    );
    update(vec![
        Capability::CapabilityIam,
        Capability::CapabilityAutoExpand,
    ])
    .await
    .expect("accepted with both");
    // Original: as submitted; Processed: after the SAM transform.
    let original = w
        .cfn
        .get_template()
        .stack_name("sam-app")
        .send()
        .await
        .unwrap();
    assert!(original
        .template_body()
        .unwrap()
        .contains("AWS::Serverless::Function"));
    let processed = w
        .cfn
        .get_template()
        .stack_name("sam-app")
        .template_stage(aws_sdk_cloudformation::types::TemplateStage::Processed)
        .send()
        .await
        .unwrap();
    let body = processed.template_body().unwrap();
    assert!(
        body.contains("AWS::Lambda::Function") && body.contains("AWS::IAM::Role"),
        "{body}"
    );
}

#[tokio::test]
async fn the_emulator_rolls_back_an_update_its_stack_policy_denies() {
    let w = world().await;
    create_secret(&w.sm, "prod/db", "v1").await;
    create_protected_stack(&w.cfn).await;
    let before = resources(&w.cfn, "app").await;
    false_update_of_app(&w).await.unwrap();
    let d = w
        .cfn
        .describe_stacks()
        .stack_name("app")
        .send()
        .await
        .unwrap();
    let stack = &d.stacks()[0];
    assert_eq!(
        stack.stack_status().unwrap().as_str(),
        "UPDATE_ROLLBACK_COMPLETE"
    );
    assert!(
        stack
            .stack_status_reason()
            .unwrap()
            .contains("LogicalResourceId/DatabasePassword"),
        "{stack:?}"
    );
    assert_eq!(resources(&w.cfn, "app").await, before, "nothing deleted");
}

/// The root's change set with IncludeNestedStacks: the nested stack's change carries the
/// ChangeSetId of the child's own change set, which shows the child's guarded resources
/// removed; deleting the root's change set deletes the child's.
#[tokio::test]
async fn the_emulator_previews_nested_stacks_in_nested_change_sets() {
    use aws_sdk_cloudformation::types::{ChangeSetType, Parameter};
    let w = world().await;
    create_secret(&w.sm, "prod/db", "v1").await;
    let config = w.emulator.sdk_config().await;
    let child = create_nested_consumer(&config, "platform", &consumer_template("prod/db"), true)
        .await
        .child;
    let created = w
        .cfn
        .create_change_set()
        .stack_name("platform")
        .change_set_name("probe")
        .change_set_type(ChangeSetType::Update)
        .use_previous_template(true)
        .include_nested_stacks(true)
        .parameters(
            Parameter::builder()
                .parameter_key("RotateToken")
                .parameter_value("false")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let root = change_set_created(&w.cfn, created.id().unwrap()).await;
    let nested = root.changes()[0].resource_change().unwrap();
    assert_eq!(nested.resource_type(), Some("AWS::CloudFormation::Stack"));
    assert_eq!(nested.action().map(|a| a.as_str()), Some("Modify"));
    let child_set = w
        .cfn
        .describe_change_set()
        .change_set_name(nested.change_set_id().expect("a nested change set"))
        .send()
        .await
        .unwrap();
    let mut removed: Vec<&str> = child_set
        .changes()
        .iter()
        .filter_map(|c| c.resource_change())
        .filter(|rc| rc.action().map(|a| a.as_str()) == Some("Remove"))
        .filter_map(|rc| rc.logical_resource_id())
        .collect();
    removed.sort();
    assert_eq!(removed, vec!["ApiKey", "DatabasePassword"]);
    w.cfn
        .delete_change_set()
        .change_set_name(created.id().unwrap())
        .send()
        .await
        .unwrap();
    let left = w
        .cfn
        .list_change_sets()
        .stack_name(&child)
        .send()
        .await
        .unwrap();
    assert!(
        left.summaries().is_empty(),
        "the nested change set went with its root"
    );
}

/// A change set's resource changes as (logical id, action, replacement).
async fn planned(
    w: &World,
    stack: &str,
    version: &str,
) -> Vec<(String, String, String, Vec<String>)> {
    use aws_sdk_cloudformation::types::{ChangeSetType, Parameter};
    let created = w
        .cfn
        .create_change_set()
        .stack_name(stack)
        .change_set_name("probe")
        .change_set_type(ChangeSetType::Update)
        .use_previous_template(true)
        .parameters(
            Parameter::builder()
                .parameter_key("RotateTokenVersion")
                .parameter_value(version)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let described = change_set_created(&w.cfn, created.id().unwrap()).await;
    w.cfn
        .delete_change_set()
        .change_set_name(created.id().unwrap())
        .send()
        .await
        .unwrap();
    described
        .changes()
        .iter()
        .filter_map(|c| c.resource_change())
        .map(|rc| {
            let always = rc
                .details()
                .iter()
                .filter_map(|d| d.target())
                .filter(|t| t.requires_recreation().map(|r| r.as_str()) == Some("Always"))
                .filter_map(|t| t.name().map(str::to_string))
                .collect();
            (
                rc.logical_resource_id().unwrap_or_default().to_string(),
                rc.action()
                    .map(|a| a.as_str().to_string())
                    .unwrap_or_default(),
                rc.replacement()
                    .map(|r| r.as_str().to_string())
                    .unwrap_or_default(),
                always,
            )
        })
        .collect()
}

/// Emulator #29 on its own: a version-pinned reference resolves to that version; a new
/// version id is a change of the reader's properties, updated in place (same physical
/// id, new value); a create-only property (an RDS master user name) means replacement,
/// and the change set says so; a pinned version that does not exist fails the update.
#[tokio::test]
async fn the_emulator_updates_in_place_unless_a_create_only_property_changes() {
    let w = world().await;
    create_secret(&w.sm, "prod/db", "v1").await;
    let first =
        w.sm.describe_secret()
            .secret_id("prod/db")
            .send()
            .await
            .unwrap()
            .version_ids_to_stages()
            .unwrap()
            .keys()
            .next()
            .unwrap()
            .clone();
    let template = in_place_consumer_template("prod/db");
    create_stack(
        &w.cfn,
        "pinned",
        &template,
        &[("RotateTokenVersion", &first)],
    )
    .await;
    let before = resources(&w.cfn, "pinned").await;
    let second = put_secret(&w.sm, "prod/db", "v2").await;
    assert_eq!(
        ssm_value(&w.ssm, &before["DatabasePassword"])
            .await
            .as_deref(),
        Some("v1"),
        "pinned to the first version, not the current one"
    );

    let plan = planned(&w, "pinned", &second).await;
    assert_eq!(
        plan,
        vec![(
            "DatabasePassword".to_string(),
            "Modify".to_string(),
            "False".to_string(),
            vec![]
        )]
    );
    update_with_previous_template(
        &w.cfn,
        "pinned",
        &[("RotateTokenVersion", Some(&second)), ("Environment", None)],
    )
    .await
    .unwrap();
    let after = resources(&w.cfn, "pinned").await;
    assert_eq!(after, before, "updated in place: the same physical ids");
    assert_eq!(
        ssm_value(&w.ssm, &after["DatabasePassword"])
            .await
            .as_deref(),
        Some("v2")
    );
    let logged = w.emulator.updates().pop().unwrap();
    assert_eq!(logged.result, "UPDATE_COMPLETE");
    assert_eq!(logged.resources.modified, vec!["DatabasePassword"]);
    assert!(logged.resources.replaced.is_empty() && logged.resources.deleted.is_empty());

    create_secret(&w.sm, "prod/rds", r#"{"username":"admin","password":"p1"}"#).await;
    create_stack(
        &w.cfn,
        "database",
        &in_place_database_template("prod/rds"),
        &[],
    )
    .await;
    let next = put_secret(&w.sm, "prod/rds", r#"{"username":"admin","password":"p2"}"#).await;
    let plan = planned(&w, "database", &next).await;
    assert_eq!(
        plan,
        vec![(
            "Database".to_string(),
            "Modify".to_string(),
            "True".to_string(),
            vec!["MasterUsername".to_string()]
        )]
    );

    update_with_previous_template(
        &w.cfn,
        "pinned",
        &[("RotateTokenVersion", Some("no-such-version"))],
    )
    .await
    .unwrap();
    let (status, _) = stack_status_and_token(&w.cfn, "pinned").await;
    assert_eq!(status, "UPDATE_ROLLBACK_COMPLETE");
    assert_eq!(resources(&w.cfn, "pinned").await, before);
}
