//! Finds the stacks a secret change must refresh, in every target, and reports every stack
//! with the token parameter that cannot be refreshed now, and every target that could not
//! be searched.

use futures::{stream, StreamExt, TryStreamExt};

use super::guard::{self, Verdict};
use super::model::{
    DiscoveryOutput, ExecutionInput, FailedTarget, RefreshTask, SecretRef, SkippedStack,
    StackSnapshot,
};
use super::selection::{
    mentions_secret, not_refreshable_reason, parameters_mention_secret, SelectionMode,
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
}

/// The data-loss guard on a refreshable stack: why it must be skipped, if it must. A
/// template that cannot be fetched skips the stack (reported), not the whole target.
/// (The refresh function applies the same guard right before phase one.)
async fn guard_verdict<D: StackDirectory + Sync>(
    directory: &D,
    snapshot: &StackSnapshot,
    body: Option<String>,
    parameter: &str,
) -> Option<String> {
    let body = match body {
        Some(body) => body,
        None => match directory.template_body(&snapshot.stack).await {
            Ok(body) => body,
            Err(e) => return Verdict::Unreadable(e.to_string()).skip_reason(),
        },
    };
    if let Some(reason) = guard::skip_reason(&body, parameter, snapshot) {
        return Some(reason);
    }
    match super::stack_policy::reason(directory, &snapshot.stack, &body, parameter).await {
        Ok(reason) => reason,
        Err(e) => Some(format!("unsafe: the stack policy could not be read ({e})")),
    }
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
    // Only stacks that really live in this target (a misconfigured role must not widen
    // the blast radius) and carry the token parameter.
    let candidates: Vec<StackSnapshot> = stacks
        .into_iter()
        .filter(|s| {
            target
                .account
                .as_ref()
                .is_none_or(|a| *a == s.stack.account)
                && s.stack.region == target.region
        })
        .filter(|s| s.parameter(&settings.parameter).is_some())
        .collect();
    // Consumers, with the template when selection already had to read it.
    let consumers: Vec<(StackSnapshot, Option<String>)> = match settings.mode {
        SelectionMode::All => candidates.into_iter().map(|s| (s, None)).collect(),
        SelectionMode::Referencing => {
            stream::iter(candidates)
                .map(|snapshot| async move {
                    if parameters_mention_secret(&snapshot, secret) {
                        return Ok::<_, AwsError>(Some((snapshot, None)));
                    }
                    let body = directory.template_body(&snapshot.stack).await?;
                    Ok(mentions_secret(&body, secret).then_some((snapshot, Some(body))))
                })
                .buffered(settings.template_concurrency.max(1))
                .try_filter_map(|s| async move { Ok(s) })
                .try_collect()
                .await?
        }
    };
    let mut found = Findings {
        scanned,
        not_consumers: scanned - consumers.len(),
        ..Default::default()
    };
    let judged: Vec<(StackSnapshot, Option<String>)> = stream::iter(consumers)
        .map(|(snapshot, body)| async move {
            let reason = match not_refreshable_reason(&snapshot) {
                Some(reason) => Some(reason),
                // The refresh function judges every stack right before phase one. Discovery
                // judges too when it already holds the template (referencing mode), and in a
                // dry run, which must report the same verdicts and runs no refresh.
                None if body.is_some() || dry_run => {
                    guard_verdict(directory, &snapshot, body, &settings.parameter).await
                }
                None => None,
            };
            (snapshot, reason)
        })
        .buffered(settings.template_concurrency.max(1))
        .collect()
        .await;
    for (snapshot, reason) in judged {
        match reason {
            None => {
                let others = snapshot.other_parameter_keys(&settings.parameter);
                let mut task = RefreshTask::new(snapshot.stack, settings.parameter.clone());
                task.session = Some(session.to_string());
                task.other_parameters = others;
                found.selected.push(task)
            }
            Some(reason) => found.skipped.push(SkippedStack {
                stack: snapshot.stack,
                status: snapshot.status,
                reason,
            }),
        }
    }
    Ok(found)
}
