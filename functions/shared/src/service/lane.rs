//! The refresh's place in its account-region's lane ([`crate::domain::lanes`]): the lane
//! document in the runs bucket, read and changed only by S3 conditional writes (a write
//! that finds the document changed reads it again and decides again).

use tracing::{info, warn};

use crate::domain::lanes::{self, lane_key, Claim, Entry};
use crate::domain::model::{Lane, StackRef};
use crate::ports::{AwsError, Clock, LockStore, ResourceBudget, StackUpdater};

/// Conditional writes tried before giving up: a lane's contenders are its stacks' looks.
const ATTEMPTS: u32 = 20;

/// Reads the lane, applies `change`, writes it back if it changed; returns what `change`
/// returned.
async fn change<L, T>(
    store: &L,
    stack: &StackRef,
    mut change: impl FnMut(&mut Lane) -> T,
) -> Result<T, AwsError>
where
    L: LockStore + Sync,
{
    let key = lane_key(stack);
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            // The lane's other stacks wrote first: back off a little, spread by stack, so
            // that a wave of them does not collide again at once.
            let spread = stack.id.bytes().fold(attempt, |h, b| {
                h.wrapping_mul(31).wrapping_add(u32::from(b))
            });
            let ms = 20 * u64::from(attempt) + u64::from(spread % 50);
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        }
        let read = store.read(&key).await?;
        let mut lane: Lane = read
            .as_ref()
            .and_then(|(body, _)| serde_json::from_slice(body).ok())
            .unwrap_or_default();
        let before = lane.clone();
        let out = change(&mut lane);
        if lane == before {
            return Ok(out);
        }
        let body = serde_json::to_vec(&lane).unwrap_or_default();
        let written = match &read {
            Some((_, tag)) => store.replace(&key, body, tag).await?,
            None => store.create(&key, body).await?,
        };
        if written {
            return Ok(out);
        }
    }
    Err(AwsError {
        operation: "PutObject",
        code: Some("ConditionalRequestConflict".into()),
        message: format!("{key}: changed by others {ATTEMPTS} times in a row"),
    })
}

/// A place for a stack whose refresh has not begun: `true` when it has one (now or before).
pub async fn enter<L: LockStore + Sync>(
    store: &L,
    stack: &StackRef,
    execution: &str,
    now_ms: u64,
    budget: u32,
) -> Result<bool, AwsError> {
    let entry = change(store, stack, |lane| {
        lanes::enter(lane, &stack.id, execution, now_ms, budget)
    })
    .await?;
    if entry == Entry::Full {
        info!(account = %stack.account, region = %stack.region, "the account-region's lane is full: waiting for a place");
    }
    Ok(entry == Entry::Admitted)
}

/// What a hand-over found in the lane for the step it wakes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HandOver {
    /// A free place, now taken for the step's stack.
    Taken,
    /// The stack holds a place already (its own look got one).
    Held,
    /// No place free (another hand-over, or a stack's own look, took it first).
    Full,
}

/// The waiter hands a freed place to a step waiting for one: taken for it in the lane
/// before its token is sent (as its own look would take it), so that hand-overs of
/// stacks ending at once never wake more steps than there are places.
pub(crate) async fn hand_to<L: LockStore + Sync>(
    store: &L,
    stack: &StackRef,
    execution: &str,
    now_ms: u64,
    budget: u32,
) -> Result<HandOver, AwsError> {
    change(store, stack, |lane| {
        if lanes::holds(lane, &stack.id, execution) {
            return HandOver::Held;
        }
        match lanes::enter(lane, &stack.id, execution, now_ms, budget) {
            Entry::Admitted => HandOver::Taken,
            Entry::Full => HandOver::Full,
        }
    })
    .await
}

/// A later look at a stack that holds a place: renewed when due. Best effort: a lease that
/// could not be renewed costs at most one stack too many in the lane, later. `resources`:
/// what its updates change, counted again if its lease had run out.
pub async fn renew<L: LockStore + Sync>(
    store: &L,
    stack: &StackRef,
    execution: &str,
    now_ms: u64,
    resources: u32,
) {
    if let Err(e) = change(store, stack, |lane| {
        lanes::renew(lane, &stack.id, execution, now_ms, resources)
    })
    .await
    {
        warn!(error = %e, "could not renew the stack's place in its lane");
    }
}

/// The stack's refresh ended: its place is free for the next. Returns whether a step may be
/// waiting for a place in the lane ([`lanes::leave`]; `true` when the lane could not be
/// read or written: the hand-over then runs, as it always did). Best effort: a place not
/// given back is freed by its lease.
pub async fn leave<L: LockStore + Sync>(
    store: &L,
    stack: &StackRef,
    execution: &str,
    now_ms: u64,
) -> bool {
    match change(store, stack, |lane| {
        lanes::leave(lane, &stack.id, execution, now_ms)
    })
    .await
    {
        Ok(waited_for) => waited_for,
        Err(e) => {
            warn!(error = %e, "could not give back the stack's place in its lane");
            true
        }
    }
}

/// CloudFormation throttled a look in this lane: fewer places until it is calm again.
pub async fn throttled<L: LockStore + Sync>(store: &L, stack: &StackRef, now_ms: u64, budget: u32) {
    match change(store, stack, |lane| {
        lanes::throttled(lane, now_ms, budget);
        lane.places
    })
    .await
    {
        Ok(places) => {
            info!(account = %stack.account, region = %stack.region, places, "CloudFormation throttled this account-region: its lane narrowed")
        }
        Err(e) => warn!(error = %e, "could not narrow the throttled lane"),
    }
}

/// The lane's share of its account-region's concurrent resources, as a refresh claims it
/// right before its first update: the lane in the runs bucket, and the target's
/// `ConcurrentResourcesLimit` read from CloudFormation when the lane's reading is due
/// (once an hour per account-region). Without lanes (no run files) every claim is granted.
pub struct LaneBudget<'a, L, U, C> {
    pub lanes: Option<&'a L>,
    pub updater: &'a U,
    pub clock: &'a C,
    pub execution: &'a str,
}

impl<L, U, C> ResourceBudget for LaneBudget<'_, L, U, C>
where
    L: LockStore + Sync,
    U: StackUpdater + Sync,
    C: Clock + Sync,
{
    async fn claim(&self, stack: &StackRef, resources: u32) -> Result<bool, AwsError> {
        let Some(store) = self.lanes else {
            return Ok(true);
        };
        let now_ms = self.clock.now_ms();
        let execution = self.execution;
        let mut claim = change(store, stack, |lane| {
            lanes::claim(lane, &stack.id, execution, resources, now_ms)
        })
        .await?;
        if claim == Claim::LimitDue {
            // A target role deployed before this read was granted (the StackSet not yet
            // updated) is refused: the lane then holds by its places alone, said once an hour.
            let limit = self.updater.concurrent_resources_limit().await;
            if let Err(e) = &limit {
                warn!(error = %e, "could not read the account-region's ConcurrentResourcesLimit: the lane keeps the limit it read before (none: places only) and reads it again in five minutes");
            }
            claim = change(store, stack, |lane| {
                match &limit {
                    Ok(limit) => lanes::set_resource_limit(lane, *limit, now_ms),
                    Err(_) => lanes::limit_unread(lane, now_ms),
                }
                lanes::claim(lane, &stack.id, execution, resources, now_ms)
            })
            .await?;
        }
        if claim != Claim::Granted {
            info!(account = %stack.account, region = %stack.region, resources, "the account-region's begun stacks change too many resources at once: waiting for a place");
        }
        Ok(claim == Claim::Granted)
    }
}
