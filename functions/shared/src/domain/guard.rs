//! The data-loss guard. Phase one (`RotateToken=false`) deletes every resource whose
//! `Condition` depends on the token parameter; phase two creates new, empty ones. Before a
//! stack is selected, its template is read and those resources listed; the stack is
//! skipped as unsafe when one of them holds data that deletion destroys, or would fail to
//! be recreated (a fixed physical name kept by `DeletionPolicy: Retain`). A stack tagged
//! [`ALLOW_DATA_LOSS_TAG`]`=true` is refreshed anyway.
//!
//! Templates are read as AWS documents them: JSON, or YAML with the short-form tags
//! (`!Ref`, `!Equals`, `!Condition`...), which are normalised to their JSON form first.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::model::PlannedChange;
use super::model::StackSnapshot;

/// The per-stack opt-in: this stack's guarded resources may be deleted and recreated empty.
pub use super::model::ALLOW_DATA_LOSS_TAG;

/// Resource types whose deletion destroys data: the recreated resource starts empty.
/// A `Snapshot` deletion policy does not help (the new resource is not restored from it).
/// The one list; documented in the README ("Data-loss guard").
pub const DATA_HOLDING_TYPES: &[&str] = &[
    // Databases and tables
    "AWS::RDS::DBInstance",
    "AWS::RDS::DBCluster",
    "AWS::DynamoDB::Table",
    "AWS::DynamoDB::GlobalTable",
    "AWS::DocDB::DBCluster",
    "AWS::DocDBElastic::Cluster",
    "AWS::Neptune::DBCluster",
    "AWS::Redshift::Cluster",
    "AWS::RedshiftServerless::Namespace",
    "AWS::Timestream::Database",
    "AWS::Timestream::Table",
    "AWS::Cassandra::Keyspace",
    "AWS::Cassandra::Table",
    "AWS::QLDB::Ledger",
    "AWS::OpenSearchService::Domain",
    "AWS::Elasticsearch::Domain",
    // Object, block and file storage
    "AWS::S3::Bucket",
    "AWS::S3Express::DirectoryBucket",
    "AWS::EC2::Volume",
    "AWS::EFS::FileSystem",
    "AWS::FSx::FileSystem",
    "AWS::Backup::BackupVault",
    "AWS::ECR::Repository",
    // Caches
    "AWS::ElastiCache::CacheCluster",
    "AWS::ElastiCache::ReplicationGroup",
    "AWS::ElastiCache::ServerlessCache",
    "AWS::MemoryDB::Cluster",
    // Queues and streams
    "AWS::SQS::Queue",
    "AWS::Kinesis::Stream",
    "AWS::MSK::Cluster",
    "AWS::AmazonMQ::Broker",
    // Logs
    "AWS::Logs::LogGroup",
    // Keys, secrets and identities that other data depends on
    "AWS::KMS::Key",
    "AWS::SecretsManager::Secret",
    "AWS::Cognito::UserPool",
    // A nested stack is not on this list: what is in it is judged (see `nested`).
];

/// A guarded resource that makes the refresh unsafe, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsafeResource {
    pub logical_id: String,
    pub resource_type: String,
    pub why: &'static str,
}

impl std::fmt::Display for UnsafeResource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.logical_id, self.resource_type, self.why
        )
    }
}

/// What the guard decided for one stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The guarded resources (logical ids) can be deleted and recreated.
    Safe { guarded: Vec<String> },
    /// Unsafe, and not opted in.
    Unsafe(Vec<UnsafeResource>),
    /// Unsafe, but the stack carries the opt-in tag.
    AllowedByTag(Vec<UnsafeResource>),
    /// The template could not be read: refreshing blind is not safe.
    Unreadable(String),
}

impl Verdict {
    /// The reason a skipped stack is reported with, or `None` when it may be refreshed.
    pub fn skip_reason(&self) -> Option<String> {
        match self {
            Verdict::Safe { .. } | Verdict::AllowedByTag(_) => None,
            Verdict::Unsafe(found) => Some(format!(
                "unsafe: RotateToken=false would delete {}; tag the stack {ALLOW_DATA_LOSS_TAG}=true to refresh it anyway",
                found
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            )),
            Verdict::Unreadable(why) => Some(format!(
                "unsafe: the template could not be read to check what RotateToken=false deletes ({why})"
            )),
        }
    }
}

