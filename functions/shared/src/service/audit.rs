//! The freshness audit as a use case: which consumers of a secret still hold an earlier
//! value. The operator's `rotate-token audit` runs it with the operator's credentials; the
//! scheduled reconciliation runs it inside discovery (`ExecutionInput::reconcile`) so that
//! only stale consumers are refreshed (or alerted about).

use serde::{Deserialize, Serialize};
use tracing::info;

use crate::domain::audit::{self, CurrentVersion, Freshness, Judgement};
use crate::domain::discovery::{self, DiscoverySettings};
use crate::domain::in_place::RefreshMode;
pub use crate::domain::model::RECONCILE_CAUSE;
use crate::domain::model::{
    DiscoveryOutput, ExecutionInput, FailedTarget, SecretRef, SkippedStack, StackRef,
};
use crate::domain::targets::session_name;
use crate::handler::FunctionError;
use crate::ports::{AccountDirectory, AwsError, SecretDirectory, TargetAccess};

use super::{resolve_targets, with_replicas, Scope};

/// One consumer in the audit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRow {
    pub stack: StackRef,
    #[serde(default)]
    pub mode: RefreshMode,
    pub freshness: Freshness,
    pub detail: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditCounts {
    pub consumers: usize,
    pub fresh: usize,
    pub stale: usize,
    pub missing: usize,
    pub unknown: usize,
    pub failed_targets: usize,
}

/// What `rotate-token audit` prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditReport {
    pub secret_arn: String,
    pub current_version: CurrentVersion,
    /// The moment a value must have been created after to count as fresh (`--since`,
    /// `YYYY-MM-DDThh:mm:ssZ`), when one was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// The current version was created before `since`: the secret itself still holds a
    /// value from before that moment, whatever its consumers hold.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub not_rotated_since: bool,
    pub counts: AuditCounts,
    pub stacks: Vec<AuditRow>,
    pub failed_targets: Vec<FailedTarget>,
}

impl AuditReport {
    /// Every consumer is proven fresh, every target was searched and, given a moment, the
    /// secret was rotated after it.
    pub fn all_fresh(&self) -> bool {
        self.counts.fresh == self.counts.consumers
            && self.failed_targets.is_empty()
            && !self.not_rotated_since
    }
}

/// The secret's `AWSCURRENT` version and when it was created (metadata only).
pub async fn current_version<D: SecretDirectory + Sync>(
    secrets: &D,
    secret_arn: &str,
) -> Result<CurrentVersion, AwsError> {
    let versions = secrets.versions(secret_arn).await?;
    let no_current = |what: &str| AwsError {
        operation: "ListSecretVersionIds",
        code: None,
        message: format!("{secret_arn}: {what}"),
    };
    let id = versions
        .current()
        .ok_or_else(|| no_current("no version is labelled AWSCURRENT"))?
        .to_string();
    let created_ms = secrets
        .version_created(secret_arn, &id)
        .await?
        .ok_or_else(|| no_current("the AWSCURRENT version is not listed"))?;
    Ok(CurrentVersion { id, created_ms })
}

/// Every consumer discovery finds (selected or skipped: a skipped stack may well be
/// stale), with the parameter its mode updates.
fn consumers(out: &DiscoveryOutput, scope: &Scope) -> Vec<(StackRef, RefreshMode, String)> {
    let mut all: Vec<_> = out
        .selected
        .iter()
        .map(|t| (t.stack.clone(), t.mode, t.parameter.clone()))
        .chain(out.skipped.iter().map(|s: &SkippedStack| {
            (
                s.stack.clone(),
                s.mode,
                scope.parameter_for(s.mode).to_string(),
            )
        }))
        .collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all
}

