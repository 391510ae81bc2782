//! `audit`: for every consumer, fresh or stale, from resource times and version metadata.

use rotatetoken::aws::targets::AssumedRoles;
use rotatetoken::service::{self, AuditReport};

use super::{organizations, pipeline_settings, print_json, secret, session_for, Attention};
use crate::args::{Output, ScopeArgs};
use crate::context::Context;
use crate::error::CliError;

pub async fn run(ctx: &Context, id: &str, scope_args: &ScopeArgs) -> Result<Attention, CliError> {
    let (scope, settings) = pipeline_settings(ctx, scope_args).await?;
    let (secrets, secret) = secret(ctx, id).await?;
    let access = AssumedRoles::new(&ctx.aws, scope.targets.clone()).read_only();
    let report = service::audit(
        &access,
        &organizations(ctx),
        &secrets,
        &scope,
        &settings,
        secret,
        &session_for("audit"),
    )
    .await?;
    match ctx.global.output {
        Output::Json => print_json(&report)?,
        Output::Table => print!("{}", table(&report)),
    }
    Ok(!report.all_fresh())
}

fn table(r: &AuditReport) -> String {
    let mut out = format!(
        "secret {} current version {}\n{:<14} {:<12} {:<28} {:<9} {:<8} {}\n",
        r.secret_arn, r.current_version.id, "ACCOUNT", "REGION", "STACK", "MODE", "STATE", "DETAIL"
    );
    for row in &r.stacks {
        let mode = if row.mode.is_two_phase() {
            "two-phase"
        } else {
            "in-place"
        };
        out.push_str(&format!(
            "{:<14} {:<12} {:<28} {:<9} {:<8} {}\n",
            row.stack.account,
            row.stack.region,
            row.stack.name,
            mode,
            row.freshness.as_str(),
            row.detail
        ));
    }
    for t in &r.failed_targets {
        out.push_str(&format!(
            "{:<14} {:<12} {:<28} {:<9} {:<8} {}\n",
            t.account, t.region, "(target)", "-", "unknown", t.reason
        ));
    }
    let c = &r.counts;
    out.push_str(&format!(
        "consumers {} fresh {} stale {} missing {} unknown {} targets not searched {}\n",
        c.consumers, c.fresh, c.stale, c.missing, c.unknown, c.failed_targets
    ));
    out
}
