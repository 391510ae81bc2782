//! Refresh: advance one stack through RotateToken=false then =true, polling it, until it is
//! done or this invocation's budget runs out (then the state machine calls again).

use lambda_runtime::{service_fn, Error, LambdaEvent};
use rotatetoken::aws::{cloudformation::CloudFormation, load_config};
use rotatetoken::ports::{Clock, SystemClock};
use rotatetoken::{config, service, telemetry};
use serde_json::Value;

/// Left for answering Step Functions before Lambda's own timeout.
const DEADLINE_MARGIN_MS: u64 = 5_000;

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let settings = config::refresh_settings()?;
    let step_budget_ms = config::step_budget_ms()?;
    let cloudformation = CloudFormation::new(&load_config().await);
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let cloudformation = &cloudformation;
        async move {
            let now = SystemClock.now_ms();
            let lambda_deadline = event.context.deadline.saturating_sub(DEADLINE_MARGIN_MS);
            let budget_until = lambda_deadline.min(now + step_budget_ms).max(now);
            service::refresh(
                cloudformation,
                &SystemClock,
                settings,
                event.payload,
                budget_until,
            )
            .await
        }
    }))
    .await
}
