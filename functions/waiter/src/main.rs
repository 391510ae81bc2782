//! Waiter: holds no Lambda while CloudFormation works. The state machine registers a
//! waiting step's task token for its stack; the stack's status change event (EventBridge,
//! forwarded from every target account-region) sends it back, and the refresh looks again.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use rotatetoken::aws::{load_config, s3::S3RunStore, sfn::TaskTokens};
use rotatetoken::ports::{Clock, SystemClock};
use rotatetoken::{config, service, telemetry};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let (runs_bucket, lane_places) = config::waiter()?;
    let aws = load_config("rotatetoken-waiter").await;
    let board = S3RunStore::new(&aws, runs_bucket);
    let tokens = TaskTokens::new(&aws);
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let (board, tokens) = (&board, &tokens);
        async move {
            let now = SystemClock.now_ms();
            service::wait(board, tokens, lane_places, now, event.payload).await
        }
    }))
    .await
}
