//! The trigger service against the emulator through the real Step Functions and Secrets
//! Manager adapters: one execution per secret version, duplicates, name-only events, and
//! bad events refused without starting anything.

use rotatetoken::aws::{s3::S3RunStore, secretsmanager::SecretsManager, sfn::StepFunctions};
use rotatetoken::domain::trigger::SecretScope;
use rotatetoken::handler::FunctionError;
use rotatetoken::ports::{LockStore, SystemClock};
use rotatetoken::service::{self, Trigger, TriggerReport};
use rotatetoken_tests::fixtures::*;
use rotatetoken_tests::Emulator;
use serde_json::{json, Value};

struct World {
    _emulator: Emulator,
    sfn: aws_sdk_sfn::Client,
    sm: aws_sdk_secretsmanager::Client,
    starter: StepFunctions,
    secrets: SecretsManager,
    locks: S3RunStore,
    s3: aws_sdk_s3::Client,
    machine: String,
}

const LOCKS_BUCKET: &str = "rotatetoken-runs";

async fn world() -> World {
    let emulator = Emulator::start();
    let config = emulator.sdk_config().await;
    let sfn = aws_sdk_sfn::Client::new(&config);
    // A stand-in machine: this suite is about starting executions, not running them.
    let machine = sfn
        .create_state_machine()
        .name("rotatetoken")
        .definition(
            r#"{"StartAt":"Wait","States":{"Wait":{"Type":"Wait","Seconds":30,"End":true}}}"#,
        )
        .role_arn("arn:aws:iam::123456789012:role/x")
        .send()
        .await
        .unwrap()
        .state_machine_arn()
        .to_string();
    let s3 = aws_sdk_s3::Client::new(&config);
    s3.create_bucket()
        .bucket(LOCKS_BUCKET)
        .send()
        .await
        .unwrap();
    World {
        locks: S3RunStore::new(&config, LOCKS_BUCKET.into()),
        s3,
        starter: StepFunctions::new(&config, machine.clone()),
        secrets: SecretsManager::new(&config),
        sm: aws_sdk_secretsmanager::Client::new(&config),
        sfn,
        machine,
        _emulator: emulator,
    }
}

impl World {
    /// The trigger as deployed: storm control on (the runs bucket holds the locks).
    async fn on(
        &self,
        starter: &StepFunctions,
        event: &Value,
    ) -> Result<TriggerReport, FunctionError> {
        self.on_with(starter, &self.locks, event).await
    }

    /// The trigger with its own clients (another app id, another fault).
    async fn on_with(
        &self,
        starter: &StepFunctions,
        locks: &S3RunStore,
        event: &Value,
    ) -> Result<TriggerReport, FunctionError> {
        let scope = SecretScope::every();
        let t = Trigger {
            starter,
            secrets: &self.secrets,
            locks: Some(locks),
            clock: &SystemClock,
            notifier: &rotatetoken::ports::NoNotifier,
            runs_bucket: Some(LOCKS_BUCKET),
            scope: &scope,
            reconcile: Default::default(),
            coalesce_seconds: 0,
            reconcile_since: Default::default(),
        };
        service::trigger(&t, event).await
    }

    async fn locks_held(&self) -> usize {
        let listed = self
            .s3
            .list_objects_v2()
            .bucket(LOCKS_BUCKET)
            .prefix("locks/")
            .send()
            .await
            .unwrap();
        listed.contents().len()
    }

    async fn executions(&self) -> Vec<(String, Value)> {
        let list = self
            .sfn
            .list_executions()
            .state_machine_arn(&self.machine)
            .send()
            .await
            .unwrap();
        let mut out = vec![];
        for e in list.executions() {
            let d = self
                .sfn
                .describe_execution()
                .execution_arn(e.execution_arn())
                .send()
                .await
                .unwrap();
            out.push((
                e.name().to_string(),
                serde_json::from_str(d.input().unwrap_or("null")).unwrap(),
            ));
        }
        out
    }
}

