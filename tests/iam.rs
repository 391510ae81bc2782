//! Least privilege, proven: the emulator does not enforce IAM, so these runs record every
//! AWS call each function makes (the emulator's request log: the function from the SDK's
//! app id, own or assumed-role credentials, the IAM action) and compare it with the
//! policies in template.yaml and target-role.yaml, evaluated for the same deploy
//! parameters. A call not granted fails; so does a grant that no call used.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use rotatetoken::domain::trigger::execution_name;
use rotatetoken_tests::fixtures::*;
use rotatetoken_tests::pipeline::Pipeline;
use rotatetoken_tests::{iam_grants, iam_review, template_facts_of, Emulator};
use serde_json::{json, Value};

fn set(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect()
}

/// Every difference between what was called and what is granted, as readable lines.
fn compare(emulator: &Emulator, parameters: Value) -> Vec<String> {
    let grants = iam_grants(&parameters);
    let mut own: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    // Each target role's sessions' calls, by role name.
    let mut assumed: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (function, credentials, action) in emulator.calls() {
        if let Some(role) = credentials.strip_prefix("assumed") {
            let role = role.trim_start_matches(':').to_string();
            assumed.entry(role).or_default().insert(action);
        } else {
            own.entry(function).or_default().insert(action);
        }
    }
    let mut problems = vec![];
    let functions = grants["functions"].as_object().unwrap();
    for function in own.keys() {
        if !functions.contains_key(function) {
            problems.push(format!("{function} is not a function of template.yaml"));
        }
    }
    for (function, granted) in functions {
        let called = own.remove(function).unwrap_or_default();
        mismatches(
            &mut problems,
            function,
            "template.yaml",
            &called,
            &set(granted),
        );
    }
    // The target roles are deployed only where there are targets: then each must be exact
    // too, against its own sessions' calls (the updater's: refresh; the reader's:
    // discovery, which IAM keeps from every update).
    if !assumed.is_empty() {
        let roles = grants["target_roles"].as_object().unwrap();
        for role in assumed.keys() {
            if !roles.contains_key(role) {
                problems.push(format!(
                    "a session of {role}, which target-role.yaml does not define"
                ));
            }
        }
        for (role, granted) in roles {
            let called = assumed.remove(role).unwrap_or_default();
            mismatches(
                &mut problems,
                &format!("the target role {role}"),
                "target-role.yaml",
                &called,
                &set(granted),
            );
        }
    }
    problems
}

/// Calls not granted, and grants not called, as readable lines.
fn mismatches(
    problems: &mut Vec<String>,
    who: &str,
    source: &str,
    called: &BTreeSet<String>,
    granted: &BTreeSet<String>,
) {
    for a in called.difference(granted) {
        problems.push(format!(
            "{who} called {a}, which {source} does not grant it"
        ));
    }
    for a in granted.difference(called) {
        problems.push(format!("{source} grants {who} {a}, which it never called"));
    }
}

/// A delivery that names the secret only by name, so the trigger resolves it (DescribeSecret).
fn name_only_event(arn: &str, version: &str) -> Value {
    let mut e = sample_event("put-secret-value.json", arn, version);
    e["detail"]["responseElements"]
        .as_object_mut()
        .unwrap()
        .remove("arn");
    e
}

/// A redelivery: the trigger finds the name taken and reads the earlier run.
async fn redeliver(p: &Pipeline, event: &Value) {
    let runs = p.executions().await.len();
    p.deliver(event).await;
    assert!(
        rotatetoken_tests::wait_until(Duration::from_secs(20), || {
            p.emulator
                .calls()
                .iter()
                .any(|(f, _, a)| f == "rotatetoken-trigger" && a == "states:DescribeExecution")
                .then_some(())
        })
        .is_some(),
        "the redelivery was judged"
    );
    assert_eq!(
        p.executions().await.len(),
        runs,
        "a redelivery starts nothing"
    );
}

/// The reconciliation schedule (the trigger lists the secrets, discovery audits the
/// consumers through the same sessions): after a complete run every consumer is fresh.
async fn reconcile_finds_every_consumer_fresh(p: &Pipeline, arn: &str, consumers: u64) {
    let (answer, name) = p.fire_schedule("2026-11-23T06:00:00Z", arn).await;
    assert_eq!(answer["decision"], "reconciled", "{answer}");
    let run = p.wait_for(&name, Duration::from_secs(120)).await;
    assert_eq!(run.status, "SUCCEEDED", "{:#}", run.summary);
    assert_eq!(
        run.summary["counts"]["would_refresh"], 0,
        "{:#}",
        run.summary
    );
    let fresh = run.summary["stacks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            r["reason"]
                .as_str()
                .is_some_and(|r| r.starts_with("fresh:"))
        })
        .count() as u64;
    assert_eq!(fresh, consumers, "{:#}", run.summary);
}

