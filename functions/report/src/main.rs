//! Report: turn discovery's output and the per-stack results into the run summary. With
//! RUNS_BUCKET set (the state machine's path) it reads the full discovery and the
//! Distributed Map's results from S3, writes the full summary there, and returns a compact
//! one.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use rotatetoken::aws::{load_config, s3::S3RunStore};
use rotatetoken::{config, service, telemetry};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let store = match config::runs_bucket() {
        Some(bucket) => Some(S3RunStore::new(&load_config().await, bucket)),
        None => None,
    };
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let store = store.as_ref();
        async move { service::report(store, event.payload).await }
    }))
    .await
}
