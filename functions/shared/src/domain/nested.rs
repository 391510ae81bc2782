//! Nested stacks: what a root stack's token update reaches below it.
//!
//! A nested stack (`AWS::CloudFormation::Stack`) is updated with its parent: CloudFormation
//! "initiates an update to its nested stacks" with the parameters the parent now passes
//! (resource reference, AWS::CloudFormation::Stack). A child whose parameter is given the
//! parent's token (`Parameters: {RotateToken: !Ref RotateToken}`) goes `false` and `true`
//! with its root, so its own guarded resources are deleted and recreated; a nested stack
//! whose own `Condition` is on the token is deleted whole, with everything in it. The
//! data-loss guard, the refusal check and the change-set preview therefore judge every
//! stack the token reaches, and only the root is ever updated.

use std::collections::BTreeSet;

use serde_json::Value;

use super::guard::{self, UnsafeResource, Verdict};
use super::model::{StackRef, StackSnapshot};
use crate::ports::{AwsError, StackDirectory};

pub use super::model::NESTED_STACK_TYPE;

/// CloudFormation's own limit on nesting is well below this; it bounds a malformed loop.
const MAX_DEPTH: usize = 16;

/// How a parent's template hands its token to one of its nested stacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenLink {
    pub logical_id: String,
    /// The resource's own Condition is on the token: `false` deletes the whole child.
    pub deleted_whole: bool,
    /// The child's parameters whose value carries the token (`Ref`, `Fn::If` on a token
    /// condition, `Fn::Sub`).
    pub child_tokens: Vec<String>,
}

/// The nested stacks a template's token reaches, and how. `tokens` are the template's own
/// parameters that carry the token (the root's token parameter, or a child's).
pub fn token_links(template_body: &str, tokens: &[String]) -> Result<Vec<TokenLink>, String> {
    let template = guard::parse_template(template_body)?;
    let conditions: BTreeSet<String> = tokens
        .iter()
        .flat_map(|t| guard::conditions_on(&template, t))
        .collect();
    let carries = |v: &Value| tokens.iter().any(|t| carries_token(v, t, &conditions));
    let mut links = Vec::new();
    for (logical_id, resource) in template
        .get("Resources")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        if resource.get("Type").and_then(Value::as_str) != Some(NESTED_STACK_TYPE) {
            continue;
        }
        let deleted_whole = resource
            .get("Condition")
            .and_then(Value::as_str)
            .is_some_and(|c| conditions.contains(c));
        let child_tokens: Vec<String> = resource
            .pointer("/Properties/Parameters")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .filter(|(_, v)| carries(v))
            .map(|(k, _)| k.clone())
            .collect();
        if deleted_whole || !child_tokens.is_empty() {
            links.push(TokenLink {
                logical_id: logical_id.clone(),
                deleted_whole,
                child_tokens,
            });
        }
    }
    Ok(links)
}

fn carries_token(v: &Value, token: &str, conditions: &BTreeSet<String>) -> bool {
    if guard::mentions(v, token, conditions) {
        return true;
    }
    match v {
        Value::Object(map) => map.iter().any(|(k, inner)| match (k.as_str(), inner) {
            ("Fn::If", Value::Array(args)) => {
                args.first()
                    .and_then(Value::as_str)
                    .is_some_and(|c| conditions.contains(c))
                    || args.iter().any(|a| carries_token(a, token, conditions))
            }
            _ => carries_token(inner, token, conditions),
        }),
        Value::Array(items) => items.iter().any(|i| carries_token(i, token, conditions)),
        _ => false,
    }
}

/// A stack below the root that the token's update reaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Logical ids from the root down, joined by `/` (`Database`, `App/Database`).
    pub path: String,
    pub stack: StackRef,
    pub body: String,
    /// Its parameters that receive the token.
    pub tokens: Vec<String>,
    /// Deleted with everything in it (its Condition, or an ancestor's, is on the token).
    pub deleted_whole: bool,
}

