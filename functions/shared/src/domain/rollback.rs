//! Why one of our updates rolled back, in words an operator can act on: the resources
//! CloudFormation failed (their events' reasons), and, when a new secret value lacks a JSON
//! key the stack reads, which keys of which secret the stack reads, because CloudFormation
//! does not say ("Could not find a value associated with JSONKey in SecretString" names
//! neither the key nor the secret: aws-cloudformation/cloudformation-coverage-roadmap#1822).

use super::model::{FailedResource, SecretRef};

/// What CloudFormation answers when a `{{resolve:secretsmanager:...:SecretString:KEY}}`
/// names a key the secret's value lacks (aws/aws-sam-cli#2153).
pub const JSON_KEY_MISSING: &str = "Could not find a value associated with JSONKey";

/// The JSON keys `template` reads from `secret` through dynamic references
/// (`{{resolve:secretsmanager:secret-id:SecretString:json-key:...}}`, "Get an AWS Secrets
/// Manager secret in an AWS CloudFormation resource"), by name or ARN, sorted, each once.
/// A reference whose id is built with `Fn::Sub`/`Fn::Join` is not recognised: its keys are
/// then simply not listed.
pub fn json_keys_read(template: &str, secret: &SecretRef) -> Vec<String> {
    const OPEN: &str = "{{resolve:secretsmanager:";
    let ids: Vec<String> = secret
        .arns()
        .into_iter()
        .chain(secret.partial_arns())
        .chain([secret.name.clone()])
        .filter(|id| !id.is_empty())
        .collect();
    let mut keys: Vec<String> = Vec::new();
    let mut rest = template;
    while let Some(at) = rest.find(OPEN) {
        rest = &rest[at + OPEN.len()..];
        let Some(end) = rest.find("}}") else { break };
        let body = &rest[..end];
        rest = &rest[end..];
        let parts: Vec<&str> = body.split(':').collect();
        // An ARN id holds colons of its own: `arn:partition:secretsmanager:region:account:secret:name`.
        let (id, fields) = if body.starts_with("arn:") && parts.len() >= 7 {
            (parts[..7].join(":"), &parts[7..])
        } else {
            (parts[0].to_string(), &parts[1..])
        };
        if !ids.contains(&id) {
            continue;
        }
        if let Some(key) = fields.get(1).filter(|k| !k.is_empty()) {
            if !keys.iter().any(|k| k == key) {
                keys.push(key.to_string());
            }
        }
    }
    keys.sort();
    keys
}

/// The failures of an operation that rolled back, as one sentence per resource; with the
/// keys the stack reads from `secret` and the next step when a key was missing.
pub fn explain(
    failures: &[FailedResource],
    secret: Option<&SecretRef>,
    keys: &[String],
) -> Option<String> {
    let failed: Vec<&FailedResource> = failures
        .iter()
        .filter(|f| f.status != "DELETE_FAILED")
        .collect();
    if failed.is_empty() {
        return None;
    }
    let mut text = failed
        .iter()
        .map(|f| {
            format!(
                "{} {}: {}",
                f.logical_id,
                f.status,
                f.reason.trim_end_matches('.')
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    if failed.iter().any(|f| f.reason.contains(JSON_KEY_MISSING)) {
        let which = match (secret, keys) {
            (Some(s), [_, ..]) => format!(
                "this stack reads JSON key(s) {} of secret {}, and the secret's current value lacks at least one",
                keys.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", "),
                display_name(s)
            ),
            (Some(s), []) => format!(
                "a JSON key this stack reads is missing from a secret's current value (it names none of {} directly)",
                display_name(s)
            ),
            (None, _) => "a JSON key this stack reads is missing from a secret's current value".to_string(),
        };
        text.push_str(&format!(
            ". CloudFormation does not say which key: {which}. Next step: put a corrected value \
             (PutSecretValue with every key); that change starts a run which brings this stack \
             back, or run the restore command below once the value is corrected"
        ));
    }
    Some(text)
}

fn display_name(secret: &SecretRef) -> &str {
    if secret.name.is_empty() {
        &secret.arn
    } else {
        &secret.name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf";

    fn secret() -> SecretRef {
        SecretRef::from_arn(ARN, None).unwrap()
    }

    #[test]
    fn the_keys_a_template_reads_of_one_secret_by_name_arn_or_partial_arn() {
        let template = r#"
          A: "{{resolve:secretsmanager:prod/db:SecretString:username}}"
          B: !Sub "{{resolve:secretsmanager:prod/db:SecretString:password::}}"
          C: "{{resolve:secretsmanager:arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf:SecretString:host:AWSCURRENT}}"
          D: "{{resolve:secretsmanager:arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db:SecretString:port}}"
          E: "{{resolve:secretsmanager:prod/db-replica:SecretString:other}}"
          F: "{{resolve:secretsmanager:prod/db}}"
          G: "{{resolve:secretsmanager:prod/db:SecretString:username}}"
        "#;
        assert_eq!(
            json_keys_read(template, &secret()),
            ["host", "password", "port", "username"]
        );
        assert!(json_keys_read("{{resolve:secretsmanager:prod/db", &secret()).is_empty());
    }

    fn failure(logical: &str, status: &str, reason: &str) -> FailedResource {
        FailedResource {
            logical_id: logical.into(),
            physical_id: String::new(),
            status: status.into(),
            reason: reason.into(),
        }
    }

    #[test]
    fn a_missing_json_key_is_explained_with_the_keys_the_stack_reads_and_the_next_step() {
        let failures = [
            failure(
                "DatabaseUser",
                "CREATE_FAILED",
                "Could not find a value associated with JSONKey in SecretString",
            ),
            failure("Old", "DELETE_FAILED", "not ours to explain here"),
        ];
        let text = explain(
            &failures,
            Some(&secret()),
            &["password".into(), "username".into()],
        )
        .unwrap();
        assert!(
            text.starts_with(
                "DatabaseUser CREATE_FAILED: Could not find a value associated with JSONKey"
            ),
            "{text}"
        );
        assert!(
            text.contains("`password`, `username` of secret prod/db"),
            "{text}"
        );
        assert!(text.contains("put a corrected value"), "{text}");
        assert!(!text.contains("Old"), "{text}");
    }

    #[test]
    fn other_failures_are_named_without_advice_and_nothing_is_said_without_failures() {
        let text = explain(
            &[failure("Queue", "UPDATE_FAILED", "Rate exceeded.")],
            Some(&secret()),
            &[],
        )
        .unwrap();
        assert_eq!(text, "Queue UPDATE_FAILED: Rate exceeded");
        assert_eq!(explain(&[], Some(&secret()), &[]), None);
        assert_eq!(
            explain(&[failure("X", "DELETE_FAILED", "r")], None, &[]),
            None
        );
    }
}
