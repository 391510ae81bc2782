//! `audit`: for every consumer, fresh or stale, from resource times and version metadata;
//! for one secret, or for every secret matching patterns (an incident: "which consumers
//! still hold a value from before we contained the leak?", with `--since`).

use rotatetoken::aws::targets::AssumedRoles;
use rotatetoken::service::{self, AuditCounts, AuditReport};
use serde::Serialize;

use super::{
    matching_secrets, organizations, pipeline_settings, print_json, secret, session_for, Attention,
};
use crate::args::{Output, ReportFormat, ScopeArgs};
use crate::context::Context;
use crate::error::CliError;

/// Which secrets to audit.
pub enum Which<'a> {
    /// By name or ARN.
    One(&'a str),
    /// Every secret of the account and region whose name matches one of these
    /// comma-separated patterns, within the deployment's scope.
    Matching(&'a str),
}

/// Several secrets' audits, with their totals (`--secrets`).
#[derive(Debug, Serialize)]
struct Audits<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    since: Option<&'a str>,
    /// Secrets not rotated since `since`.
    not_rotated_since: usize,
    counts: AuditCounts,
    secrets: &'a [AuditReport],
    /// Secrets whose audit failed (an AWS error), with why: never taken for fresh.
    failed: &'a [Failed],
    /// Secrets matching the patterns but outside the deployment's `SecretNamePrefixes`:
    /// not audited (the deployment never refreshes them).
    outside_scope: &'a [String],
}

/// A secret whose audit could not be made.
#[derive(Debug, Serialize)]
struct Failed {
    secret_arn: String,
    error: String,
}

pub async fn run(
    ctx: &Context,
    which: Which<'_>,
    since_ms: Option<u64>,
    format: Option<ReportFormat>,
    scope_args: &ScopeArgs,
) -> Result<Attention, CliError> {
    let (scope, settings) = pipeline_settings(ctx, scope_args).await?;
    let mut outside_scope = Vec::new();
    let (secrets, chosen, several) = match which {
        Which::One(id) => {
            let (secrets, one) = secret(ctx, id).await?;
            (secrets, vec![one], false)
        }
        Which::Matching(patterns) => {
            let (secrets, chosen, outside) = matching_secrets(ctx, &settings, patterns).await?;
            outside_scope = outside;
            (secrets, chosen, true)
        }
    };
    let roles = AssumedRoles::new(&ctx.aws, scope.targets.clone()).read_only();
    let session = session_for("audit");
    // Paced as the pipeline's discovery is (`DiscoveryCallsPerSecond`, each template read
    // once for every secret audited here), alone: the CLI takes no seat in the runs bucket.
    let access = rotatetoken::service::PacedAccess::new(
        &roles,
        None::<&rotatetoken::ports::NoRunFiles>,
        &session,
        settings.calls_per_second,
    );
    let mut reports = Vec::with_capacity(chosen.len());
    let mut failed = Vec::new();
    for secret in chosen {
        let arn = secret.arn.clone();
        let audited = service::audit(
            &access,
            &organizations(ctx),
            &secrets,
            &scope,
            &settings,
            secret,
            since_ms,
            &session,
        )
        .await;
        match audited {
            Ok(report) => reports.push(report),
            // One secret's audit failing hides nobody else's; for one secret, the error.
            Err(e) if several => failed.push(Failed {
                secret_arn: arn,
                error: e.to_string(),
            }),
            Err(e) => return Err(e.into()),
        }
    }
    let attention = !failed.is_empty() || reports.iter().any(|r| !r.all_fresh());
    let since = since_ms.map(rotatetoken::domain::utc::format_ms);
    let audits = Audits {
        since: since.as_deref(),
        not_rotated_since: reports.iter().filter(|r| r.not_rotated_since).count(),
        counts: total(&reports),
        secrets: &reports,
        failed: &failed,
        outside_scope: &outside_scope,
    };
    match (format, ctx.global.output) {
        (Some(ReportFormat::Markdown), _) => print!("{}", markdown(&audits)),
        (Some(ReportFormat::Json), _) | (None, Output::Json) if several => print_json(&audits)?,
        (Some(ReportFormat::Json), _) | (None, Output::Json) => print_json(&reports[0])?,
        (None, Output::Table) => {
            for r in &reports {
                print!("{}", table(r));
            }
            if several {
                print!("{}", totals_line(&audits));
            }
        }
    }
    if !outside_scope.is_empty() {
        eprintln!(
            "rotate-token: {} secret(s) match but are outside the deployment's SecretNamePrefixes, not audited: {}",
            outside_scope.len(),
            outside_scope.join(", ")
        );
    }
    Ok(attention)
}

