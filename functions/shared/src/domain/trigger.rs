//! Which Secrets Manager events mean "a new value became current", and which are ignored.
//!
//! Shapes follow the AWS documentation for CloudTrail events delivered by EventBridge
//! (`detail-type: AWS API Call via CloudTrail`) and for the native `Secret Label Updated`
//! event. Secret values never appear in either, and nothing here would log them.

use serde_json::Value;

use super::error::{optional_str, required_str, InputError};
use super::model::is_secret_arn;
pub use super::run_names::{
    execution_name, manual_execution_name, reconcile_execution_name, rerun_execution_name,
};
pub use super::secret_scope::SecretScope;

pub const CLOUDTRAIL_DETAIL_TYPE: &str = "AWS API Call via CloudTrail";
pub const LABEL_UPDATED_DETAIL_TYPE: &str = "Secret Label Updated";
pub const SOURCE: &str = "aws.secretsmanager";
pub const EVENT_SOURCE: &str = "secretsmanager.amazonaws.com";
pub const CURRENT: &str = "AWSCURRENT";

/// A secret version that became current and must reach its consumers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretChange {
    /// The ARN when the event carries it; otherwise the trigger resolves `secret_id`.
    pub arn: Option<String>,
    /// What the caller named the secret: a name or an ARN.
    pub secret_id: String,
    /// Where the version that became current is found: in the record, or (where the record
    /// leaves it out) in Secrets Manager's metadata.
    pub version: VersionClue,
    /// The API call or event that made the version current.
    pub cause: String,
    /// When it happened (the event's `time`, epoch milliseconds), if the event says.
    pub time_ms: Option<u64>,
}

/// What a record says about the version that became current. Each event the trigger reads
/// is taken from where AWS documents or logs the field; where a record leaves it out, the
/// trigger asks Secrets Manager (`DescribeSecret` / `ListSecretVersionIds`: metadata only,
/// never a value) rather than refusing the change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionClue {
    /// The record names it: `responseElements.versionId` (PutSecretValue, UpdateSecret),
    /// `requestParameters.moveToVersionId` (UpdateSecretVersionStage), `detail.versionId`
    /// (Secret Label Updated).
    Named(String),
    /// A PutSecretValue whose response leaves the version out (`responseElements` holding
    /// only `arn`, or `null`, as console and SDK records show): the request's
    /// `clientRequestToken` "becomes the VersionId of the new version" (PutSecretValue, Secrets
    /// Manager API reference); the SDKs, the CLI and the console always send one.
    RequestToken(String),
    /// An UpdateSecret whose response is `null`: the SDKs send a `clientRequestToken` with
    /// every UpdateSecret, metadata-only ones too, so it stored a value exactly when a
    /// version with that id exists (asked of Secrets Manager's labelled versions).
    TokenIfStored(String),
    /// The record names no version at all: the one labelled AWSCURRENT now (DescribeSecret).
    /// A later version found there is no harm: CloudFormation resolves AWSCURRENT anyway,
    /// and that version's own event is then a duplicate of this run.
    Current,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Act(SecretChange),
    Ignore(String),
    /// The reconciliation schedule fired (an EventBridge scheduled rule's event, at
    /// `time_ms`): audit every secret in scope.
    Reconcile {
        time_ms: u64,
    },
}

/// What EventBridge sends for a schedule rule ("Creating a rule that runs on a schedule",
/// EventBridge user guide): `source: aws.events`, `detail-type: Scheduled Event`.
pub const SCHEDULE_SOURCE: &str = "aws.events";
pub const SCHEDULE_DETAIL_TYPE: &str = "Scheduled Event";

