//! The payloads the state machine carries and the functions exchange: the execution's
//! input, a stack's refresh task, discovery's output and the run's files, the Map's results
//! as the report reads them.

use serde::{Deserialize, Serialize};
use sha2::Digest;

use super::{PlannedUpdate, RefreshMode, SecretRef, StackRef, StackSnapshot, StackWait};

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
    /// How long the run waits before its discovery, for the changes that follow it to
    /// claim their secrets (`CoalesceWindowSeconds`, written by the trigger; the state
    /// machine's `WaitForMoreChanges` reads it). Only ever delays: which stacks a run
    /// leaves to a later one is decided from the locks ([`crate::domain::coalesce`]).
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub coalesce_seconds: u64,
}

/// The cause the scheduled reconciliation writes (its alert names the stale consumers).
pub const RECONCILE_CAUSE: &str = "reconcile";

fn manual_cause() -> String {
    "manual".to_string()
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
    /// Not begun because an operator stopped the run (`rotate-token stop`): the stack keeps
    /// the old value, so the run needs attention (it fails, and the failure alarm fires).
    Stopped,
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
    /// When this refresh began phase one's preview (epoch ms), which a later look reads
    /// ([`crate::domain::refresh`]). A hint, never authority: it only chooses whether the
    /// next look first reads the change set or creates it, and how long to wait for it;
    /// what the preview says is read from CloudFormation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview_since_ms: Option<u64>,
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
    /// The data-loss guard has passed this stack in this invocation. Never read from nor
    /// written to the payload: a task cannot say the guard passed (inputs are not authority).
    #[serde(skip)]
    pub guard_passed: bool,
    /// Whether this invocation has read from the stack's events how far our own updates
    /// got ([`crate::domain::refresh::recall`]). Not in the payload.
    #[serde(skip)]
    pub recalled: bool,
    /// The stack as this invocation described it with its first reads, for a look that
    /// nothing of ours has begun: its first snapshot, read at once with the stack's events
    /// rather than after them. Not in the payload.
    #[serde(skip)]
    pub described: Option<StackSnapshot>,
    /// Phase-two updates started so far (each has a token of its own).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub enable_runs: u32,
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
    /// Set by the state machine's `Catch` (`ResultPath: $.timed_out`) when a look's step
    /// timed out (a lost or late end event): the next look takes up the task the timed-out
    /// look kept with its token, if the run's registration for the stack has it. Only
    /// chooses where the look starts from; what was done is read from the stack.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timed_out: Option<StepError>,
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
    /// The regions the secret is replicated to (as discovery read them): the rollback's
    /// explanation finds the keys a stack reads of a replica too.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secret_replica_regions: Vec<String>,
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
    /// Handed back `waiting` with events on: how the state machine waits before the next
    /// look. Written by each invocation, never read by the refresh (inputs are not
    /// authority: it only chooses when the refresh looks again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait: Option<StackWait>,
    /// Seconds the stack's Map child waits before its first look (the state machine's
    /// Stagger state): written by discovery so that each account-region starts its stacks
    /// a few a second ([`crate::domain::lanes::stagger`]). Always written (the Wait state
    /// reads it); never read by the refresh: it only delays.
    #[serde(default)]
    pub start_after_seconds: u32,
    /// The time-out of the state machine's `Refresh` for the look this task is handed to
    /// (`TimeoutSecondsPath`): the look's own work and the wait for its stack's end event,
    /// which `Refresh` spends on its own task token (`domain::waiting::look_seconds`).
    /// Always written (the state reads it). Written by every look for the next (discovery's
    /// tasks carry [`FIRST_LOOK_SECONDS`]); read by a look only to choose whether it waits
    /// on its own token, never to decide anything of the stack.
    #[serde(default = "first_look_seconds")]
    pub look_seconds: u64,
    /// Whether a step may be waiting for the place this stack's refresh gave back: the
    /// state machine's `StillUpdating?` runs `FreePlace` (the waiter wakes them) unless it
    /// is `false`. Written by every look: `false` only by the look that gave the place back
    /// and found no stack refused in its lane lately ([`crate::domain::lanes::leave`]).
    /// Never read by the refresh: it only spares an invocation that would wake no one.
    #[serde(default = "yes")]
    pub place_wanted: bool,
}

