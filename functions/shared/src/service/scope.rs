//! Where and on what the functions may act: their configured scope, and the targets it
//! resolves to now.

use tracing::{info, warn};

use crate::domain::in_place::RefreshMode;
use crate::domain::model::{FailedTarget, SecretRef, StackRef};
use crate::domain::targets::{Target, TargetSettings};
use crate::handler::FunctionError;
use crate::ports::{AccountDirectory, AwsError, SecretDirectory};

/// Where and on what the functions may act, from their own configuration (never from
/// their input): the configured targets, the region they run in, the token parameter.
#[derive(Debug, Clone)]
pub struct Scope {
    pub targets: TargetSettings,
    pub own_region: String,
    /// The token parameter's name (deploy parameter `TokenParameterName`).
    pub parameter: String,
    /// The version parameter's name (deploy parameter `VersionParameterName`).
    pub version_parameter: String,
}

impl Scope {
    /// The parameter a stack's refresh mode updates: the token, or the version parameter.
    pub fn parameter_for(&self, mode: RefreshMode) -> &str {
        match mode {
            RefreshMode::TwoPhase => &self.parameter,
            RefreshMode::InPlace => &self.version_parameter,
        }
    }
}

/// This run's targets: the named accounts plus the active accounts in the named OUs,
/// listed now (accounts join and leave OUs between runs). An OU that cannot be listed is
/// reported as a failed target, for every region; the rest proceed.
pub async fn resolve_targets<O: AccountDirectory + Sync>(
    org: &O,
    scope: &Scope,
) -> (TargetSettings, Vec<FailedTarget>) {
    let mut found = Vec::new();
    let mut failed = Vec::new();
    for ou in &scope.targets.organizational_units {
        match org.active_accounts(ou).await {
            Ok(accounts) => {
                info!(organizational_unit = %ou, accounts = accounts.len(), "organisational unit listed");
                found.extend(accounts);
            }
            Err(e) => failed.push(FailedTarget {
                account: ou.clone(),
                region: "all".into(),
                reason: e.to_string(),
            }),
        }
    }
    (scope.targets.with_accounts(found), failed)
}

/// The regions holding `secret`'s value besides its own, read into it (DescribeSecret in
/// the secret's own region), so that the consumers of its replicas are searched for too
/// ([`crate::domain::model::Replication::regions_from`]). When they cannot be read (no
/// permission, as for a source account's secret without a resource policy that lets this
/// role describe it), the run still searches for the secret's own consumers, and, where
/// consumers are chosen by what they reference (`referencing`), says as a failed target
/// that its replicas' were not: never a silent non-consumer.
pub async fn with_replicas<D: SecretDirectory + Sync>(
    secrets: &D,
    secret: &mut SecretRef,
    referencing: bool,
) -> Option<FailedTarget> {
    match secrets.replication(&secret.arn).await {
        Ok(replication) => {
            let (regions, notes) = replication.regions_from(secret.region());
            if !regions.is_empty() {
                info!(secret_arn = %secret.arn, replica_regions = ?regions, "the secret is replicated: its replicas' consumers are searched for too");
            }
            for note in notes {
                warn!(secret_arn = %secret.arn, "{note}");
            }
            secret.replica_regions = regions;
            None
        }
        Err(e) if referencing => Some(FailedTarget {
            account: secret.account().to_string(),
            region: REPLICA_REGIONS.into(),
            reason: format!(
                "the regions {} is replicated to could not be read ({e}): consumers of its \
                 replicas (their ARN, or its name in a replica's region) were not searched for",
                secret.arn
            ),
        }),
        Err(e) => {
            warn!(secret_arn = %secret.arn, error = %e, "the secret's replica regions could not be read: in-place stacks that name only a replica are not found");
            None
        }
    }
}

/// The "region" of a failed target that stands for a secret's replica regions, unread.
pub const REPLICA_REGIONS: &str = "(replica regions)";

/// The target a stack belongs to, or why the pipeline must not touch it. An account not
/// named outright may still be in one of the named OUs: those are listed only then.
pub(super) async fn target_of<O: AccountDirectory + Sync>(
    org: &O,
    scope: &Scope,
    stack: &StackRef,
) -> Result<Target, FunctionError> {
    match scope.targets.target_of(stack, &scope.own_region) {
        Ok(target) => Ok(target),
        Err(e)
            if e.field == "input.stack.account"
                && !scope.targets.organizational_units.is_empty() =>
        {
            let (resolved, failed) = resolve_targets(org, scope).await;
            match resolved.target_of(stack, &scope.own_region) {
                Ok(target) => Ok(target),
                Err(e) => match failed.into_iter().next() {
                    // Unsure whether the account is a target: say why, touch nothing.
                    Some(f) => Err(AwsError {
                        operation: "ListAccountsForParent",
                        code: None,
                        message: format!("{}: {}", f.account, f.reason),
                    }
                    .into()),
                    None => Err(e.into()),
                },
            }
        }
        Err(e) => Err(e.into()),
    }
}