/// Every nested stack the root's token reaches, read now: ListStackResources of each parent
/// on the way, GetTemplate of each child. A child template that cannot be parsed is kept
/// (the guard reports it) but not descended into.
pub async fn reached<D: StackDirectory>(
    directory: &D,
    root: &StackRef,
    root_body: &str,
    parameter: &str,
) -> Result<Vec<Member>, AwsError> {
    let mut members: Vec<Member> = Vec::new();
    // (stack, body, its token parameters, deleted whole, path, depth)
    let mut queue = vec![(
        root.clone(),
        root_body.to_string(),
        vec![parameter.to_string()],
        false,
        String::new(),
        0usize,
    )];
    while let Some((stack, body, tokens, whole, path, depth)) = queue.pop() {
        if depth >= MAX_DEPTH {
            continue;
        }
        let links = if whole {
            every_nested_stack(&body)
        } else {
            token_links(&body, &tokens).unwrap_or_default()
        };
        if links.is_empty() {
            continue;
        }
        let children = directory.nested_stacks(&stack).await?;
        for link in links {
            let Some(child) = children.iter().find(|c| c.logical_id == link.logical_id) else {
                continue; // not created (its Condition is false now): nothing to reach
            };
            let child_body = directory.template_body(&child.stack).await?;
            let member = Member {
                path: join(&path, &link.logical_id),
                stack: child.stack.clone(),
                body: child_body,
                tokens: link.child_tokens,
                deleted_whole: whole || link.deleted_whole,
            };
            queue.push((
                member.stack.clone(),
                member.body.clone(),
                member.tokens.clone(),
                member.deleted_whole,
                member.path.clone(),
                depth + 1,
            ));
            members.push(member);
        }
    }
    members.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(members)
}

fn join(path: &str, logical_id: &str) -> String {
    if path.is_empty() {
        logical_id.to_string()
    } else {
        format!("{path}/{logical_id}")
    }
}

/// Inside a stack deleted whole, every nested stack goes too.
fn every_nested_stack(body: &str) -> Vec<TokenLink> {
    let Ok(template) = guard::parse_template(body) else {
        return vec![];
    };
    template
        .get("Resources")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter(|(_, r)| r.get("Type").and_then(Value::as_str) == Some(NESTED_STACK_TYPE))
        .map(|(id, _)| TokenLink {
            logical_id: id.clone(),
            deleted_whole: true,
            child_tokens: vec![],
        })
        .collect()
}

/// The data-loss guard over the root and every stack its token reaches. Unsafe resources
/// below the root are named by their path (`Database/Table`).
pub fn verdict(root_body: &str, parameter: &str, members: &[Member], allowed: bool) -> Verdict {
    let mut found = match guard::assess(root_body, parameter, false) {
        Verdict::Unreadable(why) => return Verdict::Unreadable(why),
        Verdict::Unsafe(found) | Verdict::AllowedByTag(found) => found,
        Verdict::Safe { .. } => vec![],
    };
    for member in members {
        let judged = if member.deleted_whole {
            guard::assess_all(&member.body)
        } else {
            let mut all = Ok(vec![]);
            for token in &member.tokens {
                match guard::assess(&member.body, token, false) {
                    Verdict::Unreadable(why) => {
                        all = Err(why);
                        break;
                    }
                    Verdict::Unsafe(f) | Verdict::AllowedByTag(f) => {
                        if let Ok(list) = all.as_mut() {
                            list.extend(f);
                        }
                    }
                    Verdict::Safe { .. } => {}
                }
            }
            all
        };
        match judged {
            Ok(list) => found.extend(list.into_iter().map(|u| UnsafeResource {
                logical_id: format!("{}/{}", member.path, u.logical_id),
                ..u
            })),
            Err(why) => {
                return Verdict::Unreadable(format!(
                    "nested stack {} ({}): {why}",
                    member.path, member.stack.name
                ))
            }
        }
    }
    match (found.is_empty(), allowed) {
        (true, _) => Verdict::Safe {
            guarded: guarded(root_body, parameter, members),
        },
        (false, false) => Verdict::Unsafe(found),
        (false, true) => Verdict::AllowedByTag(found),
    }
}

