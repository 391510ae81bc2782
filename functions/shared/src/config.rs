//! Function settings, read once at cold start from environment variables set by the SAM
//! template (deploy parameters). A bad value stops the function with an error naming it.

use crate::domain::discovery::DiscoverySettings;
use crate::domain::error::InputError;
use crate::domain::refresh::RefreshSettings;
use crate::domain::service_role::StacksWithoutServiceRole;
use crate::domain::targets::{
    parse_accounts, parse_organizational_units, parse_regions, TargetSettings,
};

/// Every variable the functions read that template.yaml must set (tests/contracts.rs
/// checks both ways against the template). Lambda itself sets `AWS_REGION`.
pub const TEMPLATE_VARIABLES: [&str; 25] = [
    "PARAMETER_NAME",
    "DISCOVERY_CALLS_PER_SECOND",
    "VERSION_PARAMETER_NAME",
    "SELECTION_MODE",
    "MAX_CONCURRENCY",
    "POLL_INTERVAL_SECONDS",
    "MAX_WAIT_SECONDS",
    "STEP_BUDGET_SECONDS",
    "WAIT_FOR_STATUS_EVENTS",
    "TARGET_ACCOUNTS",
    "TARGET_ORGANIZATIONAL_UNITS",
    "TARGET_REGIONS",
    "TARGET_ROLE_NAME",
    "TARGET_EXTERNAL_ID",
    "RUNS_BUCKET",
    "ALERTS_TOPIC_ARN",
    "STATE_MACHINE_ARN",
    "SECRET_NAME_PREFIXES",
    "SOURCE_ACCOUNTS",
    "COALESCE_WINDOW_SECONDS",
    "REQUIRE_OPT_IN_TAG",
    "STACKS_WITHOUT_SERVICE_ROLE",
    "RECONCILE_ACTION",
    "RECONCILE_SINCE",
    "AWS_REGION",
];

/// Variables that stand in for the process environment: the operator's command line reads
/// the deployed discover function's environment into here, so that its plan and audit use
/// exactly the deployment's settings, read by the same code.
static DEPLOYED: std::sync::OnceLock<std::collections::BTreeMap<String, String>> =
    std::sync::OnceLock::new();

/// Reads every setting from `variables` instead of the environment, from now on. Set once,
/// before any setting is read; `false` if it was already set.
pub fn use_variables(variables: std::collections::BTreeMap<String, String>) -> bool {
    DEPLOYED.set(variables).is_ok()
}

/// The names every setting reader has asked for, in this process: what a function's
/// settings read (tests/contracts.rs checks it against the template, function by function).
static READ: std::sync::Mutex<std::collections::BTreeSet<String>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

/// The variables read since the last call (and forgets them).
pub fn variables_read() -> std::collections::BTreeSet<String> {
    std::mem::take(&mut *READ.lock().unwrap_or_else(|e| e.into_inner()))
}

fn var(name: &str) -> Option<String> {
    READ.lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(name.to_string());
    debug_assert!(
        TEMPLATE_VARIABLES.contains(&name) || name == "AWS_DEFAULT_REGION",
        "{name} is read but not in TEMPLATE_VARIABLES"
    );
    match DEPLOYED.get() {
        Some(deployed) => deployed.get(name).cloned(),
        None => std::env::var(name).ok(),
    }
    .filter(|v| !v.trim().is_empty())
}

fn parse<T: std::str::FromStr>(
    name: &str,
    default: T,
    check: impl Fn(&T) -> bool,
    expect: &str,
) -> Result<T, InputError> {
    match var(name) {
        None => Ok(default),
        Some(raw) => match raw.trim().parse::<T>() {
            Ok(v) if check(&v) => Ok(v),
            _ => Err(InputError::new(name, format!("`{raw}` is not {expect}"))),
        },
    }
}

fn seconds_to_ms(name: &str, default: f64, expect: &str) -> Result<u64, InputError> {
    parse::<f64>(name, default, |v| v.is_finite() && *v > 0.0, expect).map(|s| (s * 1000.0) as u64)
}

/// The secrets whose changes start a refresh. Required: a deployment says which.
pub fn secret_scope() -> Result<crate::domain::trigger::SecretScope, InputError> {
    Ok(crate::domain::trigger::SecretScope::parse(
        "SECRET_NAME_PREFIXES",
        &var("SECRET_NAME_PREFIXES").unwrap_or_default(),
    )?
    .with_source_accounts(
        var("SOURCE_ACCOUNTS")
            .unwrap_or_default()
            .split(',')
            .map(str::to_string),
    ))
}

