//! The data-loss guard on the emulator: a stack whose RotateToken condition guards a bucket
//! is skipped as unsafe (in a dry run too), with the bucket named, and keeps its data; the
//! same stack tagged with the opt-in is refreshed.

use rotatetoken::aws::retries::SdkRetries;
use rotatetoken::aws::targets::AssumedRoles;
use rotatetoken::domain::discovery::DiscoverySettings;
use rotatetoken::domain::guard::ALLOW_DATA_LOSS_TAG;
use rotatetoken::domain::model::Outcome;
use rotatetoken::domain::refresh::RefreshSettings;
use rotatetoken::domain::selection::SelectionMode;
use rotatetoken::domain::targets::TargetSettings;
use rotatetoken::ports::{Clock, NoOrganization, SystemClock};
use rotatetoken::service::{self, Scope};
use rotatetoken_tests::fixtures::*;
use rotatetoken_tests::Emulator;
use serde_json::json;

#[tokio::test]
async fn a_guarded_bucket_makes_the_stack_unsafe_unless_the_stack_opts_in() {
    let e = Emulator::start();
    let cfg = e.sdk_config().await;
    let cfn = aws_sdk_cloudformation::Client::new(&cfg);
    let s3 = aws_sdk_s3::Client::new(&cfg);
    let arn = create_secret(&aws_sdk_secretsmanager::Client::new(&cfg), "prod/db", "v1").await;
    let guarded = consumer_with_guarded_bucket(&arn);
    create_stack(&cfn, "uploads", &guarded, &[]).await;
    create_tagged_stack(
        &cfn,
        "scratch",
        &guarded,
        &[],
        &[(ALLOW_DATA_LOSS_TAG, "true")],
    )
    .await;
    create_stack(&cfn, "app", &consumer_template(&arn), &[]).await;
    let kept_bucket = resources(&cfn, "uploads").await["Uploads"].clone();
    s3.put_object()
        .bucket(&kept_bucket)
        .key("invoice.pdf")
        .body(b"customer data".to_vec().into())
        .send()
        .await
        .unwrap();
    let scratch_bucket = resources(&cfn, "scratch").await["Uploads"].clone();

    let scope = Scope {
        targets: TargetSettings::default(),
        own_region: "us-east-1".into(),
        parameter: "RotateToken".into(),
        version_parameter: "RotateTokenVersion".into(),
    };
    let access = AssumedRoles::new(&cfg, TargetSettings::default());
    let secrets = rotatetoken::aws::secretsmanager::SecretsManager::new(&cfg);
    let settings = DiscoverySettings {
        parameter: "RotateToken".into(),
        version_parameter: "RotateTokenVersion".into(),
        mode: SelectionMode::All,
        max_concurrency: 5,
        template_concurrency: 4,
        target_concurrency: 1,
        calls_per_second: rotatetoken::domain::discovery_pace::DEFAULT_CALLS_PER_SECOND,
        require_opt_in: false,
        without_service_role: rotatetoken::domain::service_role::StacksWithoutServiceRole::any(),
        secret_scope: None,
        coalesce: false,
        reconcile_since: Default::default(),
    };
    let discover = |dry_run: bool| {
        let (access, secrets, scope, settings) = (&access, &secrets, &scope, &settings);
        let input = json!({"secret": {"arn": arn}, "dry_run": dry_run});
        async move {
            service::discover(
                access,
                &NoOrganization,
                None::<&rotatetoken::aws::s3::S3RunStore>,
                secrets,
                &SdkRetries,
                scope,
                settings,
                input,
            )
            .await
            .unwrap()
        }
    };
    // A dry run: discovery gives the verdicts (no refresh runs).
    let out = discover(true).await;
    let mut selected: Vec<&str> = out.selected.iter().map(|t| t.stack.name.as_str()).collect();
    selected.sort();
    assert_eq!(selected, vec!["app", "scratch"]);
    assert_eq!(out.skipped.len(), 1, "{:?}", out.skipped);
    assert_eq!(out.skipped[0].stack.name, "uploads");
    let dry_reason = out.skipped[0].reason.clone();
    assert!(
        dry_reason.starts_with("unsafe") && dry_reason.contains("Uploads (AWS::S3::Bucket)"),
        "{dry_reason}"
    );
    assert!(dry_reason.contains(ALLOW_DATA_LOSS_TAG), "{dry_reason}");

    // A real run: the refresh function judges each stack right before phase one.
    let out = discover(false).await;
    assert_eq!(out.selected.len(), 3);
    for task in &out.selected {
        let done = service::refresh(
            service::NO_STOPS,
            &access,
            &NoOrganization,
            &secrets,
            &SystemClock,
            &SdkRetries,
            RefreshSettings {
                poll_interval_ms: 100,
                max_wait_ms: 30_000,
                require_opt_in: false,
                without_service_role:
                    rotatetoken::domain::service_role::StacksWithoutServiceRole::any(),
                wait_for_events: false,
                lane_places: 0,
            },
            &scope,
            serde_json::to_value(task).unwrap(),
            SystemClock.now_ms() + 30_000,
        )
        .await
        .unwrap();
        if task.stack.name == "uploads" {
            assert_eq!(done.outcome, Outcome::Skipped, "{done:?}");
            assert_eq!(
                done.reason.as_deref(),
                Some(dry_reason.as_str()),
                "the dry run's verdict"
            );
        } else {
            assert_eq!(done.outcome, Outcome::Refreshed, "{done:?}");
        }
    }
    assert_eq!(e.completed_token_updates("scratch"), vec!["false", "true"]);
    assert_ne!(
        resources(&cfn, "scratch").await["Uploads"],
        scratch_bucket,
        "the opted-in bucket was deleted and recreated"
    );
    assert!(e.completed_token_updates("uploads").is_empty());
    let kept = s3
        .get_object()
        .bucket(&kept_bucket)
        .key("invoice.pdf")
        .send()
        .await
        .expect("the unsafe stack's bucket and its data are untouched");
    assert_eq!(
        kept.body.collect().await.unwrap().into_bytes().as_ref(),
        b"customer data"
    );
}

