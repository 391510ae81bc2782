//! Report: turn discovery's output and the per-stack results into the run summary. With
//! RUNS_BUCKET set (the state machine's path) it reads the full discovery and the
//! Distributed Map's results from S3, writes the full summary there, and returns a compact
//! one.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use rotatetoken::aws::{load_config, s3::S3RunStore, sns::SnsTopic};
use rotatetoken::ports::NoNotifier;
use rotatetoken::{config, service, telemetry};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let config::ReportConfig {
        runs_bucket,
        alerts_topic_arn,
    } = config::report();
    let aws = load_config("rotatetoken-report").await;
    let store = runs_bucket.map(|bucket| S3RunStore::new(&aws, bucket));
    match alerts_topic_arn {
        Some(topic) => serve(store, SnsTopic::new(&aws, topic)).await,
        None => serve(store, NoNotifier).await,
    }
}

async fn serve<N: rotatetoken::ports::Notifier + Sync>(
    store: Option<S3RunStore>,
    notifier: N,
) -> Result<(), Error> {
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let (store, notifier) = (store.as_ref(), &notifier);
        async move { service::report(store, notifier, event.payload).await }
    }))
    .await
}