/// The guard's answer for a root and what its token reaches (see [`guard::skip_reason`]).
pub fn skip_reason(
    root_body: &str,
    parameter: &str,
    members: &[Member],
    snapshot: &StackSnapshot,
) -> Option<String> {
    guard::explain(
        verdict(root_body, parameter, members, snapshot.allows_data_loss()),
        snapshot,
    )
}

/// Why CloudFormation would refuse the `false` update anywhere in the tree: a child whose
/// own template would leave a dangling reference fails its update, and the root's with it.
pub fn refusal_reason(root_body: &str, parameter: &str, members: &[Member]) -> Option<String> {
    if let Ok(Some(reason)) = guard::refusal_reason(root_body, parameter) {
        return Some(reason);
    }
    members
        .iter()
        .filter(|m| !m.deleted_whole)
        .flat_map(|m| m.tokens.iter().map(move |t| (m, t)))
        .find_map(|(m, token)| match guard::refusal_reason(&m.body, token) {
            Ok(Some(reason)) => Some(format!(
                "nested stack {} ({}): {reason}",
                m.path, m.stack.name
            )),
            _ => None,
        })
}

/// Every resource `false` deletes, named as the change-set preview names them: the root's
/// guarded resources by logical id, a child's by `path/logical id`.
pub fn guarded(root_body: &str, parameter: &str, members: &[Member]) -> Vec<String> {
    across_the_tree(root_body, parameter, members, guard::guarded_resources)
}

/// Every resource the token adds or removes, whichever way (a resource shown only while
/// the token is `false` too), named as [`guarded`] names them: the pattern's own effect,
/// which the data-loss guard does not count as a side change.
pub fn token_conditioned(root_body: &str, parameter: &str, members: &[Member]) -> Vec<String> {
    across_the_tree(
        root_body,
        parameter,
        members,
        guard::token_conditioned_resources,
    )
}

type Selector = fn(&str, &str) -> Result<Vec<(String, String)>, String>;

fn across_the_tree(
    root_body: &str,
    parameter: &str,
    members: &[Member],
    select: Selector,
) -> Vec<String> {
    let mut out: Vec<String> = select(root_body, parameter)
        .unwrap_or_default()
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    for m in members {
        let ids: Vec<String> = if m.deleted_whole {
            guard::all_resources(&m.body)
        } else {
            m.tokens
                .iter()
                .flat_map(|t| select(&m.body, t).unwrap_or_default())
                .map(|(id, _)| id)
                .collect()
        };
        out.extend(ids.into_iter().map(|id| format!("{}/{id}", m.path)));
    }
    out
}

