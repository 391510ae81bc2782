//! The discovery service against the emulator through the real CloudFormation adapter:
//! pagination past 50 stacks, both selection modes, non-updatable stacks reported.

use rotatetoken::aws::retries::SdkRetries;
use rotatetoken::aws::s3::S3RunStore;
use rotatetoken::aws::secretsmanager::SecretsManager;
use rotatetoken::aws::targets::AssumedRoles;
use rotatetoken::domain::discovery::DiscoverySettings;
use rotatetoken::domain::model::DiscoveryOutput;
use rotatetoken::domain::selection::SelectionMode;
use rotatetoken::domain::targets::TargetSettings;
use rotatetoken::ports::NoOrganization;
use rotatetoken::service::{self, Scope};
use rotatetoken_tests::fixtures::*;
use rotatetoken_tests::Emulator;
use serde_json::json;

fn settings(mode: SelectionMode) -> DiscoverySettings {
    DiscoverySettings {
        parameter: "RotateToken".into(),
        version_parameter: "RotateTokenVersion".into(),
        mode,
        max_concurrency: 7,
        template_concurrency: 4,
        target_concurrency: 4,
        calls_per_second: rotatetoken::domain::discovery_pace::DEFAULT_CALLS_PER_SECOND,
        require_opt_in: false,
        without_service_role: rotatetoken::domain::service_role::StacksWithoutServiceRole::any(),
        secret_scope: None,
        coalesce: false,
        reconcile_since: Default::default(),
    }
}

const NO_STORE: Option<&S3RunStore> = None;

/// A runs bucket (`runs`), as the pipeline's: the seat files and kept templates live there.
async fn runs_bucket(config: &aws_config::SdkConfig) -> (aws_sdk_s3::Client, S3RunStore) {
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(config)
            .force_path_style(true)
            .build(),
    );
    s3.create_bucket().bucket("runs").send().await.unwrap();
    (s3, S3RunStore::new(config, "runs".into()))
}

fn local(config: &aws_config::SdkConfig) -> AssumedRoles {
    AssumedRoles::new(config, TargetSettings::default())
}

fn own_region() -> Scope {
    Scope {
        targets: TargetSettings::default(),
        own_region: "us-east-1".into(),
        parameter: "RotateToken".into(),
        version_parameter: "RotateTokenVersion".into(),
    }
}

async fn discover(
    config: &aws_config::SdkConfig,
    mode: SelectionMode,
    secret_arn: &str,
) -> DiscoveryOutput {
    let input =
        json!({"secret": {"arn": secret_arn, "version_id": "v2"}, "cause": "PutSecretValue"});
    service::discover(
        &local(config),
        &NoOrganization,
        NO_STORE,
        &SecretsManager::new(config),
        &SdkRetries,
        &own_region(),
        &settings(mode),
        input,
    )
    .await
    .unwrap()
}

fn names(out: &DiscoveryOutput) -> Vec<String> {
    out.selected.iter().map(|t| t.stack.name.clone()).collect()
}

#[tokio::test]
async fn every_page_is_read_and_only_stacks_with_the_parameter_are_selected() {
    let emulator = Emulator::start();
    let config = emulator.sdk_config().await;
    let cfn = aws_sdk_cloudformation::Client::new(&config);
    let sm = aws_sdk_secretsmanager::Client::new(&config);
    let arn = create_secret(&sm, "prod/db", "v1").await;
    for i in 0..57 {
        create_stack(
            &cfn,
            &format!("consumer-{i:02}"),
            &consumer_template("prod/db"),
            &[],
        )
        .await;
    }
    for i in 0..8 {
        create_stack(&cfn, &format!("plain-{i}"), &plain_template("prod/db"), &[]).await;
    }

    let out = discover(&config, SelectionMode::All, &arn).await;

    assert_eq!(
        out.scanned, 65,
        "DescribeStacks pages at 50: both pages read"
    );
    assert_eq!(out.selected.len(), 57);
    assert!(names(&out).iter().all(|n| n.starts_with("consumer-")));
    assert_eq!(out.not_consumers, 8);
    // One account-region, MaxConcurrency 7: the lane's places, and as many stacks waiting
    // for a place (domain::lanes::map_concurrency).
    assert_eq!(out.max_concurrency, 14);
    assert_eq!(out.secret.name, "prod/db");
    let first = &out.selected[0];
    assert_eq!(
        (first.stack.account.as_str(), first.stack.region.as_str()),
        ("123456789012", "us-east-1")
    );
    assert!(emulator.updates().is_empty(), "discovery changes nothing");
}