/// How long a run started by a change waits for the changes that follow it
/// (`CoalesceWindowSeconds`, 0 to 900; absent: 0, each run discovers at once).
pub fn coalesce_window_seconds() -> Result<u64, InputError> {
    parse::<u64>(
        "COALESCE_WINDOW_SECONDS",
        0,
        |s| *s <= 900,
        "a number of seconds from 0 to 900",
    )
}

/// `ReconcileSince`, as deployed; parsed where the scheduled audit uses it
/// ([`crate::domain::reconcile::ReconcileSince`]).
pub fn reconcile_since() -> crate::domain::reconcile::ReconcileSince {
    crate::domain::reconcile::ReconcileSince(var("RECONCILE_SINCE"))
}

/// What the reconciliation schedule does with stale consumers (`ReconcileAction`):
/// `alert` (default) or `refresh`.
pub fn reconcile_action() -> Result<crate::domain::reconcile::ReconcileAction, InputError> {
    var("RECONCILE_ACTION").map_or(Ok(Default::default()), |v| v.trim().parse())
}

pub fn token_parameter() -> String {
    var("PARAMETER_NAME").unwrap_or_else(|| "RotateToken".to_string())
}

/// The parameter that pins the secret version in in-place stacks.
pub fn version_parameter() -> String {
    var("VERSION_PARAMETER_NAME").unwrap_or_else(|| "RotateTokenVersion".to_string())
}

pub fn discovery_settings() -> Result<DiscoverySettings, InputError> {
    Ok(DiscoverySettings {
        parameter: token_parameter(),
        version_parameter: version_parameter(),
        mode: var("SELECTION_MODE")
            .unwrap_or_else(|| "referencing".into())
            .parse()?,
        max_concurrency: max_concurrency()?,
        template_concurrency: 8,
        // Every account-region at once: each is paced under its own budget
        // (`DISCOVERY_CALLS_PER_SECOND`), so one searched after another would only wait.
        target_concurrency: 64,
        calls_per_second: discovery_calls_per_second()?,
        require_opt_in: require_opt_in()?,
        without_service_role: without_service_role()?,
        secret_scope: Some(secret_scope()?),
        coalesce: coalesce_window_seconds()? > 0,
        reconcile_since: reconcile_since(),
    })
}

/// `DiscoveryCallsPerSecond`: each CloudFormation API's calls a second in one account and
/// region, for all the runs discovering there together (`domain::discovery_pace`).
fn discovery_calls_per_second() -> Result<f64, InputError> {
    parse(
        "DISCOVERY_CALLS_PER_SECOND",
        crate::domain::discovery_pace::DEFAULT_CALLS_PER_SECOND,
        |v: &f64| v.is_finite() && (0.01..=100.0).contains(v),
        "a number of calls a second from 0.01 to 100",
    )
}

/// `StacksWithoutServiceRole` (stack ARN patterns, comma-separated; absent or empty: none):
/// the stacks an administrator allows the pipeline to update without a service role
/// (`domain::service_role`).
fn without_service_role() -> Result<StacksWithoutServiceRole, InputError> {
    StacksWithoutServiceRole::parse(&var("STACKS_WITHOUT_SERVICE_ROLE").unwrap_or_default())
        .map_err(|e| InputError::new("STACKS_WITHOUT_SERVICE_ROLE", e))
}

/// `MaxConcurrency`: a run's stacks in flight at once in each account and region, at most.
/// What bounds CloudFormation's load is elsewhere: each account-region begins one stack a
/// second (`domain::lanes::STARTS_PER_SECOND`; the whole run at most
/// `RUN_STARTS_PER_SECOND`), its begun stacks change at most half of
/// its "resources in concurrent stack operations" (`RESOURCE_SHARE_PERCENT`), and its lane
/// halves itself on `Throttling`. A stack in flight holds no Lambda and costs about 16
/// calls over its two updates (about 6 reads per phase), so the places themselves cost
/// nothing; too few make an account-region's last stacks queue behind others' updates (65
/// stacks per account-region at 40 places: the last to get a place began 172 s after the
/// run and, drawing 4-minute updates, ended at 1.31× the slowest stack's own time,
/// docs/performance.md). At 100 no lane of up to 100 stacks queues: measured with the
/// run's starts paced run-wide (1,300 stacks in 20 account-regions, the whole of AWS slowed
/// 5x, 2026-12-07) every stack was fresh in 1.09x the slowest stack's own two updates,
/// 5.58 reads per stack per phase, the customer's probe never throttled. Both runs at 100
/// with AWS slowed only 3x (2026-12-06) had overloaded the local AWS (Lambda invocations
/// of up to 237 s; 99 stacks failed, each reported CRITICAL): a limit of this machine's
/// local AWS, which the benchmark now runs at scale 5.
pub const DEFAULT_MAX_CONCURRENCY: u32 = 100;
/// Above this a lane's file (one holder per stack in flight, rewritten by conditional
/// writes on every entry and exit) becomes the contended object.
pub const MAX_MAX_CONCURRENCY: u32 = 200;