#[tokio::test]
async fn one_run_per_secret_version_whatever_the_event_and_a_newer_version_waits_for_it() {
    let w = world().await;
    let arn = create_secret(&w.sm, "prod/db-password", "v1").await;
    let version = put_secret(&w.sm, "prod/db-password", "v2").await;

    let first = w
        .on(
            &w.starter,
            &sample_event("put-secret-value.json", &arn, &version),
        )
        .await
        .unwrap();
    let TriggerReport::Started {
        execution_name,
        execution_arn,
        ..
    } = &first
    else {
        panic!("{first:?}")
    };
    for file in [
        "put-secret-value.json",
        "put-secret-value-legacy-arn-key.json",
        "secret-label-updated.json",
        "update-secret.json",
    ] {
        let again = w
            .on(&w.starter, &sample_event(file, &arn, &version))
            .await
            .unwrap();
        match again {
            // Same name and same input while running: Step Functions hands back the same
            // execution (StartExecution is idempotent), as on AWS.
            TriggerReport::Started {
                execution_arn: ref a,
                ..
            } => assert_eq!(a, execution_arn, "{file}"),
            TriggerReport::Duplicate { .. } => {}
            other => panic!("{file}: {other:?}"),
        }
    }
    let executions = w.executions().await;
    assert_eq!(executions.len(), 1);
    assert_eq!(&executions[0].0, execution_name);
    assert_eq!(
        executions[0].1,
        json!({"secret": {"arn": arn, "name": "prod/db-password", "version_id": version}, "cause": "PutSecretValue", "dry_run": false})
    );

    // A newer version while that run is under way waits for it (storm control): no second
    // run for the secret, one lock held.
    let newer = put_secret(&w.sm, "prod/db-password", "v3").await;
    let next = w
        .on(
            &w.starter,
            &sample_event("put-secret-value.json", &arn, &newer),
        )
        .await
        .unwrap();
    assert!(
        matches!(&next, TriggerReport::Deferred { running, .. } if running == execution_name),
        "{next:?}"
    );
    assert_eq!(w.executions().await.len(), 1);
    assert_eq!(w.locks_held().await, 1);
}

/// The end of a run, as Step Functions tells EventBridge ("Step Functions Execution Status
/// Change"), starts the one run that waited behind it; the end of that one frees the secret.
#[tokio::test]
async fn the_end_of_a_run_starts_the_one_run_that_waited_and_then_frees_the_secret() {
    let w = world().await;
    let arn = create_secret(&w.sm, "prod/db-password", "v1").await;
    let mut versions = vec![];
    for value in ["v2", "v3", "v4"] {
        versions.push(put_secret(&w.sm, "prod/db-password", value).await);
    }
    let mut reports = vec![];
    for v in &versions {
        let e = sample_event("put-secret-value.json", &arn, v);
        reports.push(w.on(&w.starter, &e).await.unwrap());
    }
    let TriggerReport::Started {
        execution_name: first,
        execution_arn,
        ..
    } = &reports[0]
    else {
        panic!("{reports:?}")
    };
    let TriggerReport::Deferred {
        pending, changes, ..
    } = &reports[2]
    else {
        panic!("{reports:?}")
    };
    assert_eq!(*changes, 2, "two changes folded into one waiting run");
    // Another state machine's run, a run still going, and a run that is not the holder
    // release nothing.
    let ended = |name: &str, machine: &str, status: &str| {
        json!({
            "source": "aws.states",
            "detail-type": "Step Functions Execution Status Change",
            "detail": {
                "name": name, "status": status, "stateMachineArn": machine,
                "input": json!({"secret": {"arn": arn}}).to_string(),
            },
        })
    };
    let other_machine = format!("{}-other", w.machine);
    for e in [
        ended(first, &other_machine, "SUCCEEDED"),
        ended(first, &w.machine, "RUNNING"),
        ended("someone-else", &w.machine, "SUCCEEDED"),
    ] {
        let r = w.on(&w.starter, &e).await.unwrap();
        assert!(matches!(r, TriggerReport::Ignored { .. }), "{e}: {r:?}");
    }
    assert_eq!(w.executions().await.len(), 1);

    w.sfn
        .stop_execution()
        .execution_arn(execution_arn)
        .send()
        .await
        .unwrap();
    let r = w
        .on(&w.starter, &ended(first, &w.machine, "ABORTED"))
        .await
        .unwrap();
    assert_eq!(
        r,
        TriggerReport::RunEnded {
            ended: first.clone(),
            secret_arn: arn.clone(),
            next: Some(pending.clone()),
        }
    );
    let names: Vec<String> = w.executions().await.into_iter().map(|(n, _)| n).collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.contains(pending));
    // A redelivery of the same end changes nothing; the waiting run's own end frees the secret.
    let again = w
        .on(&w.starter, &ended(first, &w.machine, "ABORTED"))
        .await
        .unwrap();
    assert!(matches!(again, TriggerReport::Ignored { .. }), "{again:?}");
    let r = w
        .on(&w.starter, &ended(pending, &w.machine, "SUCCEEDED"))
        .await
        .unwrap();
    assert!(
        matches!(r, TriggerReport::RunEnded { next: None, .. }),
        "{r:?}"
    );
    assert_eq!(w.locks_held().await, 0);
    assert_eq!(w.executions().await.len(), 2);
}

