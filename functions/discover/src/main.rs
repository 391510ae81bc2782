//! Discover: list every stack, select those with the token parameter (and, in
//! `referencing` mode, a mention of the secret), report the ones that cannot be updated.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use rotatetoken::aws::{cloudformation::CloudFormation, load_config};
use rotatetoken::{config, service, telemetry};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let settings = config::discovery_settings()?;
    let cloudformation = CloudFormation::new(&load_config().await);
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let (cloudformation, settings) = (&cloudformation, &settings);
        async move { service::discover(cloudformation, settings, event.payload).await }
    }))
    .await
}
