//! Report's use case: the run's summary from discovery and the Map's results, kept in the
//! run files, told to the operators.

use serde_json::Value;
use tracing::{info, Instrument};

use crate::domain::error::{from_step_input, InputError};
use crate::domain::model::{
    ChildExecution, MapResults, RefreshTask, ReportInput, ResultManifest, S3Object, Summary,
};
use crate::domain::notice;
use crate::domain::report;
use crate::handler::FunctionError;
use crate::ports::{Notifier, RunStore};
use crate::telemetry;

pub async fn report<S: RunStore + Sync, N: Notifier + Sync>(
    store: Option<&S>,
    notifier: &N,
    input: Value,
) -> Result<Summary, FunctionError> {
    let raw: ReportInput = from_step_input("input", input)?;
    let execution = raw
        .discovery
        .run
        .as_ref()
        .and_then(|r| r.prefix.strip_prefix("runs/"))
        .unwrap_or("manual")
        .to_string();
    let span = tracing::info_span!("report", execution = %execution);
    summarise_and_tell(store, notifier, raw)
        .instrument(span)
        .await
}

async fn summarise_and_tell<S: RunStore + Sync, N: Notifier + Sync>(
    store: Option<&S>,
    notifier: &N,
    raw: ReportInput,
) -> Result<Summary, FunctionError> {
    let mut discovery = raw.discovery;
    let run = discovery.run.clone();
    if let (Some(run), Some(store)) = (&run, store) {
        let body = store.get(&run.bucket, &run.discovery_key).await?;
        discovery = serde_json::from_slice(&body)
            .map_err(|e| InputError::new("run.discovery_key", e.to_string()))?;
    }
    let results = match (raw.results, store) {
        (None, _) => None,
        (Some(MapResults::Inline(tasks)), _) => Some(tasks),
        (Some(MapResults::Written { details }), Some(store)) => {
            Some(read_map_results(store, &details).await?)
        }
        (Some(MapResults::Written { .. }), None) => {
            return Err(InputError::new(
                "input.results",
                "written to S3 but RUNS_BUCKET is not set",
            )
            .into())
        }
    };
    let full = report::summarise(discovery, results);
    let mut summary = match &run {
        Some(run) if store.is_some() => report::compact(
            full.clone(),
            format!("s3://{}/{}", run.bucket, run.summary_key()),
        ),
        _ => full.clone(),
    };
    // Tell the operators first: a CRITICAL stack's alert and metric must not depend on the
    // run files being writable (a failed write below fails the task, which Step Functions
    // retries; an alert told twice beats one never told). A failed publish must not cost
    // the run its summary either: it is recorded in the summary (and logged) instead.
    for n in notice::notices(&summary) {
        if let Err(e) = notifier.publish(&n.subject, &n.message).await {
            tracing::error!(error = %e, subject = %n.subject, "could not publish the notice");
            summary.notice_error.get_or_insert_with(|| e.to_string());
        }
    }
    let c = &summary.counts;
    if !summary.dry_run {
        telemetry::emit_metrics(&[
            ("StacksRefreshed", c.refreshed as f64, "Count"),
            ("StacksSkipped", c.skipped as f64, "Count"),
            ("StacksFailed", c.failed as f64, "Count"),
            ("StacksCritical", c.critical as f64, "Count"),
            ("StacksStopped", c.stopped as f64, "Count"),
            ("TargetsFailed", c.failed_targets as f64, "Count"),
            ("CallsRetried", c.retried_calls as f64, "Count"),
        ]);
    }
    if let (Some(run), Some(store)) = (&run, store) {
        let full = report::Summary {
            notice_error: summary.notice_error.clone(),
            ..full
        };
        let body =
            serde_json::to_vec(&full).map_err(|e| InputError::new("summary", e.to_string()))?;
        store.put(&run.summary_key(), body).await?;
    }
    if summary.run_failed {
        summary.failure_cause = Some(report::failure_cause(&summary));
    }
    let c = &summary.counts;
    info!(
        secret_arn = %summary.secret.arn, dry_run = summary.dry_run, selected = c.selected, refreshed = c.refreshed,
        would_refresh = c.would_refresh, skipped = c.skipped, failed = c.failed, critical = c.critical,
        stopped = c.stopped, "run summary"
    );
    Ok(summary)
}

