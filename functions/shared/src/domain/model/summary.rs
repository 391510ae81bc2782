//! The run's summary: what the report function returns to the state machine, keeps in the
//! run's files and the CLI reads back.

use serde::{Deserialize, Serialize};

use super::{is_zero, FailedTarget, Outcome, PlannedUpdate, RefreshMode, SecretRef};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StackRow {
    pub account: String,
    pub region: String,
    pub stack: String,
    pub stack_id: String,
    pub outcome: Outcome,
    /// The phase a failure happened in (`false` or `true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default)]
    pub critical: bool,
    /// Refresh function invocations for this stack: its child execution took
    /// about `3 × invocations` state transitions (Refresh, StillUpdating?, WaitForStack, ...,
    /// then StackDone or FreePlace).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub invocations: u32,
    /// How the stack is (or would be) refreshed: `two_phase` or `in_place`.
    #[serde(default)]
    pub mode: RefreshMode,
    /// In-place mode: the secret version the stack was pinned to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// What each update did (a dry run: would do) to the stack's resources.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plan: Vec<PlannedUpdate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub scanned: usize,
    pub selected: usize,
    pub refreshed: usize,
    pub would_refresh: usize,
    /// Dry run: stacks whose update CloudFormation would refuse.
    #[serde(default)]
    pub would_fail: usize,
    pub skipped: usize,
    pub failed: usize,
    pub critical: usize,
    /// Stacks an operator's stop kept from beginning: they keep the old value.
    #[serde(default)]
    pub stopped: usize,
    /// Targets (account, region) that could not be searched.
    #[serde(default)]
    pub failed_targets: usize,
    /// AWS calls retried by the SDK (throttling, transient errors): healed, but said.
    #[serde(default)]
    pub retried_calls: u64,
}

/// The counts of one account and region.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetCounts {
    pub account: String,
    pub region: String,
    pub refreshed: usize,
    pub would_refresh: usize,
    #[serde(default)]
    pub would_fail: usize,
    pub skipped: usize,
    pub failed: usize,
    pub critical: usize,
    #[serde(default)]
    pub stopped: usize,
    /// Why the target could not be searched, if it could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub secret: SecretRef,
    pub cause: String,
    pub dry_run: bool,
    pub parameter: String,
    pub mode: String,
    pub counts: Counts,
    /// A stack or a target failed: the state machine fails the execution on this (one
    /// place decides what fails a run), so an alarm on failed executions fires.
    #[serde(default)]
    pub run_failed: bool,
    /// One entry per account and region with stacks or an error, sorted.
    #[serde(default)]
    pub by_target: Vec<TargetCounts>,
    #[serde(default)]
    pub failed_targets: Vec<FailedTarget>,
    /// Sorted by account, region, stack name.
    pub stacks: Vec<StackRow>,
    /// Where the complete summary is (`s3://...`) when rows were left out here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_summary: Option<String>,
    #[serde(default)]
    pub rows_omitted: usize,
    /// The SNS notice could not be published (the summary and alarms still say it all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice_error: Option<String>,
    /// When the run failed: this summary as JSON, cut to fit the Fail state's cause.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_cause: Option<String>,
}
