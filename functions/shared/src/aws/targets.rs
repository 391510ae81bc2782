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
use crate::domain::model::{Target, TargetSettings};
use crate::ports::{AwsError, TargetAccess};

/// Discovery never changes a stack: IAM keeps its role, the target's reader, from every
/// update (target-role.yaml, `ReaderRole`), and its sessions carry this session policy
/// besides, so whatever the role grants, the session may only read stacks and, for a dry
/// run's exact plan, create, read and delete change sets (reading nested stacks'
/// templates for them, as the role allows), never execute one (IAM User
/// Guide, "Session policies": the session's permissions are the intersection of the
/// role's and the policy's; CreateChangeSet API reference: "CloudFormation doesn't make
/// changes until you execute the change set"). Exactly the calls discovery makes:
/// `tests/iam.rs` checks it.
pub const READ_ONLY_SESSION_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"DiscoverReadsOnly","Effect":"Allow","Action":["cloudformation:DescribeStacks","cloudformation:GetTemplate","cloudformation:GetStackPolicy","cloudformation:ListStackResources"],"Resource":"*"},{"Sid":"DryRunsPreviewWithoutExecuting","Effect":"Allow","Action":["cloudformation:CreateChangeSet","cloudformation:DescribeChangeSet","cloudformation:DeleteChangeSet","s3:GetObject"],"Resource":"*"}]}"#;

pub struct AssumedRoles {
    base: aws_config::SdkConfig,
    sts: aws_sdk_sts::Client,
    settings: TargetSettings,
    /// The role assumed in each target: the updater, or the reader ([`Self::read_only`]).
    role_name: String,
    session_policy: Option<String>,
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
            role_name: settings.role_name.clone(),
            settings,
            session_policy: None,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Sessions in the target's reader role, which IAM refuses every update
    /// (target-role.yaml, `ReaderRole`, trusted only by the discover role and the operators
    /// listed), and limited besides to [`READ_ONLY_SESSION_POLICY`].
    pub fn read_only(mut self) -> Self {
        self.role_name = self.settings.reader_role_name();
        self.session_policy = Some(READ_ONLY_SESSION_POLICY.to_string());
        self
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
            self.role_name
        );
        let out = self
            .sts
            .assume_role()
            .role_arn(&role_arn)
            .role_session_name(session)
            .set_external_id(self.settings.external_id.clone())
            .set_policy(self.session_policy.clone())
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