fn max_concurrency() -> Result<u32, InputError> {
    parse(
        "MAX_CONCURRENCY",
        DEFAULT_MAX_CONCURRENCY,
        |v: &u32| (1..=MAX_MAX_CONCURRENCY).contains(v),
        &format!("an integer from 1 to {MAX_MAX_CONCURRENCY}"),
    )
}

/// `RequireOptInTag` (`yes`/`no`, absent: no): only stacks tagged rotatetoken:opt-in=true.
fn require_opt_in() -> Result<bool, InputError> {
    match var("REQUIRE_OPT_IN_TAG").as_deref() {
        None | Some("no") => Ok(false),
        Some("yes") => Ok(true),
        Some(other) => Err(InputError::new(
            "REQUIRE_OPT_IN_TAG",
            format!("`{other}` is not one of: yes, no"),
        )),
    }
}

/// `WAIT_FOR_STATUS_EVENTS` (`true`/`false`, absent: false): hand a waiting task back to
/// the state machine at once, to wait on the stack's status change event.
fn wait_for_events() -> Result<bool, InputError> {
    match var("WAIT_FOR_STATUS_EVENTS").as_deref() {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(InputError::new(
            "WAIT_FOR_STATUS_EVENTS",
            format!("`{other}` is not one of: true, false"),
        )),
    }
}

pub fn refresh_settings() -> Result<RefreshSettings, InputError> {
    Ok(RefreshSettings {
        poll_interval_ms: seconds_to_ms(
            "POLL_INTERVAL_SECONDS",
            10.0,
            "a positive number of seconds",
        )?,
        max_wait_ms: seconds_to_ms("MAX_WAIT_SECONDS", 3600.0, "a positive number of seconds")?,
        require_opt_in: require_opt_in()?,
        without_service_role: without_service_role()?,
        wait_for_events: wait_for_events()?,
        lane_places: max_concurrency()?,
    })
}

/// The most one refresh invocation works before handing the task back to the state
/// machine; the Lambda deadline (minus a margin) caps it further.
pub fn step_budget_ms() -> Result<u64, InputError> {
    seconds_to_ms("STEP_BUDGET_SECONDS", 600.0, "a positive number of seconds")
}

/// Target accounts and regions (deploy parameters). No accounts: the pipeline's own
/// account, with its own credentials.
pub fn target_settings() -> Result<TargetSettings, InputError> {
    Ok(TargetSettings {
        accounts: parse_accounts(
            "TARGET_ACCOUNTS",
            &var("TARGET_ACCOUNTS").unwrap_or_default(),
        )?,
        organizational_units: parse_organizational_units(
            "TARGET_ORGANIZATIONAL_UNITS",
            &var("TARGET_ORGANIZATIONAL_UNITS").unwrap_or_default(),
        )?,
        regions: parse_regions("TARGET_REGIONS", &var("TARGET_REGIONS").unwrap_or_default())?,
        role_name: var("TARGET_ROLE_NAME").unwrap_or_else(|| "RotateTokenTarget".to_string()),
        external_id: var("TARGET_EXTERNAL_ID"),
    })
}

/// The bucket for the run's files (set by the SAM template; the state machine needs it).
pub fn runs_bucket() -> Option<String> {
    var("RUNS_BUCKET")
}

/// The SNS topic for run summaries and CRITICAL alerts; none in a local invoke.
pub fn alerts_topic_arn() -> Option<String> {
    var("ALERTS_TOPIC_ARN")
}

/// The discover function's settings, read once by its main.
pub struct DiscoverConfig {
    pub settings: DiscoverySettings,
    pub scope: crate::service::Scope,
    pub runs_bucket: Option<String>,
}

pub fn discover() -> Result<DiscoverConfig, InputError> {
    Ok(DiscoverConfig {
        settings: discovery_settings()?,
        scope: scope()?,
        runs_bucket: runs_bucket(),
    })
}

