//! An account-region's lane: the stacks a run may have in flight there at once, kept in
//! the runs bucket (`lanes/<account>/<region>.json`) and changed only by S3 conditional
//! writes. Behaviour is in [`crate::domain::lanes`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Who holds a place in the lane, and how many places it has now.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lane {
    /// The places now: the budget (`MaxConcurrency`), halved by each throttled look and
    /// grown back by one a minute while none is (additive increase, multiplicative
    /// decrease, as StackSets' concurrency mode backs off). 0: the budget (a new lane).
    #[serde(default)]
    pub places: u32,
    /// Stack id -> its holder.
    #[serde(default)]
    pub holders: BTreeMap<String, LaneHolder>,
    /// When the lane was last throttled or last grew (epoch ms).
    #[serde(default)]
    pub changed_ms: u64,
    /// The account-region's "resources in concurrent stack operations"
    /// (`ConcurrentResourcesLimit`, DescribeAccountLimits) as last read; 0: unknown (not
    /// read, or refused), and only the places bound the lane.
    #[serde(default)]
    pub resource_limit: u32,
    /// When `resource_limit` was read (epoch ms); 0: never.
    #[serde(default)]
    pub limit_read_ms: u64,
    /// When a stack was last refused here, a place or its resources (epoch ms); 0: never.
    /// Set in the same conditional write that refuses it, so that a stack leaving after
    /// that sees it and has the steps waiting woken ([`crate::domain::lanes::leave`]).
    #[serde(default)]
    pub refused_ms: u64,
}

/// A stack holding a place: from before phase one's first check to its last update's end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaneHolder {
    pub execution: String,
    /// Renewed by each look at the stack; a holder not renewed for the lease is gone (its
    /// step ended without a last look: aborted, timed out, failed for good).
    pub renewed_ms: u64,
    /// The resources its updates change (claimed right before its first update, from the
    /// refresh's own change set): counted against the account-region's share of
    /// `ConcurrentResourcesLimit` until it ends. 0: not begun.
    #[serde(default)]
    pub resources: u32,
    /// What its claim asked for when it was refused (waiting for the lane's begun stacks
    /// to change fewer); 0: not waiting for resources.
    #[serde(default)]
    pub wants: u32,
}
