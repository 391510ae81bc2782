//! The data that flows between the functions and through the state machine. Everything is
//! serde-serialisable and free of AWS SDK types. Every stack reference carries its account
//! and region explicitly, so results can always be grouped and acted on per target.

use serde::{Deserialize, Serialize};
use sha2::Digest;

use super::error::InputError;
mod plan;
mod secret;
mod target;

pub use plan::{FailedResource, ParameterValue, RefreshMode, UpdatePlan};
pub use secret::SecretVersions;
pub use target::Target;

/// One CloudFormation stack, wherever it lives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord, Hash)]
pub struct StackRef {
    pub account: String,
    pub region: String,
    pub name: String,
    /// The stack ARN (`StackId`), which stays unique even when a name is reused.
    pub id: String,
}

impl StackRef {
    /// Builds a reference from a stack ARN:
    /// `arn:<partition>:cloudformation:<region>:<account>:stack/<name>/<uuid>`.
    pub fn from_stack_id(id: &str) -> Result<Self, InputError> {
        let parts: Vec<&str> = id.splitn(6, ':').collect();
        let bad = || {
            InputError::new(
                "StackId",
                format!("`{id}` is not a CloudFormation stack ARN"),
            )
        };
        if parts.len() != 6 || parts[0] != "arn" || parts[2] != "cloudformation" {
            return Err(bad());
        }
        let mut resource = parts[5].splitn(3, '/');
        if resource.next() != Some("stack") {
            return Err(bad());
        }
        let name = resource.next().filter(|n| !n.is_empty()).ok_or_else(bad)?;
        if parts[3].is_empty() || parts[4].is_empty() {
            return Err(bad());
        }
        Ok(Self {
            account: parts[4].to_string(),
            region: parts[3].to_string(),
            name: name.to_string(),
            id: id.to_string(),
        })
    }
}

/// The secret whose new value must reach its consumers. Never holds the value itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretRef {
    pub arn: String,
    /// Derived from the ARN; an input may leave it out.
    #[serde(default)]
    pub name: String,
    /// The version that became current; absent for a run started by hand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
}

impl SecretRef {
    /// Secrets Manager ARNs end in `secret:<name>-<6 random characters>`; the name is what a
    /// template's `{{resolve:secretsmanager:<name>...}}` usually mentions.
    pub fn from_arn(arn: &str, version_id: Option<String>) -> Result<Self, InputError> {
        Ok(Self {
            arn: arn.to_string(),
            name: secret_name_from_arn(arn)?,
            version_id,
        })
    }

    pub fn account(&self) -> &str {
        self.arn.split(':').nth(4).unwrap_or_default()
    }

    pub fn region(&self) -> &str {
        self.arn.split(':').nth(3).unwrap_or_default()
    }

    /// The ARN without the random suffix (`...:secret:prod/db`): dynamic references and
    /// SDK calls accept it.
    pub fn partial_arn(&self) -> Option<String> {
        let cut = self.arn.len().checked_sub(7)?;
        (self.arn.is_char_boundary(cut) && self.arn[cut..].starts_with('-'))
            .then(|| self.arn[..cut].to_string())
    }

    /// The secret as a stack may name it. A bare name resolves in the stack's own account
    /// and region, so it means this secret only in the secret's own account and region:
    /// elsewhere the same name is another secret (a sandbox's `prod/db` is not
    /// production's), and only the ARN counts.
    pub fn as_seen_from(&self, stack: &StackRef) -> SecretRef {
        if stack.account == self.account() && stack.region == self.region() {
            return self.clone();
        }
        SecretRef {
            name: String::new(),
            ..self.clone()
        }
    }
}

pub fn is_secret_arn(s: &str) -> bool {
    s.starts_with("arn:") && s.split(':').nth(2) == Some("secretsmanager")
}