#[tokio::test]
async fn an_event_naming_the_secret_only_by_name_is_resolved_to_its_arn() {
    let w = world().await;
    let arn = create_secret(&w.sm, "prod/db-password", "v1").await;
    let mut e = sample_event("put-secret-value.json", &arn, "v2");
    e["detail"]["responseElements"]
        .as_object_mut()
        .unwrap()
        .remove("arn");
    let report = w.on(&w.starter, &e).await.unwrap();
    match report {
        TriggerReport::Started { secret_arn, .. } => assert_eq!(secret_arn, arn),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn bad_events_are_refused_by_field_and_start_nothing() {
    let w = world().await;
    let arn = create_secret(&w.sm, "prod/db-password", "v1").await;
    let mut missing_version = sample_event("put-secret-value.json", &arn, "v2");
    missing_version["detail"]["responseElements"]["versionId"] = json!(["v2"]);
    let mut bad_stages = sample_event("put-secret-value.json", &arn, "v2");
    bad_stages["detail"]["requestParameters"]["versionStages"] = json!("AWSCURRENT");
    let mut partial_arn = sample_event("put-secret-value.json", &arn, "v2");
    partial_arn["detail"]["responseElements"]["arn"] =
        json!("arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-password");
    for (e, field) in [
        (missing_version, "detail.responseElements.versionId"),
        (bad_stages, "detail.requestParameters.versionStages"),
        (partial_arn, "secret.arn"),
        (
            json!({"source": "aws.secretsmanager", "detail-type": "AWS API Call via CloudTrail", "detail": []}),
            "detail",
        ),
        (json!(null), "event"),
    ] {
        let err = w.on(&w.starter, &e).await.unwrap_err();
        assert!(
            err.to_string().contains(&format!("`{field}`")),
            "{e} -> {err}"
        );
    }
    for file in [
        "put-secret-value-pending.json",
        "put-secret-value-failed.json",
        "update-secret-description-only.json",
    ] {
        let r = w
            .on(&w.starter, &sample_event(file, &arn, "v2"))
            .await
            .unwrap();
        assert!(matches!(r, TriggerReport::Ignored { .. }), "{file}: {r:?}");
    }
    assert!(w.executions().await.is_empty());
}

/// EventBridge's `time` for an event happening now.
fn now_time() -> String {
    aws_smithy_types::DateTime::from(std::time::SystemTime::now())
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap()
}

/// Moving AWSCURRENT back to a version that was current before must refresh again: the
/// first run's name is refused by Step Functions for 90 days once that run has closed.
#[tokio::test]
async fn a_version_current_again_after_its_run_ended_starts_a_new_run() {
    let w = world().await;
    // A machine whose runs end at once, so the first run is closed when the rollback comes.
    let quick = w
        .sfn
        .create_state_machine()
        .name("rotatetoken-quick")
        .definition(r#"{"StartAt":"Done","States":{"Done":{"Type":"Pass","End":true}}}"#)
        .role_arn("arn:aws:iam::123456789012:role/x")
        .send()
        .await
        .unwrap()
        .state_machine_arn()
        .to_string();
    let starter = StepFunctions::new(&w._emulator.sdk_config().await, quick.clone());
    let arn = create_secret(&w.sm, "prod/db-password", "v1").await;
    let v2 = put_secret(&w.sm, "prod/db-password", "v2").await;
    let mut first_event = sample_event("put-secret-value.json", &arn, &v2);
    first_event["time"] = json!(now_time());
    let first = w.on(&starter, &first_event).await.unwrap();
    let TriggerReport::Started {
        execution_name: first_name,
        ..
    } = first
    else {
        panic!("{first:?}")
    };
    tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;
    // v3, then AWSCURRENT back to v2 (a rollback): a later event for v2.
    put_secret(&w.sm, "prod/db-password", "v3").await;
    let mut rollback = sample_event("update-secret-version-stage.json", &arn, &v2);
    rollback["time"] = json!(now_time());
    let again = w.on(&starter, &rollback).await.unwrap();
    let TriggerReport::Started {
        execution_name: second_name,
        ..
    } = &again
    else {
        panic!("the rollback must start a run: {again:?}")
    };
    assert_ne!(second_name, &first_name);
    // Redeliveries of either event start nothing more.
    for event in [&rollback, &first_event] {
        let dup = w.on(&starter, event).await.unwrap();
        assert!(matches!(dup, TriggerReport::Duplicate { .. }), "{dup:?}");
    }
    let runs = w
        .sfn
        .list_executions()
        .state_machine_arn(&quick)
        .send()
        .await
        .unwrap();
    assert_eq!(runs.executions().len(), 2);
}

/// The lock's compare-and-swap, through the real S3 adapter on the emulator (S3
/// conditional writes): of twenty concurrent claims exactly one wins, and a replace or
/// delete with a stale ETag changes nothing. (It fails when the adapter drops a
/// precondition. It does not prove the emulator's atomicity patch #25: measured here,
/// moto answered these twenty without interleaving even with the patch removed.)
#[tokio::test]
async fn of_concurrent_claims_exactly_one_wins() {
    let w = world().await;
    let key = "locks/race.json";
    let claims = (0..20).map(|i| {
        w.locks
            .create(key, format!("{{\"claim\": {i}}}").into_bytes())
    });
    let won = futures::future::join_all(claims)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .filter(|created| *created)
        .count();
    assert_eq!(won, 1, "exactly one claim may win");
    let (_, tag) = w.locks.read(key).await.unwrap().unwrap();
    assert!(w.locks.replace(key, b"{}".to_vec(), &tag).await.unwrap());
    assert!(
        !w.locks.replace(key, b"{}".to_vec(), &tag).await.unwrap(),
        "stale ETag"
    );
    assert!(!w.locks.remove(key, &tag).await.unwrap(), "stale ETag");
    let (_, fresh) = w.locks.read(key).await.unwrap().unwrap();
    assert!(w.locks.remove(key, &fresh).await.unwrap());
    assert_eq!(w.locks.read(key).await.unwrap(), None);
}

/// The event EventBridge sends for a schedule rule (ReconcileRule in template.yaml).
fn scheduled(time: &str) -> Value {
    json!({
        "version": "0", "id": "89d1a02d-5ec7-412e-82f5-13505f849b41", "detail-type": "Scheduled Event",
        "source": "aws.events", "account": "123456789012", "time": time, "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/rotatetoken-ReconcileRule-1"],
        "detail": {}
    })
}

#[tokio::test]
async fn the_schedule_starts_one_alert_only_reconciliation_per_secret_in_scope_and_leaves_a_busy_one_alone(
) {
    let w = world().await;
    let prod = create_secret(&w.sm, "prod/db-password", "v1").await;
    create_secret(&w.sm, "dev/api-key", "v1").await;
    let busy = create_secret(&w.sm, "prod/busy", "v1").await;
    // A run holds prod/busy (the stand-in machine waits 30 s).
    let version = put_secret(&w.sm, "prod/busy", "v2").await;
    let change = w
        .on(
            &w.starter,
            &sample_event("put-secret-value.json", &busy, &version),
        )
        .await
        .unwrap();
    assert!(
        matches!(change, TriggerReport::Started { .. }),
        "{change:?}"
    );

    let scope = SecretScope::parse("SECRET_NAME_PREFIXES", "prod/").unwrap();
    let fire = || async {
        let t = Trigger {
            starter: &w.starter,
            secrets: &w.secrets,
            locks: Some(&w.locks),
            clock: &SystemClock,
            notifier: &rotatetoken::ports::NoNotifier,
            runs_bucket: Some(LOCKS_BUCKET),
            scope: &scope,
            reconcile: Default::default(),
            coalesce_seconds: 0,
            reconcile_since: Default::default(),
        };
        service::trigger(&t, &scheduled("2026-11-23T06:00:00Z")).await
    };
    let TriggerReport::Reconciled { secrets, runs } = fire().await.unwrap() else {
        panic!("not a reconciliation");
    };
    assert_eq!(secrets, 2, "prod/ only: {runs:?}");
    let started: Vec<&TriggerReport> = runs
        .iter()
        .filter(|r| matches!(r, TriggerReport::Started { .. }))
        .collect();
    assert_eq!(started.len(), 1, "{runs:?}");
    assert!(
        runs.iter().any(
            |r| matches!(r, TriggerReport::Ignored { reason } if reason.contains("under way"))
        ),
        "the busy secret is left to its run: {runs:?}"
    );
    let name = rotatetoken::domain::trigger::reconcile_execution_name(&prod, 1_795_413_600_000);
    let executions = w.executions().await;
    let (_, input) = executions
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("{name} not in {executions:?}"));
    // The default action changes nothing: a dry run that audits (and alerts).
    assert_eq!(input["dry_run"], true, "{input}");
    assert_eq!(input["reconcile"], true, "{input}");
    assert_eq!(input["cause"], "reconcile", "{input}");
    assert_eq!(input["secret"]["arn"], prod.as_str());
    // A redelivery of the same firing starts nothing more.
    let again = fire().await.unwrap();
    assert_eq!(w.executions().await.len(), executions.len(), "{again:?}");
}

/// CloudTrail records in the shapes each caller leaves (the console, the CLI, boto3 with a
/// null response, the Java SDK through a VPC endpoint, another account, a rotation
/// function, Terraform, a refused call, the native event): each either starts the run for
/// exactly the version it made current, read from where AWS logs it (the response, or the
/// request's `clientRequestToken`, or Secrets Manager's metadata), or is ignored. None is
/// refused: a refused event lands in the failure queue and fires `LostTriggersAlarm`.
#[tokio::test]
async fn records_as_each_caller_leaves_them_start_the_run_for_the_version_they_made_current() {
    let w = world().await;
    let arn = create_secret(&w.sm, "prod/db-password", "v1").await;
    let dir = rotatetoken_tests::repo_root().join("tests/fixtures/cloudtrail");
    let expected: std::collections::BTreeMap<String, String> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    assert!(expected.len() >= 12, "the suite of shapes shrank");
    let scope = SecretScope::every();
    // No lock store: each record is judged alone, never deferred behind another's run.
    let t = Trigger {
        starter: &w.starter,
        secrets: &w.secrets,
        locks: None::<&S3RunStore>,
        runs_bucket: None,
        clock: &SystemClock,
        notifier: &rotatetoken::ports::NoNotifier,
        scope: &scope,
        reconcile: Default::default(),
        coalesce_seconds: 0,
        reconcile_since: Default::default(),
    };
    for (i, (file, expect)) in expected.iter().enumerate() {
        let version = put_secret(&w.sm, "prod/db-password", &format!("v{}", i + 2)).await;
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        let event: Value = serde_json::from_str(
            &text
                .replace(SAMPLE_SECRET_ARN, &arn)
                .replace(SAMPLE_VERSION, &version),
        )
        .unwrap();
        let before = w.executions().await.len();
        let report = service::trigger(&t, &event)
            .await
            .unwrap_or_else(|e| panic!("{file} was refused: {e}"));
        match (expect.as_str(), &report) {
            (
                "started",
                TriggerReport::Started {
                    secret_arn,
                    version_id,
                    ..
                },
            ) => {
                assert_eq!((secret_arn, version_id), (&arn, &version), "{file}");
                let started = w.executions().await;
                assert_eq!(started.len(), before + 1, "{file}");
                assert!(
                    started
                        .iter()
                        .any(|(_, input)| input["secret"]["version_id"] == json!(version)),
                    "{file}: {started:?}"
                );
            }
            ("ignored", TriggerReport::Ignored { .. }) => {
                assert_eq!(w.executions().await.len(), before, "{file}");
            }
            _ => panic!("{file}: expected {expect}, got {report:?}"),
        }
    }
}

/// A record that names no version at all is acted on for the version labelled AWSCURRENT
/// (DescribeSecret, metadata only), never refused.
#[tokio::test]
async fn a_record_naming_no_version_acts_on_the_current_one() {
    let w = world().await;
    let arn = create_secret(&w.sm, "prod/db-password", "v1").await;
    let version = put_secret(&w.sm, "prod/db-password", "v2").await;
    let mut e = sample_event("put-secret-value.json", &arn, &version);
    e["detail"]["responseElements"] = Value::Null;
    e["detail"]["requestParameters"]
        .as_object_mut()
        .unwrap()
        .remove("clientRequestToken");
    match w.on(&w.starter, &e).await.unwrap() {
        TriggerReport::Started { version_id, .. } => assert_eq!(version_id, version),
        other => panic!("{other:?}"),
    }
}

/// The trigger handing the lock to the run that waited dies after writing the lock and
/// before `StartExecution` (a time-out, a crash: emulator patch 44 kills it right after
/// the write). Lambda retries the same end-of-run event: the lock no longer names the
/// ended run, yet the run it names never started, so the retry starts it.
#[tokio::test]
async fn a_hand_over_that_died_before_starting_the_next_run_is_finished_by_the_retry() {
    let w = world().await;
    let arn = create_secret(&w.sm, "prod/db-password", "v1").await;
    let (mut names, mut versions) = (vec![], vec![]);
    for value in ["v2", "v3"] {
        let v = put_secret(&w.sm, "prod/db-password", value).await;
        let e = sample_event("put-secret-value.json", &arn, &v);
        versions.push(v);
        match w.on(&w.starter, &e).await.unwrap() {
            TriggerReport::Started { execution_name, .. } => names.push(execution_name),
            TriggerReport::Deferred { pending, .. } => names.push(pending),
            other => panic!("{other:?}"),
        }
    }
    let (first, waiting) = (&names[0], &names[1]);
    let first_arn = format!(
        "{}:{first}",
        w.machine.replace(":stateMachine:", ":execution:")
    );
    w.sfn
        .stop_execution()
        .execution_arn(&first_arn)
        .send()
        .await
        .unwrap();
    let ended = json!({
        "source": "aws.states",
        "detail-type": "Step Functions Execution Status Change",
        "detail": {
            "name": first, "status": "ABORTED", "stateMachineArn": w.machine,
            "input": json!({"secret": {"arn": arn}}).to_string(),
        },
    });
    // The trigger as deployed calls AWS as `rotatetoken-trigger` (its app id), which is
    // what the crash fault matches.
    let config = w
        ._emulator
        .sdk_config()
        .await
        .to_builder()
        .app_name(aws_config::AppName::new("rotatetoken-trigger").unwrap())
        .build();
    let (starter, locks) = (
        StepFunctions::new(&config, w.machine.clone()),
        S3RunStore::new(&config, LOCKS_BUCKET.into()),
    );
    w._emulator.control(json!({"crash_after_call": {
        "rotatetoken-trigger": {"action": "s3:PutObject", "times": 1}}}));
    let died = w.on_with(&starter, &locks, &ended).await;
    assert!(died.is_err(), "killed after the lock write: {died:?}");
    let held: Vec<String> = w.executions().await.into_iter().map(|(n, _)| n).collect();
    assert!(!held.contains(waiting), "not started yet: {held:?}");

    w._emulator.control(json!({"crash_after_call": {}}));
    let retry = w.on_with(&starter, &locks, &ended).await.unwrap();
    assert_eq!(
        retry,
        TriggerReport::RunEnded {
            ended: first.clone(),
            secret_arn: arn.clone(),
            next: Some(waiting.clone()),
        }
    );
    let runs: Vec<(String, Value)> = w.executions().await;
    let started = runs.iter().find(|(n, _)| n == waiting).expect("started");
    assert_eq!(
        started.1["secret"]["version_id"],
        json!(versions[1]),
        "with the input the waiting change had: {runs:?}"
    );
}