/// Whoever can invoke the refresh function cannot switch the guard off: a task that says
/// `guard_passed` is judged again, and the bucket keeps its data.
#[tokio::test]
async fn a_task_saying_the_guard_passed_is_judged_again() {
    let e = Emulator::start();
    let cfg = e.sdk_config().await;
    let cfn = aws_sdk_cloudformation::Client::new(&cfg);
    let arn = create_secret(&aws_sdk_secretsmanager::Client::new(&cfg), "prod/db", "v1").await;
    let id = create_stack(&cfn, "uploads", &consumer_with_guarded_bucket(&arn), &[]).await;
    let bucket = resources(&cfn, "uploads").await["Uploads"].clone();
    let task = rotatetoken::domain::model::RefreshTask::new(
        rotatetoken::domain::model::StackRef::from_stack_id(&id).unwrap(),
        "RotateToken",
    );
    let mut forged = serde_json::to_value(&task).unwrap();
    forged["guard_passed"] = json!(true);
    let scope = Scope {
        targets: TargetSettings::default(),
        own_region: "us-east-1".into(),
        parameter: "RotateToken".into(),
        version_parameter: "RotateTokenVersion".into(),
    };
    let done = service::refresh(
        service::NO_STOPS,
        &AssumedRoles::new(&cfg, TargetSettings::default()),
        &NoOrganization,
        &rotatetoken::aws::secretsmanager::SecretsManager::new(&cfg),
        &SystemClock,
        &SdkRetries,
        RefreshSettings {
            poll_interval_ms: 100,
            max_wait_ms: 30_000,
            require_opt_in: false,
            without_service_role: rotatetoken::domain::service_role::StacksWithoutServiceRole::any(
            ),
            wait_for_events: false,
            lane_places: 0,
        },
        &scope,
        forged,
        SystemClock.now_ms() + 30_000,
    )
    .await
    .unwrap();
    assert_eq!(done.outcome, Outcome::Skipped, "{done:?}");
    assert!(done.reason.unwrap().contains("Uploads (AWS::S3::Bucket)"));
    assert!(e.completed_token_updates("uploads").is_empty());
    assert_eq!(
        resources(&cfn, "uploads").await["Uploads"],
        bucket,
        "the bucket kept"
    );
}
