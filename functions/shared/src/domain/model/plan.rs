//! What an update of a stack is and how it ended: the refresh mode, one UpdateStack's
//! parameters, and the resources CloudFormation failed. Crosses the ports: the adapters
//! build and read these; behaviour modules import them from here.

use serde::{Deserialize, Serialize};

use super::StackRef;

/// How a stack is refreshed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum RefreshMode {
    /// `RotateToken` false then true: guarded resources deleted and recreated.
    #[default]
    TwoPhase,
    /// One update of the version parameter: pinned resources updated in place.
    InPlace,
}

impl RefreshMode {
    pub fn is_two_phase(&self) -> bool {
        *self == RefreshMode::TwoPhase
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParameterValue {
    UsePrevious,
    Value(String),
}

impl UpdatePlan {
    /// A short mark of the update's inputs (each parameter's name, and its value or
    /// "previous"): a change set made with these inputs carries it in its description, so
    /// the look that reads the change set can tell whether it previews this very update.
    pub fn inputs_mark(&self) -> String {
        use sha2::Digest;
        let mut inputs: Vec<String> = self
            .parameters
            .iter()
            .map(|(key, value)| match value {
                ParameterValue::UsePrevious => format!("{key}\tprevious"),
                ParameterValue::Value(v) => format!("{key}\tvalue\t{v}"),
            })
            .collect();
        inputs.sort_unstable();
        let digest = sha2::Sha256::digest(inputs.join("\n"));
        digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
    }
}

/// One UpdateStack call: previous template, every parameter kept except the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdatePlan {
    pub stack: StackRef,
    pub parameters: Vec<(String, ParameterValue)>,
    pub capabilities: Vec<String>,
    /// The operation's `ClientRequestToken`: CloudFormation stamps it on every event the
    /// update causes, so a retried invocation finds its own update in the stack's events.
    pub request_token: Option<String>,
}

/// What the stack's events say about one operation of ours (found by its token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperationSeen {
    /// The newest stack-level status among the operation's events (`UPDATE_IN_PROGRESS`,
    /// `UPDATE_COMPLETE`, `UPDATE_ROLLBACK_COMPLETE`...).
    pub status: String,
}

/// A resource CloudFormation could not create, update or delete in a stack's latest
/// operation, with the reason of its `*_FAILED` event (DescribeStackEvents).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedResource {
    pub logical_id: String,
    pub physical_id: String,
    /// `CREATE_FAILED`, `UPDATE_FAILED` or `DELETE_FAILED`.
    pub status: String,
    pub reason: String,
}