/// Reads a Distributed Map's ResultWriter output: the manifest, then every result file.
async fn read_map_results<S: RunStore + Sync>(
    store: &S,
    manifest: &S3Object,
) -> Result<Vec<RefreshTask>, FunctionError> {
    let body = store.get(&manifest.bucket, &manifest.key).await?;
    let manifest: ResultManifest = serde_json::from_slice(&body)
        .map_err(|e| InputError::new("results.ResultWriterDetails", e.to_string()))?;
    let mut tasks = Vec::new();
    let files = manifest.files;
    for file in files
        .succeeded
        .iter()
        .chain(&files.failed)
        .chain(&files.pending)
    {
        let body = store.get(&manifest.bucket, &file.key).await?;
        let children: Vec<ChildExecution> = serde_json::from_slice(&body)
            .map_err(|e| InputError::new(format!("results file {}", file.key), e.to_string()))?;
        tasks.extend(children.into_iter().filter_map(report::child_task));
    }
    Ok(tasks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::{BrokenTopic, MemoryStore, RecordingTopic};
    use serde_json::json;

    #[test]
    fn a_failed_publish_is_recorded_in_the_summary_not_lost() {
        let input = json!({
            "secret": {"arn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf", "name": "prod/db"},
            "cause": "PutSecretValue", "dry_run": true, "parameter": "RotateToken", "mode": "all",
            "max_concurrency": 5, "scanned": 0, "not_consumers": 0, "selected": [], "skipped": [],
            "targets": 1, "failed_targets": []
        });
        let summary = futures::executor::block_on(report(
            None::<&crate::ports::NoRunFiles>,
            &BrokenTopic,
            input,
        ))
        .unwrap();
        let error = summary
            .notice_error
            .expect("the failed publish is in the summary");
        assert!(
            error.contains("Publish") && error.contains("NotFound"),
            "{error}"
        );
    }

    #[test]
    fn the_critical_alert_goes_out_even_when_the_run_files_cannot_be_written() {
        let store = MemoryStore::failing_puts();
        let discovery = json!({
            "secret": {"arn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf", "name": "prod/db"},
            "cause": "PutSecretValue", "dry_run": false, "parameter": "RotateToken", "mode": "all",
            "max_concurrency": 5, "scanned": 1, "not_consumers": 0, "selected": [], "skipped": [],
            "targets": 1, "failed_targets": [], "selected_count": 1,
            "run": {"bucket": "runs", "prefix": "runs/exec-1", "items_key": "runs/exec-1/items.json", "discovery_key": "runs/exec-1/discovery.json"}
        });
        let stack = "arn:aws:cloudformation:us-east-1:123456789012:stack/app/1";
        let mut full = discovery.clone();
        full["selected"] = json!([{"stack": {"account": "123456789012", "region": "us-east-1", "name": "app", "id": stack}, "parameter": "RotateToken"}]);
        store.insert(
            "runs/exec-1/discovery.json",
            serde_json::to_vec(&full).unwrap(),
        );
        let mut input = discovery;
        input["results"] = json!([{
            "stack": {"account": "123456789012", "region": "us-east-1", "name": "app", "id": stack},
            "parameter": "RotateToken", "phase": "enable", "outcome": "failed", "critical": true,
            "reason": "update to true ended in UPDATE_ROLLBACK_COMPLETE"
        }]);
        let topic = RecordingTopic::default();
        let out = futures::executor::block_on(report(Some(&store), &topic, input));
        assert!(
            out.is_err(),
            "the failed write fails the task (Step Functions retries it)"
        );
        let published = topic.published.lock().unwrap();
        assert!(
            published
                .iter()
                .any(|(subject, _)| subject.contains("CRITICAL")),
            "the CRITICAL alert was published before the write: {published:?}"
        );
    }
}
