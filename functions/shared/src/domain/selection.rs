//! Which stacks a run refreshes, which it reports as skipped, and which it leaves alone.

use serde::{Deserialize, Serialize};

use super::error::InputError;
use super::model::{SecretRef, StackSnapshot};

/// Chosen at deploy time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SelectionMode {
    /// Every stack with the token parameter (the classic behaviour).
    All,
    /// Only stacks whose template or parameter values mention the changed secret.
    Referencing,
}

impl std::str::FromStr for SelectionMode {
    type Err = InputError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "all" => Ok(Self::All),
            "referencing" => Ok(Self::Referencing),
            other => Err(InputError::new(
                "SELECTION_MODE",
                format!("`{other}` is not one of: all, referencing"),
            )),
        }
    }
}

impl SelectionMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::All => "all",
            Self::Referencing => "referencing",
        }
    }
}

/// How a stack status bears on starting an update now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusClass {
    /// A stable state from which an update may start.
    Updatable,
    /// An operation is running; CloudFormation refuses updates until it ends.
    InProgress,
    /// The last update rolled back cleanly: the stack is stable and updatable, but if it is
    /// the result of our own update, that phase failed.
    RolledBack,
    /// Only a human can recover the stack (or it can never be updated again).
    NeedsOperator,
}

pub fn classify_status(status: &str) -> StatusClass {
    match status {
        "CREATE_COMPLETE" | "UPDATE_COMPLETE" | "IMPORT_COMPLETE" => StatusClass::Updatable,
        "UPDATE_ROLLBACK_COMPLETE" | "IMPORT_ROLLBACK_COMPLETE" => StatusClass::RolledBack,
        // A stack created by a change set that was never executed: nothing runs that would
        // end it, so it is not waited on (DescribeStacks API reference, StackStatus).
        "REVIEW_IN_PROGRESS" => StatusClass::NeedsOperator,
        s if s.ends_with("_IN_PROGRESS") => StatusClass::InProgress,
        // ROLLBACK_COMPLETE (a failed create) can only be deleted; *_FAILED need a person;
        // DELETE_COMPLETE is gone; anything unknown is treated with the same caution.
        _ => StatusClass::NeedsOperator,
    }
}

/// Why a stack that has the parameter cannot be refreshed now, if it cannot.
pub fn not_refreshable_reason(snapshot: &StackSnapshot) -> Option<String> {
    if let Some(parent) = &snapshot.parent_id {
        return Some(format!(
            "nested stack: it is refreshed through its root stack ({parent})"
        ));
    }
    if let Some(reason) = managed_elsewhere(snapshot) {
        return Some(reason);
    }
    match classify_status(&snapshot.status) {
        // A busy stack is selected: refresh waits (bounded) for the running operation to
        // end. Skipping it would lose the refresh when that operation is another
        // execution's update that started before this secret changed.
        StatusClass::Updatable | StatusClass::RolledBack | StatusClass::InProgress => None,
        StatusClass::NeedsOperator => Some(format!(
            "stack is in {}, which CloudFormation cannot update without an operator{}",
            snapshot.status,
            snapshot.reason_suffix()
        )),
    }
}

/// The stack tag that opts a stack in when the deployment requires it (`RequireOptInTag`):
/// the pipeline's roles may then update only stacks tagged `rotatetoken:opt-in=true` (an
/// IAM condition on `aws:ResourceTag/rotatetoken:opt-in`, which CloudFormation evaluates
/// for UpdateStack and the change-set calls: Service Authorization Reference, "Actions,
/// resources, and condition keys for AWS CloudFormation", resource type `stack`). A fixed
/// key rather than a deploy parameter: an IAM condition key is a mapping key in the
/// template, which CloudFormation never substitutes.
pub const OPT_IN_TAG: &str = "rotatetoken:opt-in";
pub const OPT_IN_VALUE: &str = "true";