pub fn secret_name_from_arn(arn: &str) -> Result<String, InputError> {
    let bad = |why: &str| InputError::new("secret.arn", format!("`{arn}` {why}"));
    if !is_secret_arn(arn) {
        return Err(bad("is not a Secrets Manager ARN"));
    }
    let parts: Vec<&str> = arn.splitn(7, ':').collect();
    if parts.len() != 7 || parts[5] != "secret" {
        return Err(bad("is not a Secrets Manager secret ARN"));
    }
    let full = parts[6];
    // A complete ARN carries a 6-character random suffix after a hyphen.
    match full.rsplit_once('-') {
        Some((name, suffix))
            if suffix.len() == 6
                && suffix.chars().all(|c| c.is_ascii_alphanumeric())
                && !name.is_empty() =>
        {
            Ok(name.to_string())
        }
        _ => Err(bad(
            "has no 6-character suffix (a partial ARN); use the complete ARN",
        )),
    }
}

/// The state machine's input, written by the trigger (or by an operator for a manual run).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecutionInput {
    pub secret: SecretRef,
    /// Why the run started, e.g. `PutSecretValue`.
    #[serde(default = "manual_cause")]
    pub cause: String,
    /// Select and report exactly as a real run, change nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// The scheduled reconciliation: of the consumers, select only those not proven fresh
    /// (the freshness audit). Only ever narrows what a run touches.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reconcile: bool,
}

/// The cause the scheduled reconciliation writes (its alert names the stale consumers).
pub const RECONCILE_CAUSE: &str = "reconcile";

fn manual_cause() -> String {
    "manual".to_string()
}

/// A parameter as CloudFormation reports it on a stack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StackParameter {
    pub key: String,
    pub value: Option<String>,
}

/// What the domain needs to know about a described stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackSnapshot {
    pub stack: StackRef,
    pub status: String,
    pub status_reason: Option<String>,
    pub parameters: Vec<StackParameter>,
    pub capabilities: Vec<String>,
    /// Set for nested stacks, which must be updated through their root stack: the direct
    /// parent's stack id.
    pub parent_id: Option<String>,
    /// For nested stacks, the top-level stack's id.
    pub root_id: Option<String>,
    /// The stack's tags (key, value).
    pub tags: Vec<(String, String)>,
    /// Rollback triggers' monitoring time (`RollbackConfiguration.MonitoringTimeInMinutes`):
    /// CloudFormation keeps every update in progress that much longer, 0 to 180 minutes.
    pub rollback_monitoring_minutes: u32,
}

/// The per-stack opt-in for a phase one that changes more than the guarded resources
/// (an SSM-typed parameter resolved again, say): tag value `true`, any case.
pub const ALLOW_SIDE_CHANGES_TAG: &str = "rotatetoken:allow-side-changes";

/// The data-loss guard's per-stack opt-in (`domain::guard`): `true` lets phase one delete
/// or replace a data-holding resource.
pub const ALLOW_DATA_LOSS_TAG: &str = "rotatetoken:allow-data-loss";

#[cfg(test)]
impl StackSnapshot {
    /// An updatable stack (UPDATE_COMPLETE) with these parameters, no tags: for unit tests.
    pub fn for_test(stack_id: &str, parameters: &[(&str, &str)]) -> Self {
        Self {
            stack: StackRef::from_stack_id(stack_id).unwrap(),
            status: "UPDATE_COMPLETE".into(),
            status_reason: None,
            parameters: parameters
                .iter()
                .map(|(k, v)| StackParameter {
                    key: (*k).into(),
                    value: Some((*v).into()),
                })
                .collect(),
            capabilities: vec![],
            parent_id: None,
            root_id: None,
            tags: vec![],
            rollback_monitoring_minutes: 0,
        }
    }
}

impl StackSnapshot {
    /// `: <StackStatusReason>`, or nothing when CloudFormation gave none.
    pub fn reason_suffix(&self) -> String {
        self.status_reason
            .as_deref()
            .map(|r| format!(": {r}"))
            .unwrap_or_default()
    }

    pub fn allows_side_changes(&self) -> bool {
        self.tags
            .iter()
            .any(|(k, v)| k == ALLOW_SIDE_CHANGES_TAG && v.eq_ignore_ascii_case("true"))
    }

    /// The data-loss guard's per-stack opt-in (tag value `true`, any case).
    pub fn allows_data_loss(&self) -> bool {
        self.tags
            .iter()
            .any(|(k, v)| k == ALLOW_DATA_LOSS_TAG && v.eq_ignore_ascii_case("true"))
    }

    /// Every parameter key but the token's: kept with `UsePreviousValue`.
    pub fn other_parameter_keys(&self, token: &str) -> Vec<String> {
        self.parameters
            .iter()
            .filter(|p| p.key != token)
            .map(|p| p.key.clone())
            .collect()
    }