/// A verdict's skip reason; an override by the stack's opt-in tag is logged with the
/// resources it lets go.
pub fn explain(verdict: Verdict, snapshot: &StackSnapshot) -> Option<String> {
    if let Verdict::AllowedByTag(found) = &verdict {
        let resources: Vec<String> = found.iter().map(ToString::to_string).collect();
        tracing::warn!(account = %snapshot.stack.account, region = %snapshot.stack.region, stack = %snapshot.stack.name,
            resources = ?resources, "data-loss guard overridden by the stack's opt-in tag");
    }
    verdict.skip_reason()
}

/// Reads the template and judges it. `allowed` is the stack's opt-in tag.
pub fn assess(template_body: &str, parameter: &str, allowed: bool) -> Verdict {
    let template = match parse_template(template_body) {
        Ok(t) => t,
        Err(why) => return Verdict::Unreadable(why),
    };
    let resources = match template.get("Resources").and_then(Value::as_object) {
        Some(r) => r,
        None => return Verdict::Unreadable("no Resources section".into()),
    };
    let token_conditions = conditions_on(&template, parameter);
    let mut guarded = Vec::new();
    let mut found = Vec::new();
    for (logical_id, resource) in resources {
        let condition = resource.get("Condition").and_then(Value::as_str);
        if !condition.is_some_and(|c| token_conditions.contains(c)) {
            continue;
        }
        guarded.push(logical_id.clone());
        let resource_type = resource
            .get("Type")
            .and_then(Value::as_str)
            .unwrap_or("unknown type")
            .to_string();
        if let Some(why) = danger(&resource_type, resource) {
            found.push(UnsafeResource {
                logical_id: logical_id.clone(),
                resource_type,
                why,
            });
        }
    }
    match (found.is_empty(), allowed) {
        (true, _) => Verdict::Safe { guarded },
        (false, false) => Verdict::Unsafe(found),
        (false, true) => Verdict::AllowedByTag(found),
    }
}

/// Every resource of a template, judged as if all were deleted (a nested stack whose own
/// Condition is on the token goes with everything in it).
pub fn assess_all(template_body: &str) -> Result<Vec<UnsafeResource>, String> {
    let template = parse_template(template_body)?;
    Ok(template
        .get("Resources")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(logical_id, resource)| {
            let resource_type = resource
                .get("Type")
                .and_then(Value::as_str)
                .unwrap_or("unknown type")
                .to_string();
            danger(&resource_type, resource).map(|why| UnsafeResource {
                logical_id: logical_id.clone(),
                resource_type,
                why,
            })
        })
        .collect())
}

/// Every resource's logical id.
pub fn all_resources(template_body: &str) -> Vec<String> {
    parse_template(template_body)
        .ok()
        .and_then(|t| t.get("Resources").and_then(Value::as_object).cloned())
        .map(|r| r.keys().cloned().collect())
        .unwrap_or_default()
}

fn danger(resource_type: &str, resource: &Value) -> Option<&'static str> {
    if DATA_HOLDING_TYPES.contains(&resource_type) {
        return Some("holds data that deletion destroys; the recreated resource starts empty");
    }
    let retained = matches!(
        resource.get("DeletionPolicy").and_then(Value::as_str),
        Some("Retain" | "RetainExceptOnCreate")
    );
    if retained && fixed_name(resource_type, resource) {
        return Some(
            "DeletionPolicy Retain with a fixed name: recreating it would fail on the name",
        );
    }
    None
}

/// Does the resource set its own physical name? CloudFormation's naming properties are
/// `Name`, `<Type>Name`, `<Type>Identifier` or `<Type>Id` (BucketName, TableName,
/// DBInstanceIdentifier, ReplicationGroupId...).
fn fixed_name(resource_type: &str, resource: &Value) -> bool {
    let short = resource_type.rsplit("::").next().unwrap_or_default();
    let names = [
        "Name".to_string(),
        format!("{short}Name"),
        format!("{short}Identifier"),
        format!("{short}Id"),
    ];
    resource
        .get("Properties")
        .and_then(Value::as_object)
        .is_some_and(|p| names.iter().any(|n| p.contains_key(n)))
}

