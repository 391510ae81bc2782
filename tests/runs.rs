//! End to end, as tests/state_machine.rs (the real ASL run by moto's Step Functions
//! interpreter, the real Rust handlers, the extended emulator):
//! runs across accounts, storms of versions and lost end-of-run events, in-place and
//! classic stacks in one run as planned, a summary past the payload limit, and a refresh
//! whose answer was lost after it changed its stack.

use std::collections::BTreeMap;
use std::time::Duration;

use rotatetoken::domain::trigger::execution_name;
use rotatetoken_tests::fixtures::*;
use rotatetoken_tests::pipeline::{row, Pipeline};
use serde_json::{json, Value};

#[tokio::test]
async fn a_cross_account_run_refreshes_every_target_and_names_the_denied_one() {
    const A: &str = "111111111111";
    const B: &str = "222222222222";
    const DENIED: &str = "333333333333";
    let p = Pipeline::start(|env| {
        env.set("TARGET_ACCOUNTS", &format!("{A},{B},{DENIED}"))
            .set("TARGET_REGIONS", "us-east-1,eu-west-1")
            .set("TARGET_ROLE_NAME", "RotateTokenTarget")
            .set("TARGET_EXTERNAL_ID", "ext-42")
    })
    .await;
    let arn = create_secret(&p.sm, "shared/db", "v1").await;
    for account in [A, B, DENIED, "444444444444"] {
        for region in ["us-east-1", "eu-west-1"] {
            let cfn = aws_sdk_cloudformation::Client::new(
                &p.emulator.sdk_config_in(account, region).await,
            );
            create_stack(&cfn, "app", &consumer_template(&arn), &[]).await;
        }
    }
    p.emulator.control(
        json!({"external_id": "ext-42", "deny_assume_role": [DENIED], "update_delay_seconds": 0.3}),
    );
    let version = put_secret(&p.sm, "shared/db", "v2").await;

    p.deliver(&sample_event("put-secret-value.json", &arn, &version))
        .await;
    let name = execution_name(&arn, &version);
    let done = p.wait_for(&name, Duration::from_secs(120)).await;

    assert_eq!(
        done.status, "FAILED",
        "a denied target fails the run so that an alarm fires"
    );
    let s = &done.summary;
    assert_eq!(s["counts"]["refreshed"], 4, "{s:#}");
    assert_eq!(s["counts"]["failed_targets"], 2);
    for account in [A, B] {
        for region in ["us-east-1", "eu-west-1"] {
            assert_eq!(
                p.emulator
                    .completed_token_updates_in(account, region, "app"),
                vec!["false", "true"]
            );
            let group = s["by_target"]
                .as_array()
                .unwrap()
                .iter()
                .find(|g| g["account"] == account && g["region"] == region)
                .unwrap();
            assert_eq!(group["refreshed"], 1);
        }
    }
    let denied: Vec<&Value> = s["failed_targets"].as_array().unwrap().iter().collect();
    assert!(
        denied
            .iter()
            .all(|t| t["account"] == DENIED
                && t["reason"].as_str().unwrap().contains("AccessDenied")),
        "{s:#}"
    );
    assert_eq!(
        p.emulator.updated_accounts(),
        vec![A.to_string(), B.to_string()]
    );
    // The updater (refresh) and its reader (discovery): both named after the run.
    let assumed: Vec<(String, String, String)> = p
        .emulator
        .assumed_roles()
        .into_iter()
        .filter(|(r, _, _)| r.contains("role/RotateTokenTarget"))
        .collect();
    for role in ["role/RotateTokenTarget", "role/RotateTokenTargetReader"] {
        assert!(
            assumed.iter().any(|(r, _, _)| r.ends_with(role)),
            "{role}: {assumed:?}"
        );
    }
    let sessions: Vec<String> = assumed.into_iter().map(|(_, s, _)| s).collect();
    // Named after the run, its hash kept whole (two runs of one secret differ).
    let hash = &name[name.len() - 24..];
    assert!(
        sessions
            .iter()
            .all(|s| s.starts_with("rotatetoken-rt-") && s.ends_with(hash) && s.len() <= 64),
        "{sessions:?}"
    );
    // Credentials never travel through the state machine.
    let history = p.history(&done.arn).await;
    assert!(!history.iter().any(|e| e.contains("SecretAccessKey")
        || e.contains("session_token")
        || e.contains("SessionToken")));
}

