//! One module per subcommand; each returns whether the result needs attention (exit 3).

pub mod audit;
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
