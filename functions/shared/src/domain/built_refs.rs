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

/// How a row that could not be judged begins.
pub const NOT_JUDGED: &str = "not judged:";

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
    walk(template, template, snapshot, secret, &mut verdict);
    verdict
}

fn walk(
    node: &Value,
    template: &Value,
    snapshot: &StackSnapshot,
    secret: &SecretRef,
    verdict: &mut Built,
) {
    if *verdict == Built::Mentions {
        return;
    }
    match node {
        Value::Object(map) => {
            if map.len() == 1 && (map.contains_key("Fn::Sub") || map.contains_key("Fn::Join")) {
                let text = resolve(node, &Stack { snapshot, template });
                // A piece between unresolved parts that names the secret is enough.
                if text
                    .split(UNKNOWN)
                    .any(|piece| mentions_secret(piece, secret))
                {
                    *verdict = Built::Mentions;
                    return;
                }
                let known: String = text.chars().filter(|c| *c != UNKNOWN).collect();
                if text.contains(UNKNOWN) && may_be_the_secret(&text, secret) {
                    let function = map.keys().next().cloned().unwrap_or_default();
                    *verdict = Built::CannotJudge(format!(
                        "{NOT_JUDGED} its template builds a Secrets Manager reference with {function} \
                         (`{}`) from a value discovery cannot resolve (a resource's attribute, an \
                         import, a NoEcho parameter); check by hand whether it reads {}",
                        known.chars().take(160).collect::<String>(),
                        secret.arn
                    ));
                }
            }
            for v in map.values() {
                walk(v, template, snapshot, secret, verdict);
            }
        }
        Value::Array(items) => items
            .iter()
            .for_each(|v| walk(v, template, snapshot, secret, verdict)),
        _ => {}
    }
}

/// A Secrets Manager ARN whose region or account cannot be resolved here while its name is
/// the secret's (`arn:<partition>:secretsmanager:<region>:<account>:secret:<name>`): it may
/// be this secret, in an account or region chosen at deploy time. A reference to a secret
/// of the template's own (`{{resolve:secretsmanager:${DBSecret}...}}`, the CDK's for every
/// database) or to another name is not: an unresolved name slot is the stack's own
/// resource, which was not this secret's consumer before it built the reference either.
fn may_be_the_secret(text: &str, secret: &SecretRef) -> bool {
    let name = secret_name_from_arn(&secret.arn).unwrap_or_default();
    if name.is_empty() {
        return false;
    }
    text.match_indices("secretsmanager:").any(|(at, found)| {
        let slots: Vec<&str> = text[at + found.len()..].splitn(4, ':').collect();
        let [region, account, kind, rest] = slots.as_slice() else {
            return false;
        };
        let open = region.contains(UNKNOWN) || account.contains(UNKNOWN);
        // Followed by its ARN's `-xxxxxx`, a `:`, the reference's end or nothing; never by
        // more of a longer name.
        let named = rest.strip_prefix(name.as_str()).is_some_and(|after| {
            !after.starts_with(|c: char| c.is_ascii_alphanumeric() || "/_+=.@".contains(c))
        });
        *kind == "secret" && open && named
    })
}

/// The stack a reference is resolved for: its parameters (DescribeStacks) and its template
/// (the parameters' types).
struct Stack<'a> {
    snapshot: &'a StackSnapshot,
    template: &'a Value,
}

/// The string CloudFormation would make of `node` for this stack, with [`UNKNOWN`] where a
/// part cannot be resolved here.
fn resolve(node: &Value, snapshot: &Stack<'_>) -> String {
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
fn substitute(text: &str, vars: &[(String, String)], snapshot: &Stack<'_>) -> String {
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
/// `NoEcho` one shows `****`, and an SSM-typed one its Parameter Store name, not the value
/// the template reads: both unknown here); anything else is a resource.
fn reference(name: &str, on: &Stack<'_>) -> String {
    let snapshot = on.snapshot;
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
    let declared = &on.template["Parameters"][name]["Type"];
    if declared
        .as_str()
        .is_some_and(|t| t.starts_with("AWS::SSM::Parameter::"))
    {
        return UNKNOWN.to_string();
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
    fn a_stacks_own_secret_built_in_is_not_taken_for_one_it_cannot_judge() {
        // The CDK's reference to a database's generated secret, and UserData naming the
        // service next to a resource: neither is this secret's, nor "not judged".
        let json = r#"{"Resources": {"DbSecret": {"Type": "AWS::SecretsManager::Secret"},
          "Db": {"Type": "AWS::RDS::DBInstance", "Properties": {"MasterUserPassword": {"Fn::Join": ["",
            ["{{resolve:secretsmanager:", {"Ref": "DbSecret"}, ":SecretString:password::}}"]]}}},
          "Host": {"Type": "AWS::EC2::Instance", "Properties": {"UserData": {"Fn::Sub":
            "aws secretsmanager get-secret-value --secret-id ${DbSecret} --region ${AWS::Region} # ${Db.Endpoint.Address}"}}}}}"#;
        assert_eq!(judge(json, &stack("222222222222", &[])), Built::Nothing);
    }

    #[test]
    fn a_piece_that_names_the_secret_is_enough_beside_a_resource() {
        let yaml = format!(
            "Resources:\n  H:\n    Type: AWS::EC2::Instance\n    Properties:\n      UserData: !Sub \"fetch {ARN} for ${{Other.Arn}}\"\n"
        );
        assert_eq!(judge(&yaml, &stack("222222222222", &[])), Built::Mentions);
    }

    #[test]
    fn an_ssm_typed_parameter_is_not_its_parameter_store_name() {
        // DescribeStacks shows the Parameter Store name, not the account id it resolves to.
        let yaml = r#"
Parameters: {SecretsAccount: {Type: "AWS::SSM::Parameter::Value<String>"}}
Resources:
  P:
    Type: AWS::SSM::Parameter
    Properties:
      Value: !Sub "{{resolve:secretsmanager:arn:aws:secretsmanager:us-east-1:${SecretsAccount}:secret:prod/db}}"
"#;
        let snapshot = stack(
            "222222222222",
            &[("SecretsAccount", "/org/secrets-account")],
        );
        assert!(matches!(judge(yaml, &snapshot), Built::CannotJudge(_)));
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
