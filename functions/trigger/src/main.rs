//! Trigger: EventBridge delivers Secrets Manager events (CloudTrail or native); for each new
//! current secret version, start one named refresh execution. Prints its decision.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use rotatetoken::aws::{load_config, secretsmanager::SecretsManager, sfn::StepFunctions};
use rotatetoken::{config, service, telemetry};
use serde_json::Value;
use tracing::Instrument;

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let aws = load_config("rotatetoken-trigger").await;
    let starter = StepFunctions::new(&aws, config::state_machine_arn()?);
    let secrets = SecretsManager::new(&aws);
    let scope = config::secret_scope()?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let (starter, secrets, scope) = (&starter, &secrets, &scope);
        async move {
            // The envelope's identity goes on every log line of this invocation (never the
            // detail, which is only read field by field by the domain).
            let envelope =
                serde_json::from_value::<EventBridgeEvent<Value>>(event.payload.clone()).ok();
            let span = tracing::info_span!(
                "trigger",
                event_id = envelope
                    .as_ref()
                    .and_then(|e| e.id.as_deref())
                    .unwrap_or("-"),
                account = envelope
                    .as_ref()
                    .and_then(|e| e.account.as_deref())
                    .unwrap_or("-"),
                region = envelope
                    .as_ref()
                    .and_then(|e| e.region.as_deref())
                    .unwrap_or("-"),
            );
            service::trigger(starter, secrets, scope, &event.payload)
                .instrument(span)
                .await
        }
    }))
    .await
}