/// Why a stack may not be updated when the deployment requires the opt-in tag, if so. The
/// roles' IAM condition refuses the update anyway; this says so before anything is tried.
/// Never for a stack whose token is `false` (left without its guarded resources): a skip
/// would hide it, so its update is tried and a refusal reported failed, critical.
pub fn not_opted_in(snapshot: &StackSnapshot, required: bool, token: &str) -> Option<String> {
    let tagged = snapshot
        .tags
        .iter()
        .any(|(k, v)| k == OPT_IN_TAG && v == OPT_IN_VALUE);
    let at_false = snapshot.parameter(token).and_then(|p| p.value.as_deref()) == Some("false");
    (required && !tagged && !at_false).then(|| {
        format!(
            "not opted in: this deployment refreshes only stacks tagged {OPT_IN_TAG}={OPT_IN_VALUE} \
             (RequireOptInTag), and its roles may not update others; tag the stack to include it"
        )
    })
}

/// Service Catalog tags every stack of a provisioned product with it.
pub const SERVICE_CATALOG_TAG: &str = "aws:servicecatalog:provisionedProductArn";

/// Stacks that another service owns and must not be updated directly: a direct update is
/// undone, or drifts from the owner, at its next operation. StackSet instances are named
/// `StackSet-<stack set name>-<id>` (StackSets User Guide, "Stack instances"); Service
/// Catalog provisioned products carry [`SERVICE_CATALOG_TAG`].
pub fn managed_elsewhere(snapshot: &StackSnapshot) -> Option<String> {
    if let Some((_, arn)) = snapshot.tags.iter().find(|(k, _)| k == SERVICE_CATALOG_TAG) {
        return Some(format!(
            "Service Catalog provisioned product ({arn}): refresh it through Service Catalog \
             (aws servicecatalog update-provisioned-product with {} set to false, then to true)",
            "the token parameter"
        ));
    }
    if let Some(rest) = snapshot.stack.name.strip_prefix("StackSet-") {
        let stack_set = rest.rsplitn(6, '-').last().unwrap_or(rest);
        return Some(format!(
            "StackSet instance (stack set `{stack_set}`): refresh it through its StackSet \
             (aws cloudformation update-stack-instances --stack-set-name {stack_set} --accounts {} \
             --regions {} --parameter-overrides ParameterKey=<token>,ParameterValue=false, then =true)",
            snapshot.stack.account, snapshot.stack.region
        ));
    }
    None
}

/// Characters that can appear in a secret name; a mention must not be part of a longer name.
fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "/_+=.@-".contains(c)
}

/// Does `text` (a template body or a parameter value) mention the secret? Matches the
/// complete ARN, or the partial ARN (without the random suffix, as dynamic references
/// allow), anywhere; and the name (as used by `{{resolve:secretsmanager:NAME...}}` or a
/// parameter value) when it is not part of a longer secret name. A secret seen from
/// another account or region has no name to match (see [`SecretRef::as_seen_from`]).
/// A replica's ARN (the same ARN in a replica region) is the secret's too.
pub fn mentions_secret(text: &str, secret: &SecretRef) -> bool {
    secret.arns().iter().any(|arn| text.contains(arn.as_str()))
        || secret
            .partial_arns()
            .iter()
            .any(|partial| mentions_whole(text, partial))
        || mentions_whole(text, &secret.name)
}

/// `needle` occurs in `text` not as part of a longer secret name.
fn mentions_whole(text: &str, needle: &str) -> bool {
    let name = needle;
    if name.is_empty() {
        return false;
    }
    let mut from = 0;
    while let Some(pos) = text[from..].find(name) {
        let start = from + pos;
        let end = start + name.len();
        let before_ok = text[..start]
            .chars()
            .next_back()
            .is_none_or(|c| !is_name_char(c));
        let after_ok = text[end..].chars().next().is_none_or(|c| !is_name_char(c));
        if before_ok && after_ok {
            return true;
        }
        from = start + name.len().max(1);
        if from >= text.len() {
            break;
        }
        while !text.is_char_boundary(from) {
            from += 1;
        }
    }
    false
}