/// The refresh function's settings, read once by its main.
pub struct RefreshConfig {
    pub settings: RefreshSettings,
    pub step_budget_ms: u64,
    pub scope: crate::service::Scope,
    pub runs_bucket: Option<String>,
}

pub fn refresh() -> Result<RefreshConfig, InputError> {
    Ok(RefreshConfig {
        settings: refresh_settings()?,
        step_budget_ms: step_budget_ms()?,
        scope: scope()?,
        runs_bucket: runs_bucket(),
    })
}

/// The waiter's settings: the runs bucket, where the waits and the lanes are kept, and a
/// lane's places (`MaxConcurrency`).
pub fn waiter() -> Result<(String, u32), InputError> {
    let bucket = runs_bucket().ok_or_else(|| {
        InputError::new(
            "RUNS_BUCKET",
            "is missing: the waiter keeps the waiting steps in the runs bucket",
        )
    })?;
    Ok((bucket, max_concurrency()?))
}

/// The report function's settings, read once by its main.
pub struct ReportConfig {
    pub runs_bucket: Option<String>,
    pub alerts_topic_arn: Option<String>,
}

pub fn report() -> ReportConfig {
    ReportConfig {
        runs_bucket: runs_bucket(),
        alerts_topic_arn: alerts_topic_arn(),
    }
}

/// The trigger function's settings, read once by its main.
pub struct TriggerConfig {
    pub state_machine_arn: String,
    pub runs_bucket: Option<String>,
    pub secret_scope: crate::domain::trigger::SecretScope,
    pub reconcile_action: crate::domain::reconcile::ReconcileAction,
    /// `ReconcileSince`: secrets not rotated since get an alert-only reconciliation.
    pub reconcile_since: crate::domain::reconcile::ReconcileSince,
    /// `CoalesceWindowSeconds`: how long each run started by a change waits first.
    pub coalesce_seconds: u64,
    /// Where a run that ended before its report is told (None: a local invoke).
    pub alerts_topic_arn: Option<String>,
}

pub fn trigger() -> Result<TriggerConfig, InputError> {
    Ok(TriggerConfig {
        state_machine_arn: state_machine_arn()?,
        runs_bucket: runs_bucket(),
        alerts_topic_arn: alerts_topic_arn(),
        secret_scope: secret_scope()?,
        reconcile_action: reconcile_action()?,
        reconcile_since: reconcile_since(),
        coalesce_seconds: coalesce_window_seconds()?,
    })
}

/// Where discover and refresh may act: the configured targets and this region.
pub fn scope() -> Result<crate::service::Scope, InputError> {
    Ok(crate::service::Scope {
        targets: target_settings()?,
        own_region: own_region()?,
        parameter: token_parameter(),
        version_parameter: version_parameter(),
    })
}

/// The region the function runs in.
pub fn own_region() -> Result<String, InputError> {
    var("AWS_REGION")
        .or_else(|| var("AWS_DEFAULT_REGION"))
        .ok_or_else(|| InputError::missing("AWS_REGION"))
}

pub fn state_machine_arn() -> Result<String, InputError> {
    var("STATE_MACHINE_ARN").ok_or_else(|| InputError::missing("STATE_MACHINE_ARN"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_values_name_the_variable() {
        // Env vars are process-wide: one test touches them, in sequence.
        std::env::set_var("MAX_CONCURRENCY", "0");
        assert_eq!(discovery_settings().unwrap_err().field, "MAX_CONCURRENCY");
        std::env::set_var("MAX_CONCURRENCY", "12");
        std::env::set_var("SELECTION_MODE", "some");
        assert_eq!(discovery_settings().unwrap_err().field, "SELECTION_MODE");
        std::env::set_var("SELECTION_MODE", "referencing");
        // Discovery holds a run to the deployment's secrets: required.
        assert_eq!(
            discovery_settings().unwrap_err().field,
            "SECRET_NAME_PREFIXES"
        );
        std::env::set_var("SECRET_NAME_PREFIXES", "prod/");
        assert_eq!(discovery_settings().unwrap().max_concurrency, 12);
        std::env::set_var("POLL_INTERVAL_SECONDS", "-1");
        assert_eq!(
            refresh_settings().unwrap_err().field,
            "POLL_INTERVAL_SECONDS"
        );
        std::env::set_var("POLL_INTERVAL_SECONDS", "0.25");
        assert_eq!(refresh_settings().unwrap().poll_interval_ms, 250);
    }
}
