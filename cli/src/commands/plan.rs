//! `plan`: the pipeline's own dry run, in this process: the same discovery, selection,
//! data-loss guard and change-set previews, per account and region. Changes nothing.

use rotatetoken::aws::retries::SdkRetries;
use rotatetoken::aws::s3::S3RunStore;
use rotatetoken::aws::secretsmanager::SecretsManager;
use rotatetoken::aws::targets::AssumedRoles;
use rotatetoken::domain::discovery::DiscoverySettings;
use rotatetoken::domain::model::{SecretRef, Summary};
use rotatetoken::domain::report;
use rotatetoken::ports::SecretDirectory;
use rotatetoken::service::{self, Scope};
use serde_json::json;

use super::{organizations, pipeline_settings, print_json, secret, session_for, Attention};
use crate::args::{Output, ScopeArgs};
use crate::context::Context;
use crate::error::CliError;

pub async fn run(ctx: &Context, id: &str, scope_args: &ScopeArgs) -> Result<Attention, CliError> {
    let (scope, settings) = pipeline_settings(ctx, scope_args).await?;
    let (secrets, secret) = secret(ctx, id).await?;
    // Discovery reads only (each target's reader role, and a read-only session in it), as
    // the pipeline's.
    let access = AssumedRoles::new(&ctx.aws, scope.targets.clone()).read_only();
    let summary = summary(ctx, &access, &secrets, &scope, &settings, secret).await?;
    match ctx.global.output {
        Output::Json => print_json(&summary)?,
        Output::Table => print!("{}", report::render_table(&summary)),
    }
    Ok(summary.counts.would_fail > 0 || !summary.failed_targets.is_empty())
}

/// The dry run's summary for one secret, made in this process.
pub async fn summary(
    ctx: &Context,
    access: &AssumedRoles,
    secrets: &SecretsManager,
    scope: &Scope,
    settings: &DiscoverySettings,
    secret: SecretRef,
) -> Result<Summary, CliError> {
    // The version a run would carry (for the summary's headline; every update re-reads
    // what is current anyway).
    let current = secrets
        .versions(&secret.arn)
        .await?
        .current()
        .map(str::to_string);
    let input = json!({
        "execution": session_for("plan"),
        "request": {"secret": {"arn": secret.arn, "version_id": current}, "cause": "plan", "dry_run": true},
    });
    let found = Box::pin(service::discover(
        access,
        &organizations(ctx),
        None::<&S3RunStore>,
        secrets,
        &SdkRetries,
        scope,
        settings,
        input,
    ))
    .await?;
    Ok(report::summarise(found, None))
}
