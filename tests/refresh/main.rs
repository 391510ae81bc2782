//! The refresh function's service against the emulator, through the real CloudFormation
//! adapter: both phases, waiting on UPDATE_IN_PROGRESS, no-op updates, budget hand-back,
//! stacks that cannot be updated, and a phase-two rollback. The emulator's own behaviours
//! (refusals, stack policies, nested change sets, in-place updates) are tests/emulator.rs.

use rotatetoken::aws::retries::SdkRetries;
use rotatetoken::aws::secretsmanager::SecretsManager;
use rotatetoken::aws::targets::AssumedRoles;
use rotatetoken::domain::model::{Outcome, Phase, RefreshTask, StackRef};
use rotatetoken::domain::refresh::RefreshSettings;
use rotatetoken::domain::targets::TargetSettings;
use rotatetoken::ports::{Clock, NoOrganization, SystemClock};
use rotatetoken::service::{self, Scope};
use rotatetoken_tests::fixtures::*;
use rotatetoken_tests::Emulator;
use serde_json::json;

mod in_place;
mod nested;
mod preview;
mod retries;

const SETTINGS: RefreshSettings = RefreshSettings {
    poll_interval_ms: 100,
    max_wait_ms: 30_000,
    require_opt_in: false,
    without_service_role: rotatetoken::domain::service_role::StacksWithoutServiceRole::any(),
    wait_for_events: false,
    lane_places: 0,
};

struct World {
    emulator: Emulator,
    cfn: aws_sdk_cloudformation::Client,
    sm: aws_sdk_secretsmanager::Client,
    ssm: aws_sdk_ssm::Client,
    access: AssumedRoles,
    secrets: SecretsManager,
    scope: Scope,
}

impl World {
    /// The SSM parameter `/app/ami` that `consumer_with_ssm_typed_parameter` follows.
    async fn put_ami(&self, value: &str) {
        self.ssm
            .put_parameter()
            .name("/app/ami")
            .value(value)
            .r#type(aws_sdk_ssm::types::ParameterType::String)
            .overwrite(true)
            .send()
            .await
            .unwrap();
    }
}

async fn world() -> World {
    let emulator = Emulator::start();
    let config = emulator.sdk_config().await;
    World {
        cfn: aws_sdk_cloudformation::Client::new(&config),
        sm: aws_sdk_secretsmanager::Client::new(&config),
        ssm: aws_sdk_ssm::Client::new(&config),
        access: AssumedRoles::new(&config, TargetSettings::default()),
        secrets: SecretsManager::new(&config),
        scope: Scope {
            targets: TargetSettings::default(),
            own_region: "us-east-1".into(),
            parameter: "RotateToken".into(),
            version_parameter: "RotateTokenVersion".into(),
        },
        emulator,
    }
}

async fn run(w: &World, task: RefreshTask, budget_ms: u64) -> RefreshTask {
    run_with(w, task, budget_ms, SETTINGS).await
}

async fn run_with(
    w: &World,
    task: RefreshTask,
    budget_ms: u64,
    settings: RefreshSettings,
) -> RefreshTask {
    let input = serde_json::to_value(&task).unwrap();
    let until = SystemClock.now_ms() + budget_ms;
    service::refresh(
        service::NO_STOPS,
        &w.access,
        &NoOrganization,
        &w.secrets,
        &SystemClock,
        &SdkRetries,
        settings,
        &w.scope,
        input,
        until,
    )
    .await
    .unwrap()
}

/// Someone else's deploy of `stack` (a consumer_template stack): `Environment` set to
/// `staging`, the token kept.
async fn someones_deploy(w: &World, stack: &str) {
    w.cfn
        .update_stack()
        .stack_name(stack)
        .use_previous_template(true)
        .parameters(
            aws_sdk_cloudformation::types::Parameter::builder()
                .parameter_key("RotateToken")
                .use_previous_value(true)
                .build(),
        )
        .parameters(
            aws_sdk_cloudformation::types::Parameter::builder()
                .parameter_key("Environment")
                .parameter_value("staging")
                .build(),
        )
        .send()
        .await
        .unwrap();
}

fn task(stack_id: &str) -> RefreshTask {
    RefreshTask::new(StackRef::from_stack_id(stack_id).unwrap(), "RotateToken")
}

