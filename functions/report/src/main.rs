//! Report: turn discovery's output and the per-stack results into the run summary.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use rotatetoken::{service, telemetry};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        service::report(event.payload)
    }))
    .await
}
