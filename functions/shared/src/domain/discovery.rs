//! Finds the stacks a secret change must refresh, in every target, and reports every stack
//! with the token parameter that cannot be refreshed now, and every target that could not
//! be searched.

use std::collections::{HashMap, HashSet};

use futures::{stream, StreamExt, TryStreamExt};

use super::model::{
    DiscoveryOutput, ExecutionInput, FailedTarget, RefreshTask, SecretRef, SkippedStack,
    StackSnapshot,
};
use super::nested::{self, Member};
use super::selection::{
    mentions_secret, not_opted_in, not_refreshable_reason, parameters_mention_secret, SelectionMode,
};
use super::targets::Target;
use crate::ports::{AwsError, StackDirectory, TargetAccess};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoverySettings {
    pub parameter: String,
    pub mode: SelectionMode,
    pub max_concurrency: u32,
    /// GetTemplate calls in flight at once per target (selection and the data-loss guard).
    pub template_concurrency: usize,
    /// Targets searched at once.
    pub target_concurrency: usize,
    /// Only stacks tagged `rotatetoken:opt-in=true` may be updated (`RequireOptInTag`).
    pub require_opt_in: bool,
}

/// What the checks before phase one say about a stack, as discovery sees them.
enum Before {
    Go,
    Skip(String),
    /// Dry run: CloudFormation would refuse the `false` update.
    WouldFail(String),
}

/// The checks the refresh function makes right before phase one, on a refreshable stack
/// and the nested stacks its token reaches: CloudFormation would refuse the update (dry runs
/// only: a real run's refresh reports that as a failure), the data-loss guard, the stack
/// policy. An AWS call that fails here is never a skip (the stack would silently keep the
/// old value): a real run selects the stack, and the refresh function makes the same checks
/// again before phase one, where a failing call is a failure; a dry run says the checks
/// could not be made.
async fn guard_verdict<D: StackDirectory + Sync>(
    directory: &D,
    snapshot: &StackSnapshot,
    body: Option<String>,
    members: Option<Vec<Member>>,
    parameter: &str,
    dry_run: bool,
) -> Result<(), Before> {
    let not_checked = |e: AwsError| match dry_run {
        true => Before::WouldFail(format!(
            "the checks before phase one could not be made: {e}"
        )),
        false => Before::Go,
    };
    let body = match body {
        Some(body) => body,
        None => directory
            .template_body(&snapshot.stack)
            .await
            .map_err(not_checked)?,
    };
    let members = match members {
        Some(members) => members,
        None => nested::reached(directory, &snapshot.stack, &body, parameter)
            .await
            .map_err(not_checked)?,
    };
    if dry_run {
        if let Some(reason) = nested::refusal_reason(&body, parameter, &members) {
            return Err(Before::WouldFail(format!(
                "CloudFormation would refuse the update: {reason}"
            )));
        }
    }
    if let Some(reason) = nested::skip_reason(&body, parameter, &members, snapshot) {
        return Err(Before::Skip(reason));
    }
    match super::stack_policy::reason(directory, &snapshot.stack, &body, parameter).await {
        Ok(None) => Ok(()),
        Ok(Some(reason)) => Err(Before::Skip(reason)),
        Err(e) => Err(not_checked(e)),
    }
}

/// One top-level stack with the token parameter, judged.
struct Judged {
    snapshot: StackSnapshot,
    consumer: bool,
    /// Why it is skipped, if it is.
    reason: Option<String>,
    /// Dry run: why CloudFormation would refuse its update.
    would_fail: Option<String>,
    /// The nested stacks its token reaches (stack ids).
    reached: Vec<String>,
}

/// What one target holds.
#[derive(Debug, Default)]
struct Findings {
    scanned: usize,
    not_consumers: usize,
    selected: Vec<RefreshTask>,
    skipped: Vec<SkippedStack>,
}

