//! The data that flows between the functions and through the state machine. Everything is
//! serde-serialisable and free of AWS SDK types. Every stack reference carries its account
//! and region explicitly, so results can always be grouped and acted on per target.
//!
//! One home per crossing type: [`stack`] (stack references, snapshots, planned changes and
//! the tags the product reads), [`plan`] (update plans, parameter values, refresh modes,
//! failed resources), [`secret`], [`target`], [`step`] (every payload the state machine
//! carries, the Map's results included), [`wait`] (event-driven waiting) and [`summary`] (the report's output). Behaviour
//! modules import these; these import no behaviour.

mod lane;
mod plan;
mod secret;
mod stack;
mod step;
mod summary;
mod target;
mod wait;

pub use lane::{Lane, LaneHolder};
pub use plan::{FailedResource, OperationSeen, ParameterValue, RefreshMode, UpdatePlan};
pub use secret::{
    is_secret_arn, secret_name_from_arn, Replica, Replication, SecretRef, SecretVersions,
};
pub use stack::*;
pub use step::*;
pub use summary::{Counts, StackRow, Summary, TargetCounts};
pub use target::{Target, TargetSettings};
pub use wait::{StackEnd, StackWait, WaitKind, WaitRegistration};

#[cfg(test)]
mod tests;
