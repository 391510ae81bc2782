//! The payloads of event-driven waiting: what a refresh step asks to wait for, what the
//! waiter keeps for it in the runs bucket, and a CloudFormation status change as the waiter
//! reads it. Behaviour is in [`crate::domain::waiting`].

use serde::{Deserialize, Serialize};

/// How a step waits before the refresh looks at its stack again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WaitKind {
    /// An operation runs on the stack: its end event wakes the step (through the waiter
    /// and a task token), or `seconds` pass (a lost or late event), whichever comes first.
    Stack,
    /// A pause chosen by the refresh (backing off before another phase-two attempt):
    /// a Wait state, no event.
    Pause,
    /// The stack's account-region lane is full ([`crate::domain::lanes`]): the step's
    /// token is kept under the lane, and a stack of the lane that ends hands its place on
    /// (the state machine's `FreePlace`), or `seconds` pass, whichever comes first.
    Place,
}

/// Written by the refresh into a task it hands back `waiting`; read by the state machine
/// (`$.wait.kind`, `TimeoutSecondsPath`/`SecondsPath` `$.wait.seconds`) and the waiter. It
/// only ever chooses *when* the refresh looks again: every decision is the refresh's, from
/// the stack's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StackWait {
    pub kind: WaitKind,
    /// The longest wait before the next look, in whole seconds, at least 1 (Step Functions'
    /// `TimeoutSecondsPath` takes a positive integer).
    pub seconds: u64,
    /// The request token of our update that runs now: only its end wakes the step. None:
    /// someone else's operation, whose end (any token) wakes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_token: Option<String>,
    /// When the refresh saw the stack busy (epoch ms): an untokened end older than this is
    /// an earlier operation's, not the one waited for.
    pub seen_ms: u64,
}

/// What the waiter keeps for one `WaitForStack` step (`waits/<stack>/<token hash>.json`),
/// or a look for its own token (`waits/<stack>/look-<execution hash>.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitRegistration {
    pub stack_id: String,
    pub task_token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_token: Option<String>,
    pub seen_ms: u64,
    /// The run, for the log lines of a wake.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution: Option<String>,
    /// What the wake sends back as the step's output: the task (a `RefreshTask`, as JSON:
    /// the waiter only hands it on) of the look that waits on its own token (the state
    /// machine's `Refresh`, whose output is its callback's). None: a `WaitForStack` step,
    /// which keeps its own input (`ResultPath: null`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<serde_json::Value>,
}

/// A stack operation's end, as the waiter read it from a "CloudFormation Stack Status
/// Change" event (or kept it: `waits/<stack>/last-end.json`, `end-<token hash>.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StackEnd {
    pub stack_id: String,
    pub status: String,
    /// The operation's `ClientRequestToken` (empty on AWS when it had none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_token: Option<String>,
    /// The event's time (epoch ms, to the second on AWS).
    pub time_ms: u64,
}
