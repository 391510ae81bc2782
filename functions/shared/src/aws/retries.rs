//! Counts the SDK's retried attempts (throttling, transient errors), so a run that healed
//! such faults says so in its summary instead of hiding them; and, apart, the attempts
//! CloudFormation refused as throttled, the one signal that narrows an account-region's
//! lane (a connection reset or a 5xx says nothing about its API rates). Lambda runs one
//! invocation per container at a time, so the difference of a counter across an
//! invocation is that invocation's count.

use std::sync::atomic::{AtomicU64, Ordering};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::retries::RequestAttempts;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

static RETRIED: AtomicU64 = AtomicU64::new(0);
static THROTTLED: AtomicU64 = AtomicU64::new(0);

/// Attempts CloudFormation refused as throttled, of every call made through a client with
/// [`ThrottleCounter`] (the target accounts' CloudFormation clients).
pub fn throttled_calls() -> u64 {
    THROTTLED.load(Ordering::Relaxed)
}

/// Whether an answer is a throttling refusal: HTTP 400 with the error code `Throttling`
/// ("Rate exceeded"), which is how CloudFormation refuses a call over its rate
/// (the Query protocol's `<Code>Throttling</Code>`; a Query-compatible JSON answer names
/// its code in `x-amzn-query-error`).
pub fn is_throttling(status: u16, query_error: Option<&str>, body: Option<&[u8]>) -> bool {
    const CODE: &[u8] = b"<Code>Throttling</Code>";
    status == 400
        && (query_error.is_some_and(|h| h.split(';').next() == Some("Throttling"))
            || body.is_some_and(|b| b.windows(CODE.len()).any(|w| w == CODE)))
}

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
    fn throttled_calls(&self) -> u64 {
        throttled_calls()
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

/// Counts the attempts refused as throttled ([`throttled_calls`]).
#[derive(Debug, Default)]
pub struct ThrottleCounter;

impl Intercept for ThrottleCounter {
    fn name(&self) -> &'static str {
        "ThrottleCounter"
    }

    fn read_after_attempt(
        &self,
        ctx: &FinalizerInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        // The body of a non-streaming answer is in memory by now (read whole before it
        // is deserialised).
        if let Some(response) = ctx.response() {
            if is_throttling(
                response.status().as_u16(),
                response.headers().get("x-amzn-query-error"),
                response.body().bytes(),
            ) {
                THROTTLED.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::is_throttling;

    #[test]
    fn only_a_400_named_throttling_is_a_throttle() {
        let xml = br#"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error></ErrorResponse>"#;
        assert!(is_throttling(400, None, Some(xml)));
        assert!(is_throttling(400, Some("Throttling;Sender"), None));
        let validation = br#"<ErrorResponse><Error><Code>ValidationError</Code><Message>Throttling is not the point</Message></Error></ErrorResponse>"#;
        assert!(!is_throttling(400, None, Some(validation)));
        assert!(!is_throttling(500, None, Some(xml)));
        assert!(!is_throttling(503, None, None));
    }
}
