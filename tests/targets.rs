//! Across accounts and regions on the emulator: discovery and refresh through the target
//! role (external ID, session named after the execution), a denied target reported while
//! the others complete, and a stack outside the targets never touched.

use rotatetoken::aws::retries::SdkRetries;
use rotatetoken::aws::s3::S3RunStore;
use rotatetoken::aws::secretsmanager::SecretsManager;
use rotatetoken::aws::targets::AssumedRoles;
use rotatetoken::domain::discovery::DiscoverySettings;
use rotatetoken::domain::model::{Outcome, RefreshTask};
use rotatetoken::domain::refresh::RefreshSettings;
use rotatetoken::domain::selection::SelectionMode;
use rotatetoken::domain::targets::TargetSettings;
use rotatetoken::ports::{Clock, NoNotifier, NoOrganization, SystemClock};
use rotatetoken::service::{self, Scope};
use rotatetoken_tests::fixtures::*;
use rotatetoken_tests::Emulator;
use serde_json::json;

const A: &str = "111111111111";
const B: &str = "222222222222";
const DENIED: &str = "333333333333";
const OUTSIDER: &str = "444444444444";
const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];

fn targets(external_id: &str) -> TargetSettings {
    TargetSettings {
        accounts: vec![A.into(), B.into(), DENIED.into()],
        regions: REGIONS.iter().map(|r| r.to_string()).collect(),
        role_name: "RotateTokenTarget".into(),
        external_id: Some(external_id.into()),
        ..Default::default()
    }
}

