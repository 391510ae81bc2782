//! Secrets Manager adapter. Metadata only: `DescribeSecret` to turn a name into an ARN, to
//! list the labelled versions and the replica regions. The pipeline never calls `GetSecretValue` (and its IAM
//! policy does not allow it).

use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
use aws_sdk_secretsmanager::Client;

use crate::domain::model::{Replica, Replication, SecretVersions};
use crate::ports::{AwsError, SecretDirectory};

#[derive(Clone)]
pub struct SecretsManager {
    client: Client,
    config: aws_config::SdkConfig,
}

impl SecretsManager {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Self {
            client: Client::new(config),
            config: config.clone(),
        }
    }

    /// A secret is read in its own region (its ARN says which).
    fn client_for(&self, secret_arn: &str) -> Client {
        match secret_arn.split(':').nth(3).filter(|r| !r.is_empty()) {
            Some(region) if Some(region) != self.config.region().map(|r| r.as_ref()) => {
                Client::from_conf(
                    aws_sdk_secretsmanager::config::Builder::from(&self.config)
                        .region(aws_config::Region::new(region.to_string()))
                        .build(),
                )
            }
            _ => self.client.clone(),
        }
    }
}

/// An SDK error with the service's code and message (or the SDK's context without one).
fn sm_error<E>(operation: &'static str, e: &aws_sdk_secretsmanager::error::SdkError<E>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    AwsError {
        operation,
        code: e.code().map(str::to_string),
        message: e
            .message()
            .map(str::to_string)
            .unwrap_or_else(|| aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string()),
    }
}

fn describe_error(
    e: &aws_sdk_secretsmanager::error::SdkError<
        aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretError,
    >,
) -> AwsError {
    sm_error("DescribeSecret", e)
}

impl SecretsManager {
    /// DescribeSecret asked of the secret's own region (metadata only, never a value).
    async fn describe_in_its_region(
        &self,
        secret_arn: &str,
    ) -> Result<aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretOutput, AwsError>
    {
        self.client_for(secret_arn)
            .describe_secret()
            .secret_id(secret_arn)
            .send()
            .await
            .map_err(|e| describe_error(&e))
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
            .map_err(|e| describe_error(&e))?;
        out.arn().map(str::to_string).ok_or_else(|| AwsError {
            operation: "DescribeSecret",
            code: None,
            message: format!("no ARN returned for `{secret_id}`"),
        })
    }

    async fn versions(&self, secret_arn: &str) -> Result<SecretVersions, AwsError> {
        let out = self.describe_in_its_region(secret_arn).await?;
        Ok(SecretVersions {
            stages: out
                .version_ids_to_stages()
                .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default(),
        })
    }

    async fn replication(&self, secret_arn: &str) -> Result<Replication, AwsError> {
        let out = self.describe_in_its_region(secret_arn).await?;
        Ok(Replication {
            primary_region: out.primary_region().map(str::to_string),
            replicas: out
                .replication_status()
                .iter()
                .filter_map(|r| {
                    Some(Replica {
                        region: r.region()?.to_string(),
                        status: r
                            .status()
                            .map(|s| s.as_str().to_string())
                            .unwrap_or_default(),
                        message: r.status_message().unwrap_or_default().to_string(),
                    })
                })
                .collect(),
        })
    }

    async fn secret_arns(&self) -> Result<Vec<String>, AwsError> {
        let pages: Vec<_> = self
            .client
            .list_secrets()
            .into_paginator()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| sm_error("ListSecrets", &e))?;
        Ok(pages
            .iter()
            .flat_map(|p| p.secret_list())
            .filter_map(|s| s.arn().map(str::to_string))
            .collect())
    }

    async fn version_created(
        &self,
        secret_arn: &str,
        version_id: &str,
    ) -> Result<Option<u64>, AwsError> {
        let pages: Vec<_> = self
            .client_for(secret_arn)
            .list_secret_version_ids()
            .secret_id(secret_arn)
            .include_deprecated(true)
            .into_paginator()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| sm_error("ListSecretVersionIds", &e))?;
        Ok(pages
            .iter()
            .flat_map(|p| p.versions())
            .find(|v| v.version_id() == Some(version_id))
            .and_then(|v| v.created_date())
            .and_then(|d| d.to_millis().ok())
            .map(|ms| ms.max(0) as u64))
    }
}
