//! The trigger service against the emulator through the real Step Functions and Secrets
//! Manager adapters: one execution per secret version, duplicates, name-only events, and
//! bad events refused without starting anything.

use rotatetoken::aws::{secretsmanager::SecretsManager, sfn::StepFunctions};
use rotatetoken::domain::trigger::SecretScope;
use rotatetoken::service::{self, TriggerReport};
use rotatetoken_tests::fixtures::*;
use rotatetoken_tests::Emulator;
use serde_json::{json, Value};

struct World {
    _emulator: Emulator,
    sfn: aws_sdk_sfn::Client,
    sm: aws_sdk_secretsmanager::Client,
    starter: StepFunctions,
    secrets: SecretsManager,
    machine: String,
}

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
    World {
        starter: StepFunctions::new(&config, machine.clone()),
        secrets: SecretsManager::new(&config),
        sm: aws_sdk_secretsmanager::Client::new(&config),
        sfn,
        machine,
        _emulator: emulator,
    }
}

impl World {
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
async fn one_execution_per_secret_version_whatever_the_event() {
    let w = world().await;
    let arn = create_secret(&w.sm, "prod/db-password", "v1").await;
    let version = put_secret(&w.sm, "prod/db-password", "v2").await;

    let first = service::trigger(
        &w.starter,
        &w.secrets,
        &SecretScope::every(),
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
        let again = service::trigger(
            &w.starter,
            &w.secrets,
            &SecretScope::every(),
            &sample_event(file, &arn, &version),
        )
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
            TriggerReport::Ignored { .. } => panic!("{file}: {again:?}"),
        }
    }
    let executions = w.executions().await;
    assert_eq!(executions.len(), 1);
    assert_eq!(&executions[0].0, execution_name);
    assert_eq!(
        executions[0].1,
        json!({"secret": {"arn": arn, "name": "prod/db-password", "version_id": version}, "cause": "PutSecretValue", "dry_run": false})
    );

    let newer = put_secret(&w.sm, "prod/db-password", "v3").await;
    let next = service::trigger(
        &w.starter,
        &w.secrets,
        &SecretScope::every(),
        &sample_event("put-secret-value.json", &arn, &newer),
    )
    .await
    .unwrap();
    assert!(matches!(next, TriggerReport::Started { .. }));
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
    let report = service::trigger(&w.starter, &w.secrets, &SecretScope::every(), &e)
        .await
        .unwrap();
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
    missing_version["detail"]["responseElements"]
        .as_object_mut()
        .unwrap()
        .remove("versionId");
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
        let err = service::trigger(&w.starter, &w.secrets, &SecretScope::every(), &e)
            .await
            .unwrap_err();
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
        let r = service::trigger(
            &w.starter,
            &w.secrets,
            &SecretScope::every(),
            &sample_event(file, &arn, "v2"),
        )
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
    let first = service::trigger(&starter, &w.secrets, &SecretScope::every(), &first_event)
        .await
        .unwrap();
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
    let again = service::trigger(&starter, &w.secrets, &SecretScope::every(), &rollback)
        .await
        .unwrap();
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
        let dup = service::trigger(&starter, &w.secrets, &SecretScope::every(), event)
            .await
            .unwrap();
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