/// A secret replicated to another region ("Replicate an AWS Secrets Manager secret to other
/// AWS Regions"): the replica keeps its name, its ARN differs only in the region, and it
/// holds the same value. Its consumers, by name in the replica's region or by the
/// replica's ARN (written out, or built with `Fn::Sub`), are refreshed with the primary's
/// and re-read the new value there.
#[tokio::test]
async fn the_consumers_of_a_secrets_replica_are_refreshed_with_its_own() {
    let p = Pipeline::start(|env| {
        env.set("SELECTION_MODE", "referencing")
            .set("TARGET_REGIONS", "us-east-1,eu-west-1")
    })
    .await;
    let arn =
        p.sm.create_secret()
            .name("prod/db")
            .secret_string("v1")
            .add_replica_regions(
                aws_sdk_secretsmanager::types::ReplicaRegionType::builder()
                    .region("eu-west-1")
                    .build(),
            )
            .send()
            .await
            .unwrap()
            .arn()
            .unwrap()
            .to_string();
    let replica_arn = arn.replacen(":us-east-1:", ":eu-west-1:", 1);
    let eu = p
        .config
        .to_builder()
        .region(aws_config::Region::new("eu-west-1"))
        .build();
    let eu_cfn = aws_sdk_cloudformation::Client::new(&eu);
    create_stack(&p.cfn, "home", &consumer_template("prod/db"), &[]).await;
    create_stack(
        &eu_cfn,
        "replica-by-name",
        &consumer_template("prod/db"),
        &[],
    )
    .await;
    create_stack(
        &eu_cfn,
        "replica-by-arn",
        &consumer_template(&replica_arn),
        &[],
    )
    .await;
    // The ARN built with Fn::Sub from pseudo parameters: in eu-west-1 it is the replica's.
    let built = consumer_template(
        "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:prod/db",
    )
    .replace(
        "Value: \"{{resolve:secretsmanager:arn:",
        "Value: !Sub \"{{resolve:secretsmanager:arn:",
    );
    create_stack(&p.cfn, "built-by-sub", &built, &[]).await;
    create_stack(&eu_cfn, "replica-built-by-sub", &built, &[]).await;
    let version = put_secret(&p.sm, "prod/db", "v2").await;

    p.deliver(&sample_event("put-secret-value.json", &arn, &version))
        .await;
    let done = p
        .wait_for(&execution_name(&arn, &version), Duration::from_secs(120))
        .await;

    assert_eq!(done.status, "SUCCEEDED", "{:#}", done.summary);
    let s = &done.summary;
    assert_eq!(s["counts"]["refreshed"], 5, "{s:#}");
    assert_eq!(s["counts"]["failed_targets"], 0, "{s:#}");
    assert_eq!(
        s["secret"]["replica_regions"],
        json!(["eu-west-1"]),
        "the run names the replica regions it searched"
    );
    let eu_ssm = aws_sdk_ssm::Client::new(&eu);
    for (cfn, ssm, stack) in [
        (&p.cfn, &p.ssm, "home"),
        (&eu_cfn, &eu_ssm, "replica-by-name"),
        (&eu_cfn, &eu_ssm, "replica-by-arn"),
        (&p.cfn, &p.ssm, "built-by-sub"),
        (&eu_cfn, &eu_ssm, "replica-built-by-sub"),
    ] {
        assert_eq!(row(s, stack)["outcome"], "refreshed", "{stack}: {s:#}");
        let res = resources(cfn, stack).await;
        assert_eq!(
            ssm_value(ssm, &res["DatabasePassword"]).await.as_deref(),
            Some("v2"),
            "{stack} reads the new value"
        );
    }
}

