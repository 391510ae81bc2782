//! Where and on what the functions may act: their configured scope, and the targets it
//! resolves to now.

use tracing::info;

use crate::domain::in_place::RefreshMode;
use crate::domain::model::{FailedTarget, StackRef};
use crate::domain::targets::{Target, TargetSettings};
use crate::handler::FunctionError;
use crate::ports::{AccountDirectory, AwsError};

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
