//! `stop`: a safe stop. A marker in the run's files keeps every stack whose refresh has not
//! begun from beginning (row `stopped`, "stopped by operator"); a stack between phases
//! always finishes phase two, so none is left at `false`. The run then ends with its
//! summary, failed: the stopped stacks keep the old value. (StopExecution would abort
//! children mid-refresh.) Only the roles the deployment names in `OperatorRoleArns` may
//! write the marker (the runs bucket's policy).

use std::time::{Duration, Instant};

use serde_json::json;

use super::{print_json, Attention};
use crate::args::Output;
use crate::context::Context;
use crate::error::CliError;
use crate::execution::Execution;

/// How long to wait for Discover to say where the run's files are: its Lambda's time-out
/// (template.yaml; discovery is paced under `DiscoveryCallsPerSecond`).
const DISCOVER_WAIT: Duration = Duration::from_secs(900);

pub async fn run(ctx: &Context, name_or_arn: &str) -> Result<Attention, CliError> {
    let execution = Execution::find(ctx, name_or_arn).await?;
    let started = Instant::now();
    let run = loop {
        let status = execution.status().await?;
        if !status.running() {
            return Err(CliError::Invalid(format!(
                "execution {} already ended ({}): nothing to stop",
                execution.arn,
                status.status.as_str()
            )));
        }
        if let Some(run) = execution.run_files().await? {
            break run;
        }
        if started.elapsed() > DISCOVER_WAIT {
            return Err(CliError::Aws(format!(
                "execution {} has not finished discovery after {} s: try again",
                execution.arn,
                DISCOVER_WAIT.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let key = run.stop_key();
    let at_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default();
    let body = serde_json::to_vec(&json!({"requested_ms": at_ms})).unwrap_or_default();
    execution
        .put(&run.bucket, &key, body)
        .await
        .map_err(|e| match e {
            CliError::Aws(m) if m.contains("AccessDenied") => CliError::Aws(format!(
                "{m}: only the roles the deployment lists in OperatorRoleArns may stop a run"
            )),
            other => other,
        })?;
    match ctx.global.output {
        Output::Json => print_json(&json!({"execution_arn": execution.arn, "stop_marker": format!("s3://{}/{key}", run.bucket)}))?,
        Output::Table => println!(
            "stop requested for {}: no stack begins its refresh from now on; stacks between phases finish.\nFollow it to its summary with: rotate-token watch {}",
            execution.arn, execution.arn
        ),
    }
    Ok(false)
}