/// A rotation loop or a script putting values: twenty versions of one secret within a
/// minute start one run, and one more after it for everything that arrived meanwhile; the
/// triggers race for the secret's lock through the real rule, and each run's end arrives as
/// Step Functions' status change event. Every consumer ends holding the last value,
/// refreshed at most twice.
#[tokio::test]
async fn a_storm_of_versions_runs_one_at_a_time_and_ends_on_the_last_value() {
    let p = Pipeline::start(|env| env.set("SELECTION_MODE", "referencing")).await;
    // Long enough updates that the whole storm arrives during the first run (deliveries to
    // the trigger queue behind each other in the local Lambda under load).
    p.emulator.control(json!({"update_delay_seconds": 3.0}));
    let arn = create_secret(&p.sm, "prod/db-password", "value-0").await;
    let consumers = ["orders-api", "payments-worker"];
    for name in consumers {
        create_stack(&p.cfn, name, &consumer_template("prod/db-password"), &[]).await;
    }
    let running = || async {
        p.sfn
            .list_executions()
            .state_machine_arn(rotatetoken_tests::state_machine_arn())
            .status_filter(aws_sdk_sfn::types::ExecutionStatus::Running)
            .send()
            .await
            .unwrap()
            .executions()
            .len()
    };
    let mut most_running = 0;
    let mut last = String::new();
    for i in 1..=20 {
        last = format!("value-{i}");
        let version = put_secret(&p.sm, "prod/db-password", &last).await;
        p.deliver(&sample_event("put-secret-value.json", &arn, &version))
            .await;
        most_running = most_running.max(running().await);
    }
    // Until the trigger has decided on every change, every run has ended and the secret is
    // free again. A run started by a hand-over (a run's end starting the one that waited)
    // logs "started" too, but decides no change: it is not counted.
    let decided = || {
        let logs = p.functions.logs();
        let decisions = ["started", "deferred", "duplicate", "ignored"]
            .iter()
            .map(|d| logs.matches(&format!("\"decision\":\"{d}\"")).count())
            .sum::<usize>();
        decisions - logs.matches("starting the run that waited").count()
    };
    let started = std::time::Instant::now();
    loop {
        let now_running = running().await;
        most_running = most_running.max(now_running);
        if decided() >= 20 && now_running == 0 && p.locks_held().await == 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "runs did not settle; logs:\n{}",
            p.functions.logs()
        );
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    assert_eq!(most_running, 1, "never two runs for the secret at once");
    let runs = p.executions().await;
    assert_eq!(runs.len(), 2, "one run, then one for the rest: {runs:?}");
    let deferred = p
        .functions
        .logs()
        .matches("\"decision\":\"deferred\"")
        .count();
    assert_eq!(deferred, 19, "every later change waited for the first run");
    for stack in consumers {
        let updates = p.emulator.completed_token_updates(stack);
        assert_eq!(updates, vec!["false", "true", "false", "true"], "{stack}");
        let after = resources(&p.cfn, stack).await;
        assert_eq!(
            ssm_value(&p.ssm, &after["DatabasePassword"])
                .await
                .as_deref(),
            Some(last.as_str()),
            "{stack} holds the last value"
        );
    }
}

