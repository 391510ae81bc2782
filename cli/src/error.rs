//! What goes wrong, said with the fix. Every error exits with code 1; bad arguments are
//! clap's (code 2).

use aws_sdk_cloudformation::error::ProvideErrorMetadata;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Something named does not exist: what, and how to name the right one.
    #[error("{problem}\n  fix: {fix}")]
    NotFound { problem: String, fix: String },
    /// No usable credentials, or credentials AWS refuses.
    #[error("{problem}\n  fix: give credentials the AWS CLI way: --profile <name>, `aws sso login`, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")]
    Credentials { problem: String },
    #[error("{0}")]
    Aws(String),
    /// A setting of the deployment or an option is not valid (named by its variable).
    #[error("{0}")]
    Invalid(String),
}

impl CliError {
    pub fn not_found(problem: impl Into<String>, fix: impl Into<String>) -> Self {
        Self::NotFound {
            problem: problem.into(),
            fix: fix.into(),
        }
    }
}

/// An SDK error, told apart: credentials (missing, expired, refused) or the service's own
/// code and message.
pub fn aws<E>(operation: &str, e: &aws_sdk_cloudformation::error::SdkError<E>) -> CliError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let context = aws_sdk_cloudformation::error::DisplayErrorContext(e).to_string();
    let code = e.code().unwrap_or_default();
    let credentials = matches!(
        code,
        "ExpiredToken"
            | "ExpiredTokenException"
            | "InvalidClientTokenId"
            | "UnrecognizedClientException"
            | "SignatureDoesNotMatch"
    ) || context.to_ascii_lowercase().contains("credentials");
    let message = e.message().map(str::to_string).unwrap_or(context);
    let problem = match code {
        "" => format!("{operation} failed: {message}"),
        code => format!("{operation} failed ({code}): {message}"),
    };
    if credentials {
        CliError::Credentials { problem }
    } else {
        CliError::Aws(problem)
    }
}

impl From<rotatetoken::ports::AwsError> for CliError {
    fn from(e: rotatetoken::ports::AwsError) -> Self {
        let credentials = e.message.to_ascii_lowercase().contains("credentials");
        match credentials {
            true => CliError::Credentials {
                problem: e.to_string(),
            },
            false => CliError::Aws(e.to_string()),
        }
    }
}

impl From<rotatetoken::handler::FunctionError> for CliError {
    fn from(e: rotatetoken::handler::FunctionError) -> Self {
        use rotatetoken::handler::FunctionError;
        match e {
            FunctionError::Input(e) => CliError::Invalid(e.to_string()),
            FunctionError::Aws(e) | FunctionError::AwsAfterChange(e) => e.into(),
        }
    }
}

impl From<rotatetoken::InputError> for CliError {
    fn from(e: rotatetoken::InputError) -> Self {
        CliError::Invalid(e.to_string())
    }
}