    pub fn parameter(&self, key: &str) -> Option<&StackParameter> {
        self.parameters.iter().find(|p| p.key == key)
    }
}

/// One resource change CloudFormation plans for an update (a change set's
/// `Changes[].ResourceChange`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedChange {
    /// `Add`, `Modify`, `Remove`...
    pub action: String,
    pub logical_id: String,
    pub resource_type: String,
    /// `True`, `False` or `Conditional` for a `Modify`.
    pub replacement: Option<String>,
    /// What causes it: the `CausingEntity` of each detail (a parameter name, a resource).
    pub causes: Vec<String>,
    /// The properties whose change requires recreation (`Details[].Target.Name` with
    /// `RequiresRecreation` Always or Conditionally).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recreates: Vec<String>,
}

/// What one update does (in a dry run: would do) to the stack's resources, as
/// CloudFormation says in a change set with the same inputs. Each resource as
/// `LogicalId (Type)`; a nested stack's as `path/LogicalId (Type)`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedUpdate {
    /// The parameter the update sets: `RotateToken=false`, `RotateTokenVersion=<id>`.
    pub sets: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub delete: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub create: Vec<String>,
    /// Updated in place: the resource keeps its physical id.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub modify: Vec<String>,
    /// Replaced: a new resource (new physical id), the old one deleted. `Replacement:
    /// Conditional` counts here too, marked `(may be replaced)`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replace: Vec<String>,
}

impl PlannedUpdate {
    pub fn from_changes(sets: String, changes: &[PlannedChange]) -> Self {
        let mut plan = PlannedUpdate {
            sets,
            ..Default::default()
        };
        for c in changes {
            let named = format!("{} ({})", c.logical_id, c.resource_type);
            match (c.action.as_str(), c.replacement.as_deref()) {
                ("Remove", _) => plan.delete.push(named),
                ("Add", _) => plan.create.push(named),
                ("Modify", Some("True")) => plan.replace.push(named),
                ("Modify", Some("Conditional")) => {
                    plan.replace.push(format!("{named} (may be replaced)"))
                }
                ("Modify", _) => plan.modify.push(named),
                // Import, Dynamic, SyncWithActual: said as they are.
                (other, _) => plan.modify.push(format!("{named} ({other})")),
            }
        }
        plan
    }

    /// Phase two of the pattern, which cannot be previewed before phase one has run: it
    /// undoes phase one, recreating what phase one deletes (a new physical id each).
    pub fn undone(&self, sets: String) -> Self {
        PlannedUpdate {
            sets,
            delete: self.create.clone(),
            create: self.delete.clone(),
            modify: self.modify.clone(),
            replace: self.replace.clone(),
        }
    }

    /// One line for people: `RotateToken=false: delete A (T), B (T); modify C (T)`.
    pub fn describe(&self) -> String {
        let parts: Vec<String> = [
            ("delete", &self.delete),
            ("create", &self.create),
            ("modify", &self.modify),
            ("replace", &self.replace),
        ]
        .iter()
        .filter(|(_, list)| !list.is_empty())
        .map(|(verb, list)| format!("{verb} {}", list.join(", ")))
        .collect();
        if parts.is_empty() {
            format!("{}: no resource changes", self.sets)
        } else {
            format!("{}: {}", self.sets, parts.join("; "))
        }
    }
}

/// The two phases of a refresh, then done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// `RotateToken=false`: guarded resources are deleted.
    #[default]
    Disable,
    /// `RotateToken=true`: guarded resources are recreated and re-read the secret.
    Enable,
    Done,
}

impl Phase {
    pub fn token_value(self) -> &'static str {
        match self {
            Phase::Disable => "false",
            Phase::Enable | Phase::Done => "true",
        }
    }
}

/// Where a stack stands in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Not finished; the state machine calls the refresh function again.
    #[default]
    Waiting,
    Refreshed,
    Skipped,
    Failed,
    /// Dry run: this stack would have been refreshed.
    WouldRefresh,
    /// Dry run: CloudFormation would refuse this stack's update (the reason says why); a
    /// real run would report it failed.
    WouldFail,
}