/// Does any parameter value of the stack mention the secret?
pub fn parameters_mention_secret(snapshot: &StackSnapshot, secret: &SecretRef) -> bool {
    snapshot
        .parameters
        .iter()
        .filter_map(|p| p.value.as_deref())
        .any(|v| mentions_secret(v, secret))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::model::StackRef;

    fn secret() -> SecretRef {
        SecretRef::from_arn(
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf",
            None,
        )
        .unwrap()
    }

    #[test]
    fn only_a_stack_tagged_to_opt_in_may_be_updated_when_the_deployment_requires_it() {
        let mut snapshot = StackSnapshot::for_test(
            "arn:aws:cloudformation:us-east-1:1:stack/a/b",
            &[("RotateToken", "true")],
        );
        assert_eq!(not_opted_in(&snapshot, false, "RotateToken"), None);
        assert!(not_opted_in(&snapshot, true, "RotateToken")
            .unwrap()
            .contains("rotatetoken:opt-in=true"));
        // A stack left at `false` is never skipped: its update is tried, and a refusal
        // (the roles' IAM condition) is reported failed, critical.
        let at_false = StackSnapshot::for_test(
            "arn:aws:cloudformation:us-east-1:1:stack/a/b",
            &[("RotateToken", "false")],
        );
        assert_eq!(not_opted_in(&at_false, true, "RotateToken"), None);
        snapshot.tags = vec![(OPT_IN_TAG.into(), "yes".into())];
        assert!(
            not_opted_in(&snapshot, true, "RotateToken").is_some(),
            "only the value true opts in"
        );
        snapshot.tags = vec![(OPT_IN_TAG.into(), OPT_IN_VALUE.into())];
        assert_eq!(not_opted_in(&snapshot, true, "RotateToken"), None);
    }

    #[test]
    fn dynamic_references_by_name_and_arn_match() {
        let s = secret();
        assert!(mentions_secret(
            "Value: '{{resolve:secretsmanager:prod/db:SecretString:password}}'",
            &s
        ));
        assert!(mentions_secret("{{resolve:secretsmanager:prod/db}}", &s));
        assert!(mentions_secret(
            &format!("{{{{resolve:secretsmanager:{}:SecretString:pw::}}}}", s.arn),
            &s
        ));
        assert!(mentions_secret("{{resolve:secretsmanager:arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db:SecretString}}", &s));
        assert!(mentions_secret("\"SecretId\": \"prod/db\"", &s));
    }

    #[test]
    fn longer_names_do_not_match() {
        let s = secret();
        assert!(!mentions_secret(
            "{{resolve:secretsmanager:prod/db-replica:SecretString}}",
            &s
        ));
        assert!(!mentions_secret(
            "{{resolve:secretsmanager:staging/prod/db2}}",
            &s
        ));
        assert!(!mentions_secret("nothing here", &s));
        assert!(mentions_secret("a prod/db b prod/db", &s));
        assert!(!mentions_secret("prod/dbx prod/dby", &s));
    }

    #[test]
    fn partial_arns_match_without_matching_longer_names() {
        let s = secret();
        let partial = "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db";
        let only_arn = SecretRef {
            name: String::new(),
            ..s.clone()
        };
        assert!(mentions_secret(
            &format!("{{{{resolve:secretsmanager:{partial}:SecretString:pw}}}}"),
            &only_arn
        ));
        assert!(!mentions_secret(&format!("{partial}-replica"), &only_arn));
        assert!(!mentions_secret(
            "{{resolve:secretsmanager:prod/db}}",
            &only_arn
        ));
    }

    #[test]
    fn a_replicas_arn_and_in_its_region_its_name_mean_this_secret() {
        let s = SecretRef {
            replica_regions: vec!["eu-west-1".into()],
            ..secret()
        };
        let stack = |account: &str, region: &str| {
            StackRef::from_stack_id(&format!(
                "arn:aws:cloudformation:{region}:{account}:stack/app/1"
            ))
            .unwrap()
        };
        let replica = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db-AbCdEf";
        let by_name = "{{resolve:secretsmanager:prod/db:SecretString:pw}}";
        // In the replica's region, in the secret's account: the name is the replica.
        let home = s.as_seen_from(&stack("123456789012", "eu-west-1"));
        assert!(mentions_secret(by_name, &home));
        // From another account: only the ARN, the replica's as the primary's.
        let away = s.as_seen_from(&stack("222222222222", "eu-west-1"));
        assert!(!mentions_secret(by_name, &away));
        assert!(mentions_secret(replica, &away));
        assert!(mentions_secret(
            "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db:SecretString",
            &away
        ));
        // A region with no replica: its prod/db is another secret, its ARN another ARN.
        let elsewhere = s.as_seen_from(&stack("123456789012", "ap-south-1"));
        assert!(!mentions_secret(by_name, &elsewhere));
        assert!(!mentions_secret(
            "arn:aws:secretsmanager:ap-south-1:123456789012:secret:prod/db-AbCdEf",
            &elsewhere
        ));
        // Without replicas, the replica region's name and ARN are not the secret's.
        let unreplicated = secret().as_seen_from(&stack("123456789012", "eu-west-1"));
        assert!(!mentions_secret(by_name, &unreplicated));
        assert!(!mentions_secret(replica, &unreplicated));
    }

    #[test]
    fn a_name_means_this_secret_only_in_its_own_account_and_region() {
        let s = secret();
        let stack = |account: &str, region: &str| {
            StackRef::from_stack_id(&format!(
                "arn:aws:cloudformation:{region}:{account}:stack/app/1"
            ))
            .unwrap()
        };
        let by_name = "{{resolve:secretsmanager:prod/db:SecretString}}";
        let home = s.as_seen_from(&stack("123456789012", "us-east-1"));
        assert!(mentions_secret(by_name, &home));
        for elsewhere in [
            stack("999999999999", "us-east-1"),
            stack("123456789012", "eu-west-1"),
        ] {
            let seen = s.as_seen_from(&elsewhere);
            assert!(!mentions_secret(by_name, &seen), "{elsewhere:?}");
            assert!(
                mentions_secret(&s.arn, &seen),
                "the full ARN counts anywhere"
            );
        }
    }

    #[test]
    fn statuses_are_classified() {
        assert_eq!(classify_status("UPDATE_COMPLETE"), StatusClass::Updatable);
        assert_eq!(
            classify_status("UPDATE_ROLLBACK_COMPLETE"),
            StatusClass::RolledBack
        );
        assert_eq!(
            classify_status("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS"),
            StatusClass::InProgress
        );
        assert_eq!(
            classify_status("UPDATE_ROLLBACK_FAILED"),
            StatusClass::NeedsOperator
        );
        assert_eq!(
            classify_status("ROLLBACK_COMPLETE"),
            StatusClass::NeedsOperator
        );
        assert_eq!(classify_status("SOMETHING_NEW"), StatusClass::NeedsOperator);
        assert_eq!(
            classify_status("REVIEW_IN_PROGRESS"),
            StatusClass::NeedsOperator,
            "a change set never executed: nothing would end the wait"
        );
    }

    #[test]
    fn stacks_owned_by_stacksets_and_service_catalog_are_not_updated_directly() {
        let mut snap = StackSnapshot::for_test(
            "arn:aws:cloudformation:us-east-1:111111111111:stack/StackSet-app-config-9f3b2c1d-aaaa-bbbb-cccc-0123456789ab/x",
            &[],
        );
        let reason = not_refreshable_reason(&snap).unwrap();
        assert!(reason.contains("stack set `app-config`"), "{reason}");
        assert!(reason.contains("update-stack-instances"), "{reason}");
        snap.stack.name = "SC-111111111111-pp-abc".into();
        assert_eq!(not_refreshable_reason(&snap), None);
        snap.tags = vec![(
            SERVICE_CATALOG_TAG.into(),
            "arn:aws:servicecatalog:us-east-1:1:stack/p/pp-abc".into(),
        )];
        assert!(not_refreshable_reason(&snap)
            .unwrap()
            .contains("Service Catalog"));
    }

    #[test]
    fn nested_and_broken_stacks_are_not_refreshable() {
        let mut snap = StackSnapshot {
            status: "UPDATE_ROLLBACK_FAILED".into(),
            status_reason: Some("resource X failed".into()),
            ..StackSnapshot::for_test(
                "arn:aws:cloudformation:us-east-1:1:stack/a/b",
                &[("RotateToken", "true")],
            )
        };
        assert!(not_refreshable_reason(&snap)
            .unwrap()
            .contains("UPDATE_ROLLBACK_FAILED"));
        snap.status = "UPDATE_COMPLETE".into();
        assert_eq!(not_refreshable_reason(&snap), None);
        snap.parent_id = Some("arn:parent".into());
        assert!(not_refreshable_reason(&snap).unwrap().contains("nested"));
    }

    proptest::proptest! {
        #[test]
        fn mentions_never_panics(text in "\\PC{0,64}", name in "[a-z/é]{0,6}") {
            let s = SecretRef { arn: "arn:aws:secretsmanager:r:1:secret:x-AbCdEf".into(), name, version_id: None, replica_regions: vec!["r2".into()] };
            let _ = mentions_secret(&text, &s);
        }
    }
}