/// A run aborted before its report: the trigger tells the alerts topic when its end
/// arrives (sns:Publish through the topic's key).
async fn an_aborted_run_is_told(p: &Pipeline, arn: &str) {
    let aborted = p
        .start_execution("iam-aborted", &json!({"secret": {"arn": arn}}))
        .await;
    // Stopped once it is under way (its first state entered), as an operator would.
    for _ in 0..150 {
        if p.history(&aborted).await.len() > 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    p.sfn
        .stop_execution()
        .execution_arn(&aborted)
        .send()
        .await
        .unwrap();
    let told = p
        .wait_for_alert(Duration::from_secs(60), |_, m| m.contains("iam-aborted"))
        .await;
    if told.is_some() {
        return;
    }
    let logs = p.functions.logs();
    let tail: String = logs
        .lines()
        .filter(|l| l.contains("iam-aborted") || l.contains("ERROR") || l.contains("error"))
        .collect::<Vec<_>>()
        .join("\n");
    panic!("the aborted run was never told; logs:\n{tail}");
}

#[tokio::test]
async fn in_its_own_account_each_function_calls_exactly_what_template_yaml_grants() {
    // Coalescing on (CoalesceWindowSeconds' default grants discover the locks' reads).
    let p = Pipeline::start(|env| {
        env.set("SELECTION_MODE", "all")
            .set("COALESCE_WINDOW_SECONDS", "1")
    })
    .await;
    let arn = create_secret(&p.sm, "prod/db-password", "v1").await;
    for name in ["orders-api", "payments-worker"] {
        create_stack(&p.cfn, name, &consumer_template("prod/db-password"), &[]).await;
    }
    // An in-place stack: its refresh reads which version is current (DescribeSecret).
    create_stack(
        &p.cfn,
        "pinned-app",
        &in_place_consumer_template("prod/db-password"),
        &[],
    )
    .await;
    // A `sam deploy` stack: its update re-expands the transform (CreateChangeSet on it).
    deploy_with_change_set(
        &p.cfn,
        "sam-app",
        &sam_consumer_template("prod/db-password"),
    )
    .await;
    // A root with a nested stack: its token is followed down (ListStackResources).
    let config = p.emulator.sdk_config().await;
    create_nested_consumer(
        &config,
        "platform",
        &consumer_template("prod/db-password"),
        true,
    )
    .await;
    let version = put_secret(&p.sm, "prod/db-password", "v2").await;
    p.deliver(&name_only_event(&arn, &version)).await;
    let done = p
        .wait_for(&execution_name(&arn, &version), Duration::from_secs(120))
        .await;
    assert_eq!(done.status, "SUCCEEDED", "{:#}", done.summary);
    assert_eq!(done.summary["counts"]["refreshed"], 5, "{:#}", done.summary);
    redeliver(&p, &name_only_event(&arn, &version)).await;
    // And a dry run, whose discovery reads the templates for the data-loss guard.
    p.start_execution(
        "iam-dry-run",
        &json!({"secret": {"arn": arn}, "dry_run": true}),
    )
    .await;
    let dry = p.wait_for("iam-dry-run", Duration::from_secs(60)).await;
    assert_eq!(dry.status, "SUCCEEDED", "{:#}", dry.summary);
    reconcile_finds_every_consumer_fresh(&p, &arn, 5).await;
    an_aborted_run_is_told(&p, &arn).await;

    let problems = compare(
        &p.emulator,
        json!({"SelectionMode": "all", "NestedTemplateObjectArns": "arn:aws:s3:::templates-platform/*"}),
    );
    assert!(problems.is_empty(), "{problems:#?}");
}

/// Across accounts: named accounts and an organisational unit, whose account is listed at
/// run time (discover) and re-checked (refresh) through Organizations.
#[tokio::test]
async fn across_accounts_the_calls_match_template_yaml_and_target_role_yaml() {
    const A: &str = "111111111111";
    const OWN: &str = "123456789012";
    // The organisation (in the pipeline's account) and one OU holding one more account.
    let prepare = |config: aws_config::SdkConfig| async move {
        let org = Organization::create(&config).await;
        let ou = org.ou(&org.root, "workloads").await;
        org.account("workload-b", Some(&ou)).await;
        vec![("TARGET_ORGANIZATIONAL_UNITS", ou)]
    };
    let p = Pipeline::start_prepared(prepare, |env| {
        env.set("TARGET_ACCOUNTS", &format!("{A},{OWN}"))
            .set("TARGET_REGIONS", "us-east-1,eu-west-1")
            .set("TARGET_ROLE_NAME", "RotateTokenTarget")
            .set("TARGET_EXTERNAL_ID", "ext-9")
            .set("SELECTION_MODE", "referencing")
            .set("COALESCE_WINDOW_SECONDS", "1")
    })
    .await;
    let ou_account = Organization::account_named(&p.config, "workload-b").await;
    let arn = create_secret(&p.sm, "prod/db-password", "v1").await;
    for account in [A, OWN, ou_account.as_str()] {
        for region in ["us-east-1", "eu-west-1"] {
            let cfn = aws_sdk_cloudformation::Client::new(
                &p.emulator.sdk_config_in(account, region).await,
            );
            create_stack(&cfn, "app", &consumer_template(&arn), &[]).await;
            deploy_with_change_set(&cfn, "sam-app", &sam_consumer_template(&arn)).await;
            if region == "us-east-1" {
                let pinned = in_place_consumer_template(&arn);
                create_stack(&cfn, "pinned-app", &pinned, &[]).await;
            }
        }
    }
    let config = p.emulator.sdk_config_in(A, "us-east-1").await;
    create_nested_consumer(&config, "platform", &consumer_template(&arn), true).await;
    p.emulator.control(json!({"external_id": "ext-9"}));
    let version = put_secret(&p.sm, "prod/db-password", "v2").await;
    p.deliver(&name_only_event(&arn, &version)).await;
    let done = p
        .wait_for(&execution_name(&arn, &version), Duration::from_secs(120))
        .await;
    assert_eq!(done.status, "SUCCEEDED", "{:#}", done.summary);
    // 2 stacks × 2 regions in each of the 3 accounts, the nested root in A, and an
    // in-place stack in each account.
    assert_eq!(
        done.summary["counts"]["refreshed"], 16,
        "{:#}",
        done.summary
    );
    redeliver(&p, &name_only_event(&arn, &version)).await;
    // A dry run previews every stack through the target role's read-only session (change
    // sets, never executed) and reads the secret's versions for the in-place stacks.
    p.start_execution(
        "iam-dry-run",
        &json!({"secret": {"arn": arn}, "dry_run": true}),
    )
    .await;
    let dry = p.wait_for("iam-dry-run", Duration::from_secs(120)).await;
    assert_eq!(dry.status, "SUCCEEDED", "{:#}", dry.summary);
    assert_eq!(
        dry.summary["counts"]["would_refresh"], 16,
        "{:#}",
        dry.summary
    );
    reconcile_finds_every_consumer_fresh(&p, &arn, 16).await;
    an_aborted_run_is_told(&p, &arn).await;

    assert!(
        p.emulator
            .calls()
            .iter()
            .any(|(_, creds, _)| creds.starts_with("assumed")),
        "the target role was used, so it is compared too"
    );
    // Discovery's sessions in the target role are read-only (a session policy the emulator
    // enforces), refresh's are not.
    let (restricted, full) = p.emulator.session_policies();
    assert!(
        restricted > 0 && full > 0,
        "{restricted} with a session policy, {full} without"
    );
    // And by IAM: discovery's sessions are the reader role's, which grants no update and
    // trusts only the discover role (iam_review); the updater role is refresh's alone.
    for (function, credentials, action) in p.emulator.calls() {
        if let Some(role) = credentials.strip_prefix("assumed:") {
            let reader = role == "RotateTokenTargetReader";
            assert_eq!(
                reader,
                function == "rotatetoken-discover",
                "{function} called {action} as {role}"
            );
        }
    }
    let problems = compare(
        &p.emulator,
        json!({
            "TargetAccountIds": format!("{A},{OWN}"),
            "TargetOrganizationalUnitIds": "ou-from-the-run",
            "TargetRegions": "us-east-1,eu-west-1",
            "TargetExternalId": "ext-9",
            "SelectionMode": "referencing",
            "NestedTemplateObjectArns": "arn:aws:s3:::templates-platform/*",
        }),
    );
    assert!(problems.is_empty(), "{problems:#?}");
}

/// Beyond action names: no role's statement names `*` or a whole service unless its
/// actions take no resource ARN, and the conditions that hold the trust boundary refuse
/// what they must (external ID, the pipeline's roles, target accounts, writers of the run
/// files, TLS, the forwarded bus's accounts and sources) while allowing the pipeline.
/// Every role is reviewed: each function's, the state machine's and the target role, in
/// own-account, account-list and OU deployments.
#[test]
fn each_role_is_limited_in_resources_and_every_boundary_condition_refuses_what_it_must() {
    let common = json!({
        "SecretNamePrefixes": "prod/",
        "TargetExternalId": "ext-7f3a",
        "ExternalId": "ext-7f3a",
    });
    let with = |extra: Value| {
        let mut p = common.clone();
        p.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        p
    };
    for parameters in [
        common.clone(),
        with(
            json!({"TargetAccountIds": "111111111111,222222222222", "SourceAccountIds": "333333333333"}),
        ),
        with(json!({"TargetOrganizationalUnitIds": "ou-ab12-34cd56ef", "SelectionMode": "all"})),
        // Updates limited to TargetRegions and to stacks tagged rotatetoken:opt-in=true, in
        // this account (the refresh role) and in targets (the target role).
        with(json!({"TargetRegions": "us-east-1,eu-west-1", "RequireOptInTag": "yes"})),
        with(
            json!({"TargetAccountIds": "111111111111", "TargetRegions": "eu-west-1", "RequireOptInTag": "yes"}),
        ),
        // The guarded-resource policy and nested templates: beyond CloudFormation's own
        // calls, the target role acts only through CloudFormation (aws:CalledVia).
        with(json!({
            "TargetAccountIds": "111111111111",
            "GuardedResourcePolicyArn": "arn:aws:iam::111111111111:policy/guarded",
            "NestedTemplateObjectArns": "arn:aws:s3:::my-templates/*"
        })),
        // Operators who may stop a run: theirs alone is the stop marker.
        with(json!({"OperatorRoleArns": "arn:aws:iam::123456789012:role/oncall-*"})),
        // Without targets the refresh role holds it, under the same Deny.
        with(json!({
            "GuardedResourcePolicyArn": "arn:aws:iam::123456789012:policy/guarded",
            "NestedTemplateObjectArns": "arn:aws:s3:::my-templates/*"
        })),
    ] {
        let problems = iam_review(&parameters);
        assert!(
            problems.is_empty(),
            "{parameters}:\n{}",
            problems.join("\n")
        );
    }
}

/// The residual risk, watched (`target-role.yaml`, `NewTemplateAlertEmail`): IAM cannot
/// require `UsePreviousTemplate`, so the rule alerts when the target role itself updates a
/// stack with a template of its own, and stays quiet for what RotateToken does (previous
/// template), for other principals, and for CloudFormation's own nested-stack updates.
/// Evaluated by EventBridge's TestEventPattern on CloudTrail events of the documented shape
/// ("AWS API Call via CloudTrail": userIdentity.sessionContext.sessionIssuer of the role).
#[tokio::test]
async fn the_new_template_alert_fires_only_when_the_role_brings_its_own_template() {
    let emulator = Emulator::start();
    let events = aws_sdk_eventbridge::Client::new(&emulator.sdk_config().await);
    let facts = template_facts_of("target-role.yaml");
    let rule = facts["other_rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "NewTemplateRule")
        .expect("target-role.yaml has NewTemplateRule");
    let role = "arn:aws:iam::111111111111:role/RotateTokenTarget";
    // The role's ARN as the template builds it from its name (deployed in account 111111111111).
    let by_name =
        json!({"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${RoleName}"});
    let pattern = rule["pattern"]
        .to_string()
        .replace(&by_name.to_string(), &json!(role).to_string());
    assert!(!pattern.contains("Fn::Sub"), "{pattern}");
    let call = |name: &str, issuer: &str, request: Value, invoked_by: Option<&str>| {
        let mut identity = json!({
            "type": "AssumedRole",
            "arn": "arn:aws:sts::111111111111:assumed-role/RotateTokenTarget/rotatetoken-run",
            "accountId": "111111111111",
            "sessionContext": {"sessionIssuer": {"type": "Role", "arn": issuer, "accountId": "111111111111"}},
        });
        if let Some(service) = invoked_by {
            identity["invokedBy"] = json!(service);
        }
        json!({
            "version": "0", "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
            "detail-type": "AWS API Call via CloudTrail", "source": "aws.cloudformation",
            "account": "111111111111", "time": "2026-11-22T10:00:00Z", "region": "us-east-1",
            "resources": [],
            "detail": {
                "eventVersion": "1.08", "userIdentity": identity,
                "eventSource": "cloudformation.amazonaws.com", "eventName": name,
                "awsRegion": "us-east-1", "requestParameters": request,
            },
        })
    };
    let previous = json!({"stackName": "app", "usePreviousTemplate": true});
    let new_url = json!({"stackName": "app", "templateURL": "https://s3.amazonaws.com/b/t.yaml"});
    let explicit_false =
        json!({"stackName": "app", "usePreviousTemplate": false, "templateBody": "{}"});
    let other = "arn:aws:iam::111111111111:role/deployer";
    for (what, event, fires) in [
        (
            "RotateToken's own update",
            call("UpdateStack", role, previous.clone(), None),
            false,
        ),
        (
            "RotateToken's preview",
            call("CreateChangeSet", role, previous.clone(), None),
            false,
        ),
        (
            "the role, a new template by URL",
            call("UpdateStack", role, new_url.clone(), None),
            true,
        ),
        (
            "the role, UsePreviousTemplate false",
            call("UpdateStack", role, explicit_false, None),
            true,
        ),
        (
            "the role, a change set with a new template",
            call("CreateChangeSet", role, new_url.clone(), None),
            true,
        ),
        (
            "another role's deploy",
            call("UpdateStack", other, new_url.clone(), None),
            false,
        ),
        (
            "CloudFormation updating a nested stack",
            call(
                "UpdateStack",
                role,
                new_url,
                Some("cloudformation.amazonaws.com"),
            ),
            false,
        ),
    ] {
        let out = events
            .test_event_pattern()
            .event_pattern(&pattern)
            .event(event.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(out.result(), fires, "{what}");
    }
}

/// Publishing to a KMS-encrypted topic uses its key with the publisher's credentials (#28,
/// SNS developer guide): a key that does not exist refuses the publish (KMSNotFound), and
/// a publish under an existing key is logged as kms:GenerateDataKey and kms:Decrypt.
#[tokio::test]
async fn publishing_to_an_encrypted_topic_needs_its_key() {
    let emulator = Emulator::start();
    let sns = aws_sdk_sns::Client::new(&emulator.sdk_config().await);
    let missing = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000";
    let topic = |name: &'static str, key: String| {
        let sns = sns.clone();
        async move {
            sns.create_topic()
                .name(name)
                .attributes("KmsMasterKeyId", key)
                .send()
                .await
                .unwrap()
                .topic_arn()
                .unwrap()
                .to_string()
        }
    };
    let orphan = topic("orphan", missing.to_string()).await;
    let err = sns
        .publish()
        .topic_arn(&orphan)
        .message("m")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_sns::error::ProvideErrorMetadata::code(&err),
        Some("KMSNotFound"),
        "{err:?}"
    );
    let (status, created) =
        rotatetoken_tests::http::aws_json(emulator.port, "kms", "TrentService.CreateKey", "{}");
    assert_eq!(status, 200, "{created}");
    let created: Value = serde_json::from_str(&created).unwrap();
    let key = created["KeyMetadata"]["Arn"].as_str().unwrap().to_string();
    let sealed = topic("sealed", key).await;
    let publisher = aws_sdk_sns::Client::from_conf(
        aws_sdk_sns::config::Builder::from(&emulator.sdk_config().await)
            .app_name(aws_config::AppName::new("rotatetoken-report").unwrap())
            .build(),
    );
    publisher
        .publish()
        .topic_arn(&sealed)
        .message("m")
        .send()
        .await
        .unwrap();
    let used: BTreeSet<String> = emulator
        .calls()
        .into_iter()
        .filter(|(function, _, _)| function == "rotatetoken-report")
        .map(|(_, _, action)| action)
        .collect();
    for action in ["kms:GenerateDataKey", "kms:Decrypt", "sns:Publish"] {
        assert!(used.contains(action), "{action} not logged: {used:?}");
    }
}