/// Interprets one EventBridge event. `Err` only for events that claim to be a relevant
/// Secrets Manager change but lack what is needed to act on it.
pub fn interpret(event: &Value) -> Result<Decision, InputError> {
    if !event.is_object() {
        return Err(InputError::new("event", "must be a JSON object"));
    }
    let source = required_str(event, &["source"])?;
    let detail_type = required_str(event, &["detail-type"])?;
    if source == SCHEDULE_SOURCE && detail_type == SCHEDULE_DETAIL_TYPE {
        return match event_time_ms(event)? {
            Some(time_ms) => Ok(Decision::Reconcile { time_ms }),
            None => Err(InputError::missing("time")),
        };
    }
    if source != SOURCE {
        return Ok(Decision::Ignore(format!(
            "source `{source}` is not {SOURCE}"
        )));
    }
    match event.get("detail") {
        Some(Value::Object(_)) => {}
        Some(_) => return Err(InputError::new("detail", "must be an object")),
        None => return Err(InputError::missing("detail")),
    }
    match detail_type {
        CLOUDTRAIL_DETAIL_TYPE => interpret_cloudtrail(event),
        LABEL_UPDATED_DETAIL_TYPE => interpret_label_updated(event),
        other => Ok(Decision::Ignore(format!(
            "detail-type `{other}` does not make a new secret value current"
        ))),
    }
}

fn interpret_cloudtrail(event: &Value) -> Result<Decision, InputError> {
    let event_source = required_str(event, &["detail", "eventSource"])?;
    if event_source != EVENT_SOURCE {
        return Ok(Decision::Ignore(format!(
            "eventSource `{event_source}` is not {EVENT_SOURCE}"
        )));
    }
    let name = required_str(event, &["detail", "eventName"])?;
    // CloudTrail also records failed calls; they changed nothing.
    if let Some(code) = error_code(event)? {
        return Ok(Decision::Ignore(format!(
            "{name} failed with errorCode {code}"
        )));
    }
    let version = match name {
        "PutSecretValue" => {
            if let Some(stages) = staged_labels(event)? {
                if !stages.iter().any(|s| s == CURRENT) {
                    return Ok(Decision::Ignore(format!(
                        "PutSecretValue staged the version as {} only; RotateToken acts when {CURRENT} moves to it",
                        stages.join(",")
                    )));
                }
            }
            match optional_str(event, &["detail", "responseElements", "versionId"])? {
                Some(v) => VersionClue::Named(v.to_string()),
                None => match request_token(event)? {
                    Some(token) => VersionClue::RequestToken(token.to_string()),
                    None => VersionClue::Current,
                },
            }
        }
        "UpdateSecret" => {
            // UpdateSecret returns a VersionId only when it stored a new value; a record
            // whose response is null says nothing either way.
            match optional_str(event, &["detail", "responseElements", "versionId"])? {
                Some(v) => VersionClue::Named(v.to_string()),
                None if has_response(event) => {
                    return Ok(Decision::Ignore(
                        "UpdateSecret changed metadata only (no new version)".to_string(),
                    ))
                }
                None => match (request_token(event)?, sent_a_value(event)) {
                    (Some(token), true) => VersionClue::RequestToken(token.to_string()),
                    (None, true) => VersionClue::Current,
                    (Some(token), false) => VersionClue::TokenIfStored(token.to_string()),
                    (None, false) => {
                        return Ok(Decision::Ignore(
                            "UpdateSecret's record names no new version (no versionId, no clientRequestToken, no value sent)".to_string(),
                        ))
                    }
                },
            }
        }
        "UpdateSecretVersionStage" => {
            let stage = required_str(event, &["detail", "requestParameters", "versionStage"])?;
            if stage != CURRENT {
                return Ok(Decision::Ignore(format!(
                    "UpdateSecretVersionStage moved `{stage}`, not {CURRENT}"
                )));
            }
            match optional_str(event, &["detail", "requestParameters", "moveToVersionId"])? {
                Some(v) => VersionClue::Named(v.to_string()),
                None => {
                    return Ok(Decision::Ignore(format!(
                        "UpdateSecretVersionStage removed {CURRENT} without moving it to a version"
                    )))
                }
            }
        }
        other => {
            return Ok(Decision::Ignore(format!(
                "event `{other}` does not make a new secret value current"
            )))
        }
    };
    let secret_id = required_str(event, &["detail", "requestParameters", "secretId"])?;
    // Responses before February 2024 spelled the key `aRN`.
    let arn = match optional_str(event, &["detail", "responseElements", "arn"])? {
        Some(a) => Some(a),
        None => optional_str(event, &["detail", "responseElements", "aRN"])?,
    }
    .or(Some(secret_id).filter(|s| is_secret_arn(s)));
    Ok(Decision::Act(SecretChange {
        arn: arn.map(str::to_string),
        secret_id: secret_id.to_string(),
        version,
        cause: name.to_string(),
        time_ms: time_or_none(event),
    }))
}

