//! Discover: list every stack, select those with the token parameter (and, in
//! `referencing` mode, a mention of the secret), in every target account and region, and
//! report the stacks that cannot be updated and the targets that could not be searched.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use rotatetoken::aws::{load_config, targets::AssumedRoles};
use rotatetoken::{config, service, telemetry};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let settings = config::discovery_settings()?;
    let targets = config::target_settings()?.targets(&config::own_region()?);
    let access = AssumedRoles::new(&load_config().await, config::target_settings()?);
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let (access, targets, settings) = (&access, &targets, &settings);
        async move { service::discover(access, targets, settings, event.payload).await }
    }))
    .await
}