fn total(reports: &[AuditReport]) -> AuditCounts {
    let mut t = AuditCounts::default();
    for r in reports {
        let c = &r.counts;
        t.consumers += c.consumers;
        t.fresh += c.fresh;
        t.stale += c.stale;
        t.missing += c.missing;
        t.unknown += c.unknown;
        t.failed_targets += c.failed_targets;
    }
    t
}

fn table(r: &AuditReport) -> String {
    let mut out = format!(
        "secret {} current version {}{}\n{:<14} {:<12} {:<28} {:<9} {:<8} {}\n",
        r.secret_arn,
        r.current_version.id,
        rotated(r),
        "ACCOUNT",
        "REGION",
        "STACK",
        "MODE",
        "STATE",
        "DETAIL"
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

/// What the secret itself holds against `--since`.
fn rotated(r: &AuditReport) -> String {
    match (&r.since, r.not_rotated_since) {
        (Some(since), true) => format!(" (NOT rotated since {since})"),
        (Some(since), false) => format!(" (rotated since {since})"),
        (None, _) => String::new(),
    }
}

fn totals_line(a: &Audits) -> String {
    let c = &a.counts;
    let mut out = String::new();
    for f in a.failed {
        out.push_str(&format!(
            "secret {}: audit FAILED: {}\n",
            f.secret_arn, f.error
        ));
    }
    out + &format!(
        "{} secrets ({} not rotated since, {} failed): consumers {} fresh {} stale {} missing {} unknown {} targets not searched {}\n",
        a.secrets.len(),
        a.not_rotated_since,
        a.failed.len(),
        c.consumers,
        c.fresh,
        c.stale,
        c.missing,
        c.unknown,
        c.failed_targets
    )
}

/// For an incident channel: the totals, then a row for each consumer not proven fresh and
/// each secret not rotated since (fresh ones are counted, not listed).
fn markdown(a: &Audits) -> String {
    let cell = |s: &str| s.replace('|', "\\|").replace('\n', " ");
    let c = &a.counts;
    let mut out = format!(
        "### RotateToken audit{}\n\n**{} secret(s)**, {} not rotated since; **{} consumer(s)**: {} fresh, {} stale, {} missing, {} unknown; {} target(s) not searched.\n\n",
        a.since.map(|s| format!(" since {s}")).unwrap_or_default(),
        a.secrets.len(),
        a.not_rotated_since,
        c.consumers,
        c.fresh,
        c.stale,
        c.missing,
        c.unknown,
        c.failed_targets
    );
    let mut rows = Vec::new();
    for f in a.failed {
        rows.push(format!(
            "| `{}` | - | - | (the secret) | **audit failed** | {} |",
            cell(&f.secret_arn),
            cell(&f.error)
        ));
    }
    for arn in a.outside_scope {
        rows.push(format!(
            "| `{}` | - | - | (the secret) | **not audited** | outside the deployment's SecretNamePrefixes |",
            cell(arn)
        ));
    }
    for r in a.secrets {
        if r.not_rotated_since {
            rows.push(format!(
                "| `{}` | - | - | (the secret) | **not rotated** | current version {} |",
                cell(&r.secret_arn),
                cell(&r.current_version.id)
            ));
        }
        for row in r
            .stacks
            .iter()
            .filter(|row| row.freshness.as_str() != "fresh")
        {
            rows.push(format!(
                "| `{}` | {} | {} | {} | **{}** | {} |",
                cell(&r.secret_arn),
                row.stack.account,
                row.stack.region,
                cell(&row.stack.name),
                row.freshness.as_str(),
                cell(&row.detail)
            ));
        }
        for t in &r.failed_targets {
            rows.push(format!(
                "| `{}` | {} | {} | (target) | **unknown** | {} |",
                cell(&r.secret_arn),
                t.account,
                t.region,
                cell(&t.reason)
            ));
        }
    }
    if rows.is_empty() {
        out.push_str("Every consumer holds a fresh value.\n");
    } else {
        out.push_str(
            "| Secret | Account | Region | Stack | State | Detail |\n|---|---|---|---|---|---|\n",
        );
        for r in rows {
            out.push_str(&r);
            out.push('\n');
        }
    }
    out
}