#[tokio::test]
async fn both_phases_recreate_guarded_resources_with_the_new_value() {
    let w = world().await;
    w.emulator.control(json!({"update_delay_seconds": 0.5}));
    create_secret(&w.sm, "prod/db", "old-value").await;
    let id = create_stack(&w.cfn, "app", &consumer_template("prod/db"), &[]).await;
    let before = resources(&w.cfn, "app").await;
    assert_eq!(
        ssm_value(&w.ssm, &before["DatabasePassword"])
            .await
            .as_deref(),
        Some("old-value")
    );
    put_secret(&w.sm, "prod/db", "new-value").await;

    let out = run(&w, task(&id), 60_000).await;

    assert_eq!(out.outcome, Outcome::Refreshed, "{out:?}");
    assert_eq!(
        w.emulator.completed_token_updates("app"),
        vec!["false", "true"]
    );
    let after = resources(&w.cfn, "app").await;
    assert_ne!(
        after["DatabasePassword"], before["DatabasePassword"],
        "guarded resource recreated"
    );
    assert_ne!(after["ApiKey"], before["ApiKey"]);
    assert_eq!(
        after["Settings"], before["Settings"],
        "unguarded resource untouched"
    );
    assert_eq!(
        ssm_value(&w.ssm, &after["DatabasePassword"])
            .await
            .as_deref(),
        Some("new-value")
    );
    assert_eq!(
        ssm_value(&w.ssm, &after["ApiKey"]).await.as_deref(),
        Some("key-for-prod-new-value")
    );
    assert_eq!(
        ssm_value(&w.ssm, &before["DatabasePassword"]).await,
        None,
        "old resource deleted"
    );
    assert_eq!(
        stack_status_and_token(&w.cfn, "app").await,
        ("UPDATE_COMPLETE".into(), Some("true".into()))
    );
}

#[tokio::test]
async fn a_short_budget_hands_back_waiting_and_the_next_call_finishes() {
    let w = world().await;
    w.emulator.control(json!({"update_delay_seconds": 1.0}));
    create_secret(&w.sm, "prod/db", "v1").await;
    let id = create_stack(&w.cfn, "app", &consumer_template("prod/db"), &[]).await;

    let first = run(&w, task(&id), 400).await;
    assert_eq!(first.outcome, Outcome::Waiting);
    assert_eq!(first.phase, Phase::Disable);
    assert!(first.update_started);
    // The last status it saw: before its update (a slow first call used the whole budget
    // on the update itself) or the update under way; never the update's end.
    assert!(
        matches!(
            first.status.as_deref(),
            Some("CREATE_COMPLETE" | "UPDATE_IN_PROGRESS")
        ),
        "{first:?}"
    );

    let mut t = first;
    for _ in 0..20 {
        if t.outcome != Outcome::Waiting {
            break;
        }
        t = run(&w, t, 400).await;
    }
    assert_eq!(t.outcome, Outcome::Refreshed, "{t:?}");
    assert_eq!(
        w.emulator.completed_token_updates("app"),
        vec!["false", "true"]
    );
}

#[tokio::test]
async fn a_stack_left_at_false_is_brought_back_to_true() {
    let w = world().await;
    create_secret(&w.sm, "prod/db", "v1").await;
    let id = create_stack(
        &w.cfn,
        "app",
        &consumer_template("prod/db"),
        &[("RotateToken", "false")],
    )
    .await;
    assert!(!resources(&w.cfn, "app")
        .await
        .contains_key("DatabasePassword"));

    let out = run(&w, task(&id), 30_000).await;

    assert_eq!(out.outcome, Outcome::Refreshed);
    // "No updates are to be performed" counted as phase one done: only the true update ran.
    assert_eq!(w.emulator.completed_token_updates("app"), vec!["true"]);
    assert!(resources(&w.cfn, "app")
        .await
        .contains_key("DatabasePassword"));
}

#[tokio::test]
async fn a_busy_stack_is_waited_for_then_refreshed() {
    let w = world().await;
    w.emulator.control(json!({"update_delay_seconds": 0.8}));
    create_secret(&w.sm, "prod/db", "v1").await;
    let id = create_stack(&w.cfn, "app", &consumer_template("prod/db"), &[]).await;
    // Someone else's update is running when the refresh starts.
    someones_deploy(&w, "app").await;

    let out = run(&w, task(&id), 30_000).await;

    assert_eq!(out.outcome, Outcome::Refreshed, "{out:?}");
    assert_eq!(
        w.emulator.completed_token_updates("app"),
        vec!["true", "false", "true"]
    );
}