pub async fn discover<A: TargetAccess + Sync>(
    access: &A,
    targets: &[Target],
    input: ExecutionInput,
    settings: &DiscoverySettings,
    session: &str,
) -> DiscoveryOutput {
    let secret = &input.secret;
    let dry_run = input.dry_run;
    let mut per_target: Vec<(Target, Result<Findings, AwsError>)> =
        stream::iter(targets.iter().cloned())
            .map(|target| async move {
                let found = async {
                    let stacks = access.open(&target, session).await?;
                    search(&stacks, &target, secret, settings, session, dry_run).await
                }
                .await;
                (target, found)
            })
            .buffer_unordered(settings.target_concurrency.max(1))
            .collect()
            .await;
    per_target.sort_by(|a, b| a.0.cmp(&b.0));

    let mut out = DiscoveryOutput {
        secret: input.secret.clone(),
        cause: input.cause,
        dry_run: input.dry_run,
        parameter: settings.parameter.clone(),
        mode: settings.mode.as_str().to_string(),
        max_concurrency: settings.max_concurrency,
        scanned: 0,
        not_consumers: 0,
        selected: vec![],
        skipped: vec![],
        targets: targets.len(),
        failed_targets: vec![],
        run: None,
        selected_count: 0,
        skipped_count: 0,
        retried_calls: 0,
    };
    for (target, found) in per_target {
        match found {
            Ok(f) => {
                out.scanned += f.scanned;
                out.not_consumers += f.not_consumers;
                out.selected.extend(f.selected);
                out.skipped.extend(f.skipped);
            }
            Err(e) => out.failed_targets.push(FailedTarget {
                account: target.account.clone().unwrap_or_else(|| "self".into()),
                region: target.region.clone(),
                reason: e.to_string(),
            }),
        }
    }
    out.selected.sort_by(|a, b| a.stack.cmp(&b.stack));
    out.selected_count = out.selected.len();
    out.skipped_count = out.skipped.len();
    out
}

async fn search<D: StackDirectory + Sync>(
    directory: &D,
    target: &Target,
    secret: &SecretRef,
    settings: &DiscoverySettings,
    session: &str,
    dry_run: bool,
) -> Result<Findings, AwsError> {
    let stacks = directory.list_stacks().await?;
    let scanned = stacks.len();
    let token = settings.parameter.as_str();
    // Only stacks that really live in this target (a misconfigured role must not widen
    // the blast radius).
    let in_target: Vec<StackSnapshot> = stacks
        .into_iter()
        .filter(|s| {
            target
                .account
                .as_ref()
                .is_none_or(|a| *a == s.stack.account)
                && s.stack.region == target.region
        })
        .collect();
    let by_id: HashMap<&str, &StackSnapshot> =
        in_target.iter().map(|s| (s.stack.id.as_str(), s)).collect();
    // A nested stack is only ever updated through its root (resource reference,
    // AWS::CloudFormation::Stack): candidates are top-level stacks with the token.
    let mut nested_under: HashMap<&str, Vec<&StackSnapshot>> = HashMap::new();
    for s in in_target.iter().filter(|s| s.parent_id.is_some()) {
        let root = s
            .root_id
            .as_deref()
            .or(s.parent_id.as_deref())
            .unwrap_or_default();
        nested_under.entry(root).or_default().push(s);
    }
    let candidates: Vec<&StackSnapshot> = in_target
        .iter()
        .filter(|s| s.parent_id.is_none() && s.parameter(token).is_some())
        .collect();
    let judged: Vec<Judged> = stream::iter(candidates)
        .map(|snapshot| {
            let below = nested_under
                .get(snapshot.stack.id.as_str())
                .map(Vec::as_slice)
                .unwrap_or_default();
            judge(
                directory, snapshot, below, &by_id, secret, settings, dry_run,
            )
        })
        .buffered(settings.template_concurrency.max(1))
        .try_collect()
        .await?;
    let reached: HashSet<&str> = judged
        .iter()
        .flat_map(|j| j.reached.iter().map(String::as_str))
        .collect();
    let mut found = Findings {
        scanned,
        ..Default::default()
    };
    for j in &judged {
        if !j.consumer {
            continue;
        }
        match &j.reason {
            None => {
                let snapshot = &j.snapshot;
                let mut task = RefreshTask::new(snapshot.stack.clone(), token.to_string());
                task.session = Some(session.to_string());
                task.other_parameters = snapshot.other_parameter_keys(token);
                task.reason = j.would_fail.clone();
                found.selected.push(task)
            }
            Some(reason) => found.skipped.push(SkippedStack {
                stack: j.snapshot.stack.clone(),
                status: j.snapshot.status.clone(),
                reason: reason.clone(),
            }),
        }
    }
    // Nested stacks with the token that no root's token reaches can never be refreshed:
    // reported, never silently left holding the old value.
    for (root_id, below) in &nested_under {
        for n in below {
            if n.parameter(token).is_none() || reached.contains(n.stack.id.as_str()) {
                continue;
            }
            let consumer = match settings.mode {
                SelectionMode::All => true,
                SelectionMode::Referencing => {
                    let secret = secret.as_seen_from(&n.stack);
                    parameters_mention_secret(n, &secret)
                        || mentions_secret(&directory.template_body(&n.stack).await?, &secret)
                }
            };
            if consumer {
                found.skipped.push(SkippedStack {
                    stack: n.stack.clone(),
                    status: n.status.clone(),
                    reason: unreachable_reason(n, by_id.get(root_id).copied(), token),
                });
            }
        }
    }
    found.not_consumers =
        scanned.saturating_sub(found.selected.len() + found.skipped.len() + reached.len());
    Ok(found)
}