/// The token parameters' names across the tree (a child may call its own differently).
pub fn token_names(parameter: &str, members: &[Member]) -> Vec<String> {
    let mut names: BTreeSet<String> = members.iter().flat_map(|m| m.tokens.clone()).collect();
    names.insert(parameter.to_string());
    names.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT: &str = r#"
Parameters:
  RotateToken: {Type: String, AllowedValues: ["true", "false"]}
Conditions:
  On: !Equals [!Ref RotateToken, "true"]
Resources:
  App:
    Type: AWS::CloudFormation::Stack
    Properties:
      TemplateURL: https://bucket.s3.amazonaws.com/app.yaml
      Parameters:
        Enabled: !Ref RotateToken
        Size: small
  Cache:
    Type: AWS::CloudFormation::Stack
    Condition: On
    Properties:
      TemplateURL: https://bucket.s3.amazonaws.com/cache.yaml
  Network:
    Type: AWS::CloudFormation::Stack
    Properties:
      TemplateURL: https://bucket.s3.amazonaws.com/network.yaml
      Parameters:
        Mode: !If [On, live, paused]
        Cidr: 10.0.0.0/16
  Unrelated:
    Type: AWS::CloudFormation::Stack
    Properties:
      TemplateURL: https://bucket.s3.amazonaws.com/other.yaml
"#;

    const CHILD: &str = r#"
Parameters:
  Enabled: {Type: String}
Conditions:
  Live: !Equals [!Ref Enabled, "true"]
Resources:
  Table:
    Type: AWS::DynamoDB::Table
    Condition: Live
  Reader:
    Type: AWS::SSM::Parameter
    Condition: Live
"#;

    fn member(path: &str, tokens: &[&str], whole: bool, body: &str) -> Member {
        Member {
            path: path.into(),
            stack: StackRef::from_stack_id(&format!(
                "arn:aws:cloudformation:us-east-1:1:stack/root-{path}-X/id"
            ))
            .unwrap(),
            body: body.into(),
            tokens: tokens.iter().map(|t| t.to_string()).collect(),
            deleted_whole: whole,
        }
    }

    #[test]
    fn the_token_reaches_children_given_it_by_ref_by_if_or_by_their_own_condition() {
        let links = token_links(ROOT, &["RotateToken".into()]).unwrap();
        assert_eq!(
            links,
            vec![
                TokenLink {
                    logical_id: "App".into(),
                    deleted_whole: false,
                    child_tokens: vec!["Enabled".into()]
                },
                TokenLink {
                    logical_id: "Cache".into(),
                    deleted_whole: true,
                    child_tokens: vec![]
                },
                TokenLink {
                    logical_id: "Network".into(),
                    deleted_whole: false,
                    child_tokens: vec!["Mode".into()]
                },
            ]
        );
    }

    #[test]
    fn a_data_holder_in_a_child_makes_the_root_unsafe_and_is_named_by_its_path() {
        let members = [member("App", &["Enabled"], false, CHILD)];
        let reason = verdict(ROOT, "RotateToken", &members, false)
            .skip_reason()
            .unwrap();
        assert!(
            reason.contains("App/Table (AWS::DynamoDB::Table)"),
            "{reason}"
        );
        assert!(!reason.contains("Reader"), "{reason}");
        assert!(matches!(
            verdict(ROOT, "RotateToken", &members, true),
            Verdict::AllowedByTag(_)
        ));
    }

    #[test]
    fn a_child_deleted_whole_is_judged_by_everything_in_it() {
        let quiet = "Resources:\n  P: {Type: AWS::SSM::Parameter}\n";
        let members = [member("Cache", &[], true, quiet)];
        assert_eq!(
            verdict(ROOT, "RotateToken", &members, false),
            Verdict::Safe {
                guarded: vec!["Cache".into(), "Cache/P".into()]
            }
        );
        let members = [member("Cache", &[], true, CHILD)];
        let reason = verdict(ROOT, "RotateToken", &members, false)
            .skip_reason()
            .unwrap();
        assert!(reason.contains("Cache/Table"), "{reason}");
    }

    #[test]
    fn guarded_names_and_token_names_span_the_tree() {
        let members = [member("App", &["Enabled"], false, CHILD)];
        assert_eq!(
            guarded(ROOT, "RotateToken", &members),
            vec!["Cache", "App/Reader", "App/Table"]
        );
        assert_eq!(
            token_names("RotateToken", &members),
            vec!["Enabled", "RotateToken"]
        );
    }

    #[test]
    fn a_dangling_reference_in_a_child_is_a_refusal_named_with_the_child() {
        let child = format!("{CHILD}Outputs:\n  TableName:\n    Value: !Ref Table\n");
        let members = [member("App", &["Enabled"], false, &child)];
        let reason = refusal_reason(ROOT, "RotateToken", &members).unwrap();
        assert!(reason.starts_with("nested stack App ("), "{reason}");
        assert!(reason.contains("Table"), "{reason}");
        assert_eq!(
            refusal_reason(
                ROOT,
                "RotateToken",
                &[member("App", &["Enabled"], false, CHILD)]
            ),
            None
        );
    }

    #[test]
    fn an_unreadable_child_template_is_not_refreshed_blind() {
        let members = [member("App", &["Enabled"], false, "{ not json")];
        let reason = verdict(ROOT, "RotateToken", &members, false)
            .skip_reason()
            .unwrap();
        assert!(reason.contains("nested stack App"), "{reason}");
    }
}
