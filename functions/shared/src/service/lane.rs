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
    change: impl FnMut(&mut Lane) -> T,
) -> Result<T, AwsError>
where
    L: LockStore + Sync,
{
    change_from(store, stack, None, change).await
}

/// The lane as read a moment ago by the same look ([`read_ahead`]), for its first attempt:
/// a conditional write on it that finds the lane changed since reads it again, as any.
pub type Ahead = Option<Result<Option<(Vec<u8>, String)>, AwsError>>;

/// Reads the lane, for [`enter`] at once with a look's other first reads.
pub async fn read_ahead<L: LockStore + Sync>(
    store: &L,
    stack: &StackRef,
) -> Result<Option<(Vec<u8>, String)>, AwsError> {
    store.read(&lane_key(stack)).await
}

/// [`change`], its first attempt on the lane read `ahead` when there is one.
async fn change_from<L, T>(
    store: &L,
    stack: &StackRef,
    mut ahead: Ahead,
    mut change: impl FnMut(&mut Lane) -> T,
) -> Result<T, AwsError>
where
    L: LockStore + Sync,
{
    let key = lane_key(stack);
    // Whether the attempt before was on the read ahead: then it was stale, not contended,
    // and the next reads again at once.
    let mut stale_ahead = false;
    for attempt in 0..ATTEMPTS {
        if attempt > 0 && !std::mem::take(&mut stale_ahead) {
            // The lane's other stacks wrote first: back off a little, spread by stack, so
            // that a wave of them does not collide again at once.
            let spread = stack.id.bytes().fold(attempt, |h, b| {
                h.wrapping_mul(31).wrapping_add(u32::from(b))
            });
            let ms = 20 * u64::from(attempt) + u64::from(spread % 50);
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        }
        // A read ahead that failed is made again here, as if there had been none.
        let read = match ahead.take() {
            Some(Ok(read)) => {
                stale_ahead = true;
                read
            }
            _ => store.read(&key).await?,
        };
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
/// `ahead`: the lane as the look read it with its first reads ([`read_ahead`]): a stack
/// that holds its place already is admitted without another read, and a place taken is a
/// conditional write on what was read.
pub async fn enter<L: LockStore + Sync>(
    store: &L,
    stack: &StackRef,
    execution: &str,
    now_ms: u64,
    budget: u32,
    ahead: Ahead,
) -> Result<bool, AwsError> {
    let entry = change_from(store, stack, ahead, |lane| {
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
/// stacks ending at once never wake more steps than there are places. Refused (`Full`), the
/// step goes on waiting, and the lane says so as for a look refused (`Lane::refused_ms`).
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
/// what its updates change, counted again if its lease had run out. `ahead`: the lane as
/// the look read it with its first reads (not due: nothing more to read or write).
pub async fn renew<L: LockStore + Sync>(
    store: &L,
    stack: &StackRef,
    execution: &str,
    now_ms: u64,
    resources: u32,
    ahead: Ahead,
) {
    if let Err(e) = change_from(store, stack, ahead, |lane| {
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
/// given back is freed by its lease. `ahead`: the lane as the look read it with its first
/// reads, for the conditional write's first attempt (a stale one is read again at once).
pub async fn leave<L: LockStore + Sync>(
    store: &L,
    stack: &StackRef,
    execution: &str,
    now_ms: u64,
    ahead: Ahead,
) -> bool {
    // The lane read ahead serves only where it shows this stack's place as this look left
    // it: a holder missing there may have been entered since by this very look (a place
    // taken, or renewed after its lease ran out), and one due was renewed since; a leave
    // that finds no holder writes nothing, so a stale read would go unchecked. Else the
    // place is given back on the lane read again.
    let ahead = ahead.filter(|read| match read {
        Ok(Some((body, _))) => serde_json::from_slice::<Lane>(body)
            .is_ok_and(|lane| lanes::holds_not_due(&lane, &stack.id, execution, now_ms)),
        _ => false,
    });
    match change_from(store, stack, ahead, |lane| {
        lanes::leave(lane, &stack.id, execution, now_ms)
    })
    .await
    {
        Ok(waited_for) => waited_for,
        Err(e) => {
            warn!(error = %e, "could not give back the stack's place in its lane");
            // Unknown whether anyone waits: the hand-over runs.
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
            // The time again: a refusal is stamped when it is written (`Lane::refused_ms`),
            // not before a read that CloudFormation may have throttled.
            let now_ms = self.clock.now_ms();
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

#[cfg(test)]
mod tests {
    use super::*;

    const STACK: &str = "arn:aws:cloudformation:us-east-1:111111111111:stack/app/1";
    const OTHER: &str = "arn:aws:cloudformation:us-east-1:111111111111:stack/other/1";
    const NOW: u64 = 1_800_000_000_000;

    fn stack(id: &str) -> StackRef {
        StackRef::from_stack_id(id).unwrap()
    }

    fn run<T>(f: impl std::future::Future<Output = T>) -> T {
        futures::executor::block_on(f)
    }

    #[test]
    fn a_stack_leaving_says_whether_its_lane_refused_a_stack_lately() {
        let store = Store::default();
        run(async {
            assert!(enter(&store, &stack(STACK), "run", NOW, 1, None)
                .await
                .unwrap());
            assert!(
                !leave(&store, &stack(STACK), "run", NOW + 1, None).await,
                "no stack refused: no hand-over"
            );
            assert!(enter(&store, &stack(STACK), "run", NOW + 2, 1, None)
                .await
                .unwrap());
            assert!(!enter(&store, &stack(OTHER), "run", NOW + 3, 1, None)
                .await
                .unwrap());
            assert!(
                leave(&store, &stack(STACK), "run", NOW + 4, None).await,
                "the other stack waits for this place"
            );
        });
    }

    #[test]
    fn a_full_lane_refuses_no_stack_of_another_account_region() {
        const OTHER_REGION: &str = "arn:aws:cloudformation:eu-west-1:111111111111:stack/app/1";
        const OTHER_ACCOUNT: &str = "arn:aws:cloudformation:us-east-1:222222222222:stack/app/1";
        let store = Store::default();
        run(async {
            assert!(enter(&store, &stack(STACK), "run", NOW, 1, None)
                .await
                .unwrap());
            assert!(
                !enter(&store, &stack(OTHER), "run", NOW + 1, 1, None)
                    .await
                    .unwrap(),
                "its own account-region's lane is full"
            );
            for id in [OTHER_REGION, OTHER_ACCOUNT] {
                assert!(
                    enter(&store, &stack(id), "run", NOW + 2, 1, None)
                        .await
                        .unwrap(),
                    "{id}: a lane of its own"
                );
            }
        });
    }

    use crate::fakes::Locks as Store;

    #[test]
    fn a_place_asked_for_on_a_lane_read_ahead_is_decided_again_on_the_lane_as_others_left_it() {
        let store = Store::default();
        // A write refused on contention backs off before it reads again: a timer.
        let timed = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        timed.block_on(async {
            // Another stack holds the lane's one place... then gives it back: the lane
            // read ahead shows it held.
            assert!(enter(&store, &stack(OTHER), "run", NOW, 1, None)
                .await
                .unwrap());
            let ahead = read_ahead(&store, &stack(STACK)).await;
            leave(&store, &stack(OTHER), "run", NOW + 1, None).await;
            assert!(
                enter(&store, &stack(STACK), "run", NOW + 2, 1, Some(ahead))
                    .await
                    .unwrap(),
                "the place was free by the time the stack asked: the lane as it is now decides"
            );
            // Now the lane is full as read ahead, and still full: refused, nothing taken.
            let ahead = read_ahead(&store, &stack(OTHER)).await;
            assert!(
                !enter(&store, &stack(OTHER), "run", NOW + 3, 1, Some(ahead))
                    .await
                    .unwrap()
            );
        });
    }

    #[test]
    fn a_place_given_back_on_a_lane_read_ahead_never_brings_back_what_others_changed_since() {
        let store = Store::default();
        run(async {
            assert!(enter(&store, &stack(STACK), "run", NOW, 2, None)
                .await
                .unwrap());
            assert!(enter(&store, &stack(OTHER), "run", NOW, 2, None)
                .await
                .unwrap());
            let ahead = read_ahead(&store, &stack(STACK)).await;
            // The other stack ends meanwhile: the lane read ahead still shows it.
            leave(&store, &stack(OTHER), "run", NOW + 1, None).await;
            leave(&store, &stack(STACK), "run", NOW + 2, Some(ahead)).await;
            let (body, _) = store.read(&lane_key(&stack(STACK))).await.unwrap().unwrap();
            let lane: Lane = serde_json::from_slice(&body).unwrap();
            assert!(
                lane.holders.is_empty(),
                "both places given back, the other's not brought back: {:?}",
                lane.holders
            );
        });
    }

    #[test]
    fn a_place_taken_in_a_look_is_given_back_by_it_whatever_the_look_read_ahead() {
        let store = Store::default();
        run(async {
            // The look's first reads: the lane (another stack in it) without the stack. It
            // takes a place, then ends in the same look (skipped or failed by its first
            // checks).
            assert!(enter(&store, &stack(OTHER), "run", NOW, 2, None)
                .await
                .unwrap());
            let ahead = read_ahead(&store, &stack(STACK)).await;
            assert!(
                enter(&store, &stack(STACK), "run", NOW, 2, Some(ahead.clone()))
                    .await
                    .unwrap()
            );
            leave(&store, &stack(STACK), "run", NOW + 1, Some(ahead)).await;
            let (body, _) = store.read(&lane_key(&stack(STACK))).await.unwrap().unwrap();
            let lane: Lane = serde_json::from_slice(&body).unwrap();
            assert_eq!(
                lane.holders.len(),
                1,
                "the place this look took is given back, the other stack's kept: {:?}",
                lane.holders
            );
            assert!(!lanes::holds(&lane, &stack(STACK).id, "run"));
        });
    }

    #[test]
    fn a_stack_that_cannot_reach_its_lane_has_the_waiting_woken_all_the_same() {
        let store = Store {
            down: true,
            ..Store::default()
        };
        assert!(
            run(leave(&store, &stack(STACK), "run", NOW, None)),
            "unknown whether anyone waits: FreePlace runs"
        );
    }
}
