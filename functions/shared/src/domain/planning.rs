//! The update a refresh asks of CloudFormation, planned from the stack as described: the
//! parameters (the token set, every other kept), the capabilities acknowledged, and which
//! of a change set's planned changes go beyond the token's own. Shared by discovery's dry
//! run and the refresh.

use super::model::{
    ParameterValue, PlannedChange, StackRef, StackSnapshot, UpdatePlan, ALLOW_SIDE_CHANGES_TAG,
};

/// The capabilities every refresh update acknowledges. The template is the stack's own,
/// unchanged (`UsePreviousTemplate`), so acknowledging what it contains changes nothing,
/// but CloudFormation refuses an update that does not (`InsufficientCapabilitiesException`)
/// and DescribeStacks does not list every capability the template needs: a stack deployed
/// through a change set (`sam deploy`, the console) never records `CAPABILITY_AUTO_EXPAND`,
/// yet a direct UpdateStack of its `Transform` needs it (UpdateStack API reference,
/// "Capabilities"; CloudFormation User Guide, "Acknowledging IAM resources").
pub const ACKNOWLEDGED_CAPABILITIES: [&str; 3] = [
    "CAPABILITY_IAM",
    "CAPABILITY_NAMED_IAM",
    "CAPABILITY_AUTO_EXPAND",
];

/// Plans the update that sets the token to `value`; `Err` names what is missing.
pub fn plan_update(
    snapshot: &StackSnapshot,
    token_parameter: &str,
    value: &str,
) -> Result<UpdatePlan, String> {
    if snapshot.parameter(token_parameter).is_none() {
        return Err(format!(
            "stack has no `{token_parameter}` parameter any more"
        ));
    }
    let keys: Vec<&str> = snapshot.parameters.iter().map(|p| p.key.as_str()).collect();
    let mut plan = plan_for(&snapshot.stack, token_parameter, value, &keys);
    for c in &snapshot.capabilities {
        if !plan.capabilities.contains(c) {
            plan.capabilities.push(c.clone());
        }
    }
    Ok(plan)
}

/// The update setting `token_parameter` to `value` and keeping each other of `keys` (the
/// stack's parameters, in order) with `UsePreviousValue`, every capability acknowledged:
/// [`plan_update`]'s, from the keys alone (phase one's preview begun before the stack is
/// described).
pub fn plan_for(stack: &StackRef, token_parameter: &str, value: &str, keys: &[&str]) -> UpdatePlan {
    let parameters = keys
        .iter()
        .map(|key| {
            let v = if *key == token_parameter {
                ParameterValue::Value(value.to_string())
            } else {
                ParameterValue::UsePrevious
            };
            (key.to_string(), v)
        })
        .collect();
    UpdatePlan {
        stack: stack.clone(),
        parameters,
        capabilities: ACKNOWLEDGED_CAPABILITIES
            .iter()
            .map(|c| c.to_string())
            .collect(),
        request_token: None,
    }
}

/// Why phase one must not run: it would change more than the guarded resources and the
/// stack has not allowed side changes.
pub fn side_change_reason(
    planned: &[PlannedChange],
    guarded: &[String],
    tokens: &[String],
    snapshot: &StackSnapshot,
) -> Option<String> {
    let side = side_changes(planned, guarded, tokens);
    (!side.is_empty() && !snapshot.allows_side_changes()).then(|| {
        format!(
            "phase one would also change {}; tag the stack {}=true to refresh it anyway",
            side.join("; "),
            ALLOW_SIDE_CHANGES_TAG
        )
    })
}

/// The changes a `false` update plans beyond what the token itself does: adding or
/// removing a resource that is not guarded, or modifying one for any cause but the token
/// (an SSM-typed parameter that moved on, a template read again), or for a cause not given.
/// `tokens` are the token parameter's names across the nested stacks it reaches; changes in
/// nested stacks are named `path/logical id`, as `guarded` names theirs.
pub fn side_changes(
    planned: &[PlannedChange],
    guarded: &[String],
    tokens: &[String],
) -> Vec<String> {
    planned
        .iter()
        .filter_map(|c| {
            let is_guarded = guarded.contains(&c.logical_id);
            let described = format!("{} ({}): {}", c.logical_id, c.resource_type, c.action);
            match c.action.as_str() {
                "Remove" | "Add" if is_guarded => None,
                "Modify" => {
                    let others: Vec<&str> = c
                        .causes
                        .iter()
                        .map(String::as_str)
                        .filter(|e| !tokens.iter().any(|t| t == e))
                        .collect();
                    if !c.causes.is_empty() && others.is_empty() {
                        return None; // an Fn::If on the token: the pattern's own effect
                    }
                    let replacement = c
                        .replacement
                        .as_deref()
                        .map(|r| format!(", Replacement {r}"))
                        .unwrap_or_default();
                    let cause = if others.is_empty() {
                        "cause not given".to_string()
                    } else {
                        format!("caused by {}", others.join(", "))
                    };
                    Some(format!("{described}{replacement}, {cause}"))
                }
                _ => Some(described),
            }
        })
        .collect()
}