fn yes() -> bool {
    true
}

/// The time-out of a look handed a task with no look before it (discovery's): Lambda's
/// longest invocation (15 minutes, "Lambda quotas"), so that no look's own work outlasts
/// its state; such a look never waits on its own token.
pub const FIRST_LOOK_SECONDS: u64 = 900;

fn first_look_seconds() -> u64 {
    FIRST_LOOK_SECONDS
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
            preview_since_ms: None,
            started_ms: None,
            enable_started_ms: None,
            update_since_ms: None,
            retried_calls: 0,
            guard_passed: false,
            recalled: false,
            described: None,
            enable_runs: 0,
            execution: None,
            other_parameters: Vec::new(),
            orphaned: Vec::new(),
            nested: Vec::new(),
            timed_out: None,
            error: None,
            mode: RefreshMode::TwoPhase,
            secret_arn: None,
            secret_replica_regions: Vec::new(),
            version: None,
            plan: Vec::new(),
            warning: None,
            wait: None,
            start_after_seconds: 0,
            look_seconds: first_look_seconds(),
            place_wanted: true,
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
        format!("{}{}.json", self.progress_prefix(), stack_key(stack_id))
    }

    /// Written by discover for each stack a real run selected: the refresh function acts
    /// only for a stack its run selected (a task is not authority; this file is, and only
    /// the pipeline's roles may write run files).
    pub fn selected_key(&self, stack_id: &str) -> String {
        format!("{}/selected/{}.json", self.prefix, stack_key(stack_id))
    }
}

/// A stack's name in run file keys: its id hashed (ids hold `:` and `/`).
fn stack_key(stack_id: &str) -> String {
    let digest = sha2::Sha256::digest(stack_id.as_bytes());
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
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

/// The Map's results as the state machine hands them over: inline, or (Distributed Map)
/// written to S3 by its ResultWriter.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum MapResults {
    Inline(Vec<RefreshTask>),
    Written {
        #[serde(rename = "ResultWriterDetails")]
        details: S3Object,
    },
}

#[derive(Debug, Clone, Deserialize)]
pub struct S3Object {
    #[serde(rename = "Bucket")]
    pub bucket: String,
    #[serde(rename = "Key")]
    pub key: String,
}

/// What the report function receives: discovery's output with the Map's results
/// (absent for a dry run).
#[derive(Debug, Clone, Deserialize)]
pub struct ReportInput {
    #[serde(flatten)]
    pub discovery: DiscoveryOutput,
    #[serde(default)]
    pub results: Option<MapResults>,
}

/// A ResultWriter manifest (the parts the report reads).
#[derive(Debug, Clone, Deserialize)]
pub struct ResultManifest {
    #[serde(rename = "DestinationBucket")]
    pub bucket: String,
    #[serde(rename = "ResultFiles")]
    pub files: ResultFiles,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ResultFiles {
    #[serde(rename = "SUCCEEDED", default)]
    pub succeeded: Vec<ResultFile>,
    #[serde(rename = "FAILED", default)]
    pub failed: Vec<ResultFile>,
    #[serde(rename = "PENDING", default)]
    pub pending: Vec<ResultFile>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ResultFile {
    #[serde(rename = "Key")]
    pub key: String,
}

/// One child execution in a result file.
#[derive(Debug, Clone, Deserialize)]
pub struct ChildExecution {
    #[serde(rename = "Status", default)]
    pub status: String,
    #[serde(rename = "Input", default)]
    pub input: Option<String>,
    #[serde(rename = "Output", default)]
    pub output: Option<String>,
    #[serde(rename = "Error", default)]
    pub error: Option<String>,
    #[serde(rename = "Cause", default)]
    pub cause: Option<String>,
}