/// Is this top-level stack a consumer of the secret, and may it be refreshed? Reads the
/// templates of the nested stacks its token reaches when it has any.
async fn judge<D: StackDirectory + Sync>(
    directory: &D,
    snapshot: &StackSnapshot,
    below: &[&StackSnapshot],
    by_id: &HashMap<&str, &StackSnapshot>,
    secret: &SecretRef,
    settings: &DiscoverySettings,
    dry_run: bool,
) -> Result<Judged, AwsError> {
    let token = settings.parameter.as_str();
    let walk = match settings.mode {
        SelectionMode::Referencing => !below.is_empty(),
        SelectionMode::All => below.iter().any(|n| n.parameter(token).is_some()),
    };
    let mut body = None;
    let mut members = None;
    if walk {
        let root_body = directory.template_body(&snapshot.stack).await?;
        members = Some(nested::reached(directory, &snapshot.stack, &root_body, token).await?);
        body = Some(root_body);
    }
    let reached: Vec<String> = members
        .iter()
        .flatten()
        .map(|m| m.stack.id.clone())
        .collect();
    // Nested stacks live in their root's account and region: one view of the secret.
    let secret = &secret.as_seen_from(&snapshot.stack);
    let consumer = match settings.mode {
        SelectionMode::All => true,
        SelectionMode::Referencing => {
            parameters_mention_secret(snapshot, secret)
                || members.iter().flatten().any(|m| {
                    mentions_secret(&m.body, secret)
                        || by_id
                            .get(m.stack.id.as_str())
                            .is_some_and(|n| parameters_mention_secret(n, secret))
                })
                || {
                    if body.is_none() {
                        body = Some(directory.template_body(&snapshot.stack).await?);
                    }
                    body.as_deref().is_some_and(|b| mentions_secret(b, secret))
                }
        }
    };
    let refusal = not_refreshable_reason(snapshot)
        .or_else(|| not_opted_in(snapshot, settings.require_opt_in, token));
    let before = match refusal {
        Some(reason) => Before::Skip(reason),
        // The refresh function judges every stack right before phase one. Discovery judges
        // too when it already holds the template (referencing mode, nested stacks), and in
        // a dry run, which must report the same verdicts and runs no refresh.
        None if consumer && (body.is_some() || dry_run) => {
            guard_verdict(directory, snapshot, body, members, token, dry_run)
                .await
                .err()
                .unwrap_or(Before::Go)
        }
        None => Before::Go,
    };
    let (reason, would_fail) = match before {
        Before::Go => (None, None),
        Before::Skip(reason) => (Some(reason), None),
        Before::WouldFail(reason) => (None, Some(reason)),
    };
    Ok(Judged {
        snapshot: snapshot.clone(),
        consumer,
        reason,
        would_fail,
        reached,
    })
}

