//! Secret references a template builds instead of writing them out: a cross-account
//! consumer typically makes the secret's ARN with `Fn::Sub`
//! (`arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${SecretsAccount}:secret:prod/db`)
//! or `Fn::Join`, from its own parameters and pseudo parameters, which the template's text
//! never shows whole. They are resolved here as CloudFormation would for this stack
//! (`Fn::Sub`, `Fn::Join`, `Ref` of a parameter or a pseudo parameter: CloudFormation User
//! Guide, "Intrinsic function reference" and "Pseudo parameters reference"), so such a
//! stack is a consumer like one that writes the ARN out. A built Secrets Manager
//! reference with a part that cannot be resolved here (a resource's attribute, an import,
//! a `NoEcho` parameter) is said, never taken for "not a consumer".

use serde_json::Value;

use super::model::{secret_name_from_arn, SecretRef, StackSnapshot};
use super::selection::mentions_secret;

/// A part of a built string that cannot be resolved here.
const UNKNOWN: char = '\u{1}';

/// What the references a template builds say about the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Built {
    /// None of them is the secret's.
    Nothing,
    /// One resolves to the secret's ARN (or, in its own account and region, its name).
    Mentions,
    /// One is a Secrets Manager reference that may be the secret's but cannot be resolved
    /// here: why, in a sentence.
    CannotJudge(String),
}

/// `secret` as the stack sees it ([`SecretRef::as_seen_from`]).
pub fn built_reference(template: &Value, snapshot: &StackSnapshot, secret: &SecretRef) -> Built {
    let mut verdict = Built::Nothing;
    walk(template, snapshot, secret, &mut verdict);
    verdict
}

fn walk(node: &Value, snapshot: &StackSnapshot, secret: &SecretRef, verdict: &mut Built) {
    if *verdict == Built::Mentions {
        return;
    }
    match node {
        Value::Object(map) => {
            if map.len() == 1 && (map.contains_key("Fn::Sub") || map.contains_key("Fn::Join")) {
                let text = resolve(node, snapshot);
                let known: String = text.chars().filter(|c| *c != UNKNOWN).collect();
                if !text.contains(UNKNOWN) && mentions_secret(&known, secret) {
                    *verdict = Built::Mentions;
                    return;
                }
                if text.contains(UNKNOWN) && may_be_the_secret(&text, secret) {
                    let function = map.keys().next().cloned().unwrap_or_default();
                    *verdict = Built::CannotJudge(format!(
                        "not judged: its template builds a Secrets Manager reference with {function} \
                         (`{}`) from a value discovery cannot resolve (a resource's attribute, an \
                         import, a NoEcho parameter); check by hand whether it reads {}",
                        known.chars().take(160).collect::<String>(),
                        secret.arn
                    ));
                }
            }
            for v in map.values() {
                walk(v, snapshot, secret, verdict);
            }
        }
        Value::Array(items) => items
            .iter()
            .for_each(|v| walk(v, snapshot, secret, verdict)),
        _ => {}
    }
}

/// A Secrets Manager reference whose unresolved part could hold the secret's name or ARN:
/// it names the service, and it either names the secret or leaves the secret's part open.
fn may_be_the_secret(text: &str, secret: &SecretRef) -> bool {
    if !text.contains("secretsmanager") {
        return false;
    }
    let name = secret_name_from_arn(&secret.arn).unwrap_or_default();
    let after_secret = text.rsplit_once("secret:").map(|(_, rest)| rest);
    (!name.is_empty() && text.contains(&name))
        || after_secret.is_none_or(|rest| rest.starts_with(UNKNOWN) || rest.is_empty())
        || text.starts_with(UNKNOWN)
}

/// The string CloudFormation would make of `node` for this stack, with [`UNKNOWN`] where a
/// part cannot be resolved here.
fn resolve(node: &Value, snapshot: &StackSnapshot) -> String {
    match node {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Object(map) if map.len() == 1 => {
            let (key, arg) = map.iter().next().expect("one key");
            match (key.as_str(), arg) {
                ("Ref", Value::String(name)) => reference(name, snapshot),
                ("Fn::Sub", Value::String(text)) => substitute(text, &[], snapshot),
                ("Fn::Sub", Value::Array(parts)) => match parts.as_slice() {
                    [Value::String(text), Value::Object(vars)] => {
                        let vars: Vec<(String, String)> = vars
                            .iter()
                            .map(|(k, v)| (k.clone(), resolve(v, snapshot)))
                            .collect();
                        substitute(text, &vars, snapshot)
                    }
                    _ => UNKNOWN.to_string(),
                },
                ("Fn::Join", Value::Array(parts)) => match parts.as_slice() {
                    [Value::String(sep), Value::Array(items)] => items
                        .iter()
                        .map(|i| resolve(i, snapshot))
                        .collect::<Vec<_>>()
                        .join(sep),
                    _ => UNKNOWN.to_string(),
                },
                _ => UNKNOWN.to_string(),
            }
        }
        _ => UNKNOWN.to_string(),
    }
}

