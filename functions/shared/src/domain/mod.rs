//! Pure domain logic. Nothing here performs I/O except through the traits in [`crate::ports`].

pub mod audit;
pub mod built_refs;
pub mod coalesce;
pub mod conditions;
pub mod discovery;
pub mod error;
pub mod guard;
pub mod in_place;
pub mod lanes;
pub mod model;
pub mod nested;
pub mod notice;
pub mod planning;
pub mod refresh;
pub mod report;
pub mod rollback;
pub mod run_lock;
pub mod run_names;
pub mod secret_scope;
pub mod selection;
pub mod service_role;
pub mod stack_policy;
pub mod targets;
pub mod trigger;
pub mod utc;
pub mod waiting;