#[tokio::test]
async fn a_stack_that_needs_an_operator_is_skipped_untouched() {
    let w = world().await;
    create_secret(&w.sm, "prod/db", "v1").await;
    let id = create_stack(&w.cfn, "app", &consumer_template("prod/db"), &[]).await;
    w.emulator.force_status(
        "app",
        "UPDATE_ROLLBACK_FAILED",
        "resource X failed to roll back",
    );

    let out = run(&w, task(&id), 10_000).await;

    assert_eq!(out.outcome, Outcome::Skipped);
    assert!(out
        .reason
        .as_deref()
        .unwrap()
        .contains("UPDATE_ROLLBACK_FAILED"));
    assert!(w.emulator.updates().is_empty());
}

#[tokio::test]
async fn a_phase_two_rollback_is_reported_critical_never_refreshed() {
    let w = world().await;
    w.emulator.control(
        json!({"update_delay_seconds": 0.3, "fail_create": {"app": ["DatabasePassword"]}}),
    );
    create_secret(&w.sm, "prod/db", "v1").await;
    let id = create_stack(&w.cfn, "app", &consumer_template("prod/db"), &[]).await;

    let out = run(&w, task(&id), 30_000).await;

    assert_eq!(out.outcome, Outcome::Failed);
    assert_eq!(out.phase, Phase::Enable);
    assert!(out.critical);
    assert_eq!(out.status.as_deref(), Some("UPDATE_ROLLBACK_COMPLETE"));
    let reason = out.reason.unwrap();
    assert!(
        reason.contains("DatabasePassword") && reason.contains("update-stack"),
        "{reason}"
    );
    assert_eq!(
        stack_status_and_token(&w.cfn, "app").await.1.as_deref(),
        Some("false")
    );
}

#[tokio::test]
async fn a_deleted_stack_is_reported_failed() {
    let w = world().await;
    create_secret(&w.sm, "prod/db", "v1").await;
    let id = create_stack(&w.cfn, "app", &consumer_template("prod/db"), &[]).await;
    w.cfn.delete_stack().stack_name("app").send().await.unwrap();

    let out = run(&w, task(&id), 10_000).await;

    assert_eq!(out.outcome, Outcome::Failed);
    assert!(out.reason.unwrap().contains("no longer exists"));
}

#[tokio::test]
async fn malformed_step_input_is_refused_without_any_call() {
    let w = world().await;
    let until = SystemClock.now_ms() + 1_000;
    for (input, field) in [
        (json!({}), "input.stack"),
        (
            json!({"stack": {"account": "1", "region": "r", "name": "n", "id": "not-an-arn"}, "parameter": "RotateToken"}),
            "input.stack.id",
        ),
        (
            json!({"stack": {"account": "1", "region": "us-east-1", "name": "n", "id": "arn:aws:cloudformation:us-east-1:123456789012:stack/n/x"}, "parameter": "RotateToken"}),
            "input.stack",
        ),
        (json!([1, 2]), "input"),
        (
            json!({"stack": {"account": "123456789012", "region": "us-east-1", "name": "n", "id": "arn:aws:cloudformation:us-east-1:123456789012:stack/n/x"}, "parameter": "RotateToken", "phase": "sideways"}),
            "input.phase",
        ),
    ] {
        let err = service::refresh(
            service::NO_STOPS,
            &w.access,
            &NoOrganization,
            &w.secrets,
            &SystemClock,
            &SdkRetries,
            SETTINGS,
            &w.scope,
            input.clone(),
            until,
        )
        .await
        .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains(&format!("`{field}`")), "{input} -> {msg}");
    }
    assert!(w.emulator.updates().is_empty());
}

#[tokio::test]
async fn a_dangling_reference_is_found_before_phase_one_and_reported_failed() {
    let w = world().await;
    create_secret(&w.sm, "prod/db", "v1").await;
    let id = create_stack(
        &w.cfn,
        "app",
        &consumer_with_dangling_output("prod/db"),
        &[],
    )
    .await;
    let out = run(&w, task(&id), 30_000).await;
    assert_eq!(out.outcome, Outcome::Failed, "{out:?}");
    assert!(!out.critical, "nothing was changed");
    let reason = out.reason.unwrap();
    assert!(
        reason.contains("output PasswordParameterName refers to DatabasePassword"),
        "{reason}"
    );
    assert!(w.emulator.updates().is_empty(), "no update was sent");
}