/// A stack's refresh, carried between invocations of the refresh function through the
/// state machine's Map iteration. Small on purpose (Step Functions payload limits).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshTask {
    pub stack: StackRef,
    /// The name of the token parameter (deploy parameter, `RotateToken` by default).
    pub parameter: String,
    #[serde(default)]
    pub phase: Phase,
    /// An update for the current phase has been accepted by CloudFormation.
    #[serde(default)]
    pub update_started: bool,
    /// Epoch milliseconds after which the refresh gives up waiting; set on the first call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_ms: Option<u64>,
    #[serde(default)]
    pub outcome: Outcome,
    /// Last observed stack status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The stack was left without its guarded resources: an operator must act.
    #[serde(default)]
    pub critical: bool,
    /// How many times the refresh function has worked on this stack.
    #[serde(default)]
    pub invocations: u32,
    /// STS session name used in the target account: identifies the execution there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// Phase-two (`true`) updates that rolled back so far; retried with backoff.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub enable_failures: u32,
    /// Epoch milliseconds before which the next phase-two attempt must not start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_at_ms: Option<u64>,
    /// When the refresh began and when phase two began (epoch ms): the phase durations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_started_ms: Option<u64>,
    /// When the update of ours that is running now began (epoch ms): how long to wait
    /// before the next look is shaped to its age ([`super::refresh::next_look_ms`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_since_ms: Option<u64>,
    /// AWS calls the SDK had to retry (throttling, transient errors) for this stack.
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub retried_calls: u64,
    /// The data-loss guard has passed this stack (checked once, right before phase one).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub guard_passed: bool,
    /// The execution's full name (the STS session name is cut to 64 characters): written by
    /// discover, which gets it from the state machine (`$$.Execution.Name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution: Option<String>,
    /// The stack's other parameters, kept with `UsePreviousValue` by every update and by
    /// the restore command of a CRITICAL row (CloudFormation would reset an omitted one to
    /// its default).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub other_parameters: Vec<String>,
    /// Guarded resources phase one could not delete (cleanup failures): they live on
    /// outside the stack with the old value. The refresh goes on (phase two restores the
    /// stack) but the stack is reported failed, never refreshed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub orphaned: Vec<String>,
    /// Nested stacks the token reaches and updates in place with this stack (found by the
    /// checks before phase one): their cleanup failures are looked for after phase one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nested: Vec<ReachedStack>,
    /// Set by the state machine's `Catch` (`ResultPath: $.error`) when the refresh function
    /// failed for good; the report turns it into the stack's final row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<StepError>,
    /// Two-phase (the token, `parameter`) or in-place (`parameter` is then the version
    /// parameter): chosen by discovery from the stack's parameters.
    #[serde(default, skip_serializing_if = "RefreshMode::is_two_phase")]
    pub mode: RefreshMode,
    /// The secret of the run: in-place mode pins the stack to its current version; in any
    /// mode, a rollback is explained with the JSON keys the stack reads of it. Never a
    /// reason to skip or pass a check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_arn: Option<String>,
    /// In-place mode: the version the update sets (the secret's `AWSCURRENT` when the
    /// refresh function read it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// What each update does to the stack's resources, from CloudFormation's change set.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plan: Vec<PlannedUpdate>,
    /// Said in the row whatever the outcome (a version pin that may break later updates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

/// A nested stack below a root: its logical-id path from the root and its stack id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReachedStack {
    pub path: String,
    pub stack_id: String,
}

/// A Step Functions error as a `Catch` records it: `{"Error": ..., "Cause": ...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct StepError {
    #[serde(rename = "Error", default)]
    pub error: String,
    #[serde(rename = "Cause", default)]
    pub cause: String,
}

pub(crate) fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl RefreshTask {
    pub fn new(stack: StackRef, parameter: impl Into<String>) -> Self {
        Self {
            stack,
            parameter: parameter.into(),
            phase: Phase::Disable,
            update_started: false,
            deadline_ms: None,
            outcome: Outcome::Waiting,
            status: None,
            reason: None,
            critical: false,
            invocations: 0,
            session: None,
            enable_failures: 0,
            retry_at_ms: None,
            started_ms: None,
            enable_started_ms: None,
            update_since_ms: None,
            retried_calls: 0,
            guard_passed: false,
            execution: None,
            other_parameters: Vec::new(),
            orphaned: Vec::new(),
            nested: Vec::new(),
            error: None,
            mode: RefreshMode::TwoPhase,
            secret_arn: None,
            version: None,
            plan: Vec::new(),
            warning: None,
        }
    }
}

