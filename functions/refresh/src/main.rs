//! Refresh: advance one stack through RotateToken=false then =true (or its one in-place
//! update), one look at a time, and answer the state machine's step (its task token), or
//! keep the token for the stack's end event (service::look).
// A look's reads run at once (`futures::join!` in service::refresh and the domain): the
// handler's future nests deeper than rustc's default query depth allows when a release
// build computes its layout ("queries overflow the depth limit!").
#![recursion_limit = "256"]

use lambda_runtime::{service_fn, Error, LambdaEvent};
use rotatetoken::aws::retries::SdkRetries;
use rotatetoken::aws::{
    load_config, organizations::Organizations, s3::S3RunStore, secretsmanager::SecretsManager,
    sfn::TaskTokens, targets::AssumedRoles,
};
use rotatetoken::ports::{Clock, SystemClock};
use rotatetoken::{config, service, telemetry};
use serde_json::Value;

/// How long this invocation may work: the step budget, cut short to leave 5 s (or a fifth
/// of a short timeout) for answering before Lambda's own deadline. A deadline that is not
/// in the future tells nothing (`cargo lambda watch` sends a duration, not an epoch time):
/// then the step budget alone applies.
fn budget_until(now: u64, lambda_deadline: u64, step_budget_ms: u64) -> u64 {
    let by_budget = now + step_budget_ms;
    if lambda_deadline <= now {
        return by_budget;
    }
    let remaining = lambda_deadline - now;
    let margin = (remaining / 5).min(5_000);
    (now + remaining - margin).min(by_budget)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let config::RefreshConfig {
        settings,
        step_budget_ms,
        scope,
        runs_bucket,
    } = config::refresh()?;
    let aws = load_config("rotatetoken-refresh").await;
    let access = AssumedRoles::new(&aws, scope.targets.clone());
    let org = Organizations::new(&aws);
    let secrets = SecretsManager::new(&aws);
    // The state machine's step waits on its token: each look answers it (service::look).
    let tokens = TaskTokens::new(&aws);
    // The run's files: `rotate-token stop`'s marker is read there, each stack's progress
    // written there for `rotate-token watch` (none in a local invoke).
    let files = runs_bucket.map(|bucket| S3RunStore::new(&aws, bucket));
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let (access, org, secrets, scope, tokens) = (&access, &org, &secrets, &scope, &tokens);
        let files = files.as_ref();
        let settings = settings.clone();
        async move {
            let now = SystemClock.now_ms();
            let until = budget_until(now, event.context.deadline, step_budget_ms);
            tracing::debug!(budget_ms = until - now, "invocation budget");
            service::look(
                files,
                access,
                org,
                secrets,
                &SystemClock,
                &SdkRetries,
                tokens,
                settings,
                scope,
                event.payload,
                until,
            )
            .await
        }
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::budget_until;

    #[test]
    fn the_budget_respects_the_lambda_deadline() {
        assert_eq!(budget_until(1_000, 901_000, 840_000), 841_000);
        assert_eq!(budget_until(1_000, 61_000, 840_000), 56_000);
        assert_eq!(budget_until(1_000, 11_000, 840_000), 9_000);
        assert_eq!(
            budget_until(1_000_000, 600_000, 20_000),
            1_020_000,
            "not an epoch: ignored"
        );
    }
}
