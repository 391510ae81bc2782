//! Secrets Manager adapter. Metadata only: `DescribeSecret` to turn a name into an ARN.
//! The pipeline never calls `GetSecretValue` (and its IAM policy does not allow it).

use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
use aws_sdk_secretsmanager::Client;

use crate::ports::{AwsError, SecretDirectory};

#[derive(Clone)]
pub struct SecretsManager {
    client: Client,
}

impl SecretsManager {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Self {
            client: Client::new(config),
        }
    }
}

impl SecretDirectory for SecretsManager {
    async fn secret_arn(&self, secret_id: &str) -> Result<String, AwsError> {
        let out = self
            .client
            .describe_secret()
            .secret_id(secret_id)
            .send()
            .await
            .map_err(|e| AwsError {
                operation: "DescribeSecret",
                code: e.code().map(str::to_string),
                message: e.message().map(str::to_string).unwrap_or_else(|| {
                    aws_sdk_secretsmanager::error::DisplayErrorContext(&e).to_string()
                }),
            })?;
        out.arn().map(str::to_string).ok_or_else(|| AwsError {
            operation: "DescribeSecret",
            code: None,
            message: format!("no ARN returned for `{secret_id}`"),
        })
    }
}
