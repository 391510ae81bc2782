//! Adapters: one module per AWS service, each implementing a port from [`crate::ports`].
//! Clients are built once per cold start from [`load_config`].

pub mod cloudformation;
pub mod organizations;
pub mod s3;
pub mod secretsmanager;
pub mod sfn;
pub mod sns;
pub mod targets;

use aws_config::retry::RetryConfig;
use aws_config::BehaviorVersion;

use crate::ports::AwsError;

/// Shared SDK configuration. Honours `AWS_ENDPOINT_URL` (and the per-service variants),
/// which is how the local emulator is reached. Mass updates get throttled: retry with
/// backoff, adaptively (client-side rate limiting), more times than the default.
pub async fn load_config() -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::adaptive().with_max_attempts(8))
        .load()
        .await
}

/// Turns an SDK error into an [`AwsError`] that keeps the service's code and message.
pub(crate) fn aws_error<E>(
    operation: &'static str,
    err: &aws_sdk_cloudformation::error::SdkError<E>,
) -> AwsError
where
    E: aws_sdk_cloudformation::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    use aws_sdk_cloudformation::error::ProvideErrorMetadata;
    AwsError {
        operation,
        code: err.code().map(str::to_string),
        message: err
            .message()
            .map(str::to_string)
            .unwrap_or_else(|| aws_sdk_cloudformation::error::DisplayErrorContext(err).to_string()),
    }
}