/// The resources phase one deletes: (logical id, type) of every resource whose Condition
/// depends on the token parameter, except one that, by the token alone, exists only at
/// `false` (phase one creates it; at `true` it is rightly absent).
pub fn guarded_resources(
    template_body: &str,
    parameter: &str,
) -> Result<Vec<(String, String)>, String> {
    on_token_conditions(template_body, parameter, true)
}

/// Every resource whose Condition depends on the token parameter, whichever way: what the
/// token itself adds or removes (the pattern's own effect, never a side change).
pub fn token_conditioned_resources(
    template_body: &str,
    parameter: &str,
) -> Result<Vec<(String, String)>, String> {
    on_token_conditions(template_body, parameter, false)
}

fn on_token_conditions(
    template_body: &str,
    parameter: &str,
    deleted_by_false_only: bool,
) -> Result<Vec<(String, String)>, String> {
    let template = parse_template(template_body)?;
    let token_conditions = conditions_on(&template, parameter);
    Ok(template
        .get("Resources")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter(|(_, r)| {
            r.get("Condition").and_then(Value::as_str).is_some_and(|c| {
                token_conditions.contains(c)
                    && (!deleted_by_false_only
                        || super::conditions::deleted_by_false(&template, c, parameter))
            })
        })
        .map(|(id, r)| {
            let t = r
                .get("Type")
                .and_then(Value::as_str)
                .unwrap_or("unknown type");
            (id.clone(), t.to_string())
        })
        .collect())
}

/// Why CloudFormation would refuse the `false` update, if it would: a resource or output
/// that stays (no Condition, or one not on the token) refers to a guarded resource (`Ref`,
/// `Fn::GetAtt`, `Fn::Sub`, `DependsOn`), which `false` removes. CloudFormation answers
/// "Template format error: Unresolved resource dependencies [X] in the Resources block of
/// the template" (e.g. aws-solutions/media-insights-on-aws#145, a parameter turning a
/// condition false). A reference inside `Fn::If` on a token condition counts only in the
/// branch used when the condition is false. `Err` when the template cannot be read.
pub fn refusal_reason(template_body: &str, parameter: &str) -> Result<Option<String>, String> {
    let template = parse_template(template_body)?;
    let token_conditions = conditions_on(&template, parameter);
    let empty = Map::new();
    let resources = template
        .get("Resources")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let on_token = |v: &Value| {
        v.get("Condition")
            .and_then(Value::as_str)
            .is_some_and(|c| token_conditions.contains(c))
    };
    let guarded: BTreeSet<&String> = resources
        .iter()
        .filter(|(_, r)| on_token(r))
        .map(|(id, _)| id)
        .collect();
    let mut dangling = Vec::new();
    let outputs = template
        .get("Outputs")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    for (kind, block) in [("resource", resources), ("output", outputs)] {
        for (id, item) in block {
            if on_token(item) {
                continue;
            }
            let mut refs = BTreeSet::new();
            references(item, &token_conditions, &mut refs);
            for target in refs.iter().filter(|r| guarded.contains(r)) {
                dangling.push(format!("{kind} {id} refers to {target}"));
            }
        }
    }
    Ok((!dangling.is_empty()).then(|| {
        format!(
            "CloudFormation would refuse {parameter}=false (Unresolved resource dependencies): {}; \
             give them the guarded resources' Condition (or Fn::If on it) to make the stack refreshable",
            dangling.join("; ")
        )
    }))
}

