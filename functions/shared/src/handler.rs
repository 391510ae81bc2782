//! What every function's `main` shares: error types that Step Functions can match on.

use lambda_runtime::Diagnostic;

use crate::domain::error::InputError;
use crate::ports::AwsError;

/// A function failure with an explicit `errorType`, so that the state machine's
/// `Retry`/`Catch` can tell bad input (never retried) from AWS trouble (retried).
#[derive(Debug)]
pub enum FunctionError {
    Input(InputError),
    Aws(AwsError),
}

impl FunctionError {
    pub const INPUT: &'static str = "RotateToken.InvalidInput";
    pub const AWS: &'static str = "RotateToken.AwsError";
}

impl std::fmt::Display for FunctionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Input(e) => e.fmt(f),
            Self::Aws(e) => e.fmt(f),
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
        let error_type = match &e {
            FunctionError::Input(_) => FunctionError::INPUT,
            FunctionError::Aws(_) => FunctionError::AWS,
        };
        tracing::error!(error_type, error = %e, "function failed");
        Diagnostic {
            error_type: error_type.to_string(),
            error_message: e.to_string(),
        }
    }
}