fn interpret_label_updated(event: &Value) -> Result<Decision, InputError> {
    let label = required_str(event, &["detail", "labelUpdated"])?;
    if label != CURRENT {
        return Ok(Decision::Ignore(format!(
            "label `{label}` moved, not {CURRENT}"
        )));
    }
    let version = match optional_str(event, &["detail", "versionId"])? {
        Some(v) => VersionClue::Named(v.to_string()),
        None => VersionClue::Current,
    };
    let arn = match event.get("resources") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .find(|s| is_secret_arn(s)),
        Some(_) => return Err(InputError::new("resources", "must be an array")),
    };
    let secret_id = match (arn, optional_str(event, &["detail", "name"])?) {
        (Some(a), _) => a,
        (None, Some(n)) => n,
        (None, None) => return Err(InputError::missing("detail.name")),
    };
    Ok(Decision::Act(SecretChange {
        arn: arn.map(str::to_string),
        secret_id: secret_id.to_string(),
        version,
        cause: LABEL_UPDATED_DETAIL_TYPE.to_string(),
        time_ms: time_or_none(event),
    }))
}

/// The request's `clientRequestToken`, the id a new version takes.
fn request_token(event: &Value) -> Result<Option<&str>, InputError> {
    optional_str(
        event,
        &["detail", "requestParameters", "clientRequestToken"],
    )
}

/// Whether the record has a response at all (`responseElements` absent or `null`: no).
fn has_response(event: &Value) -> bool {
    !matches!(
        event.pointer("/detail/responseElements"),
        None | Some(Value::Null)
    )
}

/// Whether the request carried a value. CloudTrail never logs it, but it keeps the key of
/// a sensitive parameter (its value replaced, e.g. `HIDDEN_DUE_TO_SECURITY_REASONS`); only
/// the key's presence is read here.
fn sent_a_value(event: &Value) -> bool {
    ["secretString", "secretBinary"].iter().any(|k| {
        event
            .pointer(&format!("/detail/requestParameters/{k}"))
            .is_some()
    })
}

fn error_code(event: &Value) -> Result<Option<String>, InputError> {
    match event.pointer("/detail/errorCode") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Ok(Some(other.to_string())),
    }
}

/// The labels a PutSecretValue attached, from the request or the response; `None` when
/// neither says (the default is AWSCURRENT).
fn staged_labels(event: &Value) -> Result<Option<Vec<String>>, InputError> {
    for side in ["requestParameters", "responseElements"] {
        let path = format!("detail.{side}.versionStages");
        match event.pointer(&format!("/detail/{side}/versionStages")) {
            None | Some(Value::Null) => continue,
            Some(Value::Array(items)) => {
                let labels: Option<Vec<String>> = items
                    .iter()
                    .map(|v| v.as_str().map(str::to_string))
                    .collect();
                return labels
                    .map(Some)
                    .ok_or_else(|| InputError::new(path, "must be an array of strings"));
            }
            Some(_) => return Err(InputError::new(path, "must be an array of strings")),
        }
    }
    Ok(None)
}

/// The event's time, only used to tell a rollback from a redelivery: an unreadable one is
/// logged (naming the field) and treated as absent, never a reason to lose the refresh.
fn time_or_none(event: &Value) -> Option<u64> {
    event_time_ms(event).unwrap_or_else(|e| {
        tracing::warn!(field = %e.field, problem = %e.problem, "event time unreadable; a rollback to this version cannot be told from a redelivery");
        None
    })
}