#[tokio::test]
async fn referencing_mode_selects_only_stacks_that_mention_the_secret() {
    let emulator = Emulator::start();
    let config = emulator.sdk_config().await;
    let cfn = aws_sdk_cloudformation::Client::new(&config);
    let sm = aws_sdk_secretsmanager::Client::new(&config);
    let arn = create_secret(&sm, "prod/db", "v1").await;
    create_secret(&sm, "prod/db-replica", "r1").await;
    let other = create_secret(&sm, "other/api", "o1").await;
    create_stack(&cfn, "by-name", &consumer_template("prod/db"), &[]).await;
    create_stack(&cfn, "by-arn", &consumer_template(&arn), &[]).await;
    create_stack(
        &cfn,
        "longer-name",
        &consumer_template("prod/db-replica"),
        &[],
    )
    .await;
    create_stack(&cfn, "other-secret", &consumer_template(&other), &[]).await;
    // The secret named only in a parameter value (e.g. passed to a nested template).
    let via_param = consumer_template("other/api").replace(
        "  Environment:\n",
        "  SecretName:\n    Type: String\n  Environment:\n",
    );
    create_stack(
        &cfn,
        "by-parameter",
        &via_param,
        &[("SecretName", "prod/db")],
    )
    .await;

    let referencing = discover(&config, SelectionMode::Referencing, &arn).await;
    assert_eq!(
        names(&referencing),
        vec!["by-arn", "by-name", "by-parameter"]
    );
    let all = discover(&config, SelectionMode::All, &arn).await;
    assert_eq!(all.selected.len(), 5);
}

#[tokio::test]
async fn stacks_that_cannot_be_updated_are_reported_with_the_reason() {
    let emulator = Emulator::start();
    let config = emulator.sdk_config().await;
    let cfn = aws_sdk_cloudformation::Client::new(&config);
    let sm = aws_sdk_secretsmanager::Client::new(&config);
    let arn = create_secret(&sm, "prod/db", "v1").await;
    for name in ["ok", "stuck", "failed-create", "busy"] {
        create_stack(&cfn, name, &consumer_template("prod/db"), &[]).await;
    }
    emulator.force_status(
        "stuck",
        "UPDATE_ROLLBACK_FAILED",
        "Resource DatabasePassword failed to roll back",
    );
    emulator.force_status("failed-create", "ROLLBACK_COMPLETE", "");
    emulator.force_status("busy", "UPDATE_IN_PROGRESS", "User Initiated");

    let out = discover(&config, SelectionMode::All, &arn).await;

    // A busy stack is selected: refresh waits for the running operation to end.
    let mut selected = names(&out);
    selected.sort();
    assert_eq!(selected, vec!["busy", "ok"]);
    let mut skipped: Vec<(String, String)> = out
        .skipped
        .iter()
        .map(|s| (s.stack.name.clone(), s.status.clone()))
        .collect();
    skipped.sort();
    assert_eq!(
        skipped,
        vec![
            ("failed-create".to_string(), "ROLLBACK_COMPLETE".to_string()),
            ("stuck".to_string(), "UPDATE_ROLLBACK_FAILED".to_string()),
        ]
    );
    let stuck = out
        .skipped
        .iter()
        .find(|s| s.stack.name == "stuck")
        .unwrap();
    assert!(
        stuck.reason.contains("failed to roll back"),
        "{}",
        stuck.reason
    );
}

#[tokio::test]
async fn malformed_input_names_the_field() {
    let emulator = Emulator::start();
    let config = emulator.sdk_config().await;
    for (input, field) in [
        (json!({}), "input.secret"),
        (json!({"secret": {}}), "input.secret.arn"),
        (json!({"secret": {"arn": "prod/db"}}), "input.secret.arn"),
        (
            json!({"secret": {"arn": "arn:aws:secretsmanager:us-east-1:1:secret:db-AbCdEf"}, "dry_run": "yes"}),
            "input.dry_run",
        ),
        (json!("text"), "input"),
    ] {
        let err = service::discover(
            &local(&config),
            &NoOrganization,
            NO_STORE,
            &SecretsManager::new(&config),
            &SdkRetries,
            &own_region(),
            &settings(SelectionMode::All),
            input.clone(),
        )
        .await
        .unwrap_err();
        assert!(
            err.to_string().contains(&format!("`{field}`")),
            "{input} -> {err}"
        );
    }
}

