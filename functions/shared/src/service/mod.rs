//! One use case per Lambda function: validate the input, call the domain through the
//! ports, shape the output. The `main`s only build clients and call these; the emulator
//! tests call them too, with the real adapters.

mod audit;
mod coalesce;
mod discover;
mod discovery_pace;
mod lane;
mod refresh;
mod report;
mod scope;
mod trigger;
mod wait;

#[cfg(test)]
mod fuzz;

pub use audit::{audit, current_version, AuditCounts, AuditReport, AuditRow, RECONCILE_CAUSE};
pub use discover::discover;
pub use discovery_pace::PacedAccess;
pub use refresh::{look, refresh, NO_STOPS, STOPPED_BY_OPERATOR};
pub use report::report;
pub use scope::{resolve_targets, with_replicas, Scope};
pub use trigger::{trigger, Trigger, TriggerReport};
pub use wait::{wait, WaitReport};
