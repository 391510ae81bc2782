//! Discover: list every stack, select those with the token parameter (and, in
//! `referencing` mode, a mention of the secret), in every target account and region, and
//! report the stacks that cannot be updated and the targets that could not be searched.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use rotatetoken::aws::{load_config, s3::S3RunStore, targets::AssumedRoles};
use rotatetoken::{config, service, telemetry};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let settings = config::discovery_settings()?;
    let target_settings = config::target_settings()?;
    let targets = target_settings.targets(&config::own_region()?);
    let aws = load_config().await;
    let access = AssumedRoles::new(&aws, target_settings);
    let store = config::runs_bucket().map(|bucket| S3RunStore::new(&aws, bucket));
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let (access, store, targets, settings) = (&access, store.as_ref(), &targets, &settings);
        async move { service::discover(access, store, targets, settings, event.payload).await }
    }))
    .await
}