#[tokio::test]
async fn a_sam_stack_is_refreshed_by_the_refresh_function() {
    let w = world().await;
    create_secret(&w.sm, "prod/db", "v1").await;
    let id = deploy_with_change_set(&w.cfn, "sam-app", &sam_consumer_template("prod/db")).await;
    put_secret(&w.sm, "prod/db", "v2").await;
    let out = run(&w, task(&id), 30_000).await;
    assert_eq!(out.outcome, Outcome::Refreshed, "{out:?}");
    let after = resources(&w.cfn, "sam-app").await;
    assert_eq!(
        ssm_value(&w.ssm, &after["DatabasePassword"])
            .await
            .as_deref(),
        Some("v2")
    );
}

#[tokio::test]
async fn a_stack_policy_protecting_a_guarded_resource_is_found_before_phase_one() {
    let w = world().await;
    create_secret(&w.sm, "prod/db", "v1").await;
    let id = create_protected_stack(&w.cfn).await;
    let out = run(&w, task(&id), 30_000).await;
    assert_eq!(out.outcome, Outcome::Skipped, "{out:?}");
    let reason = out.reason.unwrap();
    assert!(
        reason.contains("DatabasePassword (AWS::SSM::Parameter)")
            && reason.contains("stack policy"),
        "{reason}"
    );
    assert!(w.emulator.updates().is_empty(), "nothing was sent");
}

#[tokio::test]
async fn a_stackset_instance_is_skipped_with_the_supported_path() {
    let w = world().await;
    create_secret(&w.sm, "prod/db", "v1").await;
    let id = create_stack(
        &w.cfn,
        "StackSet-app-config-9f3b2c1d-aaaa-bbbb-cccc-0123456789ab",
        &consumer_template("prod/db"),
        &[],
    )
    .await;
    let out = run(&w, task(&id), 30_000).await;
    assert_eq!(out.outcome, Outcome::Skipped, "{out:?}");
    assert!(out
        .reason
        .unwrap()
        .contains("update-stack-instances --stack-set-name app-config"));
    assert!(w.emulator.updates().is_empty());
}

