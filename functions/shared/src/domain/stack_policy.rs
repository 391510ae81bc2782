//! Stack policies: what an update may do to a stack's resources. Phase one deletes the
//! guarded resources (`Update:Delete` on `LogicalResourceId/<id>`); a stack policy that does
//! not allow that makes CloudFormation fail the update and roll it back. Found before phase
//! one, the stack is skipped with the statement's reason.
//!
//! Evaluation as the CloudFormation User Guide describes it ("Prevent updates to stack
//! resources"): with a policy set, every update action is denied unless a statement allows
//! it, and an explicit `Deny` overrides any `Allow`. Statements use `Action`/`NotAction`
//! (`Update:Modify`, `Update:Replace`, `Update:Delete`, `Update:*`), `Resource`/`NotResource`
//! (`LogicalResourceId/<id>`, wildcards `*` and `?`), and `Condition` on `ResourceType`
//! (`StringEquals`/`StringLike`). Stack policies apply to updates of existing resources
//! only, so phase two (creating them again) is not affected.

use serde_json::Value;

use super::model::StackRef;
use crate::ports::{AwsError, StackDirectory};

/// Why the stack's policy would make CloudFormation refuse phase one, if it would
/// (GetStackPolicy). Also asked by discovery in dry runs, for the same verdicts.
pub async fn reason<D: StackDirectory>(
    directory: &D,
    stack: &StackRef,
    template_body: &str,
    parameter: &str,
) -> Result<Option<String>, AwsError> {
    let policy = directory.stack_policy(stack).await?;
    Ok(reason_of(policy.as_deref(), template_body, parameter))
}

/// [`reason`], from the stack's policy as GetStackPolicy answered it (`None`: it has none).
pub fn reason_of(policy: Option<&str>, template_body: &str, parameter: &str) -> Option<String> {
    let policy = policy?;
    let guarded = super::guard::guarded_resources(template_body, parameter).unwrap_or_default();
    match phase_one_blocked(policy, &guarded) {
        Ok(reason) => reason,
        Err(why) => Some(format!("unsafe: {why}")),
    }
}

/// The guarded resources (logical id, type) a stack policy does not let phase one delete,
/// as a skip reason; `None` when the policy allows every deletion. `Err` when the policy
/// cannot be read (refreshing blind is not safe).
pub fn phase_one_blocked(
    policy_body: &str,
    guarded: &[(String, String)],
) -> Result<Option<String>, String> {
    if policy_body.trim().is_empty() {
        return Ok(None);
    }
    let policy: Value =
        serde_json::from_str(policy_body).map_err(|e| format!("stack policy is not JSON: {e}"))?;
    let statements: Vec<&Value> = match policy.get("Statement") {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(one @ Value::Object(_)) => vec![one],
        _ => return Err("stack policy has no Statement".into()),
    };
    let blocked: Vec<String> = guarded
        .iter()
        .filter(|(id, resource_type)| {
            let resource = format!("LogicalResourceId/{id}");
            let applies = |effect: &str| {
                statements.iter().any(|s| {
                    s.get("Effect").and_then(Value::as_str) == Some(effect)
                        && matches_list(s, "Action", "NotAction", "Update:Delete")
                        && matches_list(s, "Resource", "NotResource", &resource)
                        && condition_holds(s.get("Condition"), resource_type)
                })
            };
            applies("Deny") || !applies("Allow")
        })
        .map(|(id, t)| format!("{id} ({t})"))
        .collect();
    Ok((!blocked.is_empty()).then(|| {
        format!(
            "stack policy does not allow Update:Delete on {}: RotateToken=false would be refused and rolled back; \
             allow it (aws cloudformation set-stack-policy) or leave the stack out",
            blocked.join(", ")
        )
    }))
}

/// `key` lists patterns one of which matches `value`; or `not_key` lists none that do.
fn matches_list(statement: &Value, key: &str, not_key: &str, value: &str) -> bool {
    let patterns = |k: &str| -> Option<Vec<String>> {
        match statement.get(k)? {
            Value::String(s) => Some(vec![s.clone()]),
            Value::Array(items) => Some(
                items
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect(),
            ),
            _ => Some(vec![]),
        }
    };
    if let Some(list) = patterns(key) {
        return list.iter().any(|p| glob(p, value));
    }
    if let Some(list) = patterns(not_key) {
        return !list.iter().any(|p| glob(p, value));
    }
    false
}

fn condition_holds(condition: Option<&Value>, resource_type: &str) -> bool {
    let Some(Value::Object(ops)) = condition else {
        return true;
    };
    ops.iter().all(|(op, tests)| {
        let Some(values) = tests.get("ResourceType") else {
            return true; // a key we do not know: assume it applies (stricter)
        };
        let values: Vec<&str> = match values {
            Value::String(s) => vec![s.as_str()],
            Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        match op.as_str() {
            "StringEquals" => values.contains(&resource_type),
            "StringLike" => values.iter().any(|p| glob(p, resource_type)),
            _ => true,
        }
    })
}

/// `*` any run of characters, `?` one character (IAM's `StringLike`).
pub(crate) fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guarded() -> Vec<(String, String)> {
        vec![
            ("DatabasePassword".into(), "AWS::SSM::Parameter".into()),
            ("ApiKey".into(), "AWS::SSM::Parameter".into()),
        ]
    }

    #[test]
    fn no_policy_allows_everything() {
        assert_eq!(phase_one_blocked("", &guarded()).unwrap(), None);
    }

    #[test]
    fn an_explicit_deny_on_a_guarded_resource_blocks_phase_one() {
        let policy = r#"{"Statement":[
            {"Effect":"Allow","Action":"Update:*","Principal":"*","Resource":"*"},
            {"Effect":"Deny","Action":["Update:Replace","Update:Delete"],"Principal":"*","Resource":"LogicalResourceId/Database*"}]}"#;
        let reason = phase_one_blocked(policy, &guarded()).unwrap().unwrap();
        assert!(
            reason.contains("DatabasePassword (AWS::SSM::Parameter)"),
            "{reason}"
        );
        assert!(!reason.contains("ApiKey"), "{reason}");
    }

    #[test]
    fn what_is_not_allowed_is_denied() {
        let only_modify = r#"{"Statement":[{"Effect":"Allow","Action":"Update:Modify","Principal":"*","Resource":"*"}]}"#;
        assert!(phase_one_blocked(only_modify, &guarded())
            .unwrap()
            .is_some());
        let all = r#"{"Statement":[{"Effect":"Allow","Action":"Update:*","Principal":"*","Resource":"*"}]}"#;
        assert_eq!(phase_one_blocked(all, &guarded()).unwrap(), None);
        let not_db = r#"{"Statement":[{"Effect":"Allow","Action":"Update:*","Principal":"*","NotResource":"LogicalResourceId/DatabasePassword"}]}"#;
        let reason = phase_one_blocked(not_db, &guarded()).unwrap().unwrap();
        assert!(
            reason.contains("DatabasePassword") && !reason.contains("ApiKey"),
            "{reason}"
        );
    }

    #[test]
    fn conditions_on_the_resource_type_are_honoured() {
        let policy = r#"{"Statement":[
            {"Effect":"Allow","Action":"Update:*","Principal":"*","Resource":"*"},
            {"Effect":"Deny","Action":"Update:*","Principal":"*","Resource":"*",
             "Condition":{"StringEquals":{"ResourceType":["AWS::RDS::DBInstance"]}}}]}"#;
        assert_eq!(phase_one_blocked(policy, &guarded()).unwrap(), None);
        assert!(phase_one_blocked("{", &guarded()).is_err());
    }
}