/// Nested stacks (issue 8, point 5): a root whose child mentions the secret is selected in
/// referencing mode; the child itself is never a row of its own; a child with the token
/// whose root has none is reported unreachable, in both modes.
#[tokio::test]
async fn nested_stacks_select_their_root_and_unreachable_ones_are_reported() {
    let emulator = Emulator::start();
    let config = emulator.sdk_config().await;
    let sm = aws_sdk_secretsmanager::Client::new(&config);
    let arn = create_secret(&sm, "prod/db", "v1").await;
    let reached = create_nested_consumer(&config, "platform", &consumer_template("prod/db"), true)
        .await
        .child;
    let stranded = create_nested_consumer(&config, "legacy", &consumer_template("prod/db"), false)
        .await
        .child;

    for mode in [SelectionMode::Referencing, SelectionMode::All] {
        let out = discover(&config, mode, &arn).await;
        assert_eq!(names(&out), vec!["platform"], "{mode:?}");
        let skipped: Vec<(&str, &str)> = out
            .skipped
            .iter()
            .map(|s| (s.stack.name.as_str(), s.reason.as_str()))
            .collect();
        assert_eq!(skipped.len(), 1, "{mode:?}: {skipped:?}");
        assert_eq!(skipped[0].0, stranded);
        assert!(
            skipped[0].1.starts_with(
                "unreachable: a nested stack of legacy, which has no RotateToken parameter"
            ),
            "{}",
            skipped[0].1
        );
        assert!(!skipped.iter().any(|(n, _)| *n == reached));
    }
}

/// A dry run predicts what a real run would report failed: a `false` update CloudFormation
/// would refuse (a dangling reference, here in a nested stack) is named in the selected
/// stack's reason, and the report turns it into a `would_fail` row.
#[tokio::test]
async fn a_dry_run_predicts_the_updates_cloudformation_would_refuse() {
    let emulator = Emulator::start();
    let config = emulator.sdk_config().await;
    let cfn = aws_sdk_cloudformation::Client::new(&config);
    let sm = aws_sdk_secretsmanager::Client::new(&config);
    let arn = create_secret(&sm, "prod/db", "v1").await;
    create_stack(&cfn, "fine", &consumer_template("prod/db"), &[]).await;
    create_nested_consumer(
        &config,
        "platform",
        &consumer_with_dangling_output("prod/db"),
        true,
    )
    .await;
    let input = json!({"secret": {"arn": arn}, "dry_run": true});
    let out = service::discover(
        &local(&config),
        &NoOrganization,
        NO_STORE,
        &SecretsManager::new(&config),
        &SdkRetries,
        &own_region(),
        &settings(SelectionMode::All),
        input,
    )
    .await
    .unwrap();
    assert_eq!(names(&out), vec!["fine", "platform"]);
    assert_eq!(out.selected[0].reason, None);
    let reason = out.selected[1].reason.clone().unwrap_or_default();
    assert!(
        reason.starts_with("CloudFormation would refuse the update: nested stack Database ("),
        "{reason}"
    );
    assert!(
        reason.contains("output PasswordParameterName refers to DatabasePassword"),
        "{reason}"
    );
    let summary = rotatetoken::domain::report::summarise(out, None);
    assert_eq!(summary.counts.would_refresh, 1, "{summary:#?}");
    assert_eq!(summary.counts.would_fail, 1, "{summary:#?}");
    assert!(
        !summary.run_failed,
        "a dry run changes nothing and fails nothing"
    );
}

