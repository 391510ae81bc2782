//! The command line, as the AWS CLI's users expect it: `--profile`, `--region`, `--output`,
//! the standard credential chain and `AWS_ENDPOINT_URL`, one example per subcommand.

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "rotate-token",
    version,
    about = "Plan, start, watch, stop, report and audit RotateToken refreshes. Never reads a secret value.",
    after_help = "Exit codes: 0 done, nothing needs attention; 1 error (AWS, not found, credentials); \
2 bad arguments; 3 attention: a stack would fail or is stale, a target was not searched, a secret was not rotated \
since --since, or the run failed.\n\
Credentials and region come from the standard chain (environment, --profile, SSO, instance role); \
AWS_ENDPOINT_URL is honoured."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct Global {
    /// A named profile from the shared AWS config and credentials files.
    #[arg(long, global = true, env = "AWS_PROFILE")]
    pub profile: Option<String>,
    /// The region of the RotateToken deployment (and of the pipeline's own account).
    #[arg(long, global = true)]
    pub region: Option<String>,
    /// How results are printed.
    #[arg(long, global = true, value_enum, default_value_t = Output::Table)]
    pub output: Output,
    /// The RotateToken deployment's stack name (`sam deploy --stack-name`).
    #[arg(
        long,
        global = true,
        env = "ROTATE_TOKEN_STACK",
        default_value = "rotatetoken"
    )]
    pub stack: String,
    /// The state machine to use instead of the deployment stack's StateMachineArn output.
    #[arg(long, global = true, env = "ROTATE_TOKEN_STATE_MACHINE")]
    pub state_machine: Option<String>,
    /// The discover function whose settings plan and audit use instead of the deployment
    /// stack's DiscoverFunction.
    #[arg(long, global = true)]
    pub discover_function: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Table,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Markdown,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// What a refresh for this secret would do, stack by stack, changing nothing.
    #[command(
        after_help = "Example:\n  rotate-token plan --secret prod/db-password\n  \
rotate-token plan --secret prod/db-password --target-accounts 111111111111,222222222222 --target-regions us-east-1,eu-west-1"
    )]
    Plan {
        #[command(flatten)]
        secret: SecretArg,
        #[command(flatten)]
        scope: ScopeArgs,
    },
    /// Start a run of the deployed state machine for the secret's current version.
    #[command(
        after_help = "Example:\n  rotate-token start --secret prod/db-password --dry-run\n  \
rotate-token start --secret arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-password-AbCdEf"
    )]
    Start {
        #[command(flatten)]
        secret: SecretArg,
        /// Select and report exactly as a real run; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Follow a run: progress while it runs, then its summary (also for a finished run).
    #[command(
        after_help = "Example:\n  rotate-token watch rt-prod-db-password-1f2e3d4c5b6a7980a1b2c3d4"
    )]
    Watch {
        /// The execution: its ARN, or its name in the deployment's state machine.
        execution: String,
        /// Seconds between looks.
        #[arg(long, default_value_t = 2.0)]
        interval: f64,
    },
    /// Stop a run safely: no stack begins its refresh after this; stacks already between
    /// phases finish; the rest are reported `stopped` ("stopped by operator"), and the run fails.
    #[command(
        after_help = "Example:\n  rotate-token stop rt-prod-db-password-1f2e3d4c5b6a7980a1b2c3d4 && rotate-token watch rt-prod-db-password-1f2e3d4c5b6a7980a1b2c3d4"
    )]
    Stop {
        /// The execution: its ARN, or its name in the deployment's state machine.
        execution: String,
    },
    /// A finished run's summary, ready for an incident channel.
    #[command(
        after_help = "Example:\n  rotate-token report rt-prod-db-password-1f2e3d4c5b6a7980a1b2c3d4 --format markdown"
    )]
    Report {
        /// The execution: its ARN, or its name in the deployment's state machine.
        execution: String,
        #[arg(long, value_enum, default_value_t = ReportFormat::Markdown)]
        format: ReportFormat,
    },
    /// Which consumers hold the secret's current value (fresh) and which an earlier one
    /// (stale), from resource times and version metadata; with --since, which still hold a
    /// value created before that moment (an incident's containment). Exit code 3 when any is
    /// not fresh, a target was not searched, or a secret was not rotated since.
    #[command(
        after_help = "Example:\n  rotate-token audit --secret prod/db-password --output json\n  \
rotate-token audit --secrets 'prod/*' --since 2026-01-04T10:00Z --format markdown"
    )]
    Audit {
        /// The secret: its name or ARN.
        #[arg(long, required_unless_present = "secrets", conflicts_with = "secrets")]
        secret: Option<String>,
        /// Every secret of this account and region whose name matches one of these
        /// patterns (comma-separated; `*` matches any characters), within the deployment's
        /// SecretNamePrefixes.
        #[arg(long)]
        secrets: Option<String>,
        /// A moment, in UTC (`2026-01-04T10:00Z`): a consumer is fresh only if it holds a
        /// value created after it.
        #[arg(long, value_parser = since_ms)]
        since: Option<u64>,
        /// `markdown` for an incident channel, or `json`; without it, --output.
        #[arg(long, value_enum)]
        format: Option<ReportFormat>,
        #[command(flatten)]
        scope: ScopeArgs,
    },
    /// An incident: many secrets rotated at once, refreshed and followed as one.
    Incident {
        #[command(subcommand)]
        command: IncidentCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum IncidentCommand {
    /// Refresh the consumers of every secret matching patterns as one incident: with
    /// --dry-run, one plan for all; else each secret's run (the one its change started, or
    /// one started here), one progress view, then one report. Run it again to follow the
    /// same runs: nothing runs twice. Exit code 3 when a stack was not refreshed (failed,
    /// stopped, skipped, would fail, or left to a run that did not refresh it), a target was
    /// not searched, a run failed, or a secret was not rotated since --since.
    #[command(
        after_help = "Example:\n  rotate-token incident start --secrets 'prod/*' --dry-run\n  \
rotate-token incident start --secrets 'prod/*,ci/*' --since 2026-01-04T10:00Z --output json"
    )]
    Start {
        /// Every secret of this account and region whose name matches one of these
        /// patterns (comma-separated; `*` matches any characters), within the deployment's
        /// SecretNamePrefixes.
        #[arg(long)]
        secrets: String,
        /// A moment, in UTC (`2026-01-04T10:00Z`): a secret whose current value is older
        /// is not refreshed but reported, to be rotated first.
        #[arg(long, value_parser = since_ms)]
        since: Option<u64>,
        /// One plan for every secret, as `plan` makes it; starts nothing, changes nothing.
        #[arg(long)]
        dry_run: bool,
        /// Start the runs that are missing and return, without following them.
        #[arg(long, conflicts_with = "dry_run")]
        detach: bool,
        /// Seconds after a change that the run its event starts is awaited before one is
        /// started here (CloudTrail's events arrive some time after the change; a run
        /// started by its change takes part in coalescing).
        #[arg(long, default_value_t = 120.0)]
        grace: f64,
        /// Seconds between looks.
        #[arg(long, default_value_t = 2.0)]
        interval: f64,
        #[command(flatten)]
        scope: ScopeArgs,
    },
}

