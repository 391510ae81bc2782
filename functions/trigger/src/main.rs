//! Trigger: EventBridge delivers Secrets Manager events (CloudTrail or native) and the ends
//! of this pipeline's runs; a new current secret version starts one named refresh execution,
//! at most one per secret at a time (locks in the runs bucket). Prints its decision.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use rotatetoken::aws::{
    load_config, s3::S3RunStore, secretsmanager::SecretsManager, sfn::StepFunctions, sns::SnsTopic,
};
use rotatetoken::ports::SystemClock;
use rotatetoken::service::Trigger;
use rotatetoken::{config, service, telemetry};
use serde_json::Value;
use tracing::Instrument;

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let config::TriggerConfig {
        state_machine_arn,
        runs_bucket,
        secret_scope: scope,
        reconcile_action,
        alerts_topic_arn,
        coalesce_seconds,
        reconcile_since,
    } = config::trigger()?;
    let aws = load_config("rotatetoken-trigger").await;
    let starter = StepFunctions::new(&aws, state_machine_arn);
    let secrets = SecretsManager::new(&aws);
    let locks = runs_bucket
        .clone()
        .map(|bucket| S3RunStore::new(&aws, bucket));
    let notifier = alerts_topic_arn.map(|topic| SnsTopic::new(&aws, topic));
    let trigger = Trigger {
        starter: &starter,
        secrets: &secrets,
        locks: locks.as_ref(),
        runs_bucket: runs_bucket.as_deref(),
        clock: &SystemClock,
        notifier: &notifier,
        scope: &scope,
        reconcile: reconcile_action,
        coalesce_seconds,
        reconcile_since,
    };
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let trigger = &trigger;
        async move {
            // The envelope's identity goes on every log line of this invocation (never the
            // detail, which is only read field by field by the domain).
            let envelope =
                serde_json::from_value::<EventBridgeEvent<Value>>(event.payload.clone()).ok();
            let field = |f: fn(&EventBridgeEvent<Value>) -> Option<&str>| {
                envelope.as_ref().and_then(f).unwrap_or("-").to_string()
            };
            let span = tracing::info_span!(
                "trigger",
                event_id = field(|e| e.id.as_deref()),
                account = field(|e| e.account.as_deref()),
                region = field(|e| e.region.as_deref()),
            );
            service::trigger(trigger, &event.payload)
                .instrument(span)
                .await
        }
    }))
    .await
}