/// With `RequireOptInTag`, consumers without `rotatetoken:opt-in=true` are reported
/// skipped with the tag to add, never silently left out; tagged ones are selected.
#[tokio::test]
async fn with_require_opt_in_untagged_consumers_are_reported_skipped() {
    let emulator = Emulator::start();
    let config = emulator.sdk_config().await;
    let cfn = aws_sdk_cloudformation::Client::new(&config);
    let sm = aws_sdk_secretsmanager::Client::new(&config);
    let arn = create_secret(&sm, "prod/db", "v1").await;
    create_stack(&cfn, "untagged", &consumer_template("prod/db"), &[]).await;
    create_tagged_stack(
        &cfn,
        "wrong-value",
        &consumer_template("prod/db"),
        &[],
        &[("rotatetoken:opt-in", "yes")],
    )
    .await;
    create_tagged_stack(
        &cfn,
        "tagged",
        &consumer_template("prod/db"),
        &[],
        &[("rotatetoken:opt-in", "true")],
    )
    .await;
    let input = json!({"secret": {"arn": arn, "version_id": "v2"}, "cause": "PutSecretValue"});
    let out = service::discover(
        &local(&config),
        &NoOrganization,
        NO_STORE,
        &SecretsManager::new(&config),
        &SdkRetries,
        &own_region(),
        &DiscoverySettings {
            require_opt_in: true,
            without_service_role: rotatetoken::domain::service_role::StacksWithoutServiceRole::any(
            ),
            ..settings(SelectionMode::Referencing)
        },
        input,
    )
    .await
    .unwrap();
    assert_eq!(names(&out), vec!["tagged"]);
    let mut skipped: Vec<&str> = out.skipped.iter().map(|s| s.stack.name.as_str()).collect();
    skipped.sort();
    assert_eq!(skipped, vec!["untagged", "wrong-value"]);
    for s in &out.skipped {
        assert!(s.reason.contains("rotatetoken:opt-in=true"), "{}", s.reason);
    }
}

/// An incident rotates several secrets at once, and their runs discover in the same
/// account-region together, at CloudFormation's rates (5 calls a second per API, burst 10,
/// as users measure DescribeStacks). Unpaced, their calls (up to 4 in flight per run here,
/// 8 deployed) would throttle one another and the customer's deploys; paced, the runs share
/// `DiscoveryCallsPerSecond` through the account-region's seat file: no call is throttled,
/// each template is read about once, every run finds its consumers, and every seat is
/// given back.
#[tokio::test]
async fn runs_discovering_together_share_the_account_regions_budget_and_none_is_throttled() {
    const RUNS: usize = 8;
    const STACKS: usize = 5;
    let emulator = Emulator::start();
    // As the discover function calls: its app id is how the local AWS logs its requests.
    let config = emulator
        .sdk_config()
        .await
        .to_builder()
        .app_name(aws_config::AppName::new("rotatetoken-discover").unwrap())
        .build();
    let cfn = aws_sdk_cloudformation::Client::new(&config);
    let sm = aws_sdk_secretsmanager::Client::new(&config);
    let (s3, store) = runs_bucket(&config).await;
    let mut arns = vec![];
    for i in 0..RUNS {
        arns.push(create_secret(&sm, &format!("prod/db-{i}"), "v1").await);
    }
    // Every stack consumes every secret: each run reads each stack's template to tell
    // (kept for the others), then its stack policy (every run its own: 40 GetStackPolicy
    // calls, four times the burst, were they sent at once).
    let names: Vec<String> = (0..RUNS).map(|i| format!("prod/db-{i}")).collect();
    for s in 0..STACKS {
        create_stack(&cfn, &format!("app-{s}"), &consumer_of(&names), &[]).await;
    }
    emulator.control(json!({"rate_limits": {"cloudformation": {"*": [5, 10]}}, "throttled": 0}));
    let settings = settings(SelectionMode::Referencing);
    let secrets = SecretsManager::new(&config);
    let access = local(&config);
    let scope = own_region();
    let runs = arns.iter().enumerate().map(|(i, arn)| {
        let input = json!({"execution": format!("incident-{i}"),
            "request": {"secret": {"arn": arn, "version_id": "v2"}, "cause": "PutSecretValue"}});
        let (access, store, secrets, scope, settings) =
            (&access, &store, &secrets, &scope, &settings);
        async move {
            service::discover(
                access,
                &NoOrganization,
                Some(store),
                secrets,
                &SdkRetries,
                scope,
                settings,
                input,
            )
            .await
            .unwrap()
        }
    });
    let outs = futures::future::join_all(runs).await;
    let throttled = emulator.control(json!({}))["throttled"]
        .as_u64()
        .unwrap_or(u64::MAX);
    assert_eq!(
        throttled, 0,
        "CloudFormation throttled the runs' discoveries"
    );
    // Each template read from CloudFormation about once: the runs read their stacks in
    // orders of their own and keep what they read for the others (RUNS × STACKS without).
    let reads = emulator
        .requests()
        .iter()
        .filter(|(_, _, action)| action == "cloudformation:GetTemplate")
        .count();
    eprintln!("{reads} GetTemplate calls for {STACKS} templates and {RUNS} runs");
    assert!(reads >= STACKS, "{reads} GetTemplate calls");
    assert!(
        reads <= 2 * STACKS,
        "{reads} GetTemplate calls for {STACKS} templates"
    );
    for (i, out) in outs.iter().enumerate() {
        assert!(
            out.failed_targets.is_empty(),
            "run {i}: {:?}",
            out.failed_targets
        );
        assert_eq!(out.scanned, STACKS, "run {i}");
        assert_eq!(out.selected_count, STACKS, "run {i}");
    }
    let seats = s3
        .get_object()
        .bucket("runs")
        .key("discovery/self/us-east-1.json")
        .send()
        .await
        .unwrap();
    let seats: serde_json::Value =
        serde_json::from_slice(&seats.body.collect().await.unwrap().into_bytes()).unwrap();
    assert_eq!(seats["seats"], json!({}), "every run gave its seat back");
}