/// The audit: the same discovery as a run (read only, no change set), then each consumer
/// judged from resource times and the current version's creation time (and, given a
/// moment, against it: [`audit::judged_since`]).
// The use case's three ports, its scope and settings, and what is audited: one call site
// (the CLI); a struct would only rename them.
#[allow(clippy::too_many_arguments)]
pub async fn audit<A, O, D>(
    access: &A,
    org: &O,
    secrets: &D,
    scope: &Scope,
    settings: &DiscoverySettings,
    secret: SecretRef,
    since_ms: Option<u64>,
    execution: &str,
) -> Result<AuditReport, FunctionError>
where
    A: TargetAccess + Sync,
    O: AccountDirectory + Sync,
    D: SecretDirectory + Sync,
{
    let current = current_version(secrets, &secret.arn).await?;
    let mut secret = secret;
    let referencing = settings.mode == crate::domain::selection::SelectionMode::Referencing;
    let replicas_unread = with_replicas(secrets, &mut secret, referencing).await;
    let (resolved, unlisted) = resolve_targets(org, scope).await;
    let targets = resolved.targets(&scope.own_region);
    let session = session_name(execution);
    let input = ExecutionInput {
        secret: secret.clone(),
        cause: "audit".into(),
        dry_run: false,
        reconcile: false,
        coalesce_seconds: 0,
    };
    let mut found = discovery::discover(access, &targets, input, settings, &session, secrets).await;
    found.failed_targets.extend(unlisted);
    found.failed_targets.extend(replicas_unread);
    let consumers = consumers(&found, scope);
    // A stack discovery could not judge (a reference built from what it cannot resolve) is
    // not known to read this secret: its freshness is unknown, and says why.
    let not_judged: std::collections::BTreeMap<String, String> = found
        .skipped
        .iter()
        .filter(|s| s.reason.starts_with(crate::domain::built_refs::NOT_JUDGED))
        .map(|s| (s.stack.id.clone(), s.reason.clone()))
        .collect();
    let judged = audit::judge_all(
        access,
        &resolved,
        &scope.own_region,
        &session,
        &consumers,
        &current,
    )
    .await;
    let stacks: Vec<AuditRow> = consumers
        .into_iter()
        .zip(judged)
        .map(|((stack, mode, _), j)| match not_judged.get(&stack.id) {
            Some(why) => AuditRow {
                stack,
                mode,
                freshness: Freshness::Unknown,
                detail: why.clone(),
            },
            None => {
                let j = audit::judged_since(j, &current, since_ms);
                AuditRow {
                    stack,
                    mode,
                    freshness: j.freshness,
                    detail: j.detail,
                }
            }
        })
        .collect();
    let count = |f: Freshness| stacks.iter().filter(|r| r.freshness == f).count();
    let counts = AuditCounts {
        consumers: stacks.len(),
        fresh: count(Freshness::Fresh),
        stale: count(Freshness::Stale),
        missing: count(Freshness::Missing),
        unknown: count(Freshness::Unknown),
        failed_targets: found.failed_targets.len(),
    };
    info!(secret_arn = %secret.arn, consumers = counts.consumers, fresh = counts.fresh, stale = counts.stale, missing = counts.missing, unknown = counts.unknown, "audit done");
    let not_rotated_since = since_ms.is_some_and(|t| current.created_ms < t);
    Ok(AuditReport {
        secret_arn: secret.arn,
        current_version: current,
        since: since_ms.map(crate::domain::utc::format_ms),
        not_rotated_since,
        counts,
        stacks,
        failed_targets: found.failed_targets,
    })
}

/// The scheduled reconciliation's selection: of the stacks discovery selected, only those
/// not proven fresh stay selected; each fresh one is reported skipped with the evidence.
/// A stack whose freshness cannot be told stays selected (refreshing it is what a change
/// would do; leaving it could leave an old value in place), with the reason in its row.
/// `since_ms` (`ReconcileSince`): a consumer is fresh only if it holds a value created
/// after it (the trigger made the run of a secret not rotated since a dry run: alerted on).
pub async fn keep_only_stale<A, D>(
    access: &A,
    secrets: &D,
    resolved: &crate::domain::targets::TargetSettings,
    own_region: &str,
    session: &str,
    since_ms: Option<u64>,
    out: &mut DiscoveryOutput,
) -> Result<(), AwsError>
where
    A: TargetAccess + Sync,
    D: SecretDirectory + Sync,
{
    let current = current_version(secrets, &out.secret.arn).await?;
    let consumers: Vec<_> = out
        .selected
        .iter()
        .map(|t| (t.stack.clone(), t.mode, t.parameter.clone()))
        .collect();
    let judged: Vec<Judgement> =
        audit::judge_all(access, resolved, own_region, session, &consumers, &current)
            .await
            .into_iter()
            .map(|j| audit::judged_since(j, &current, since_ms))
            .collect();
    let selected = std::mem::take(&mut out.selected);
    for (mut task, j) in selected.into_iter().zip(judged) {
        if j.freshness == Freshness::Fresh {
            out.skipped.push(SkippedStack {
                stack: task.stack,
                status: "-".into(),
                reason: format!("fresh: {}", j.detail),
                mode: task.mode,
            });
        } else {
            let said = format!("{}: {}", j.freshness.as_str(), j.detail);
            task.warning = Some(match task.warning.take() {
                Some(w) => format!("{said}. {w}"),
                None => said,
            });
            out.selected.push(task);
        }
    }
    out.selected_count = out.selected.len();
    out.skipped_count = out.skipped.len();
    Ok(())
}