/// SSM-typed parameters are resolved again on every update, UsePreviousValue or not: a
/// `false` update would also change what follows them. CloudFormation says so in a change
/// set with the same inputs; the emulator computes it the same way.
#[tokio::test]
async fn a_phase_one_that_would_change_more_than_the_guarded_resources_is_skipped() {
    let w = world().await;
    create_secret(&w.sm, "prod/db", "v1").await;
    w.put_ami("ami-1").await;
    let id = create_stack(
        &w.cfn,
        "app",
        &consumer_with_ssm_typed_parameter("prod/db"),
        &[],
    )
    .await;

    // Nothing moved on: the stack is refreshed as usual.
    let out = run(&w, task(&id), 30_000).await;
    assert_eq!(out.outcome, Outcome::Refreshed, "{out:?}");

    // The AMI parameter moved on: phase one would update Server too.
    w.put_ami("ami-2").await;
    let updates_before = w.emulator.updates().len();
    let out = run(&w, task(&id), 30_000).await;
    assert_eq!(out.outcome, Outcome::Skipped, "{out:?}");
    let reason = out.reason.unwrap();
    assert!(
        reason.contains("Server (AWS::SSM::Parameter): Modify, Replacement False, caused by AmiId"),
        "{reason}"
    );
    assert_eq!(
        w.emulator.updates().len(),
        updates_before,
        "nothing was updated"
    );
    let left = w
        .cfn
        .list_change_sets()
        .stack_name("app")
        .send()
        .await
        .unwrap();
    assert!(
        left.summaries().is_empty(),
        "the preview's change set was deleted"
    );

    // The emulator's change set, as AWS shapes it.
    let created = w
        .cfn
        .create_change_set()
        .stack_name("app")
        .change_set_name("probe")
        .change_set_type(aws_sdk_cloudformation::types::ChangeSetType::Update)
        .use_previous_template(true)
        .parameters(
            aws_sdk_cloudformation::types::Parameter::builder()
                .parameter_key("RotateToken")
                .parameter_value("false")
                .build(),
        )
        .parameters(
            aws_sdk_cloudformation::types::Parameter::builder()
                .parameter_key("AmiId")
                .use_previous_value(true)
                .build(),
        )
        .parameters(
            aws_sdk_cloudformation::types::Parameter::builder()
                .parameter_key("Environment")
                .use_previous_value(true)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let cs = change_set_created(&w.cfn, created.id().unwrap()).await;
    let mut seen: Vec<(String, String)> = cs
        .changes()
        .iter()
        .filter_map(|c| c.resource_change())
        .map(|rc| {
            (
                rc.logical_resource_id().unwrap().to_string(),
                rc.action().unwrap().as_str().to_string(),
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        vec![
            ("ApiKey".to_string(), "Remove".to_string()),
            ("DatabasePassword".to_string(), "Remove".to_string()),
            ("Server".to_string(), "Modify".to_string()),
        ]
    );
}

/// `AWS::Include` is processed again on every update (UsePreviousTemplate too): a snippet
/// changed in S3 since the last deploy would be applied by phase one. The preview says so
/// and the stack is skipped; unchanged, the stack is refreshed as usual.
#[tokio::test]
async fn a_phase_one_that_would_apply_a_changed_include_is_skipped() {
    use aws_sdk_cloudformation::types::Capability;
    let w = world().await;
    create_secret(&w.sm, "prod/db", "v1").await;
    let config = w.emulator.sdk_config().await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    );
    s3.create_bucket().bucket("snippets").send().await.unwrap();
    let put = |body: String| {
        s3.put_object()
            .bucket("snippets")
            .key("extra.yaml")
            .body(body.into_bytes().into())
            .send()
    };
    let extra = |id: &str| {
        format!("{id}:\n  Type: AWS::SSM::Parameter\n  Properties:\n    Type: String\n    Value: {id}\n")
    };
    put(extra("ExtraOne")).await.unwrap();
    let template = consumer_template("prod/db").replace(
        "Resources:\n",
        "Resources:\n  Fn::Transform:\n    Name: AWS::Include\n    Parameters:\n      Location: s3://snippets/extra.yaml\n",
    );
    let id = w
        .cfn
        .create_stack()
        .stack_name("app")
        .template_body(template)
        .capabilities(Capability::CapabilityAutoExpand)
        .send()
        .await
        .unwrap()
        .stack_id()
        .unwrap()
        .to_string();
    assert!(resources(&w.cfn, "app").await.contains_key("ExtraOne"));

    let out = run(&w, task(&id), 30_000).await;
    assert_eq!(
        out.outcome,
        Outcome::Refreshed,
        "unchanged include: {out:?}"
    );

    put(extra("ExtraOne") + &extra("ExtraTwo")).await.unwrap();
    let updates_before = w.emulator.updates().len();
    let out = run(&w, task(&id), 30_000).await;
    assert_eq!(out.outcome, Outcome::Skipped, "{out:?}");
    let reason = out.reason.unwrap();
    assert!(
        reason.contains("ExtraTwo (AWS::SSM::Parameter): Add"),
        "{reason}"
    );
    assert_eq!(
        w.emulator.updates().len(),
        updates_before,
        "nothing was updated"
    );
}

/// With `RequireOptInTag`, a task for a stack without `rotatetoken:opt-in=true` (a forged
/// one: discovery would not select it) changes nothing, and says why; a tagged stack is
/// refreshed. The roles' IAM condition refuses the update on AWS anyway.
#[tokio::test]
async fn with_require_opt_in_an_untagged_stack_is_never_updated() {
    let w = world().await;
    create_secret(&w.sm, "prod/db", "v1").await;
    let untagged = create_stack(&w.cfn, "untagged", &consumer_template("prod/db"), &[]).await;
    let tagged = create_tagged_stack(
        &w.cfn,
        "tagged",
        &consumer_template("prod/db"),
        &[],
        &[("rotatetoken:opt-in", "true")],
    )
    .await;
    let opt_in = RefreshSettings {
        require_opt_in: true,
        without_service_role: rotatetoken::domain::service_role::StacksWithoutServiceRole::any(),
        ..SETTINGS
    };
    let out = run_with(&w, task(&untagged), 30_000, opt_in.clone()).await;
    assert_eq!(out.outcome, Outcome::Skipped, "{out:?}");
    let reason = out.reason.clone().unwrap_or_default();
    assert!(reason.contains("rotatetoken:opt-in=true"), "{reason}");
    assert!(w.emulator.updates().is_empty(), "nothing was updated");
    let out = run_with(&w, task(&tagged), 30_000, opt_in).await;
    assert_eq!(out.outcome, Outcome::Refreshed, "{out:?}");
    assert_eq!(
        w.emulator.completed_token_updates("tagged"),
        vec!["false", "true"]
    );
}