/// A template kept for the other runs is the stack's as it was when read: once the stack
/// is updated (here to stop reading the secret), the next run reads its new template,
/// never the kept one.
#[tokio::test]
async fn a_template_kept_by_one_run_is_read_again_once_its_stack_is_updated() {
    let emulator = Emulator::start();
    let config = emulator.sdk_config().await;
    let cfn = aws_sdk_cloudformation::Client::new(&config);
    let sm = aws_sdk_secretsmanager::Client::new(&config);
    let (s3, store) = runs_bucket(&config).await;
    let arn = create_secret(&sm, "prod/db", "v1").await;
    create_secret(&sm, "prod/other", "v1").await;
    // Created reading another secret, then updated to read prod/db: UPDATE_COMPLETE, as
    // it will be after the next update too (only the update's time tells them apart).
    create_stack(&cfn, "app", &consumer_template("prod/other"), &[]).await;
    update_template(&cfn, "app", &consumer_template("prod/db")).await;
    let settings = settings(SelectionMode::Referencing);
    let run = |name: &str| {
        json!({"execution": name,
            "request": {"secret": {"arn": arn, "version_id": "v2"}, "cause": "PutSecretValue", "dry_run": true}})
    };
    let (access, secrets, scope) = (local(&config), SecretsManager::new(&config), own_region());
    let discover = |input| {
        service::discover(
            &access,
            &NoOrganization,
            Some(&store),
            &secrets,
            &SdkRetries,
            &scope,
            &settings,
            input,
        )
    };
    let first = discover(run("first")).await.unwrap();
    assert_eq!(first.selected_count, 1, "{first:?}");
    let kept = s3
        .list_objects_v2()
        .bucket("runs")
        .prefix("templates/")
        .send()
        .await
        .unwrap();
    assert_eq!(kept.contents().len(), 1, "the template was kept: {kept:?}");
    // The stack no longer reads prod/db.
    update_template(&cfn, "app", &consumer_template("prod/other")).await;
    let second = discover(run("second")).await.unwrap();
    assert_eq!(
        (second.selected_count, second.not_consumers),
        (0, 1),
        "{second:?}"
    );
}

/// Updates the stack's template (its token stays `true`) and waits until it is done.
async fn update_template(cfn: &aws_sdk_cloudformation::Client, stack: &str, template: &str) {
    cfn.update_stack()
        .stack_name(stack)
        .template_body(template)
        .parameters(
            aws_sdk_cloudformation::types::Parameter::builder()
                .parameter_key("RotateToken")
                .parameter_value("true")
                .build(),
        )
        .send()
        .await
        .unwrap();
    for _ in 0..200 {
        if stack_status_and_token(cfn, stack).await.0 == "UPDATE_COMPLETE" {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{stack} was not updated");
}
