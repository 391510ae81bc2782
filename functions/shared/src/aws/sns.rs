//! SNS adapter: the run summaries and CRITICAL alerts go to the deployment's topic.

use aws_sdk_sns::Client;

use super::aws_error;
use crate::ports::{AwsError, Notifier};

pub struct SnsTopic {
    client: Client,
    topic_arn: String,
}

impl SnsTopic {
    pub fn new(config: &aws_config::SdkConfig, topic_arn: String) -> Self {
        Self {
            client: Client::new(config),
            topic_arn,
        }
    }
}

impl Notifier for SnsTopic {
    async fn publish(&self, subject: &str, message: &str) -> Result<(), AwsError> {
        self.client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(subject)
            .message(message)
            .send()
            .await
            .map_err(|e| aws_error("Publish", &e))?;
        Ok(())
    }
}