/// The logical ids a template fragment refers to. `Fn::If` on a token condition: only the
/// branch CloudFormation uses when the token is `false`.
fn references(v: &Value, token_conditions: &BTreeSet<String>, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(map) => {
            for (k, inner) in map {
                match (k.as_str(), inner) {
                    ("Ref", Value::String(id)) => {
                        out.insert(id.clone());
                    }
                    ("DependsOn", Value::String(id)) => {
                        out.insert(id.clone());
                    }
                    ("DependsOn", Value::Array(ids)) => {
                        out.extend(ids.iter().filter_map(Value::as_str).map(str::to_string));
                    }
                    ("Fn::GetAtt", Value::Array(parts)) => {
                        if let Some(id) = parts.first().and_then(Value::as_str) {
                            out.insert(id.to_string());
                        }
                    }
                    ("Fn::GetAtt", Value::String(dotted)) => {
                        out.insert(dotted.split('.').next().unwrap_or_default().to_string());
                    }
                    ("Fn::Sub", Value::String(text)) => sub_references(text, &BTreeSet::new(), out),
                    ("Fn::Sub", Value::Array(parts)) => {
                        let locals: BTreeSet<String> = parts
                            .get(1)
                            .and_then(Value::as_object)
                            .map(|m| m.keys().cloned().collect())
                            .unwrap_or_default();
                        if let Some(text) = parts.first().and_then(Value::as_str) {
                            sub_references(text, &locals, out);
                        }
                        if let Some(vars) = parts.get(1) {
                            references(vars, token_conditions, out);
                        }
                    }
                    ("Fn::If", Value::Array(parts))
                        if parts
                            .first()
                            .and_then(Value::as_str)
                            .is_some_and(|c| token_conditions.contains(c)) =>
                    {
                        if let Some(when_false) = parts.get(2) {
                            references(when_false, token_conditions, out);
                        }
                    }
                    ("Condition", _) => {}
                    _ => references(inner, token_conditions, out),
                }
            }
        }
        Value::Array(items) => items
            .iter()
            .for_each(|i| references(i, token_conditions, out)),
        _ => {}
    }
}

/// `${Name}` and `${Name.Attribute}` in a `Fn::Sub` string (`${!Literal}` is not one).
fn sub_references(text: &str, locals: &BTreeSet<String>, out: &mut BTreeSet<String>) {
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        rest = &rest[start + 2..];
        let Some(end) = rest.find('}') else { return };
        let name = &rest[..end];
        if !name.starts_with('!') {
            let id = name.split('.').next().unwrap_or_default().trim();
            if !locals.contains(id) {
                out.insert(id.to_string());
            }
        }
        rest = &rest[end + 1..];
    }
}

/// The conditions that depend on the parameter, directly or through other conditions.
pub(crate) fn conditions_on(template: &Value, parameter: &str) -> BTreeSet<String> {
    let Some(conditions) = template.get("Conditions").and_then(Value::as_object) else {
        return BTreeSet::new();
    };
    let mut found = BTreeSet::new();
    loop {
        let before = found.len();
        for (name, definition) in conditions {
            if !found.contains(name) && mentions(definition, parameter, &found) {
                found.insert(name.clone());
            }
        }
        if found.len() == before {
            return found;
        }
    }
}

pub(crate) fn mentions(v: &Value, parameter: &str, conditions: &BTreeSet<String>) -> bool {
    match v {
        Value::Object(map) => map.iter().any(|(k, inner)| match (k.as_str(), inner) {
            ("Ref", Value::String(p)) => p == parameter,
            ("Condition", Value::String(c)) => conditions.contains(c),
            _ => mentions(inner, parameter, conditions),
        }),
        Value::Array(items) => items.iter().any(|i| mentions(i, parameter, conditions)),
        // `!Sub "${RotateToken}"` and the like.
        Value::String(s) => s.contains(&format!("${{{parameter}}}")),
        _ => false,
    }
}

/// JSON or YAML (short-form tags normalised: `!Ref X` → `{"Ref": X}`, `!Condition X` →
/// `{"Condition": X}`, `!Equals [..]` → `{"Fn::Equals": [..]}`).
pub fn parse_template(body: &str) -> Result<Value, String> {
    if body.trim_start().starts_with('{') {
        return serde_json::from_str(body).map_err(|e| format!("invalid JSON template: {e}"));
    }
    let yaml: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(body).map_err(|e| format!("invalid YAML template: {e}"))?;
    Ok(from_yaml(yaml))
}

