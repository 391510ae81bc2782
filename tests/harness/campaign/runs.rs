//! The runs of the secret as Step Functions lists them: the one to strike, every run's end,
//! and the wait until none runs.

use std::time::{Duration, Instant};

use aws_sdk_sfn::types::ExecutionStatus;

use crate::pipeline::Pipeline;

/// The run to strike: one running now (`first` if it still runs, else the earliest), or the
/// next to run within 150 s: when the first run has ended before its strike, a later run of
/// the burst may still start (after the first's end, or when EventBridge retries a delivery,
/// 60 s then 120 s: the emulator's `async_retry_delays_seconds`), and is struck instead.
pub(super) async fn running_soon(p: &Pipeline, first: &str) -> Option<String> {
    let until = Instant::now() + Duration::from_secs(150);
    loop {
        if let Some(run) = running(p, first).await {
            return Some(run);
        }
        if Instant::now() >= until {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn running(p: &Pipeline, first: &str) -> Option<String> {
    let mut runs = running_executions(p).await?;
    runs.sort_by_key(|e| e.start_date().secs());
    runs.iter()
        .find(|e| e.name() == first)
        .or(runs.first())
        .map(|e| e.name().to_string())
}

/// Every run so far, how it ended and, for a failed one, its error and cause (said when a
/// stop or an abort finds nothing to strike, so a short count can be explained).
pub(super) async fn runs_so_far(p: &Pipeline) -> String {
    let mut said = Vec::new();
    for name in p.executions().await {
        let out = p
            .sfn
            .describe_execution()
            .execution_arn(crate::execution_arn(&name))
            .send()
            .await;
        said.push(match out {
            Ok(e) => {
                let took = e
                    .stop_date()
                    .map(|end| end.secs() - e.start_date().secs())
                    .unwrap_or(-1);
                format!(
                    "{name} {} after {took} s {} {}",
                    e.status().as_str(),
                    e.error().unwrap_or_default(),
                    e.cause()
                        .unwrap_or_default()
                        .chars()
                        .take(400)
                        .collect::<String>()
                )
            }
            Err(e) => format!("{name}: {e}"),
        });
    }
    said.join("; ")
}

/// The state machine's executions still running (`None` when the listing failed).
async fn running_executions(p: &Pipeline) -> Option<Vec<aws_sdk_sfn::types::ExecutionListItem>> {
    let out = p
        .sfn
        .list_executions()
        .state_machine_arn(crate::state_machine_arn())
        .status_filter(ExecutionStatus::Running)
        .send()
        .await
        .ok()?;
    Some(out.executions().to_vec())
}

/// Waits until no execution of the state machine has run for three seconds.
pub(super) async fn quiesce(p: &Pipeline, timeout: Duration) {
    let start = Instant::now();
    let mut quiet_since: Option<Instant> = None;
    while start.elapsed() < timeout {
        // A listing that fails counts as a run still running.
        let running = running_executions(p).await.map_or(1, |runs| runs.len());
        match (running, quiet_since) {
            (0, Some(t)) if t.elapsed() > Duration::from_secs(3) => return,
            (0, None) => quiet_since = Some(Instant::now()),
            (0, _) => {}
            _ => quiet_since = None,
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