fn discovery_settings() -> DiscoverySettings {
    DiscoverySettings {
        parameter: "RotateToken".into(),
        version_parameter: "RotateTokenVersion".into(),
        mode: SelectionMode::Referencing,
        max_concurrency: 5,
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

/// A central secret and a consumer stack in each of four accounts and two regions.
async fn seeded() -> (Emulator, aws_config::SdkConfig, String) {
    let e = Emulator::start();
    let central = e.sdk_config().await;
    let arn = create_secret(
        &aws_sdk_secretsmanager::Client::new(&central),
        "shared/db",
        "v1",
    )
    .await;
    for account in [A, B, DENIED, OUTSIDER] {
        for region in REGIONS {
            let cfg = e.sdk_config_in(account, region).await;
            let cfn = aws_sdk_cloudformation::Client::new(&cfg);
            create_stack(&cfn, "app", &consumer_template(&arn), &[]).await;
            create_stack(&cfn, "unrelated", &plain_template(&arn), &[]).await;
        }
    }
    // Trust policies take effect after seeding: the external ID is required, DENIED refuses.
    e.control(json!({"external_id": "ext-7f3a", "deny_assume_role": [DENIED]}));
    (e, central, arn)
}

#[tokio::test]
async fn stacks_in_every_target_are_refreshed_through_assumed_roles() {
    let (e, central, arn) = seeded().await;
    let settings = targets("ext-7f3a");
    let access = AssumedRoles::new(&central, settings.clone());
    let request = json!({"execution": "rt-shared-db-abc123", "request": {"secret": {"arn": arn, "version_id": "v2"}}});

    let out = service::discover(
        &access,
        &NoOrganization,
        None::<&S3RunStore>,
        &SecretsManager::new(&central),
        &SdkRetries,
        &Scope {
            targets: settings.clone(),
            own_region: "us-east-1".into(),
            parameter: "RotateToken".into(),
            version_parameter: "RotateTokenVersion".into(),
        },
        &discovery_settings(),
        request,
    )
    .await
    .unwrap();

    assert_eq!(out.targets, 6);
    let mut selected: Vec<(String, String)> = out
        .selected
        .iter()
        .map(|t| (t.stack.account.clone(), t.stack.region.clone()))
        .collect();
    selected.sort();
    assert_eq!(
        selected,
        vec![
            (A.into(), "eu-west-1".into()),
            (A.into(), "us-east-1".into()),
            (B.into(), "eu-west-1".into()),
            (B.into(), "us-east-1".into())
        ]
    );
    let mut failed: Vec<(String, String)> = out
        .failed_targets
        .iter()
        .map(|t| (t.account.clone(), t.region.clone()))
        .collect();
    failed.sort();
    assert_eq!(
        failed,
        vec![
            (DENIED.into(), "eu-west-1".into()),
            (DENIED.into(), "us-east-1".into())
        ]
    );
    assert!(
        out.failed_targets
            .iter()
            .all(|t| t.reason.contains("AccessDenied")),
        "{:?}",
        out.failed_targets
    );
    assert!(out
        .selected
        .iter()
        .all(|t| t.session.as_deref() == Some("rotatetoken-rt-shared-db-abc123")));

    let scope = Scope {
        targets: settings.clone(),
        own_region: "us-east-1".into(),
        parameter: "RotateToken".into(),
        version_parameter: "RotateTokenVersion".into(),
    };
    let refresh_settings = RefreshSettings {
        poll_interval_ms: 100,
        max_wait_ms: 30_000,
        require_opt_in: false,
        without_service_role: rotatetoken::domain::service_role::StacksWithoutServiceRole::any(),
        wait_for_events: false,
        lane_places: 0,
    };
    let mut results = vec![];
    for task in &out.selected {
        let until = SystemClock.now_ms() + 30_000;
        let done = service::refresh(
            service::NO_STOPS,
            &access,
            &NoOrganization,
            &SecretsManager::new(&central),
            &SystemClock,
            &SdkRetries,
            refresh_settings.clone(),
            &scope,
            serde_json::to_value(task).unwrap(),
            until,
        )
        .await
        .unwrap();
        assert_eq!(done.outcome, Outcome::Refreshed, "{done:?}");
        results.push(done);
    }
    for account in [A, B] {
        for region in REGIONS {
            assert_eq!(
                e.completed_token_updates_in(account, region, "app"),
                vec!["false", "true"],
                "{account}/{region}"
            );
        }
    }
    assert_eq!(
        e.updated_accounts(),
        vec![A.to_string(), B.to_string()],
        "nothing else was touched"
    );

    // The roles assumed (the updater; discovery's reader where discovery reads through
    // it): the external ID, the execution's session name.
    let assumed: Vec<_> = e
        .assumed_roles()
        .into_iter()
        .filter(|(role, _, _)| role.contains(":role/RotateTokenTarget"))
        .collect();
    assert!(!assumed.is_empty());
    assert!(assumed.iter().all(
        |(_, session, ext)| session == "rotatetoken-rt-shared-db-abc123" && ext == "ext-7f3a"
    ));
    assert!(!assumed.iter().any(|(role, _, _)| role.contains(OUTSIDER)));

    // The summary groups by account and region and names the failed targets.
    let summary = service::report(None::<&S3RunStore>, &NoNotifier, json!({
        "secret": out.secret, "cause": out.cause, "dry_run": false, "parameter": out.parameter, "mode": out.mode,
        "max_concurrency": out.max_concurrency, "scanned": out.scanned, "not_consumers": out.not_consumers,
        "selected": out.selected, "skipped": out.skipped, "targets": out.targets, "failed_targets": out.failed_targets,
        "results": results,
    }))
    .await
    .unwrap();
    assert_eq!(summary.counts.refreshed, 4);
    assert_eq!(summary.counts.failed_targets, 2);
    let groups: Vec<(String, String, usize, bool)> = summary
        .by_target
        .iter()
        .map(|g| {
            (
                g.account.clone(),
                g.region.clone(),
                g.refreshed,
                g.error.is_some(),
            )
        })
        .collect();
    assert_eq!(
        groups,
        vec![
            (A.into(), "eu-west-1".into(), 1, false),
            (A.into(), "us-east-1".into(), 1, false),
            (B.into(), "eu-west-1".into(), 1, false),
            (B.into(), "us-east-1".into(), 1, false),
            (DENIED.into(), "eu-west-1".into(), 0, true),
            (DENIED.into(), "us-east-1".into(), 0, true),
        ]
    );
}

#[tokio::test]
async fn a_stack_outside_the_targets_is_never_touched() {
    let (e, central, _arn) = seeded().await;
    let settings = targets("ext-7f3a");
    let access = AssumedRoles::new(&central, settings.clone());
    let scope = Scope {
        targets: settings,
        own_region: "us-east-1".into(),
        parameter: "RotateToken".into(),
        version_parameter: "RotateTokenVersion".into(),
    };
    e.control(json!({"external_id": null}));
    let outsider_cfn =
        aws_sdk_cloudformation::Client::new(&e.sdk_config_in(OUTSIDER, "us-east-1").await);
    let id = outsider_cfn
        .describe_stacks()
        .stack_name("app")
        .send()
        .await
        .unwrap()
        .stacks()[0]
        .stack_id()
        .unwrap()
        .to_string();
    e.control(json!({"external_id": "ext-7f3a"}));
    let forged = RefreshTask::new(
        rotatetoken::domain::model::StackRef::from_stack_id(&id).unwrap(),
        "RotateToken",
    );

    let err = service::refresh(
        service::NO_STOPS,
        &access,
        &NoOrganization,
        &SecretsManager::new(&central),
        &SystemClock,
        &SdkRetries,
        RefreshSettings {
            poll_interval_ms: 100,
            max_wait_ms: 5_000,
            require_opt_in: false,
            without_service_role: rotatetoken::domain::service_role::StacksWithoutServiceRole::any(
            ),
            wait_for_events: false,
            lane_places: 0,
        },
        &scope,
        serde_json::to_value(&forged).unwrap(),
        SystemClock.now_ms() + 5_000,
    )
    .await
    .unwrap_err();

    assert!(err.to_string().contains("`input.stack.account`"), "{err}");
    assert!(e.updates().is_empty());
    assert!(!e
        .assumed_roles()
        .iter()
        .any(|(role, _, _)| role.contains(OUTSIDER) && role.ends_with("RotateTokenTarget")));
}

#[tokio::test]
async fn a_wrong_external_id_fails_every_target_and_changes_nothing() {
    let (e, central, arn) = seeded().await;
    let settings = targets("not-the-agreed-id");
    let access = AssumedRoles::new(&central, settings.clone());
    let out = service::discover(
        &access,
        &NoOrganization,
        None::<&S3RunStore>,
        &SecretsManager::new(&central),
        &SdkRetries,
        &Scope {
            targets: settings.clone(),
            own_region: "us-east-1".into(),
            parameter: "RotateToken".into(),
            version_parameter: "RotateTokenVersion".into(),
        },
        &discovery_settings(),
        json!({"secret": {"arn": arn}}),
    )
    .await
    .unwrap();
    assert!(out.selected.is_empty());
    assert_eq!(out.failed_targets.len(), 6);
    assert!(e.updates().is_empty());
}

/// A deployment that names an OU: the active accounts under it (child OUs included) are
/// listed when the run starts; a suspended account, an account elsewhere in the
/// organisation and an OU that does not exist are handled, and refresh re-checks
/// membership instead of trusting its input.
#[tokio::test]
async fn organisational_units_are_resolved_to_their_active_accounts_at_run_time() {
    let e = Emulator::start();
    let central = e.sdk_config().await;
    let org = Organization::create(&central).await;
    let arn = create_secret(
        &aws_sdk_secretsmanager::Client::new(&central),
        "shared/db",
        "v1",
    )
    .await;
    let workloads = org.ou(&org.root, "workloads").await;
    let team = org.ou(&workloads, "team-a").await;
    let mut account_in = std::collections::BTreeMap::new();
    for (name, parent) in [
        ("direct", Some(&workloads)),
        ("nested", Some(&team)),
        ("suspended", Some(&workloads)),
        ("elsewhere", None),
    ] {
        let id = org.account(name, parent.map(String::as_str)).await;
        let cfn = aws_sdk_cloudformation::Client::new(&e.sdk_config_in(&id, "us-east-1").await);
        create_stack(&cfn, "app", &consumer_template(&arn), &[]).await;
        account_in.insert(name, id);
    }
    org.client
        .close_account()
        .account_id(&account_in["suspended"])
        .send()
        .await
        .unwrap();

    let scope = Scope {
        targets: TargetSettings {
            organizational_units: vec![workloads.clone(), "ou-zz99-doesnotexist".into()],
            regions: vec!["us-east-1".into()],
            role_name: "RotateTokenTarget".into(),
            ..Default::default()
        },
        own_region: "us-east-1".into(),
        parameter: "RotateToken".into(),
        version_parameter: "RotateTokenVersion".into(),
    };
    let access = AssumedRoles::new(&central, scope.targets.clone());
    let directory = rotatetoken::aws::organizations::Organizations::new(&central);
    let out = service::discover(
        &access,
        &directory,
        None::<&S3RunStore>,
        &SecretsManager::new(&central),
        &SdkRetries,
        &scope,
        &DiscoverySettings {
            mode: SelectionMode::All,
            ..discovery_settings()
        },
        json!({"execution": "rt-ou", "request": {"secret": {"arn": arn}}}),
    )
    .await
    .unwrap();
    let mut accounts: Vec<&str> = out
        .selected
        .iter()
        .map(|t| t.stack.account.as_str())
        .collect();
    accounts.sort();
    let mut expected = vec![account_in["direct"].as_str(), account_in["nested"].as_str()];
    expected.sort();
    assert_eq!(
        accounts, expected,
        "active accounts in the OU and its child"
    );
    assert_eq!(out.targets, 2);
    assert_eq!(out.failed_targets.len(), 1, "{:?}", out.failed_targets);
    assert_eq!(out.failed_targets[0].account, "ou-zz99-doesnotexist");

    // Refresh acts in an OU account, and refuses one elsewhere in the organisation.
    let nested = out
        .selected
        .iter()
        .find(|t| t.stack.account == account_in["nested"])
        .unwrap();
    let settings = RefreshSettings {
        poll_interval_ms: 100,
        max_wait_ms: 30_000,
        require_opt_in: false,
        without_service_role: rotatetoken::domain::service_role::StacksWithoutServiceRole::any(),
        wait_for_events: false,
        lane_places: 0,
    };
    let until = SystemClock.now_ms() + 30_000;
    let done = service::refresh(
        service::NO_STOPS,
        &access,
        &directory,
        &SecretsManager::new(&central),
        &SystemClock,
        &SdkRetries,
        settings.clone(),
        &scope,
        serde_json::to_value(nested).unwrap(),
        until,
    )
    .await
    .unwrap();
    assert_eq!(done.outcome, Outcome::Refreshed, "{done:?}");
    let outsider_cfn = aws_sdk_cloudformation::Client::new(
        &e.sdk_config_in(&account_in["elsewhere"], "us-east-1").await,
    );
    let outsider_id = outsider_cfn
        .describe_stacks()
        .stack_name("app")
        .send()
        .await
        .unwrap()
        .stacks()[0]
        .stack_id()
        .unwrap()
        .to_string();
    let forged = RefreshTask::new(
        rotatetoken::domain::model::StackRef::from_stack_id(&outsider_id).unwrap(),
        "RotateToken",
    );
    let err = service::refresh(
        service::NO_STOPS,
        &access,
        &directory,
        &SecretsManager::new(&central),
        &SystemClock,
        &SdkRetries,
        settings,
        &scope,
        serde_json::to_value(&forged).unwrap(),
        until,
    )
    .await
    .unwrap_err();
    // One named OU could not be listed, so membership is unsure: refused, and said why.
    assert!(err.to_string().contains("ou-zz99-doesnotexist"), "{err}");
    assert_eq!(e.updated_accounts(), vec![account_in["nested"].clone()]);
}

/// A bare name resolves in the stack's own account and region: it means the changed
/// secret only there. A same-named secret elsewhere (a sandbox's `prod/db`) selects
/// nothing; other accounts and regions are selected by the ARN, full or partial.
#[tokio::test]
async fn a_name_selects_stacks_only_in_the_secrets_own_account_and_region() {
    let e = Emulator::start();
    let in_a = e.sdk_config_in(A, "us-east-1").await;
    let arn = create_secret(&aws_sdk_secretsmanager::Client::new(&in_a), "prod/db", "v1").await;
    let in_b = e.sdk_config_in(B, "us-east-1").await;
    create_secret(
        &aws_sdk_secretsmanager::Client::new(&in_b),
        "prod/db",
        "sandbox",
    )
    .await;
    let a_elsewhere = e.sdk_config_in(A, "eu-west-1").await;
    create_secret(
        &aws_sdk_secretsmanager::Client::new(&a_elsewhere),
        "prod/db",
        "other",
    )
    .await;
    let partial = &arn[..arn.len() - 7];
    for (account, region, stack, reference) in [
        (A, "us-east-1", "by-name", "prod/db"),
        (A, "eu-west-1", "by-name", "prod/db"),
        (B, "us-east-1", "by-name", "prod/db"),
        (B, "us-east-1", "by-arn", arn.as_str()),
        (B, "eu-west-1", "by-partial-arn", partial),
    ] {
        let cfn = aws_sdk_cloudformation::Client::new(&e.sdk_config_in(account, region).await);
        create_stack(&cfn, stack, &consumer_template(reference), &[]).await;
    }
    // A cross-account consumer that builds the ARN from its own parameter (Fn::Sub): the
    // text never shows it whole; resolved as CloudFormation would, it is the secret's.
    let in_b_cfn = aws_sdk_cloudformation::Client::new(&in_b);
    create_stack(
        &in_b_cfn,
        "by-sub",
        BUILT_ARN_CONSUMER,
        &[("SecretsAccount", A)],
    )
    .await;
    create_stack(
        &in_b_cfn,
        "by-sub-elsewhere",
        BUILT_ARN_CONSUMER,
        &[("SecretsAccount", B)],
    )
    .await;
    // Built from a NoEcho parameter (DescribeStacks shows `****`): said, never dropped.
    let hidden = BUILT_ARN_CONSUMER.replace(
        "SecretsAccount: {Type: String}",
        "SecretsAccount: {Type: String, NoEcho: true}",
    );
    create_stack(
        &in_b_cfn,
        "by-hidden-sub",
        &hidden,
        &[("SecretsAccount", A)],
    )
    .await;
    let settings = TargetSettings {
        accounts: vec![A.into(), B.into()],
        regions: REGIONS.iter().map(|r| r.to_string()).collect(),
        role_name: "RotateTokenTarget".into(),
        ..Default::default()
    };
    let out = service::discover(
        &AssumedRoles::new(&e.sdk_config().await, settings.clone()),
        &NoOrganization,
        None::<&S3RunStore>,
        &SecretsManager::new(&e.sdk_config().await),
        &SdkRetries,
        &Scope {
            targets: settings,
            own_region: "us-east-1".into(),
            parameter: "RotateToken".into(),
            version_parameter: "RotateTokenVersion".into(),
        },
        &discovery_settings(),
        json!({"secret": {"arn": arn}}),
    )
    .await
    .unwrap();
    let mut selected: Vec<(String, String, String)> = out
        .selected
        .iter()
        .map(|t| {
            (
                t.stack.account.clone(),
                t.stack.region.clone(),
                t.stack.name.clone(),
            )
        })
        .collect();
    selected.sort();
    assert_eq!(
        selected,
        vec![
            (A.into(), "us-east-1".into(), "by-name".into()),
            (B.into(), "eu-west-1".into(), "by-partial-arn".into()),
            (B.into(), "us-east-1".into(), "by-arn".into()),
            (B.into(), "us-east-1".into(), "by-sub".into()),
        ]
    );
    let hidden = out
        .skipped
        .iter()
        .find(|s| s.stack.name == "by-hidden-sub")
        .expect("a row for the consumer that cannot be judged");
    assert!(
        hidden.reason.starts_with("not judged:"),
        "{}",
        hidden.reason
    );
    // The secret is another account's: the pipeline cannot describe it (on AWS, without a
    // resource policy that lets it), so whether it has replicas is unknown. The run says
    // whose consumers it could not look for, and fails for it: never silence.
    let unread: Vec<_> = out
        .failed_targets
        .iter()
        .map(|t| (t.account.as_str(), t.region.as_str()))
        .collect();
    assert_eq!(
        unread,
        vec![(A, "(replica regions)")],
        "{:?}",
        out.failed_targets
    );
    assert!(
        out.failed_targets[0].reason.contains("replicas"),
        "{}",
        out.failed_targets[0].reason
    );
}

/// A consumer whose template builds the secret's ARN with `Fn::Sub` from its parameter.
const BUILT_ARN_CONSUMER: &str = r#"AWSTemplateFormatVersion: "2010-09-09"
Parameters:
  RotateToken: {Type: String, Default: "true", AllowedValues: ["true", "false"]}
  SecretsAccount: {Type: String}
Conditions:
  RotateToken: !Equals [!Ref RotateToken, "true"]
Resources:
  DatabasePassword:
    Type: AWS::SSM::Parameter
    Condition: RotateToken
    Properties:
      Type: String
      Value: !Sub "{{resolve:secretsmanager:arn:${AWS::Partition}:secretsmanager:us-east-1:${SecretsAccount}:secret:prod/db:SecretString}}"
"#;

/// A read-only session (discovery's) is the reader role's (target-role.yaml: it grants no
/// update, and trusts only the discover role), and may not update a stack besides: the
/// emulator enforces session policies as IAM does.
#[tokio::test]
async fn a_read_only_session_in_the_target_role_cannot_update_a_stack() {
    use rotatetoken::ports::{StackDirectory, StackUpdater, TargetAccess, UpdateStart};
    let e = Emulator::start();
    let cfg = e.sdk_config_in(A, "us-east-1").await;
    create_secret(&aws_sdk_secretsmanager::Client::new(&cfg), "prod/db", "v1").await;
    let cfn = aws_sdk_cloudformation::Client::new(&cfg);
    create_stack(&cfn, "app", &consumer_template("prod/db"), &[]).await;
    let settings = TargetSettings {
        accounts: vec![A.into()],
        regions: vec!["us-east-1".into()],
        role_name: "RotateTokenTarget".into(),
        ..Default::default()
    };
    let target = rotatetoken::domain::targets::Target {
        account: Some(A.into()),
        region: "us-east-1".into(),
    };
    let read_only = AssumedRoles::new(&e.sdk_config().await, settings).read_only();
    let stacks = read_only.open(&target, "rotatetoken-ro").await.unwrap();
    let listed = stacks.list_stacks().await.unwrap();
    assert_eq!(listed.len(), 1, "reading is allowed");
    let plan =
        rotatetoken::domain::planning::plan_update(&listed[0], "RotateToken", "false").unwrap();
    match stacks.update(&plan).await {
        Ok(UpdateStart::Refused(why)) => assert!(
            why.contains("no session policy allows the cloudformation:UpdateStack action"),
            "{why}"
        ),
        other => panic!("a read-only session updated a stack: {other:?}"),
    }
    assert!(e.updates().is_empty());
    let roles: Vec<String> = e
        .assumed_roles()
        .into_iter()
        .map(|(r, _, _)| r)
        .filter(|r| r.contains("RotateTokenTarget"))
        .collect();
    assert_eq!(
        roles,
        vec![format!("arn:aws:iam::{A}:role/RotateTokenTargetReader")],
        "the reader role, never the updater"
    );
}
