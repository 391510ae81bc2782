//! In-place mode: the stack pinned to the version Secrets Manager says is current.

use super::*;

/// The version ids of a secret, oldest first, and which one is current.
async fn versions_of(w: &World, secret: &str) -> (Vec<String>, String) {
    let out =
        w.sm.list_secret_version_ids()
            .secret_id(secret)
            .include_deprecated(true)
            .send()
            .await
            .unwrap();
    let mut all: Vec<_> = out.versions().to_vec();
    all.sort_by_key(|v| v.created_date().map(|d| d.as_nanos()));
    let current = all
        .iter()
        .find(|v| v.version_stages().iter().any(|s| s == "AWSCURRENT"))
        .and_then(|v| v.version_id())
        .unwrap()
        .to_string();
    let ids = all
        .iter()
        .filter_map(|v| v.version_id().map(str::to_string))
        .collect();
    (ids, current)
}

fn in_place_task(stack_id: &str, secret_arn: &str) -> RefreshTask {
    let mut task = RefreshTask::new(
        StackRef::from_stack_id(stack_id).unwrap(),
        "RotateTokenVersion",
    );
    task.mode = rotatetoken::domain::model::RefreshMode::InPlace;
    task.secret_arn = Some(secret_arn.to_string());
    task
}

/// Inputs are not authority: an in-place task that names an older version (a forged or
/// replayed task) still pins the stack to the version Secrets Manager says is current.
#[tokio::test]
async fn a_forged_version_in_the_task_never_pins_an_older_value() {
    let w = world().await;
    let arn = create_secret(&w.sm, "prod/db", "v1").await;
    let (first, _) = versions_of(&w, "prod/db").await;
    let template = in_place_consumer_template("prod/db");
    let id = create_stack(
        &w.cfn,
        "pinned",
        &template,
        &[("RotateTokenVersion", &first[0])],
    )
    .await;
    let before = resources(&w.cfn, "pinned").await;
    put_secret(&w.sm, "prod/db", "v2").await;
    let (_, current) = versions_of(&w, "prod/db").await;

    let mut task = in_place_task(&id, &arn);
    task.version = Some(first[0].clone());
    let out = run(&w, task, 30_000).await;

    assert_eq!(out.outcome, Outcome::Refreshed, "{out:?}");
    assert_eq!(out.version.as_deref(), Some(current.as_str()));
    assert_eq!(w.emulator.updates().len(), 1, "one update");
    let logged = w.emulator.updates().pop().unwrap();
    assert_eq!(logged.parameters["RotateTokenVersion"], current);
    assert_eq!(
        resources(&w.cfn, "pinned").await,
        before,
        "updated in place"
    );
    assert_eq!(
        ssm_value(&w.ssm, &before["DatabasePassword"])
            .await
            .as_deref(),
        Some("v2")
    );
    assert!(!out.critical);
}

/// Version hygiene: a stack that stays pinned to a version with no staging label left (it
/// may be deleted, and the stack's next update would fail) is warned about, by the refresh
/// function and by discovery; the stack itself is skipped, never updated.
#[tokio::test]
async fn a_stack_left_pinned_to_an_unlabelled_version_is_warned_about() {
    let w = world().await;
    let arn = create_secret(&w.sm, "prod/rds", r#"{"username":"a","password":"p1"}"#).await;
    let (first, _) = versions_of(&w, "prod/rds").await;
    let template = in_place_database_template("prod/rds");
    let id = create_stack(
        &w.cfn,
        "database",
        &template,
        &[("RotateTokenVersion", &first[0])],
    )
    .await;
    put_secret(&w.sm, "prod/rds", r#"{"username":"a","password":"p2"}"#).await;
    put_secret(&w.sm, "prod/rds", r#"{"username":"a","password":"p3"}"#).await;

    let out = run(&w, in_place_task(&id, &arn), 30_000).await;
    assert_eq!(out.outcome, Outcome::Skipped, "{out:?}");
    assert!(
        out.reason.as_deref().unwrap().contains("MasterUsername"),
        "{out:?}"
    );
    let warning = out.warning.expect("warned");
    assert!(
        warning.contains(&format!("pinned to version {}", first[0]))
            && warning.contains("no staging label"),
        "{warning}"
    );
    assert!(w.emulator.updates().is_empty());

    let settings = rotatetoken::domain::discovery::DiscoverySettings {
        parameter: "RotateToken".into(),
        version_parameter: "RotateTokenVersion".into(),
        mode: rotatetoken::domain::selection::SelectionMode::Referencing,
        max_concurrency: 1,
        template_concurrency: 1,
        target_concurrency: 1,
        calls_per_second: rotatetoken::domain::discovery_pace::DEFAULT_CALLS_PER_SECOND,
        require_opt_in: false,
        without_service_role: rotatetoken::domain::service_role::StacksWithoutServiceRole::any(),
        secret_scope: None,
        coalesce: false,
        reconcile_since: Default::default(),
    };
    let found = service::discover(
        &w.access,
        &NoOrganization,
        None::<&rotatetoken::aws::s3::S3RunStore>,
        &w.secrets,
        &SdkRetries,
        &w.scope,
        &settings,
        json!({"secret": {"arn": arn}, "dry_run": true}),
    )
    .await
    .unwrap();
    assert_eq!(found.skipped.len(), 1, "{found:?}");
    assert!(found.skipped[0].reason.contains("WARNING"), "{found:?}");
    let left = w
        .cfn
        .list_change_sets()
        .stack_name("database")
        .send()
        .await
        .unwrap();
    assert!(
        left.summaries().is_empty(),
        "the previews' change sets were deleted"
    );
}
