//! An execution of the state machine, as the operator names it (ARN or name), and what it
//! left: its run files (from Discover's output) and its summary.

use aws_sdk_sfn::types::{ExecutionStatus, HistoryEvent};
use rotatetoken::domain::model::{DiscoveryOutput, RunFiles};
use rotatetoken::domain::report::Summary;

use crate::context::Context;
use crate::error::{self, CliError};

pub struct Execution {
    pub arn: String,
    pub sfn: aws_sdk_sfn::Client,
    s3: aws_sdk_s3::Client,
}

/// What DescribeExecution says.
pub struct Status {
    pub status: ExecutionStatus,
    pub output: Option<String>,
    pub cause: Option<String>,
}

impl Status {
    pub fn running(&self) -> bool {
        self.status == ExecutionStatus::Running
    }
}

impl Execution {
    /// `name_or_arn` in the deployment's state machine.
    pub async fn find(ctx: &Context, name_or_arn: &str) -> Result<Self, CliError> {
        let arn = if name_or_arn.starts_with("arn:") {
            name_or_arn.to_string()
        } else {
            let machine = ctx.state_machine().await?;
            execution_arn(&machine, name_or_arn)
        };
        let found = Self {
            arn,
            sfn: aws_sdk_sfn::Client::new(&ctx.aws),
            s3: aws_sdk_s3::Client::new(&ctx.aws),
        };
        found.status().await?;
        Ok(found)
    }

    pub async fn status(&self) -> Result<Status, CliError> {
        let d = self
            .sfn
            .describe_execution()
            .execution_arn(&self.arn)
            .send()
            .await
            .map_err(|e| match error::aws("DescribeExecution", &e) {
                CliError::Aws(m) if m.contains("ExecutionDoesNotExist") || m.contains("does not exist") => {
                    CliError::not_found(
                        format!("execution {} was not found", self.arn),
                        "give the name `rotate-token start` printed (or its ARN); check --stack and --region",
                    )
                }
                other => other,
            })?;
        Ok(Status {
            status: d.status().clone(),
            output: d.output().map(str::to_string),
            cause: d.cause().map(str::to_string),
        })
    }

    /// Discover's output, once Discover has finished (its state-exited event).
    pub async fn discovery(&self) -> Result<Option<DiscoveryOutput>, CliError> {
        let mut token = None;
        loop {
            let page = self
                .sfn
                .get_execution_history()
                .execution_arn(&self.arn)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| error::aws("GetExecutionHistory", &e))?;
            if let Some(out) = page.events().iter().find_map(discover_output) {
                return Ok(Some(out));
            }
            token = page.next_token().map(str::to_string);
            if token.is_none() {
                return Ok(None);
            }
        }
    }

    /// The run's files in S3 (None before Discover has finished, or for a local run).
    pub async fn run_files(&self) -> Result<Option<RunFiles>, CliError> {
        Ok(self.discovery().await?.and_then(|d| d.run))
    }

    pub async fn get(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, CliError> {
        get_object(&self.s3, bucket, key).await
    }

    pub async fn put(&self, bucket: &str, key: &str, body: Vec<u8>) -> Result<(), CliError> {
        self.s3
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type("application/json")
            .body(body.into())
            .send()
            .await
            .map_err(|e| error::aws(&format!("PutObject s3://{bucket}/{key}"), &e))?;
        Ok(())
    }

    /// Every object under a prefix: (key, ETag).
    pub async fn list(
        &self,
        bucket: &str,
        prefix: &str,
    ) -> Result<Vec<(String, String)>, CliError> {
        let mut out = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .s3
                .list_objects_v2()
                .bucket(bucket)
                .prefix(prefix)
                .set_continuation_token(token)
                .send()
                .await
                .map_err(|e| error::aws("ListObjectsV2", &e))?;
            out.extend(page.contents().iter().filter_map(|o| {
                Some((
                    o.key()?.to_string(),
                    o.e_tag().unwrap_or_default().to_string(),
                ))
            }));
            token = page.next_continuation_token().map(str::to_string);
            if token.is_none() {
                return Ok(out);
            }
        }
    }

    /// The finished run's full summary: from its run files (every row), else what the
    /// execution returned (its output, or its failure's cause).
    pub async fn summary(&self) -> Result<Summary, CliError> {
        let status = self.status().await?;
        if status.running() {
            return Err(CliError::not_found(
                format!(
                    "execution {} is still running: it has no summary yet",
                    self.arn
                ),
                format!("follow it with: rotate-token watch {}", self.arn),
            ));
        }
        if let Some(run) = self.run_files().await? {
            if let Some(body) = self.get(&run.bucket, &run.summary_key()).await? {
                return serde_json::from_slice(&body).map_err(|e| {
                    CliError::Aws(format!("{}: not a summary: {e}", run.summary_key()))
                });
            }
        }
        let text = status.output.or(status.cause).unwrap_or_default();
        serde_json::from_str(&text).map_err(|_| {
            CliError::Aws(format!(
                "execution {} ended {} without a summary: {text}",
                self.arn,
                status.status.as_str()
            ))
        })
    }
}

/// An object of the runs bucket (None: no such key).
pub async fn get_object(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
) -> Result<Option<Vec<u8>>, CliError> {
    match s3.get_object().bucket(bucket).key(key).send().await {
        Ok(out) => {
            let body = out
                .body
                .collect()
                .await
                .map_err(|e| CliError::Aws(format!("GetObject {key}: {e}")))?;
            Ok(Some(body.into_bytes().to_vec()))
        }
        Err(e) if e.as_service_error().is_some_and(|e| e.is_no_such_key()) => Ok(None),
        Err(e) => Err(error::aws(&format!("GetObject s3://{bucket}/{key}"), &e)),
    }
}

/// `arn:...:stateMachine:<machine>` and a name: `arn:...:execution:<machine>:<name>`.
pub fn execution_arn(state_machine_arn: &str, name: &str) -> String {
    format!(
        "{}:{name}",
        state_machine_arn.replacen(":stateMachine:", ":execution:", 1)
    )
}

fn discover_output(e: &HistoryEvent) -> Option<DiscoveryOutput> {
    let exited = e.state_exited_event_details()?;
    if exited.name() != "Discover" {
        return None;
    }
    serde_json::from_str(exited.output()?).ok()
}
