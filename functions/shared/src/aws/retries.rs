//! Counts the SDK's retried attempts (throttling, transient errors), so a run that healed
//! such faults says so in its summary instead of hiding them. Lambda runs one invocation
//! per container at a time, so the difference of the counter across an invocation is that
//! invocation's count.

use std::sync::atomic::{AtomicU64, Ordering};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::retries::RequestAttempts;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

static RETRIED: AtomicU64 = AtomicU64::new(0);

/// Attempts beyond the first, of every call made through a client with [`RetryCounter`].
pub fn retried_calls() -> u64 {
    RETRIED.load(Ordering::Relaxed)
}

/// The tally of every client built with [`RetryCounter`] (the whole process).
#[derive(Debug, Default, Clone, Copy)]
pub struct SdkRetries;

impl crate::ports::RetryTally for SdkRetries {
    fn retried_calls(&self) -> u64 {
        retried_calls()
    }
}

#[derive(Debug, Default)]
pub struct RetryCounter;

impl Intercept for RetryCounter {
    fn name(&self) -> &'static str {
        "RetryCounter"
    }

    fn read_before_attempt(
        &self,
        _: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if cfg
            .load::<RequestAttempts>()
            .is_some_and(|a| a.attempts() > 1)
        {
            RETRIED.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }
}