/// The event's `time` (EventBridge: `YYYY-MM-DDThh:mm:ssZ`, UTC) in epoch milliseconds.
/// Absent: `None`; present but not such a time: an error naming the field.
pub fn event_time_ms(event: &Value) -> Result<Option<u64>, InputError> {
    let Some(text) = optional_str(event, &["time"])? else {
        return Ok(None);
    };
    super::utc::parse_ms(text).map(Some).ok_or_else(|| {
        InputError::new(
            "time",
            format!("`{text}` is not a UTC time like 2026-11-21T09:15:02Z"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ARN: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf";

    fn cloudtrail(name: &str, request: Value, response: Value) -> Value {
        json!({
            "version": "0", "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
            "detail-type": CLOUDTRAIL_DETAIL_TYPE, "source": SOURCE,
            "account": "123456789012", "time": "2026-11-21T10:00:00Z", "region": "us-east-1",
            "resources": [],
            "detail": {
                "eventVersion": "1.08", "eventSource": EVENT_SOURCE, "eventName": name,
                "awsRegion": "us-east-1", "requestParameters": request, "responseElements": response
            }
        })
    }

    #[test]
    fn event_times_are_read_as_eventbridge_writes_them() {
        let t = |s: &str| event_time_ms(&json!({"time": s}));
        assert_eq!(t("1970-01-01T00:00:00Z").unwrap(), Some(0));
        assert_eq!(t("2026-11-21T09:15:02Z").unwrap(), Some(1_795_252_502_000));
        assert_eq!(
            t("2024-02-29T23:59:59.5Z").unwrap(),
            Some(1_709_251_199_500)
        );
        assert_eq!(event_time_ms(&json!({})).unwrap(), None);
        for bad in [
            "yesterday",
            "2026-13-01T00:00:00Z",
            "2026-11-21 09:15:02",
            "2026-11-21T09:15:02+01:00",
        ] {
            assert_eq!(t(bad).unwrap_err().field, "time", "{bad}");
        }
    }

    fn act(d: Decision) -> SecretChange {
        match d {
            Decision::Act(c) => c,
            other => panic!("expected to act: {other:?}"),
        }
    }

    #[test]
    fn a_scheduled_event_reconciles_at_its_own_time_and_names_each_firing_once() {
        let e = json!({"version": "0", "id": "x", "detail-type": "Scheduled Event",
            "source": "aws.events", "account": "123456789012", "time": "2026-11-21T10:00:00Z",
            "region": "us-east-1", "resources": ["arn:aws:events:us-east-1:123456789012:rule/r"],
            "detail": {}});
        assert_eq!(
            interpret(&e).unwrap(),
            Decision::Reconcile {
                time_ms: 1_795_255_200_000
            }
        );
        let mut no_time = e.clone();
        no_time.as_object_mut().unwrap().remove("time");
        assert_eq!(interpret(&no_time).unwrap_err().field, "time");
        let once = reconcile_execution_name(ARN, 1_795_255_200_000);
        assert_eq!(
            once,
            reconcile_execution_name(ARN, 1_795_255_200_400),
            "same firing"
        );
        assert_ne!(
            once,
            reconcile_execution_name(ARN, 1_795_341_600_000),
            "next day"
        );
        assert_ne!(once, execution_name(ARN, ""));
    }

    fn ignored(d: Decision) -> String {
        match d {
            Decision::Ignore(r) => r,
            other => panic!("expected ignore: {other:?}"),
        }
    }

    #[test]
    fn put_secret_value_acts_on_the_new_version() {
        let e = cloudtrail(
            "PutSecretValue",
            json!({"secretId": "prod/db", "clientRequestToken": "tok"}),
            json!({"arn": ARN, "versionId": "v2", "versionStages": ["AWSCURRENT"]}),
        );
        let c = act(interpret(&e).unwrap());
        assert_eq!(c.arn.as_deref(), Some(ARN));
        assert_eq!(c.secret_id, "prod/db");
        assert_eq!(c.version, VersionClue::Named("v2".into()));
        assert_eq!(c.cause, "PutSecretValue");
    }

    #[test]
    fn old_arn_spelling_is_read() {
        let e = cloudtrail(
            "PutSecretValue",
            json!({"secretId": "prod/db"}),
            json!({"aRN": ARN, "versionId": "v2"}),
        );
        assert_eq!(act(interpret(&e).unwrap()).arn.as_deref(), Some(ARN));
    }

    #[test]
    fn secret_id_arn_is_used_when_the_response_has_none() {
        let e = cloudtrail(
            "PutSecretValue",
            json!({"secretId": ARN}),
            json!({"versionId": "v2"}),
        );
        assert_eq!(act(interpret(&e).unwrap()).arn.as_deref(), Some(ARN));
        let e = cloudtrail(
            "PutSecretValue",
            json!({"secretId": "prod/db"}),
            json!({"versionId": "v2"}),
        );
        assert_eq!(act(interpret(&e).unwrap()).arn, None);
    }

    #[test]
    fn pending_only_puts_are_ignored() {
        let e = cloudtrail(
            "PutSecretValue",
            json!({"secretId": ARN, "versionStages": ["AWSPENDING"]}),
            json!({"arn": ARN, "versionId": "v2", "versionStages": ["AWSPENDING"]}),
        );
        assert!(ignored(interpret(&e).unwrap()).contains("AWSPENDING"));
    }

    #[test]
    fn failed_calls_are_ignored() {
        let mut e = cloudtrail("PutSecretValue", json!({"secretId": ARN}), Value::Null);
        e["detail"]["errorCode"] = json!("AccessDenied");
        assert!(ignored(interpret(&e).unwrap()).contains("AccessDenied"));
    }

    #[test]
    fn update_secret_acts_only_with_a_new_version() {
        let e = cloudtrail(
            "UpdateSecret",
            json!({"secretId": ARN}),
            json!({"arn": ARN, "name": "prod/db", "versionId": "v3"}),
        );
        assert_eq!(
            act(interpret(&e).unwrap()).version,
            VersionClue::Named("v3".into())
        );
        let e = cloudtrail(
            "UpdateSecret",
            json!({"secretId": ARN, "description": "x"}),
            json!({"arn": ARN, "name": "prod/db"}),
        );
        assert!(ignored(interpret(&e).unwrap()).contains("metadata"));
    }

    #[test]
    fn version_stage_moves_act_only_for_awscurrent() {
        let e = cloudtrail(
            "UpdateSecretVersionStage",
            json!({"secretId": ARN, "versionStage": "AWSCURRENT", "moveToVersionId": "v4", "removeFromVersionId": "v3"}),
            json!({"arn": ARN, "name": "prod/db"}),
        );
        let c = act(interpret(&e).unwrap());
        assert_eq!(c.version, VersionClue::Named("v4".into()));
        assert_eq!(c.cause, "UpdateSecretVersionStage");
        let e = cloudtrail(
            "UpdateSecretVersionStage",
            json!({"secretId": ARN, "versionStage": "AWSPREVIOUS", "moveToVersionId": "v4"}),
            json!({"arn": ARN}),
        );
        assert!(ignored(interpret(&e).unwrap()).contains("AWSPREVIOUS"));
    }

    #[test]
    fn other_events_and_sources_are_ignored() {
        let e = cloudtrail("GetSecretValue", json!({"secretId": ARN}), Value::Null);
        assert!(ignored(interpret(&e).unwrap()).contains("GetSecretValue"));
        let mut e = cloudtrail("PutSecretValue", json!({}), json!({}));
        e["source"] = json!("aws.ssm");
        assert!(ignored(interpret(&e).unwrap()).contains("aws.ssm"));
        let mut e = cloudtrail("PutSecretValue", json!({}), json!({}));
        e["detail-type"] = json!("Scheduled Event");
        assert!(ignored(interpret(&e).unwrap()).contains("Scheduled Event"));
    }

    #[test]
    fn native_label_event() {
        let e = json!({
            "detail-type": LABEL_UPDATED_DETAIL_TYPE, "source": SOURCE, "resources": [ARN],
            "detail": {"name": "prod/db", "labelUpdated": "AWSCURRENT", "versionId": "v5"}
        });
        let c = act(interpret(&e).unwrap());
        assert_eq!(
            (c.arn.as_deref(), &c.version),
            (Some(ARN), &VersionClue::Named("v5".into()))
        );
        let mut e2 = e.clone();
        e2["detail"]["labelUpdated"] = json!("custom");
        assert!(ignored(interpret(&e2).unwrap()).contains("custom"));
    }

    #[test]
    fn a_put_whose_response_leaves_out_the_version_takes_the_request_token() {
        // Console and SDK records: responseElements with only the ARN, or null.
        for response in [json!({"arn": ARN}), Value::Null] {
            let e = cloudtrail(
                "PutSecretValue",
                json!({"secretId": ARN, "clientRequestToken": "tok-1"}),
                response.clone(),
            );
            let c = act(interpret(&e).unwrap());
            assert_eq!(
                c.version,
                VersionClue::RequestToken("tok-1".into()),
                "{response}"
            );
            assert_eq!(c.arn.as_deref(), Some(ARN));
        }
        // No token either (a raw request would have to send one): Secrets Manager says.
        let e = cloudtrail("PutSecretValue", json!({"secretId": ARN}), Value::Null);
        assert_eq!(act(interpret(&e).unwrap()).version, VersionClue::Current);
        // Staged AWSPENDING only: still ignored, whatever the response holds.
        let e = cloudtrail(
            "PutSecretValue",
            json!({"secretId": ARN, "clientRequestToken": "t", "versionStages": ["AWSPENDING"]}),
            Value::Null,
        );
        assert!(ignored(interpret(&e).unwrap()).contains("AWSPENDING"));
    }

    #[test]
    fn an_update_secret_with_a_null_response_is_judged_by_what_it_sent() {
        let with = |request: Value| interpret(&cloudtrail("UpdateSecret", request, Value::Null));
        assert_eq!(
            act(with(json!({"secretId": ARN, "clientRequestToken": "t", "secretString": "HIDDEN_DUE_TO_SECURITY_REASONS"})).unwrap()).version,
            VersionClue::RequestToken("t".into())
        );
        assert_eq!(
            act(
                with(json!({"secretId": ARN, "clientRequestToken": "t", "description": "d"}))
                    .unwrap()
            )
            .version,
            VersionClue::TokenIfStored("t".into())
        );
        assert_eq!(
            act(with(json!({"secretId": ARN, "secretBinary": "HIDDEN"})).unwrap()).version,
            VersionClue::Current
        );
        assert!(
            ignored(with(json!({"secretId": ARN, "description": "d"})).unwrap())
                .contains("names no new version")
        );
    }

    #[test]
    fn a_native_label_event_without_a_version_asks_secrets_manager() {
        let e = json!({
            "detail-type": LABEL_UPDATED_DETAIL_TYPE, "source": SOURCE, "resources": [ARN],
            "detail": {"name": "prod/db", "labelUpdated": "AWSCURRENT"}
        });
        assert_eq!(act(interpret(&e).unwrap()).version, VersionClue::Current);
    }

    #[test]
    fn incomplete_events_name_the_field() {
        let e = cloudtrail(
            "PutSecretValue",
            json!({"secretId": ARN}),
            json!({"arn": ARN, "versionId": 7}),
        );
        assert_eq!(
            interpret(&e).unwrap_err().field,
            "detail.responseElements.versionId"
        );
        let e = cloudtrail(
            "PutSecretValue",
            json!({}),
            json!({"arn": ARN, "versionId": "v"}),
        );
        assert_eq!(
            interpret(&e).unwrap_err().field,
            "detail.requestParameters.secretId"
        );
        assert_eq!(
            interpret(&json!({"source": SOURCE})).unwrap_err().field,
            "detail-type"
        );
        assert_eq!(interpret(&json!("hello")).unwrap_err().field, "event");
        let e = json!({"detail-type": CLOUDTRAIL_DETAIL_TYPE, "source": SOURCE});
        assert_eq!(interpret(&e).unwrap_err().field, "detail");
    }

    proptest::proptest! {
        #[test]
        fn interpret_never_panics(s in ".{0,400}") {
            if let Ok(v) = serde_json::from_str::<Value>(&s) { let _ = interpret(&v); }
        }

        #[test]
        fn interpret_never_panics_on_shaped_events(
            name in proptest::sample::select(vec!["PutSecretValue", "UpdateSecret", "UpdateSecretVersionStage", "X"]),
            req in proptest::option::of("[a-zA-Z:]{0,20}"), stages in proptest::collection::vec("[A-Z]{0,10}", 0..3),
            code in proptest::option::of("[A-Za-z]{0,8}"),
        ) {
            let mut e = cloudtrail(name, json!({"secretId": req, "versionStages": stages, "versionStage": req, "moveToVersionId": req}), json!({"versionId": req, "arn": req}));
            if let Some(c) = code { e["detail"]["errorCode"] = json!(c); }
            let _ = interpret(&e);
        }
    }
}
