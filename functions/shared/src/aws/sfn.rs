//! Step Functions adapter: the trigger starts one named execution per secret version.

use aws_sdk_sfn::error::ProvideErrorMetadata;
use aws_sdk_sfn::Client;

use crate::ports::{AwsError, ExecutionStarter, StartOutcome};

#[derive(Clone)]
pub struct StepFunctions {
    client: Client,
    state_machine_arn: String,
}

impl StepFunctions {
    pub fn new(config: &aws_config::SdkConfig, state_machine_arn: String) -> Self {
        Self {
            client: Client::new(config),
            state_machine_arn,
        }
    }
}

impl ExecutionStarter for StepFunctions {
    async fn start_execution(&self, name: &str, input: &str) -> Result<StartOutcome, AwsError> {
        match self
            .client
            .start_execution()
            .state_machine_arn(&self.state_machine_arn)
            .name(name)
            .input(input)
            .send()
            .await
        {
            Ok(out) => Ok(StartOutcome::Started {
                execution_arn: out.execution_arn().to_string(),
            }),
            Err(e) if e.code() == Some("ExecutionAlreadyExists") => Ok(StartOutcome::AlreadyExists),
            Err(e) => Err(AwsError {
                operation: "StartExecution",
                code: e.code().map(str::to_string),
                message: e
                    .message()
                    .map(str::to_string)
                    .unwrap_or_else(|| aws_sdk_sfn::error::DisplayErrorContext(&e).to_string()),
            }),
        }
    }
}
