//! RotateToken: refresh every CloudFormation stack that consumes a secret, by flipping the
//! stack's `RotateToken` parameter to `false` (guarded resources are deleted) and back to
//! `true` (they are recreated and re-read the secret).
//!
//! Layout (ports and adapters):
//! - [`domain`]: pure logic with no AWS SDK types: event interpretation, stack selection,
//!   the per-stack two-phase refresh, the run summary.
//! - [`ports`]: the small traits the domain needs from AWS.
//! - [`aws`]: one adapter per AWS service implementing those traits.
//! - [`config`], [`telemetry`], [`handler`]: what every Lambda `main` shares.

pub mod aws;
pub mod config;
pub mod domain;
pub mod handler;
pub mod ports;
pub mod service;
pub mod telemetry;

#[cfg(test)]
pub(crate) mod fakes;

pub use domain::error::InputError;
