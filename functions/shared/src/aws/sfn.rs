//! Step Functions adapter: the trigger starts one named execution per secret version; the
//! waiter sends waiting tasks' tokens back.

use aws_sdk_sfn::error::ProvideErrorMetadata;
use aws_sdk_sfn::Client;

use super::aws_error;
use crate::ports::{
    AwsError, Callback, ExecutionStarter, ExistingExecution, StartOutcome, TaskCallbacks,
};

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
    fn state_machine_arn(&self) -> &str {
        &self.state_machine_arn
    }

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
            Err(e) => Err(aws_error("StartExecution", &e)),
        }
    }

    async fn existing(&self, name: &str) -> Result<Option<ExistingExecution>, AwsError> {
        // arn:...:stateMachine:<machine> -> arn:...:execution:<machine>:<name>
        let arn = format!(
            "{}:{name}",
            self.state_machine_arn
                .replacen(":stateMachine:", ":execution:", 1)
        );
        match self
            .client
            .describe_execution()
            .execution_arn(arn)
            .send()
            .await
        {
            Ok(out) => Ok(Some(ExistingExecution {
                running: out.status() == &aws_sdk_sfn::types::ExecutionStatus::Running,
                started_ms: out.start_date().to_millis().unwrap_or_default().max(0) as u64,
            })),
            Err(e) if e.code() == Some("ExecutionDoesNotExist") => Ok(None),
            Err(e) => Err(aws_error("DescribeExecution", &e)),
        }
    }
}

/// Step Functions' callback API, for the waiter.
#[derive(Clone)]
pub struct TaskTokens {
    client: Client,
}

impl TaskTokens {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Self {
            client: Client::new(config),
        }
    }
}

impl TaskCallbacks for TaskTokens {
    async fn succeed(&self, task_token: &str, output: &str) -> Result<Callback, AwsError> {
        match self
            .client
            .send_task_success()
            .task_token(task_token)
            .output(output)
            .send()
            .await
        {
            Ok(_) => Ok(Callback::Delivered),
            // SendTaskSuccess (API reference): TaskTimedOut for a task that timed out or
            // whose token was already used; TaskDoesNotExist; InvalidToken.
            Err(e)
                if matches!(
                    e.code(),
                    Some("TaskTimedOut" | "TaskDoesNotExist" | "InvalidToken")
                ) =>
            {
                Ok(Callback::Gone)
            }
            Err(e) => Err(aws_error("SendTaskSuccess", &e)),
        }
    }
}