/// EventBridge delivers Step Functions' status change events best effort. When the end of
/// a run is lost, its lock stays behind; the next change for the secret sees the holder has
/// ended and takes the lock over, so nothing is held back for good.
#[tokio::test]
async fn a_lost_end_of_run_event_does_not_hold_the_secret_back() {
    let p = Pipeline::start(|env| env.set("SELECTION_MODE", "referencing")).await;
    p.emulator.control(json!({"drop_status_events": true}));
    let arn = create_secret(&p.sm, "prod/db-password", "v1").await;
    create_stack(&p.cfn, "app", &consumer_template("prod/db-password"), &[]).await;
    let first = put_secret(&p.sm, "prod/db-password", "v2").await;
    p.deliver(&sample_event("put-secret-value.json", &arn, &first))
        .await;
    let done = p
        .wait_for(&execution_name(&arn, &first), Duration::from_secs(120))
        .await;
    assert_eq!(done.status, "SUCCEEDED", "{:#}", done.summary);
    assert_eq!(p.locks_held().await, 1, "the lock outlived its run");

    let second = put_secret(&p.sm, "prod/db-password", "v3").await;
    p.deliver(&sample_event("put-secret-value.json", &arn, &second))
        .await;
    let done = p
        .wait_for(&execution_name(&arn, &second), Duration::from_secs(120))
        .await;
    assert_eq!(done.status, "SUCCEEDED", "{:#}", done.summary);
    assert!(
        p.functions
            .logs()
            .contains("ended without releasing it: taken over"),
        "the take-over is logged"
    );
    assert_eq!(
        p.emulator.completed_token_updates("app"),
        vec!["false", "true", "false", "true"]
    );
    let after = resources(&p.cfn, "app").await;
    assert_eq!(
        ssm_value(&p.ssm, &after["DatabasePassword"])
            .await
            .as_deref(),
        Some("v3")
    );
}

