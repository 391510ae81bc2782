//! Discover: list every stack, select those with the token or version parameter (and, in
//! `referencing` mode or for in-place stacks, a mention of the secret), in every target account and region, and
//! report the stacks that cannot be updated and the targets that could not be searched.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use rotatetoken::aws::retries::SdkRetries;
use rotatetoken::aws::{
    load_config, organizations::Organizations, s3::S3RunStore, secretsmanager::SecretsManager,
    targets::AssumedRoles,
};
use rotatetoken::{config, service, telemetry};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let config::DiscoverConfig {
        settings,
        scope,
        runs_bucket,
    } = config::discover()?;
    let aws = load_config("rotatetoken-discover").await;
    // Discovery reads only: each target's reader role, which IAM keeps from every update,
    // and a read-only session in it besides.
    let access = AssumedRoles::new(&aws, scope.targets.clone()).read_only();
    let org = Organizations::new(&aws);
    let store = runs_bucket.map(|bucket| S3RunStore::new(&aws, bucket));
    let secrets = SecretsManager::new(&aws);
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let (access, org, store, secrets, scope, settings) =
            (&access, &org, store.as_ref(), &secrets, &scope, &settings);
        async move {
            // Boxed: the discovery future is deep enough that, laid out inline in this
            // handler's future, a non-incremental build (CI's CARGO_INCREMENTAL=0)
            // overflows rustc's query depth limit.
            Box::pin(service::discover(
                access,
                org,
                store,
                secrets,
                &SdkRetries,
                scope,
                settings,
                event.payload,
            ))
            .await
        }
    }))
    .await
}
