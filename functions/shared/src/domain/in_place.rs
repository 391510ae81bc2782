//! In-place mode: a stack whose resources pin the secret's version with a parameter
//! (`RotateTokenVersion` by default) is refreshed by one update that sets that parameter
//! to the version now current. CloudFormation updates the pinned resources in place and
//! deletes nothing, unless a property that pins the version is create-only: then the
//! resource is replaced, which for a data-holding resource means a new, empty one. The
//! change set says which; this module judges it. Pure: no I/O.

use super::guard::DATA_HOLDING_TYPES;
use super::model::{PlannedChange, StackSnapshot};
pub use super::model::{RefreshMode, SecretVersions};
use crate::ports::{AwsError, SecretDirectory};

/// The mode a stack's parameters choose, if it is a candidate at all: the version
/// parameter means in-place (with or without the token), the token alone two-phase.
pub fn mode_of(snapshot: &StackSnapshot, token: &str, version: &str) -> Option<RefreshMode> {
    if snapshot.parameter(version).is_some() {
        Some(RefreshMode::InPlace)
    } else if snapshot.parameter(token).is_some() {
        Some(RefreshMode::TwoPhase)
    } else {
        None
    }
}

/// The secret's versions, read from Secrets Manager at most once per run, and only when an
/// in-place stack needs them: a run without one makes no Secrets Manager call (a secret in
/// another account would answer AccessDenied, noise in that account's CloudTrail).
pub struct VersionsOnce<'a, S> {
    secrets: &'a S,
    secret_arn: &'a str,
    cell: tokio::sync::OnceCell<Result<SecretVersions, AwsError>>,
}

impl<'a, S: SecretDirectory + Sync> VersionsOnce<'a, S> {
    pub fn new(secrets: &'a S, secret_arn: &'a str) -> Self {
        Self {
            secrets,
            secret_arn,
            cell: tokio::sync::OnceCell::new(),
        }
    }

    pub async fn get(&self) -> &Result<SecretVersions, AwsError> {
        self.cell
            .get_or_init(|| self.secrets.versions(self.secret_arn))
            .await
    }
}

/// The version a stack is pinned to now: its version parameter's value (empty: none, the
/// reference then reads `AWSCURRENT` whenever the resource is updated).
pub fn pinned_version<'a>(snapshot: &'a StackSnapshot, version_parameter: &str) -> Option<&'a str> {
    snapshot
        .parameter(version_parameter)
        .and_then(|p| p.value.as_deref())
        .filter(|v| !v.is_empty())
}

/// The warning for a stack that stays pinned to a version that lost its staging labels:
/// Secrets Manager may delete that version, and every later update of the stack that
/// resolves the reference would then fail.
pub fn stale_pin_warning(
    snapshot: &StackSnapshot,
    version_parameter: &str,
    versions: &SecretVersions,
) -> Option<String> {
    let pinned = pinned_version(snapshot, version_parameter)?;
    (!versions.is_labelled(pinned)).then(|| {
        format!(
            "WARNING: the stack stays pinned to version {pinned}, which has no staging label any \
             more: Secrets Manager may delete it, and any update of this stack would then fail \
             until {version_parameter} names a version that exists"
        )
    })
}

