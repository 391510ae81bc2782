//! What every function's `main` shares: error types that Step Functions can match on.

use lambda_runtime::Diagnostic;

use crate::domain::error::InputError;
use crate::ports::AwsError;

/// A function failure with an explicit `errorType`, so that the state machine's
/// `Retry`/`Catch` can tell bad input (never retried) from AWS trouble (retried).
#[derive(Debug)]
pub enum FunctionError {
    Input(InputError),
    /// An AWS call failed before this stack's refresh changed anything.
    Aws(AwsError),
    /// An AWS call failed after an update of this stack's refresh may have started.
    AwsAfterChange(AwsError),
}

impl FunctionError {
    pub const INPUT: &'static str = "RotateToken.InvalidInput";
    pub const AWS: &'static str = "RotateToken.AwsError";
    pub const AWS_AFTER_CHANGE: &'static str = "RotateToken.AwsErrorAfterChange";
    /// Every error name the functions raise: the state machine's `Retry`/`Catch` must name
    /// exactly these (checked by a test against statemachine/rotatetoken.asl.json).
    pub const ALL: [&'static str; 3] = [Self::INPUT, Self::AWS, Self::AWS_AFTER_CHANGE];

    pub fn error_type(&self) -> &'static str {
        match self {
            Self::Input(_) => Self::INPUT,
            Self::Aws(_) => Self::AWS,
            Self::AwsAfterChange(_) => Self::AWS_AFTER_CHANGE,
        }
    }
}

impl std::fmt::Display for FunctionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Input(e) => e.fmt(f),
            Self::Aws(e) | Self::AwsAfterChange(e) => e.fmt(f),
        }
    }
}

impl From<InputError> for FunctionError {
    fn from(e: InputError) -> Self {
        Self::Input(e)
    }
}

impl From<AwsError> for FunctionError {
    fn from(e: AwsError) -> Self {
        Self::Aws(e)
    }
}

impl From<FunctionError> for Diagnostic {
    fn from(e: FunctionError) -> Self {
        let error_type = e.error_type();
        tracing::error!(error_type, error = %e, "function failed");
        Diagnostic {
            error_type: error_type.to_string(),
            error_message: e.to_string(),
        }
    }
}