/// `Fn::Sub`'s `${Name}`: its own variables, then pseudo parameters and parameters;
/// `${!Literal}` is the text `${Literal}`; `${Resource.Attribute}` cannot be resolved here.
fn substitute(text: &str, vars: &[(String, String)], snapshot: &StackSnapshot) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('}') else {
            out.push_str(&rest[start..]);
            return out;
        };
        let name = &rest[start + 2..start + end];
        if let Some(literal) = name.strip_prefix('!') {
            out.push_str(&format!("${{{literal}}}"));
        } else if let Some((_, v)) = vars.iter().find(|(k, _)| k == name) {
            out.push_str(v);
        } else {
            out.push_str(&reference(name, snapshot));
        }
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    out
}

/// A pseudo parameter or one of the stack's parameters (as DescribeStacks shows it; a
/// `NoEcho` one shows `****`, unknown here); anything else is a resource.
fn reference(name: &str, snapshot: &StackSnapshot) -> String {
    let stack = &snapshot.stack;
    let pseudo = match name {
        "AWS::Region" => Some(stack.region.clone()),
        "AWS::AccountId" => Some(stack.account.clone()),
        "AWS::Partition" => stack.id.split(':').nth(1).map(str::to_string),
        "AWS::URLSuffix" => Some("amazonaws.com".to_string()),
        "AWS::StackName" => Some(stack.name.clone()),
        "AWS::StackId" => Some(stack.id.clone()),
        _ => None,
    };
    if let Some(v) = pseudo {
        return v;
    }
    match snapshot.parameter(name).and_then(|p| p.value.as_deref()) {
        Some(v) if v != "****" => v.to_string(),
        _ => UNKNOWN.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::guard::parse_template;

    const ARN: &str = "arn:aws:secretsmanager:us-east-1:111111111111:secret:prod/db-AbCdEf";

    fn stack(account: &str, params: &[(&str, &str)]) -> StackSnapshot {
        StackSnapshot::for_test(
            &format!("arn:aws:cloudformation:us-east-1:{account}:stack/app/1a2b"),
            params,
        )
    }

    fn judge(template: &str, snapshot: &StackSnapshot) -> Built {
        let secret = SecretRef::from_arn(ARN, None)
            .unwrap()
            .as_seen_from(&snapshot.stack);
        built_reference(&parse_template(template).unwrap(), snapshot, &secret)
    }

    #[test]
    fn an_arn_built_with_sub_from_the_stacks_parameters_is_the_secrets() {
        let yaml = r#"
Parameters: {SecretsAccount: {Type: String}}
Resources:
  P:
    Type: AWS::SSM::Parameter
    Properties:
      Value: !Sub "{{resolve:secretsmanager:arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${SecretsAccount}:secret:prod/db:SecretString:password}}"
"#;
        let other_account = stack("222222222222", &[("SecretsAccount", "111111111111")]);
        assert_eq!(judge(yaml, &other_account), Built::Mentions);
        let elsewhere = stack("222222222222", &[("SecretsAccount", "333333333333")]);
        assert_eq!(
            judge(yaml, &elsewhere),
            Built::Nothing,
            "another account's prod/db"
        );
    }

    #[test]
    fn an_arn_built_with_join_in_a_json_template_is_the_secrets() {
        let json = r#"{"Parameters": {"Acct": {"Type": "String"}}, "Resources": {"P": {"Type": "AWS::SSM::Parameter",
          "Properties": {"Value": {"Fn::Join": ["", ["{{resolve:secretsmanager:arn:aws:secretsmanager:",
            {"Ref": "AWS::Region"}, ":", {"Ref": "Acct"}, ":secret:prod/db}}"]]}}}}}"#;
        assert_eq!(
            judge(json, &stack("222222222222", &[("Acct", "111111111111")])),
            Built::Mentions
        );
    }

    #[test]
    fn sub_variables_and_literals_resolve_as_cloudformation_does() {
        let yaml = r#"
Resources:
  P:
    Type: AWS::SSM::Parameter
    Properties:
      Value: !Sub
        - "{{resolve:secretsmanager:${Name}}} ${!NotAVariable}"
        - Name: prod/db
"#;
        // In the secret's own account and region, its bare name is the secret.
        assert_eq!(judge(yaml, &stack("111111111111", &[])), Built::Mentions);
        assert_eq!(
            judge(yaml, &stack("222222222222", &[])),
            Built::Nothing,
            "another account's prod/db"
        );
    }

    #[test]
    fn a_secret_reference_built_from_a_resource_is_said_not_judged() {
        let yaml = r#"
Resources:
  P:
    Type: AWS::SSM::Parameter
    Properties:
      Value: !Sub "{{resolve:secretsmanager:arn:aws:secretsmanager:us-east-1:${Shared.Outputs.Account}:secret:prod/db}}"
"#;
        match judge(yaml, &stack("222222222222", &[])) {
            Built::CannotJudge(why) => {
                assert!(why.starts_with("not judged:"), "{why}");
                assert!(why.contains(ARN), "{why}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn other_built_strings_say_nothing() {
        let yaml = r#"
Resources:
  B:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: !Sub "${AWS::StackName}-${Other.Arn}"
  P:
    Type: AWS::SSM::Parameter
    Properties:
      Value: !Sub "{{resolve:secretsmanager:arn:aws:secretsmanager:us-east-1:${AWS::AccountId}:secret:other/key}}"
"#;
        assert_eq!(judge(yaml, &stack("222222222222", &[])), Built::Nothing);
    }
}
