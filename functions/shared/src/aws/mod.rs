//! Adapters: one module per AWS service, each implementing a port from [`crate::ports`].
//! Clients are built once per cold start from [`load_config`].

pub mod cloudformation;
pub mod organizations;
pub mod retries;
pub mod s3;
pub mod secretsmanager;
pub mod sfn;
pub mod sns;
pub mod targets;
pub mod tls;

use aws_config::retry::RetryConfig;
use aws_config::BehaviorVersion;

use crate::ports::AwsError;

/// Shared SDK configuration. Honours `AWS_ENDPOINT_URL` (and the per-service variants),
/// which is how the local emulator is reached. Mass updates get throttled: retry with
/// jittered exponential backoff, up to 8 attempts (the default is 3). Not the `adaptive`
/// mode: its client-side rate limiter cut the send rate for every call of the process and
/// made a run under 30% throttling 4x slower (135 s against 33 s, tests/faults.rs), while
/// CloudFormation's limits are per account, shared by every container, so a per-client
/// limiter cannot coordinate them anyway; `MaxConcurrency` is the lever that does.
/// `function` (e.g. `rotatetoken-refresh`) goes into every request's User-Agent as the app
/// id, so CloudTrail (and the test emulator) can tell which function made a call.
pub async fn load_config(function: &'static str) -> aws_config::SdkConfig {
    let loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(tls::https_client())
        .retry_config(RetryConfig::standard().with_max_attempts(8));
    let loader = match aws_config::AppName::new(function) {
        Ok(app) => loader.app_name(app),
        Err(_) => loader,
    };
    loader.load().await
}

/// Whether the environment points the SDK at an endpoint of its own (the local AWS): a
/// non-empty `AWS_ENDPOINT_URL` or `AWS_ENDPOINT_URL_<SERVICE>`. An empty one, as SAM passes
/// a declared variable that has no value, is unset: the SDK then calls AWS.
pub fn custom_endpoint() -> bool {
    std::env::vars().any(|(k, v)| {
        (k == "AWS_ENDPOINT_URL" || k.starts_with("AWS_ENDPOINT_URL_")) && !v.trim().is_empty()
    })
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