fn from_yaml(v: serde_yaml_ng::Value) -> Value {
    use serde_yaml_ng::Value as Y;
    match v {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => serde_json::to_value(&n).unwrap_or(Value::Null),
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(items.into_iter().map(from_yaml).collect()),
        Y::Mapping(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (yaml_key(k), from_yaml(v)))
                .collect::<Map<_, _>>(),
        ),
        Y::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let name = tag.trim_start_matches('!');
            let key = match name {
                "Ref" | "Condition" => name.to_string(),
                other => format!("Fn::{other}"),
            };
            let mut map = Map::new();
            map.insert(key, from_yaml(tagged.value));
            Value::Object(map)
        }
    }
}

fn yaml_key(k: serde_yaml_ng::Value) -> String {
    match k {
        serde_yaml_ng::Value::String(s) => s,
        other => serde_yaml_ng::to_string(&other)
            .unwrap_or_default()
            .trim()
            .to_string(),
    }
}

/// Why phase one must not run although its guarded resources are safe: the change set
/// shows the token itself replacing a data-holding resource (a property that reads the
/// token and cannot change in place), and the replacement starts empty. The same rule as
/// in-place mode's ([`super::in_place::refusal`]), with the same opt-in tag.
pub fn replacement_reason(planned: &[PlannedChange], allows_data_loss: bool) -> Option<String> {
    if allows_data_loss {
        return None;
    }
    let replaced: Vec<String> = planned
        .iter()
        .filter(|c| {
            c.action == "Modify"
                && matches!(c.replacement.as_deref(), Some("True" | "Conditional"))
                && DATA_HOLDING_TYPES.contains(&c.resource_type.as_str())
        })
        .map(|c| {
            let may = if c.replacement.as_deref() == Some("True") {
                "would"
            } else {
                "may"
            };
            format!(
                "{} ({}) {may} be replaced by a new, empty one",
                c.logical_id, c.resource_type
            )
        })
        .collect();
    (!replaced.is_empty()).then(|| {
        format!(
            "unsafe: phase one {}; make the data-holding resource independent of the token, or tag the stack {ALLOW_DATA_LOSS_TAG}=true to accept the loss",
            replaced.join("; ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reference_left_dangling_by_false_is_found_and_named() {
        let body = r#"
Parameters:
  RotateToken: {Type: String, Default: "true"}
Conditions:
  RotateToken: !Equals [!Ref RotateToken, "true"]
Resources:
  DatabasePassword: {Type: AWS::SSM::Parameter, Condition: RotateToken, Properties: {Type: String, Value: x}}
  Reader: {Type: AWS::SSM::Parameter, Condition: RotateToken, Properties: {Type: String, Value: !Ref DatabasePassword}}
  Safe:
    Type: AWS::SSM::Parameter
    Properties:
      Type: String
      Value: !If [RotateToken, !GetAtt DatabasePassword.Value, "off"]
  Dangling:
    Type: AWS::SSM::Parameter
    Properties: {Type: String, Value: !Sub "name=${DatabasePassword} ${!Literal}"}
Outputs:
  PasswordParameter: {Value: !Ref DatabasePassword}
  Guarded: {Condition: RotateToken, Value: !Ref DatabasePassword}
"#;
        let reason = refusal_reason(body, "RotateToken").unwrap().unwrap();
        assert!(
            reason.contains("resource Dangling refers to DatabasePassword"),
            "{reason}"
        );
        assert!(
            reason.contains("output PasswordParameter refers to DatabasePassword"),
            "{reason}"
        );
        assert!(!reason.contains("Safe"), "{reason}");
        assert!(!reason.contains("Reader"), "{reason}");
        assert!(!reason.contains("Guarded"), "{reason}");
        let fixed = body
            .replace(
                "Value: !Sub \"name=${DatabasePassword} ${!Literal}\"",
                "Value: plain",
            )
            .replace(
                "PasswordParameter: {Value: !Ref DatabasePassword}",
                "Plain: {Value: x}",
            );
        assert_eq!(
            refusal_reason(&fixed, "RotateToken").unwrap(),
            None,
            "{fixed}"
        );
    }

    const YAML: &str = r#"
AWSTemplateFormatVersion: "2010-09-09"
Parameters:
  RotateToken: {Type: String, Default: "true", AllowedValues: ["true", "false"]}
Conditions:
  RotateToken: !Equals [!Ref RotateToken, "true"]
  TokenAndProd: !And [!Condition RotateToken, !Equals [!Ref AWS::Region, eu-west-1]]
  Unrelated: !Equals [!Ref AWS::Region, us-east-1]
Resources:
  Reader:
    Type: AWS::SSM::Parameter
    Condition: RotateToken
    Properties: {Type: String, Value: "{{resolve:secretsmanager:db}}"}
  Table:
    Type: AWS::DynamoDB::Table
    Condition: TokenAndProd
    Properties: {}
  Kept:
    Type: AWS::IAM::Role
    Condition: RotateToken
    DeletionPolicy: Retain
    Properties: {RoleName: fixed}
  Elsewhere:
    Type: AWS::S3::Bucket
    Condition: Unrelated
"#;

    #[test]
    fn data_holders_and_retained_fixed_names_are_unsafe() {
        let Verdict::Unsafe(found) = assess(YAML, "RotateToken", false) else {
            panic!("expected unsafe");
        };
        let ids: Vec<&str> = found.iter().map(|f| f.logical_id.as_str()).collect();
        assert_eq!(ids, vec!["Kept", "Table"], "the bucket is not guarded");
        let reason = assess(YAML, "RotateToken", false).skip_reason().unwrap();
        assert!(reason.contains("Table (AWS::DynamoDB::Table)"), "{reason}");
        assert!(reason.contains(ALLOW_DATA_LOSS_TAG));
        assert!(matches!(
            assess(YAML, "RotateToken", true),
            Verdict::AllowedByTag(_)
        ));
        assert_eq!(assess(YAML, "RotateToken", true).skip_reason(), None);
    }

    #[test]
    fn a_template_guarding_only_readers_is_safe() {
        let json = r#"{"Parameters":{"Token":{"Type":"String"}},
            "Conditions":{"On":{"Fn::Equals":[{"Ref":"Token"},"true"]}},
            "Resources":{"Reader":{"Type":"AWS::SSM::Parameter","Condition":"On","Properties":{}},
                         "Data":{"Type":"AWS::S3::Bucket"},
                         "Named":{"Type":"AWS::SQS::Queue","DeletionPolicy":"Retain","Properties":{"QueueName":"q"}}}}"#;
        assert_eq!(
            assess(json, "Token", false),
            Verdict::Safe {
                guarded: vec!["Reader".into()]
            }
        );
    }

    #[test]
    fn retained_without_a_fixed_name_and_snapshot_policies() {
        let t = |policy: &str, ty: &str, props: &str| {
            format!(
                "Conditions:\n  C: !Equals [!Ref RotateToken, 'true']\nResources:\n  R:\n    Type: {ty}\n    Condition: C\n    DeletionPolicy: {policy}\n    Properties: {props}\n"
            )
        };
        assert!(matches!(
            assess(&t("Retain", "AWS::IAM::Role", "{}"), "RotateToken", false),
            Verdict::Safe { .. }
        ));
        assert!(matches!(
            assess(
                &t("Snapshot", "AWS::RDS::DBInstance", "{}"),
                "RotateToken",
                false
            ),
            Verdict::Unsafe(_)
        ));
        assert!(matches!(
            assess(
                &t("Retain", "AWS::Lambda::Function", "{FunctionName: f}"),
                "RotateToken",
                false
            ),
            Verdict::Unsafe(_)
        ));
    }

    #[test]
    fn unreadable_templates_are_not_refreshed_blind() {
        for bad in [
            "{not json",
            "Resources: [unclosed",
            "Description: no resources",
        ] {
            let v = assess(bad, "RotateToken", false);
            assert!(matches!(v, Verdict::Unreadable(_)), "{bad}: {v:?}");
            assert!(v.skip_reason().unwrap().starts_with("unsafe"));
        }
    }

    proptest::proptest! {
        #[test]
        fn no_template_makes_the_guard_panic(body in "\\PC{0,400}") {
            let _ = assess(&body, "RotateToken", false);
        }
    }
}