/// `--since`: a moment in UTC, to the minute or the second.
fn since_ms(raw: &str) -> Result<u64, String> {
    rotatetoken::domain::utc::parse_instant(raw).ok_or_else(|| {
        format!(
            "`{raw}` is not a moment in UTC: give YYYY-MM-DDThh:mmZ (e.g. 2026-01-04T10:00Z) \
             or YYYY-MM-DDThh:mm:ssZ"
        )
    })
}

#[derive(Debug, Args)]
pub struct SecretArg {
    /// The secret: its name or ARN.
    #[arg(long)]
    pub secret: String,
}

/// Overrides of the deployment's settings (or, with no deployment, the settings).
#[derive(Debug, Args, Default)]
pub struct ScopeArgs {
    /// Target account ids, comma-separated (TargetAccountIds); none: this account with
    /// your own credentials.
    #[arg(long)]
    pub target_accounts: Option<String>,
    /// Target organisational unit ids, comma-separated (TargetOrganizationalUnitIds).
    #[arg(long)]
    pub target_organizational_units: Option<String>,
    /// Target regions, comma-separated (TargetRegions); none: --region.
    #[arg(long)]
    pub target_regions: Option<String>,
    /// The target role's name in each account (TargetRoleName); plan and audit assume its
    /// reader, this name + `Reader`.
    #[arg(long)]
    pub target_role_name: Option<String>,
    /// The external id the target role requires (TargetExternalId).
    #[arg(long)]
    pub target_external_id: Option<String>,
    /// `referencing` or `all` (SelectionMode).
    #[arg(long)]
    pub selection_mode: Option<String>,
    /// Plan with the defaults and these options only, without reading a deployment.
    #[arg(long)]
    pub standalone: bool,
}

impl ScopeArgs {
    /// The settings these options give, by the variable names the functions read.
    pub fn variables(&self) -> Vec<(&'static str, String)> {
        [
            ("TARGET_ACCOUNTS", &self.target_accounts),
            (
                "TARGET_ORGANIZATIONAL_UNITS",
                &self.target_organizational_units,
            ),
            ("TARGET_REGIONS", &self.target_regions),
            ("TARGET_ROLE_NAME", &self.target_role_name),
            ("TARGET_EXTERNAL_ID", &self.target_external_id),
            ("SELECTION_MODE", &self.selection_mode),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.clone().map(|v| (k, v)))
        .collect()
    }
}
