//! Target access: CloudFormation in a target account and region, through the target role
//! (STS AssumeRole with the external ID and a session name naming the execution), or with
//! the function's own credentials for the pipeline's own account when no targets are set.
//! Credentials stay inside the function (cached per account until near expiry); they never
//! travel through the state machine.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use aws_config::Region;
use aws_sdk_cloudformation::config::{Credentials, SharedCredentialsProvider};
use aws_sdk_sts::error::ProvideErrorMetadata;

use super::cloudformation::CloudFormation;
use crate::domain::targets::{Target, TargetSettings};
use crate::ports::{AwsError, TargetAccess};

pub struct AssumedRoles {
    base: aws_config::SdkConfig,
    sts: aws_sdk_sts::Client,
    settings: TargetSettings,
    cache: Mutex<HashMap<(String, String), Credentials>>,
}

impl AssumedRoles {
    pub fn new(base: &aws_config::SdkConfig, settings: TargetSettings) -> Self {
        Self {
            base: base.clone(),
            sts: aws_sdk_sts::Client::from_conf(
                aws_sdk_sts::config::Builder::from(base)
                    .interceptor(super::retries::RetryCounter)
                    .build(),
            ),
            settings,
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn partition(region: &str) -> &'static str {
        if region.starts_with("cn-") {
            "aws-cn"
        } else if region.starts_with("us-gov-") {
            "aws-us-gov"
        } else {
            "aws"
        }
    }

    async fn credentials(
        &self,
        account: &str,
        region: &str,
        session: &str,
    ) -> Result<Credentials, AwsError> {
        let key = (account.to_string(), session.to_string());
        if let Some(c) = self.cache.lock().expect("credential cache").get(&key) {
            let fresh = c
                .expiry()
                .is_none_or(|e| e > SystemTime::now() + Duration::from_secs(300));
            if fresh {
                return Ok(c.clone());
            }
        }
        let role_arn = format!(
            "arn:{}:iam::{account}:role/{}",
            Self::partition(region),
            self.settings.role_name
        );
        let out = self
            .sts
            .assume_role()
            .role_arn(&role_arn)
            .role_session_name(session)
            .set_external_id(self.settings.external_id.clone())
            .send()
            .await
            .map_err(|e| AwsError {
                operation: "AssumeRole",
                code: e.code().map(str::to_string),
                message: format!(
                    "{role_arn}: {}",
                    e.message()
                        .map(str::to_string)
                        .unwrap_or_else(|| aws_sdk_sts::error::DisplayErrorContext(&e).to_string())
                ),
            })?;
        let c = out.credentials().ok_or_else(|| AwsError {
            operation: "AssumeRole",
            code: None,
            message: format!("{role_arn}: no credentials returned"),
        })?;
        let expiry = SystemTime::try_from(*c.expiration()).ok();
        let creds = Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_string()),
            expiry,
            "rotatetoken-assume-role",
        );
        self.cache
            .lock()
            .expect("credential cache")
            .insert(key, creds.clone());
        Ok(creds)
    }
}

impl TargetAccess for AssumedRoles {
    type Stacks = CloudFormation;

    async fn open(&self, target: &Target, session: &str) -> Result<CloudFormation, AwsError> {
        let mut config = self
            .base
            .to_builder()
            .region(Region::new(target.region.clone()));
        if let Some(account) = &target.account {
            let creds = self.credentials(account, &target.region, session).await?;
            config = config.credentials_provider(SharedCredentialsProvider::new(creds));
        }
        Ok(CloudFormation::new(&config.build()))
    }
}
