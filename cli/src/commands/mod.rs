//! One module per subcommand; each returns whether the result needs attention (exit 3).

pub mod audit;
pub mod incident;
pub mod plan;
pub mod report;
pub mod start;
pub mod stop;
pub mod watch;

use rotatetoken::aws::{organizations::Organizations, secretsmanager::SecretsManager};
use rotatetoken::domain::discovery::DiscoverySettings;
use rotatetoken::ports::SecretDirectory;
use rotatetoken::service::Scope;
use rotatetoken::{config, domain::model::SecretRef};

use crate::args::ScopeArgs;
use crate::context::Context;
use crate::error::CliError;

/// Whether the command's result needs attention.
pub type Attention = bool;

/// The settings of the deployment (or the options), read by the functions' own code.
pub async fn pipeline_settings(
    ctx: &Context,
    scope: &ScopeArgs,
) -> Result<(Scope, DiscoverySettings), CliError> {
    let vars = ctx.settings(scope).await?;
    config::use_variables(vars);
    Ok((config::scope()?, config::discovery_settings()?))
}

/// The secret, named by name or ARN, as its ARN (DescribeSecret: metadata only).
pub async fn secret(ctx: &Context, id: &str) -> Result<(SecretsManager, SecretRef), CliError> {
    let secrets = SecretsManager::new(&ctx.aws);
    let arn = secrets.secret_arn(id).await.map_err(|e| {
        if e.code.as_deref() == Some("ResourceNotFoundException") {
            CliError::not_found(
                format!("secret `{id}` was not found in {}", ctx.region),
                "give its full ARN, or the --region it lives in",
            )
        } else {
            e.into()
        }
    })?;
    let parsed = SecretRef::from_arn(&arn, None)?;
    Ok((secrets, parsed))
}

pub fn organizations(ctx: &Context) -> Organizations {
    Organizations::new(&ctx.aws)
}

/// Prints JSON the same way everywhere.
pub fn print_json<T: serde::Serialize>(value: &T) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(value).map_err(|e| CliError::Aws(e.to_string()))?;
    println!("{text}");
    Ok(())
}

/// A session name in the target accounts that says who looked: the CLI, and what for.
pub fn session_for(what: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    format!("rotate-token-cli-{what}-{now}")
}

/// Every secret of the account and region whose name matches one of the comma-separated
/// `patterns` (`*`: any characters): those within the deployment's `SecretNamePrefixes`,
/// sorted by name, and the ARNs of those outside it (never refreshed by the deployment).
pub async fn matching_secrets(
    ctx: &Context,
    settings: &DiscoverySettings,
    patterns: &str,
) -> Result<(SecretsManager, Vec<SecretRef>, Vec<String>), CliError> {
    let secrets = SecretsManager::new(&ctx.aws);
    let scoped = |s: &SecretRef| settings.secret_scope.as_ref().is_none_or(|sc| sc.admits(s));
    let (mut chosen, outside): (Vec<SecretRef>, Vec<SecretRef>) = secrets
        .secret_arns()
        .await?
        .iter()
        .filter_map(|arn| SecretRef::from_arn(arn, None).ok())
        .filter(|s| matches_any(patterns, &s.name))
        .partition(|s| scoped(s));
    chosen.sort_by(|a, b| a.name.cmp(&b.name));
    let mut outside_scope: Vec<String> = outside.into_iter().map(|s| s.arn).collect();
    outside_scope.sort();
    if chosen.is_empty() {
        return Err(CliError::not_found(
            format!(
                "no secret in {} matches `{patterns}` within the deployment's SecretNamePrefixes",
                ctx.region
            ),
            "check the pattern (`*` matches any characters) and --region",
        ));
    }
    Ok((secrets, chosen, outside_scope))
}

/// Does `name` match one of the comma-separated `patterns` (`*`: any characters)?
fn matches_any(patterns: &str, name: &str) -> bool {
    patterns
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .any(|p| glob(p, name))
}

fn glob(pattern: &str, name: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = name.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_whole_names_with_stars_for_any_characters() {
        assert!(matches_any("prod/*", "prod/db"));
        assert!(matches_any("dev/*, prod/*", "prod/db"));
        assert!(matches_any("*/db", "prod/db"));
        assert!(matches_any("prod/*-key", "prod/api-key"));
        assert!(matches_any("prod/db", "prod/db"));
        assert!(!matches_any("prod/db", "prod/db2"));
        assert!(!matches_any("prod/*", "preprod/db"));
        assert!(!matches_any("prod/*-key", "prod/api-keys"));
        assert!(!matches_any("", "prod/db"));
        assert!(matches_any("*", "anything"));
    }
}