/// A stack that discovery reports without refreshing it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedStack {
    pub stack: StackRef,
    pub status: String,
    pub reason: String,
    #[serde(default, skip_serializing_if = "RefreshMode::is_two_phase")]
    pub mode: RefreshMode,
}

/// A target account/region that could not be searched (AccessDenied on AssumeRole, region
/// not enabled...). Its stacks are unknown: the run is reported failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedTarget {
    /// `self` for the pipeline's own account.
    pub account: String,
    pub region: String,
    pub reason: String,
}

/// What discovery hands to the state machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiscoveryOutput {
    pub secret: SecretRef,
    pub cause: String,
    pub dry_run: bool,
    pub parameter: String,
    pub mode: String,
    /// Map concurrency for this run (deploy parameter), read by `MaxConcurrencyPath`.
    pub max_concurrency: u32,
    /// Stacks looked at.
    pub scanned: usize,
    /// Stacks scanned that are not consumers: no token parameter or, in `referencing`
    /// mode, no mention of the secret. They are never touched.
    pub not_consumers: usize,
    pub selected: Vec<RefreshTask>,
    pub skipped: Vec<SkippedStack>,
    /// Targets searched.
    #[serde(default)]
    pub targets: usize,
    #[serde(default)]
    pub failed_targets: Vec<FailedTarget>,
    /// Set when the lists live in the run's files (the state machine's path): `selected`
    /// and `skipped` are then empty here and counted below.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<RunFiles>,
    #[serde(default)]
    pub selected_count: usize,
    #[serde(default)]
    pub skipped_count: usize,
    /// AWS calls the SDK had to retry (throttling, transient errors) during discovery.
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub retried_calls: u64,
}

fn is_zero_u64(n: &u64) -> bool {
    *n == 0
}

/// A run's files in S3: the selected stacks (read by the Distributed Map's ItemReader), the
/// full discovery, and later the full summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunFiles {
    pub bucket: String,
    pub prefix: String,
    pub items_key: String,
    pub discovery_key: String,
}

impl RunFiles {
    pub fn new(bucket: &str, execution: &str) -> Self {
        let prefix = format!("runs/{execution}");
        Self {
            bucket: bucket.to_string(),
            items_key: format!("{prefix}/selected.json"),
            discovery_key: format!("{prefix}/discovery.json"),
            prefix,
        }
    }

    pub fn summary_key(&self) -> String {
        format!("{}/summary.json", self.prefix)
    }

    /// Written by `rotate-token stop`: no stack of this run begins its refresh after it.
    pub fn stop_key(&self) -> String {
        format!("{}/stop.json", self.prefix)
    }

    /// Where the refresh function leaves each stack's progress (`rotate-token watch`).
    pub fn progress_prefix(&self) -> String {
        format!("{}/stacks/", self.prefix)
    }

    pub fn progress_key(&self, stack_id: &str) -> String {
        let digest = sha2::Sha256::digest(stack_id.as_bytes());
        let hash: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
        format!("{}{hash}.json", self.progress_prefix())
    }
}

/// One stack's progress in a run, as the refresh function last left it: what `rotate-token
/// watch` shows while the run goes on (the summary comes from the Map's results).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StackProgress {
    pub stack: StackRef,
    #[serde(default)]
    pub mode: RefreshMode,
    pub phase: Phase,
    pub outcome: Outcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default)]
    pub critical: bool,
    /// When the refresh function left it (epoch ms): how fresh a watcher's view is, and
    /// when a finished stack was seen finished (`make bench`: refresh overhead).
    #[serde(default)]
    pub at_ms: u64,
}

impl StackProgress {
    pub fn of(task: &RefreshTask, at_ms: u64) -> Self {
        Self {
            stack: task.stack.clone(),
            mode: task.mode,
            phase: task.phase,
            outcome: task.outcome,
            reason: task.reason.clone(),
            critical: task.critical,
            at_ms,
        }
    }
}

#[cfg(test)]
mod tests;
