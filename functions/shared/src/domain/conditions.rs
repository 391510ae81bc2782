//! A template's Conditions evaluated with only the token's value known: whether a resource
//! on a token condition exists at `true` and is gone at `false` (what phase one deletes and
//! phase two recreates), or the other way round (a maintenance page shown only while the
//! token is `false`: phase one creates it). Three-valued: `None` when the condition also
//! depends on something else (another parameter, a pseudo parameter), which is then taken
//! as possibly deleted (the guard and the audit stay on the safe side).

use serde_json::Value;

/// Conditions nest (`Condition: X` inside another); deeper than this is not followed.
const MAX_DEPTH: usize = 32;

/// Whether the named condition holds when `parameter` is `value`.
pub fn holds_with(template: &Value, condition: &str, parameter: &str, value: &str) -> Option<bool> {
    named(template, condition, parameter, value, 0)
}

/// A resource on this condition is deleted by `false`: it exists at `true` and not at
/// `false`, as far as the token alone tells.
pub fn deleted_by_false(template: &Value, condition: &str, parameter: &str) -> bool {
    holds_with(template, condition, parameter, "true") != Some(false)
        && holds_with(template, condition, parameter, "false") != Some(true)
}

fn named(template: &Value, name: &str, parameter: &str, value: &str, depth: usize) -> Option<bool> {
    let definition = template.get("Conditions")?.get(name)?;
    eval(template, definition, parameter, value, depth + 1)
}

fn eval(template: &Value, v: &Value, parameter: &str, value: &str, depth: usize) -> Option<bool> {
    if depth > MAX_DEPTH {
        return None;
    }
    let Value::Object(map) = v else {
        return None;
    };
    let (function, args) = map.iter().next()?;
    let list = || args.as_array().cloned().unwrap_or_default();
    let each = |items: Vec<Value>| -> Vec<Option<bool>> {
        items
            .iter()
            .map(|i| eval(template, i, parameter, value, depth + 1))
            .collect()
    };
    match function.as_str() {
        "Condition" => named(template, args.as_str()?, parameter, value, depth),
        "Fn::Equals" => {
            let items = list();
            let a = operand(items.first()?, parameter, value)?;
            let b = operand(items.get(1)?, parameter, value)?;
            Some(a == b)
        }
        "Fn::Not" => eval(template, list().first()?, parameter, value, depth + 1).map(|b| !b),
        "Fn::And" => {
            let r = each(list());
            if r.contains(&Some(false)) {
                Some(false)
            } else if r.iter().all(|x| *x == Some(true)) {
                Some(true)
            } else {
                None
            }
        }
        "Fn::Or" => {
            let r = each(list());
            if r.contains(&Some(true)) {
                Some(true)
            } else if r.iter().all(|x| *x == Some(false)) {
                Some(false)
            } else {
                None
            }
        }
        _ => None,
    }
}

/// A comparison's operand, when known: a literal, or a `Ref` to the token.
fn operand(v: &Value, parameter: &str, value: &str) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::Object(map) => match map.get("Ref") {
            Some(Value::String(p)) if p == parameter => Some(value.to_string()),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As `parse_template` gives a YAML template's short forms (`!Equals` → `Fn::Equals`).
    fn template() -> Value {
        serde_json::json!({"Conditions": {
            "On": {"Fn::Equals": [{"Ref": "RotateToken"}, "true"]},
            "Standby": {"Fn::Not": [{"Fn::Equals": [{"Ref": "RotateToken"}, "true"]}]},
            "NotFalse": {"Fn::Not": [{"Fn::Equals": [{"Ref": "RotateToken"}, "false"]}]},
            "OnInProd": {"Fn::And": [{"Condition": "On"}, {"Fn::Equals": [{"Ref": "Env"}, "prod"]}]},
            "StandbyOrProd": {"Fn::Or": [{"Condition": "Standby"}, {"Fn::Equals": [{"Ref": "Env"}, "prod"]}]}
        }})
    }

    #[test]
    fn a_condition_is_told_from_the_token_alone_where_it_can_be() {
        let t = template();
        assert_eq!(holds_with(&t, "On", "RotateToken", "true"), Some(true));
        assert_eq!(holds_with(&t, "On", "RotateToken", "false"), Some(false));
        assert_eq!(
            holds_with(&t, "Standby", "RotateToken", "true"),
            Some(false)
        );
        assert_eq!(
            holds_with(&t, "NotFalse", "RotateToken", "true"),
            Some(true)
        );
        assert_eq!(
            holds_with(&t, "OnInProd", "RotateToken", "false"),
            Some(false)
        );
        assert_eq!(
            holds_with(&t, "OnInProd", "RotateToken", "true"),
            None,
            "depends on Env"
        );
        assert_eq!(
            holds_with(&t, "StandbyOrProd", "RotateToken", "false"),
            Some(true)
        );
        assert_eq!(holds_with(&t, "Missing", "RotateToken", "true"), None);
    }

    #[test]
    fn what_false_deletes_excludes_what_exists_only_at_false() {
        let t = template();
        for deleted in ["On", "NotFalse", "OnInProd"] {
            assert!(deleted_by_false(&t, deleted, "RotateToken"), "{deleted}");
        }
        for kept in ["Standby", "StandbyOrProd"] {
            assert!(!deleted_by_false(&t, kept, "RotateToken"), "{kept}");
        }
    }
}