/// Why an in-place update must not run, from its change set: it would delete a resource
/// (in-place mode deletes nothing), or replace a data-holding one (the replacement starts
/// empty) unless the stack allows data loss (the same tag as the data-loss guard).
pub fn refusal(changes: &[PlannedChange], allows_data_loss: bool) -> Option<String> {
    let mut why = Vec::new();
    for c in changes {
        let described = format!("{} ({})", c.logical_id, c.resource_type);
        match c.action.as_str() {
            "Remove" => why.push(format!("{described} would be deleted")),
            "Modify"
                if matches!(c.replacement.as_deref(), Some("True" | "Conditional"))
                    && DATA_HOLDING_TYPES.contains(&c.resource_type.as_str())
                    && !allows_data_loss =>
            {
                let by = if c.recreates.is_empty() {
                    String::new()
                } else {
                    format!(
                        ", because {} cannot change without replacement",
                        c.recreates.join(", ")
                    )
                };
                let may = if c.replacement.as_deref() == Some("True") {
                    "would"
                } else {
                    "may"
                };
                why.push(format!(
                    "{described} {may} be replaced by a new, empty one{by}"
                ));
            }
            _ => {}
        }
    }
    (!why.is_empty()).then(|| {
        format!(
            "unsafe for in-place refresh: {}; pin the version only in properties that can change \
             in place, or tag the stack {}=true to accept the loss",
            why.join("; "),
            super::guard::ALLOW_DATA_LOSS_TAG
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(action: &str, id: &str, ty: &str, replacement: Option<&str>) -> PlannedChange {
        PlannedChange {
            action: action.into(),
            logical_id: id.into(),
            resource_type: ty.into(),
            replacement: replacement.map(str::to_string),
            causes: vec!["RotateTokenVersion".into()],
            recreates: vec![],
        }
    }

    #[test]
    fn the_version_parameter_chooses_in_place_whatever_else_the_stack_has() {
        let id = "arn:aws:cloudformation:us-east-1:1:stack/a/b";
        let both =
            StackSnapshot::for_test(id, &[("RotateToken", "true"), ("RotateTokenVersion", "")]);
        let token = StackSnapshot::for_test(id, &[("RotateToken", "true")]);
        let version = StackSnapshot::for_test(id, &[("RotateTokenVersion", "v")]);
        let neither = StackSnapshot::for_test(id, &[("Env", "prod")]);
        let mode = |s: &StackSnapshot| mode_of(s, "RotateToken", "RotateTokenVersion");
        assert_eq!(mode(&both), Some(RefreshMode::InPlace));
        assert_eq!(mode(&version), Some(RefreshMode::InPlace));
        assert_eq!(mode(&token), Some(RefreshMode::TwoPhase));
        assert_eq!(mode(&neither), None);
    }

    #[test]
    fn an_in_place_update_that_replaces_a_database_or_deletes_anything_is_refused() {
        let mut db = change("Modify", "Db", "AWS::RDS::DBInstance", Some("True"));
        db.recreates = vec!["MasterUsername".into()];
        let reason = refusal(&[db.clone()], false).unwrap();
        assert!(
            reason.contains("Db (AWS::RDS::DBInstance) would be replaced"),
            "{reason}"
        );
        assert!(reason.contains("MasterUsername"), "{reason}");
        assert_eq!(refusal(&[db], true), None, "the stack accepted the loss");
        let bucket = change("Modify", "Files", "AWS::S3::Bucket", Some("Conditional"));
        assert!(refusal(&[bucket], false)
            .unwrap()
            .contains("may be replaced"));
        let gone = change("Remove", "Reader", "AWS::SSM::Parameter", None);
        assert!(refusal(&[gone], true)
            .unwrap()
            .contains("Reader (AWS::SSM::Parameter) would be deleted"));
    }

    #[test]
    fn in_place_changes_and_replacing_stateless_resources_are_allowed() {
        let changes = [
            change("Modify", "Reader", "AWS::SSM::Parameter", Some("False")),
            change("Modify", "Db", "AWS::RDS::DBInstance", Some("False")),
            change("Modify", "Fn", "AWS::Lambda::Function", Some("True")),
        ];
        assert_eq!(refusal(&changes, false), None);
    }

    #[test]
    fn a_stack_pinned_to_a_version_without_a_label_is_warned_about() {
        let id = "arn:aws:cloudformation:us-east-1:1:stack/a/b";
        let versions = SecretVersions {
            stages: [
                ("v3".to_string(), vec!["AWSCURRENT".to_string()]),
                ("v2".to_string(), vec!["AWSPREVIOUS".to_string()]),
            ]
            .into(),
        };
        assert_eq!(versions.current(), Some("v3"));
        let warn = |v: &str| {
            stale_pin_warning(
                &StackSnapshot::for_test(id, &[("RotateTokenVersion", v)]),
                "RotateTokenVersion",
                &versions,
            )
        };
        assert_eq!(warn("v2"), None);
        assert_eq!(warn(""), None, "not pinned: reads AWSCURRENT");
        assert!(warn("v1").unwrap().contains("pinned to version v1"));
    }
}