/// Why a nested stack with the token parameter cannot be refreshed: CloudFormation updates
/// it only through its root, and the root's token does not reach it.
fn unreachable_reason(nested: &StackSnapshot, root: Option<&StackSnapshot>, token: &str) -> String {
    let root_name = root
        .map(|r| r.stack.name.clone())
        .or_else(|| nested.root_id.clone())
        .unwrap_or_default();
    match root {
        Some(r) if r.parameter(token).is_some() => format!(
            "unreachable: a nested stack of {root_name}, whose {token} is not passed down to it; \
             CloudFormation updates a nested stack only through its root: pass it down \
             (Parameters: {token}: !Ref {token}) at each level"
        ),
        _ => format!(
            "unreachable: a nested stack of {root_name}, which has no {token} parameter; \
             CloudFormation updates a nested stack only through its root: add {token} to the \
             root and pass it down (Parameters: {token}: !Ref {token})"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::model::StackRef;
    use crate::ports::NestedStack;

    /// One consumer whose stack policy cannot be read (throttled for good, say).
    struct PolicyUnreadable;
    impl StackDirectory for PolicyUnreadable {
        async fn list_stacks(&self) -> Result<Vec<StackSnapshot>, AwsError> {
            Ok(vec![StackSnapshot::for_test(
                "arn:aws:cloudformation:us-east-1:123456789012:stack/app/1",
                &[("RotateToken", "true")],
            )])
        }
        async fn template_body(&self, _: &StackRef) -> Result<String, AwsError> {
            Ok("Conditions:\n  On: !Equals [!Ref RotateToken, 'true']\nResources:\n  R: {Type: AWS::SSM::Parameter, Condition: On}\n".into())
        }
        async fn stack_policy(&self, _: &StackRef) -> Result<Option<String>, AwsError> {
            Err(AwsError {
                operation: "GetStackPolicy",
                code: Some("Throttling".into()),
                message: "Rate exceeded".into(),
            })
        }
        async fn nested_stacks(&self, _: &StackRef) -> Result<Vec<NestedStack>, AwsError> {
            Ok(vec![])
        }
    }

    #[test]
    fn an_aws_error_during_the_checks_is_never_reported_as_a_skip() {
        let secret = SecretRef::from_arn(
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf",
            None,
        )
        .unwrap();
        let target = Target {
            account: None,
            region: "us-east-1".into(),
        };
        for mode in [SelectionMode::All, SelectionMode::Referencing] {
            let settings = DiscoverySettings {
                parameter: "RotateToken".into(),
                mode,
                max_concurrency: 1,
                template_concurrency: 1,
                target_concurrency: 1,
                require_opt_in: false,
            };
            let secret = &SecretRef {
                // The name matches nothing in the template: referencing mode reads it.
                name: "R".into(),
                ..secret.clone()
            };
            for dry_run in [false, true] {
                let found = futures::executor::block_on(search(
                    &PolicyUnreadable,
                    &target,
                    secret,
                    &settings,
                    "s",
                    dry_run,
                ))
                .unwrap();
                assert!(found.skipped.is_empty(), "{mode:?} {dry_run}: {found:?}");
                assert_eq!(found.selected.len(), 1, "{mode:?} {dry_run}");
                let reason = found.selected[0].reason.clone();
                if dry_run {
                    assert!(
                        reason.as_deref().is_some_and(|r| r.contains("Throttling")),
                        "a dry run says the checks could not be made: {reason:?}"
                    );
                } else {
                    assert_eq!(reason, None, "the refresh function judges it again");
                }
            }
        }
    }
}