/// The logical ids a plan step names (`LogicalId (Type)` entries), sorted.
fn planned_ids(step: &Value, action: &str) -> Vec<String> {
    let mut ids: Vec<String> = step[action]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| e.as_str().unwrap().split(' ').next().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

/// Issue 10: an in-place stack (its reader pins the version with `RotateTokenVersion`) gets
/// exactly one update, keeps its physical ids and holds the new value; a classic stack in
/// the same run still goes false then true; a database whose in-place update would replace
/// it is skipped with the resource named. The dry run's plan, from CloudFormation's change
/// sets, is what the real run then does, by the emulator's update log and resource ids; no
/// change set is left on any stack.
#[tokio::test]
async fn in_place_and_classic_stacks_are_refreshed_in_one_run_exactly_as_planned() {
    let p = Pipeline::start(|env| env.set("SELECTION_MODE", "referencing")).await;
    p.emulator.control(json!({"update_delay_seconds": 0.3}));
    let old = r#"{"username":"admin","password":"old-5c1d"}"#;
    let new = r#"{"username":"admin","password":"new-9e7b"}"#;
    let arn = create_secret(&p.sm, "prod/db-password", old).await;
    let stacks = [
        ("classic", consumer_template("prod/db-password")),
        ("pinned", in_place_consumer_template("prod/db-password")),
        ("database", in_place_database_template("prod/db-password")),
    ];
    let mut before = BTreeMap::new();
    for (name, template) in &stacks {
        create_stack(&p.cfn, name, template, &[]).await;
        before.insert(*name, resources(&p.cfn, name).await);
    }
    let version = put_secret(&p.sm, "prod/db-password", new).await;

    p.start_execution(
        "plan-first",
        &json!({"secret": {"arn": arn}, "dry_run": true}),
    )
    .await;
    let plan = p.wait_for("plan-first", Duration::from_secs(60)).await;
    assert_eq!(plan.status, "SUCCEEDED", "{:#}", plan.summary);
    assert!(p.emulator.updates().is_empty(), "a dry run changes nothing");
    let classic = row(&plan.summary, "classic").clone();
    assert_eq!(classic["outcome"], "would_refresh", "{classic:#}");
    assert_eq!(classic["mode"], "two_phase");
    let pinned = row(&plan.summary, "pinned").clone();
    assert_eq!(pinned["outcome"], "would_refresh", "{pinned:#}");
    assert_eq!(pinned["mode"], "in_place");
    assert_eq!(
        pinned["plan"],
        json!([{"sets": format!("RotateTokenVersion={version}"),
                "modify": ["DatabasePassword (AWS::SSM::Parameter)"]}])
    );
    let database = row(&plan.summary, "database").clone();
    assert_eq!(database["outcome"], "skipped", "{database:#}");
    assert_eq!(database["mode"], "in_place");
    let why = database["reason"].as_str().unwrap();
    assert!(
        why.contains("Database (AWS::RDS::DBInstance) would be replaced")
            && why.contains("MasterUsername"),
        "{why}"
    );

    p.deliver(&sample_event("put-secret-value.json", &arn, &version))
        .await;
    let done = p
        .wait_for(&execution_name(&arn, &version), Duration::from_secs(120))
        .await;
    assert_eq!(done.status, "SUCCEEDED", "{:#}", done.summary);
    let s = &done.summary;
    assert_eq!(row(s, "classic")["outcome"], "refreshed", "{s:#}");
    assert_eq!(row(s, "classic")["mode"], "two_phase");
    assert_eq!(row(s, "pinned")["outcome"], "refreshed", "{s:#}");
    assert_eq!(row(s, "pinned")["mode"], "in_place");
    assert_eq!(row(s, "pinned")["version"], json!(version));
    assert_eq!(row(s, "database")["outcome"], "skipped");

    // The in-place stack: one update, its version parameter only, nothing deleted.
    let updates = p.emulator.updates();
    let of = |stack: &str| -> Vec<_> { updates.iter().filter(|u| u.stack == stack).collect() };
    let pinned_updates = of("pinned");
    assert_eq!(pinned_updates.len(), 1, "{pinned_updates:?}");
    assert_eq!(pinned_updates[0].result, "UPDATE_COMPLETE");
    assert_eq!(pinned_updates[0].parameters["RotateTokenVersion"], version);
    assert_eq!(pinned_updates[0].parameters["Environment"], "prod");
    let step = &pinned["plan"][0];
    let did = &pinned_updates[0].resources;
    assert_eq!(sorted(did.modified.clone()), planned_ids(step, "modify"));
    assert!(did.deleted.is_empty() && did.created.is_empty() && did.replaced.is_empty());
    let after = resources(&p.cfn, "pinned").await;
    assert_eq!(after, before["pinned"], "the same physical ids");
    assert_eq!(
        ssm_value(&p.ssm, &after["DatabasePassword"])
            .await
            .as_deref(),
        Some(new)
    );

    // The classic stack: false then true, each doing what the dry run said.
    assert_eq!(
        p.emulator.completed_token_updates("classic"),
        vec!["false", "true"]
    );
    let classic_updates = of("classic");
    assert_eq!(classic_updates.len(), 2);
    assert_eq!(
        classic["plan"].as_array().map(Vec::len),
        Some(2),
        "{classic:#}"
    );
    for (done, step) in classic_updates
        .iter()
        .zip(classic["plan"].as_array().unwrap())
    {
        assert_eq!(done.result, "UPDATE_COMPLETE");
        assert_eq!(step["sets"], format!("RotateToken={}", done.token));
        assert_eq!(
            sorted(done.resources.deleted.clone()),
            planned_ids(step, "delete")
        );
        assert_eq!(
            sorted(done.resources.created.clone()),
            planned_ids(step, "create")
        );
        assert_eq!(
            sorted(done.resources.modified.clone()),
            planned_ids(step, "modify")
        );
        assert_eq!(
            sorted(done.resources.replaced.clone()),
            planned_ids(step, "replace")
        );
    }
    assert_eq!(
        planned_ids(&classic["plan"][0], "delete"),
        vec!["ApiKey", "DatabasePassword"]
    );
    assert_eq!(
        ssm_value(
            &p.ssm,
            &resources(&p.cfn, "classic").await["DatabasePassword"]
        )
        .await
        .as_deref(),
        Some(new)
    );

    // The database: never updated. No change set left anywhere.
    assert!(of("database").is_empty());
    assert_eq!(resources(&p.cfn, "database").await, before["database"]);
    for (name, _) in &stacks {
        let left = p
            .cfn
            .list_change_sets()
            .stack_name(*name)
            .send()
            .await
            .unwrap();
        assert!(left.summaries().is_empty(), "{name}: {left:?}");
    }
}

/// A consumer with `guarded` guarded parameters whose logical ids are long (CloudFormation
/// allows 255 characters), so each row's plan, which names every resource both updates
/// delete and create, is about 45 KB.
fn wide_consumer_template(secret: &str, guarded: usize) -> String {
    let mut t = String::from(
        "Parameters:\n  RotateToken:\n    Type: String\n    Default: \"true\"\n    AllowedValues: [\"true\", \"false\"]\nConditions:\n  RotateToken: !Equals [!Ref RotateToken, \"true\"]\nResources:\n",
    );
    for i in 0..guarded {
        t.push_str(&format!(
            "  Guarded{}{i:03}:\n    Type: AWS::SSM::Parameter\n    Condition: RotateToken\n    Properties:\n      Type: String\n      Value: \"{{{{resolve:secretsmanager:{secret}:SecretString}}}}\"\n",
            "X".repeat(190)
        ));
    }
    t
}

#[tokio::test]
async fn a_run_whose_rows_outgrow_the_payload_limit_still_ends_with_its_summary() {
    let p = Pipeline::start(|env| env).await;
    let arn = create_secret(&p.sm, "prod/wide", "v1").await;
    let stacks: Vec<String> = (0..7).map(|i| format!("wide-{i}")).collect();
    for name in &stacks {
        create_stack(&p.cfn, name, &wide_consumer_template("prod/wide", 100), &[]).await;
    }
    // Seven rows of 45 KB: more than Step Functions' 256 KiB for Report's result, which
    // it would refuse with States.DataLimitExceeded and fail the run without a summary.
    let input = json!({"secret": {"arn": arn}, "dry_run": true});
    p.start_execution("wide-dry-run", &input).await;
    let done = p.wait_for("wide-dry-run", Duration::from_secs(120)).await;
    let head: String = done.raw_output.chars().take(2_000).collect();
    assert_eq!(done.status, "SUCCEEDED", "{head}");
    assert!(done.raw_output.len() < 262_144);
    let summary = &done.summary;
    assert_eq!(summary["counts"]["would_refresh"], 7, "{head}");
    let kept = summary["stacks"].as_array().unwrap().len();
    let omitted = summary["rows_omitted"].as_u64().unwrap() as usize;
    assert!(omitted > 0, "rows are left out of the output");
    assert_eq!(kept + omitted, 7);

    // Every row, with its whole plan, is in the full summary the output points to.
    let url = summary["full_summary"].as_str().unwrap();
    let (bucket, key) = url.trim_start_matches("s3://").split_once('/').unwrap();
    let full = p.read_json(bucket, key).await;
    for name in &stacks {
        let plan = &row(&full, name)["plan"];
        assert_eq!(plan[0]["delete"].as_array().unwrap().len(), 100, "{name}");
        assert_eq!(plan[1]["create"].as_array().unwrap().len(), 100, "{name}");
    }
}

/// A refresh invocation that changed its stack and then timed out (its result lost): Step
/// Functions retries it with its original input, which says nothing has begun. The stack's
/// events (our request tokens) say what was done: each stack is updated to `false` and to
/// `true` once, and reported refreshed.
#[tokio::test]
async fn a_refresh_that_times_out_after_changing_its_stack_is_retried_without_redoing_it() {
    let p = Pipeline::start(|env| env).await;
    p.emulator.control(json!({"update_delay_seconds": 0.3}));
    let arn = create_secret(&p.sm, "prod/db-password", "v1").await;
    create_stack(
        &p.cfn,
        "orders-api",
        &consumer_template("prod/db-password"),
        &[],
    )
    .await;
    // The first refresh invocation runs to its end, then times out.
    p.emulator
        .control(json!({"time_out_after_run": {"rotatetoken-refresh": 1}}));
    let name = p.change_secret("prod/db-password", &arn, "v2").await;
    let done = p.wait_for(&name, Duration::from_secs(120)).await;
    assert_eq!(done.status, "SUCCEEDED", "{:#}", done.summary);
    assert_eq!(row(&done.summary, "orders-api")["outcome"], "refreshed");
    assert_eq!(
        p.emulator.completed_token_updates("orders-api"),
        vec!["false", "true"],
        "the retry continued what the lost invocation had done, without redoing it"
    );
    let config = p.emulator.control(json!({}));
    assert_eq!(
        config["time_out_after_run"]["rotatetoken-refresh"], 0,
        "the invocation did time out: {config}"
    );
}
