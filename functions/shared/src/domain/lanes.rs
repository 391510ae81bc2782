//! Concurrency where CloudFormation's limits are: per account and region. CloudFormation's
//! API rates are per account and region (Service Quotas: UpdateStack, DescribeStacks,
//! DescribeStackEvents... not adjustable) and shared with the customer's own deploys;
//! so is "resources in concurrent stack operations" (`ConcurrentResourcesLimit`). A run
//! therefore has a lane in each account-region: at most `places` of its stacks in flight
//! there, from before phase one's first check to the end of their last update. Lanes are
//! independent: a throttled account-region halves its own places (and grows them back by
//! one a minute while calm, as StackSets' concurrency mode backs off and recovers) and
//! slows no other. A stack between its phases never waits for a place: it is a holder
//! until it ends, and a lane only ever admits, never evicts a live holder. Right before
//! its first update a holder also claims the resources that update changes, and begins
//! only while the lane's begun stacks change at most [`RESOURCE_SHARE_PERCENT`] of the
//! account-region's `ConcurrentResourcesLimit` ([`claim`]).

use super::model::{DiscoveryOutput, Lane, LaneHolder, RefreshTask, StackRef};

/// A holder not seen for this long is gone (its step ended without a last look: aborted,
/// timed out, failed for good). Every look renews it, and a waiting step is looked at
/// least every `PollIntervalSeconds` (at most 300 s).
pub const LEASE_MS: u64 = 15 * 60_000;
/// A holder is renewed at most this often: each renewal is a conditional write that every
/// other stack of the lane contends with.
pub const RENEW_EVERY_MS: u64 = 2 * 60_000;
/// How long a stack waits for a place before it asks again by itself. Every stack of the
/// lane that ends hands its place on at once (the state machine's `FreePlace`, waking the
/// stacks waiting longest, `service::wait`), so this bounds only a hand-over that was lost
/// (a `FreePlace` that failed for good, a holder whose lease ran out, a place grown back
/// while no stack ended). Asking again every `PollIntervalSeconds` instead cost the
/// 1,300-stack benchmark about one fruitless look per stack (three state transitions, a
/// DescribeStackEvents and S3 requests each). Five minutes, the longest
/// `PollIntervalSeconds`; never past the step's wait budget.
pub const PLACE_WAIT_MS: u64 = 5 * 60_000;
/// Calm for this long, a lane grows by one place.
pub const GROW_EVERY_MS: u64 = 60_000;
/// A lane is halved at most this often: the looks of one throttled burst are one signal.
pub const HALVE_EVERY_MS: u64 = 30_000;

/// The share of an account-region's "resources in concurrent stack operations" a lane's
/// begun stacks may change at once (`ConcurrentResourcesLimit`: 2,500 by default, "CloudFormation
/// quotas"; DescribeAccountLimits says the account's own): the other half stays the
/// customer's, whose deploys in an incident must not fail on a quota we filled. With the
/// default limit and 40 places it binds only for stacks whose updates change more than
/// about 30 resources each.
pub const RESOURCE_SHARE_PERCENT: u32 = 50;
/// A lane reads `ConcurrentResourcesLimit` again after this long (a raised quota counts
/// within the hour; one DescribeAccountLimits per account-region and hour, not per stack).
pub const LIMIT_READ_EVERY_MS: u64 = 60 * 60_000;

/// Where an account-region's lane is kept in the runs bucket. One per account-region for
/// every run: the budget is the pipeline's, whichever secret changed.
pub fn lane_key(stack: &StackRef) -> String {
    format!("lanes/{}/{}.json", stack.account, stack.region)
}

/// Whether a stack got a place (or holds one already).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    Admitted,
    Full,
}

/// The places the lane has now, for a budget of `budget` (a new lane, or a budget lowered
/// by a redeploy, starts at the budget); grown by one when calm for [`GROW_EVERY_MS`].
fn settle(lane: &mut Lane, now_ms: u64, budget: u32) {
    let budget = budget.max(1);
    if lane.places == 0 || lane.places > budget {
        lane.places = budget;
        lane.changed_ms = now_ms;
    } else if lane.places < budget && now_ms.saturating_sub(lane.changed_ms) >= GROW_EVERY_MS {
        lane.places += 1;
        lane.changed_ms = now_ms;
    }
    lane.holders
        .retain(|_, h| now_ms.saturating_sub(h.renewed_ms) < LEASE_MS);
}

/// A holder is one run's refresh of one stack: two runs refreshing the same stack (two
/// secrets) hold a place each, and each gives back its own.
fn holder_key(stack_id: &str, execution: &str) -> String {
    format!("{execution} {stack_id}")
}

/// A stack asks for a place before anything of its refresh begins.
pub fn enter(lane: &mut Lane, stack_id: &str, execution: &str, now_ms: u64, budget: u32) -> Entry {
    settle(lane, now_ms, budget);
    let key = holder_key(stack_id, execution);
    if let Some(holder) = lane.holders.get_mut(&key) {
        if now_ms.saturating_sub(holder.renewed_ms) >= RENEW_EVERY_MS {
            holder.renewed_ms = now_ms;
        }
        return Entry::Admitted;
    }
    if lane.holders.len() >= lane.places as usize {
        return Entry::Full;
    }
    lane.holders.insert(
        key,
        LaneHolder {
            execution: execution.to_string(),
            renewed_ms: now_ms,
            resources: 0,
            wants: 0,
        },
    );
    Entry::Admitted
}

/// Whether this run's refresh of the stack holds a place in the lane.
pub fn holds(lane: &Lane, stack_id: &str, execution: &str) -> bool {
    lane.holders.contains_key(&holder_key(stack_id, execution))
}

/// Places free now (after expired holders and a calm lane's growth), for the waiter to
/// hand on to as many waiting stacks.
pub fn free_places(lane: &Lane, now_ms: u64, budget: u32) -> u32 {
    let mut lane = lane.clone();
    settle(&mut lane, now_ms, budget);
    (lane.places as usize).saturating_sub(lane.holders.len()) as u32
}

/// Where the steps waiting for a place in the stack's lane are kept (the waiter's board).
pub fn waiting_prefix(account: &str, region: &str) -> String {
    format!("waits/lanes/{account}/{region}/")
}

/// One step waiting for a place in its lane.
pub fn place_registration_key(account: &str, region: &str, task_token: &str) -> String {
    use sha2::Digest;
    let hash: String = sha2::Sha256::digest(task_token)
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{}{hash}.json", waiting_prefix(account, region))
}

/// A later look at a stack whose refresh has begun: its place renewed when due, or taken
/// back if its lease ran out meanwhile (a long pause before another phase-two attempt): a
/// begun stack is in flight whatever the lane holds, and is counted as such, even beyond
/// the lane's places (it never waits for one), with the `resources` its updates change.
pub fn renew(lane: &mut Lane, stack_id: &str, execution: &str, now_ms: u64, resources: u32) {
    let holder = lane
        .holders
        .entry(holder_key(stack_id, execution))
        .or_insert_with(|| LaneHolder {
            execution: execution.to_string(),
            renewed_ms: 0,
            resources,
            wants: 0,
        });
    if now_ms.saturating_sub(holder.renewed_ms) >= RENEW_EVERY_MS {
        holder.renewed_ms = now_ms;
    }
}

/// The stack's refresh in this run ended: its place is free.
pub fn leave(lane: &mut Lane, stack_id: &str, execution: &str) {
    lane.holders.remove(&holder_key(stack_id, execution));
}

/// Whether a stack may begin its first update now, changing `resources` resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    Granted,
    /// The lane's begun stacks change too many resources now: wait for a place to be
    /// handed on (as for a full lane).
    Full,
    /// `ConcurrentResourcesLimit` must be read first ([`set_resource_limit`]).
    LimitDue,
}

/// The stack's first update would change `resources` resources: granted while the lane's
/// other begun stacks and it change at most [`RESOURCE_SHARE_PERCENT`] of the
/// account-region's `ConcurrentResourcesLimit`, or when no other has begun (a stack larger
/// than the share alone still gets its refresh, one at a time). The claim is kept by its
/// holder until it leaves (phase two changes the same resources back), or its lease ends.
/// Refused, the holder keeps its place, claims nothing (what an earlier look claimed is
/// given back: it has not begun) and records what it wants, so that the waiter wakes it
/// when that fits ([`may_begin`]), not whenever a place is free.
pub fn claim(
    lane: &mut Lane,
    stack_id: &str,
    execution: &str,
    resources: u32,
    now_ms: u64,
) -> Claim {
    if lane.limit_read_ms == 0 || now_ms.saturating_sub(lane.limit_read_ms) >= LIMIT_READ_EVERY_MS {
        return Claim::LimitDue;
    }
    lane.holders
        .retain(|_, h| now_ms.saturating_sub(h.renewed_ms) < LEASE_MS);
    let key = holder_key(stack_id, execution);
    let fits = fits(lane, &key, resources);
    let holder = lane.holders.entry(key).or_insert_with(|| LaneHolder {
        execution: execution.to_string(),
        renewed_ms: now_ms,
        resources: 0,
        wants: 0,
    });
    if fits {
        holder.resources = resources;
        holder.wants = 0;
        Claim::Granted
    } else {
        holder.resources = 0;
        holder.wants = resources;
        Claim::Full
    }
}

/// Whether `resources` more fit beside what the lane's holders other than `key` change.
fn fits(lane: &Lane, key: &str, resources: u32) -> bool {
    let others: u32 = lane
        .holders
        .iter()
        .filter(|(k, _)| k.as_str() != key)
        .map(|(_, h)| h.resources)
        .fold(0, u32::saturating_add);
    lane.resource_limit == 0
        || others == 0
        || others.saturating_add(resources) <= resource_share(lane.resource_limit)
}

/// For the waiter: a step waiting in the lane that is a holder refused its resources
/// (`Some`: whether what it wants fits now, beside `woken` more already handed on this
/// time), or `None`: a step waiting for a place.
pub fn may_begin(
    lane: &Lane,
    stack_id: &str,
    execution: &str,
    now_ms: u64,
    woken: u32,
) -> Option<bool> {
    let key = holder_key(stack_id, execution);
    let holder = lane
        .holders
        .get(&key)
        .filter(|h| h.wants > 0 && now_ms.saturating_sub(h.renewed_ms) < LEASE_MS)?;
    Some(fits(lane, &key, holder.wants.saturating_add(woken)))
}

/// What a holder refused its resources wants (0 for any other).
pub fn wanted(lane: &Lane, stack_id: &str, execution: &str) -> u32 {
    lane.holders
        .get(&holder_key(stack_id, execution))
        .map_or(0, |h| h.wants)
}

/// The resources a lane's begun stacks may change at once, of `limit`.
pub fn resource_share(limit: u32) -> u32 {
    (u64::from(limit) * u64::from(RESOURCE_SHARE_PERCENT) / 100) as u32
}

/// `ConcurrentResourcesLimit` as just read (`None`: CloudFormation did not say; the lane
/// then holds by places only, until the next reading is due).
pub fn set_resource_limit(lane: &mut Lane, limit: Option<u32>, now_ms: u64) {
    lane.resource_limit = limit.unwrap_or(0);
    lane.limit_read_ms = now_ms.max(1);
}

/// The reading failed (throttled, refused, unanswered): the limit read before stays, and
/// it is read again after [`LIMIT_RETRY_MS`], not in an hour.
pub fn limit_unread(lane: &mut Lane, now_ms: u64) {
    lane.limit_read_ms = (now_ms + LIMIT_RETRY_MS)
        .saturating_sub(LIMIT_READ_EVERY_MS)
        .max(1);
}

/// A failed reading of the limit is tried again after this long.
pub const LIMIT_RETRY_MS: u64 = 5 * 60_000;

/// A look in this lane was throttled: the lane's places are halved (at least one; at most
/// once per [`HALVE_EVERY_MS`]). Holders keep their places; new stacks wait.
pub fn throttled(lane: &mut Lane, now_ms: u64, budget: u32) {
    settle(lane, now_ms, budget);
    if now_ms.saturating_sub(lane.changed_ms) >= HALVE_EVERY_MS || lane.places == budget.max(1) {
        lane.places = (lane.places / 2).max(1);
        lane.changed_ms = now_ms;
    }
}

/// The run's stacks in an order that starts every lane at once: one of each
/// account-region in turn (the Distributed Map starts its items in order), each lane's
/// own order kept.
pub fn interleave(selected: Vec<RefreshTask>) -> Vec<RefreshTask> {
    let mut lanes: Vec<(String, std::collections::VecDeque<RefreshTask>)> = Vec::new();
    for task in selected {
        let key = format!("{}/{}", task.stack.account, task.stack.region);
        match lanes.iter_mut().find(|(k, _)| *k == key) {
            Some((_, queue)) => queue.push_back(task),
            None => lanes.push((key, [task].into())),
        }
    }
    let mut out = Vec::new();
    while lanes.iter().any(|(_, q)| !q.is_empty()) {
        for (_, queue) in lanes.iter_mut() {
            if let Some(task) = queue.pop_front() {
                out.push(task);
            }
        }
    }
    out
}

/// Stacks an account-region's lane starts a second when a run begins. A stack's start (its
/// first look, the checks and phase one's update) costs about ten CloudFormation calls over
/// eight APIs (the 80-stack trial of `make bench-fleet`, 2026-12-04), so one a second asks
/// each API for one or two calls a second: under half of the 5 a second users measure for DescribeStacks
/// (aws/aws-sam-cli#2671), the rest left to the customer's own deploys. It also spreads the
/// run's first Lambda invocations: every lane's children starting at once would take
/// hundreds of the account's concurrent executions for a moment.
pub const STARTS_PER_SECOND: u32 = 1;

/// The run's stacks in the order, with the Map concurrency and the stagger, that start
/// every lane at once and a few stacks a second in each: planned from the stacks the run
/// will refresh, so again whenever that list changes (the audit keeps only stale stacks).
pub fn schedule(out: &mut DiscoveryOutput, budget: u32) {
    out.selected = interleave(std::mem::take(&mut out.selected));
    out.max_concurrency = map_concurrency(&out.selected, budget);
    stagger(&mut out.selected, out.max_concurrency);
}

/// Staggers the stacks the Distributed Map starts at once (the first `map_concurrency` of
/// the interleaved list): the k-th of each lane waits k / [`STARTS_PER_SECOND`] seconds.
/// The others start later, each as an earlier child ends, already spread; they wait nothing.
pub fn stagger(selected: &mut [RefreshTask], map_concurrency: u32) {
    let mut seen: std::collections::HashMap<(String, String), u32> = Default::default();
    for (i, task) in selected.iter_mut().enumerate() {
        if i >= map_concurrency as usize {
            task.start_after_seconds = 0;
            continue;
        }
        let k = seen
            .entry((task.stack.account.clone(), task.stack.region.clone()))
            .or_insert(0);
        task.start_after_seconds = *k / STARTS_PER_SECOND;
        *k += 1;
    }
}

/// The Distributed Map's concurrency for a run: every lane's places, twice over (the lanes
/// themselves hold each account-region to its budget; the other half are stacks waiting
/// for a place, which hold no Lambda, so that a slow lane's waiting stacks leave children
/// to the others), at most [`MAP_CONCURRENCY_CAP`].
pub fn map_concurrency(selected: &[RefreshTask], budget: u32) -> u32 {
    let mut lanes: Vec<(&str, &str)> = selected
        .iter()
        .map(|t| (t.stack.account.as_str(), t.stack.region.as_str()))
        .collect();
    lanes.sort_unstable();
    lanes.dedup();
    map_concurrency_for(lanes.len(), budget)
}

/// [`map_concurrency`] for a number of account-regions.
pub fn map_concurrency_for(lanes: usize, budget: u32) -> u32 {
    (lanes.max(1) as u32 * budget.max(1) * 2).min(MAP_CONCURRENCY_CAP)
}

/// Child executions a run keeps at once. A waiting child holds no Lambda (it waits on a
/// task token or a Wait state), so this bounds Step Functions' work, not the account's
/// Lambda concurrency. AWS's own bound for a Distributed Map ("Distributed Map state",
/// MaxConcurrency up to 10,000): below it, every lane can fill its places however many
/// account-regions a run has (at 1,000, 25 lanes of 40 places already could not).
pub const MAP_CONCURRENCY_CAP: u32 = 10_000;
const _: () = assert!(
    MAP_CONCURRENCY_CAP <= 10_000,
    "a Distributed Map runs at most 10,000 children"
);

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: u64 = 60_000;

    fn stack(n: u32) -> String {
        format!("arn:aws:cloudformation:us-east-1:111111111111:stack/s{n}/1")
    }

    /// A lane with the account-region's limit read at `now`.
    fn lane_with_limit(limit: Option<u32>, now: u64) -> Lane {
        let mut lane = Lane::default();
        set_resource_limit(&mut lane, limit, now);
        lane
    }

    #[test]
    fn begun_stacks_change_at_most_half_the_account_regions_concurrent_resources() {
        let now = 10 * MIN;
        let mut lane = lane_with_limit(Some(100), now);
        assert_eq!(resource_share(100), 50);
        assert_eq!(claim(&mut lane, &stack(1), "run", 30, now), Claim::Granted);
        assert_eq!(
            claim(&mut lane, &stack(2), "run", 30, now),
            Claim::Full,
            "60 > 50"
        );
        assert_eq!(
            claim(&mut lane, &stack(2), "run", 20, now),
            Claim::Granted,
            "50"
        );
        // A holder's own claim is not counted against it (a later look claims again).
        assert_eq!(claim(&mut lane, &stack(1), "run", 30, now), Claim::Granted);
        assert_eq!(claim(&mut lane, &stack(3), "run", 1, now), Claim::Full);
        leave(&mut lane, &stack(1), "run");
        assert_eq!(claim(&mut lane, &stack(3), "run", 30, now), Claim::Granted);
    }

    #[test]
    fn a_refused_holder_gives_back_what_it_claimed_and_is_woken_when_what_it_wants_fits() {
        let now = 10 * MIN;
        let mut lane = lane_with_limit(Some(100), now);
        enter(&mut lane, &stack(1), "run", now, 10);
        enter(&mut lane, &stack(2), "run", now, 10);
        enter(&mut lane, &stack(3), "run", now, 10);
        assert_eq!(claim(&mut lane, &stack(1), "run", 30, now), Claim::Granted);
        // s2 claimed on an earlier look (then CloudFormation said busy), now refused: what
        // it claimed is given back, it has not begun.
        assert_eq!(claim(&mut lane, &stack(2), "run", 10, now), Claim::Granted);
        assert_eq!(claim(&mut lane, &stack(3), "run", 5, now), Claim::Granted);
        assert_eq!(claim(&mut lane, &stack(2), "run", 20, now), Claim::Full);
        assert_eq!(wanted(&lane, &stack(2), "run"), 20);
        assert_eq!(lane.holders[&holder_key(&stack(2), "run")].resources, 0);
        // A waiting holder is woken only when what it wants fits; a stack that is no
        // holder waits for a place, not for resources.
        assert_eq!(
            may_begin(&lane, &stack(2), "run", now, 0),
            Some(false),
            "35 + 20 > 50"
        );
        assert_eq!(may_begin(&lane, &stack(4), "run", now, 0), None);
        leave(&mut lane, &stack(1), "run");
        assert_eq!(
            may_begin(&lane, &stack(2), "run", now, 0),
            Some(true),
            "5 + 20"
        );
        assert_eq!(
            may_begin(&lane, &stack(2), "run", now, 30),
            Some(false),
            "30 handed on already"
        );
        assert_eq!(claim(&mut lane, &stack(2), "run", 20, now), Claim::Granted);
        assert_eq!(wanted(&lane, &stack(2), "run"), 0);
    }

    #[test]
    fn a_failed_reading_keeps_the_limit_read_before_and_is_tried_again_soon() {
        let mut lane = lane_with_limit(Some(100), MIN);
        limit_unread(&mut lane, 61 * MIN);
        assert_eq!(lane.resource_limit, 100);
        assert_eq!(
            claim(&mut lane, &stack(1), "run", 1, 61 * MIN),
            Claim::Granted
        );
        assert_eq!(
            claim(&mut lane, &stack(1), "run", 1, 61 * MIN + LIMIT_RETRY_MS),
            Claim::LimitDue
        );
    }

    #[test]
    fn a_stack_larger_than_the_share_is_refreshed_alone() {
        let now = 10 * MIN;
        let mut lane = lane_with_limit(Some(100), now);
        assert_eq!(claim(&mut lane, &stack(1), "run", 80, now), Claim::Granted);
        assert_eq!(claim(&mut lane, &stack(2), "run", 1, now), Claim::Full);
    }

    #[test]
    fn the_limit_is_read_before_the_first_claim_and_again_each_hour() {
        let mut lane = Lane::default();
        assert_eq!(
            claim(&mut lane, &stack(1), "run", 1, 10 * MIN),
            Claim::LimitDue
        );
        assert!(
            lane.holders.is_empty(),
            "nothing claimed before the reading"
        );
        set_resource_limit(&mut lane, Some(2_500), 10 * MIN);
        assert_eq!(
            claim(&mut lane, &stack(1), "run", 1, 69 * MIN),
            Claim::Granted
        );
        assert_eq!(
            claim(&mut lane, &stack(2), "run", 1, 70 * MIN),
            Claim::LimitDue
        );
    }

    #[test]
    fn a_limit_cloudformation_did_not_say_leaves_the_places_alone_to_bound_the_lane() {
        let now = 10 * MIN;
        let mut lane = lane_with_limit(None, now);
        assert_eq!(
            claim(&mut lane, &stack(1), "run", 5_000, now),
            Claim::Granted
        );
        assert_eq!(
            claim(&mut lane, &stack(2), "run", 5_000, now),
            Claim::Granted
        );
    }

    #[test]
    fn a_vanished_holders_resources_are_freed_with_its_lease() {
        let mut lane = lane_with_limit(Some(100), 0);
        assert_eq!(claim(&mut lane, &stack(1), "run", 50, 1), Claim::Granted);
        assert_eq!(
            claim(&mut lane, &stack(2), "run", 50, LEASE_MS / 2),
            Claim::Full
        );
        assert_eq!(
            claim(&mut lane, &stack(2), "run", 50, LEASE_MS + 2),
            Claim::Granted
        );
    }

    #[test]
    fn a_stack_waits_for_a_hand_over_five_minutes_at_most_and_never_past_its_budget() {
        let hour = 60 * MIN;
        // Began to wait 10 minutes ago, an hour's budget: asks again in 5 minutes at the
        // latest, whatever PollIntervalSeconds is (a hand-over wakes it before).
        use super::super::waiting::wait_for_place;
        let wait = wait_for_place(100 * MIN, 90 * MIN + hour, hour);
        assert_eq!(wait.kind, super::super::model::WaitKind::Place);
        assert_eq!(wait.seconds, 300);
        assert_eq!(wait.seen_ms, 90 * MIN);
        // Two minutes of budget left: asks again then, to give up if still not admitted.
        assert_eq!(wait_for_place(100 * MIN, 102 * MIN, hour).seconds, 120);
        assert_eq!(wait_for_place(100 * MIN, 100 * MIN, hour).seconds, 1);
    }

    #[test]
    fn a_lane_admits_its_budget_and_then_waits_until_a_place_is_given_back() {
        let mut lane = Lane::default();
        for n in 0..3 {
            assert_eq!(enter(&mut lane, &stack(n), "run", 0, 3), Entry::Admitted);
        }
        assert_eq!(enter(&mut lane, &stack(3), "run", 1_000, 3), Entry::Full);
        assert_eq!(
            enter(&mut lane, &stack(1), "run", 1_000, 3),
            Entry::Admitted,
            "a holder keeps its place"
        );
        leave(&mut lane, &stack(0), "another run");
        assert_eq!(
            enter(&mut lane, &stack(3), "run", 1_500, 3),
            Entry::Full,
            "another run's refresh is another holder"
        );
        leave(&mut lane, &stack(0), "run");
        assert_eq!(
            enter(&mut lane, &stack(3), "run", 2_000, 3),
            Entry::Admitted
        );
    }

    #[test]
    fn a_holder_not_seen_for_its_lease_is_gone_and_a_renewed_one_stays() {
        let mut lane = Lane::default();
        enter(&mut lane, &stack(0), "run", 0, 2);
        enter(&mut lane, &stack(1), "run", 0, 2);
        renew(&mut lane, &stack(1), "run", LEASE_MS - MIN, 1);
        assert_eq!(
            enter(&mut lane, &stack(2), "run", LEASE_MS, 2),
            Entry::Admitted,
            "s0's lease ran out"
        );
        assert!(
            lane.holders.contains_key(&holder_key(&stack(1), "run")),
            "renewed"
        );
        assert!(!lane.holders.contains_key(&holder_key(&stack(0), "run")));
        // s0's refresh had begun (a long pause between its attempts): its next look takes
        // its place back, beyond the lane's places; it never waits for one.
        renew(&mut lane, &stack(0), "run", LEASE_MS + MIN, 1);
        assert_eq!(lane.holders.len(), 3);
        assert_eq!(
            enter(&mut lane, &stack(4), "run", LEASE_MS + MIN, 2),
            Entry::Full
        );
    }

    #[test]
    fn a_throttled_lane_halves_once_per_burst_and_grows_back_one_place_a_minute() {
        let mut lane = Lane::default();
        enter(&mut lane, &stack(0), "run", 0, 8);
        throttled(&mut lane, 1_000, 8);
        assert_eq!(lane.places, 4);
        throttled(&mut lane, 2_000, 8);
        assert_eq!(lane.places, 4, "the same burst");
        throttled(&mut lane, 1_000 + HALVE_EVERY_MS, 8);
        assert_eq!(lane.places, 2);
        for n in 1..=3 {
            enter(&mut lane, &stack(n), "run", 1_000 + HALVE_EVERY_MS + 1, 8);
        }
        assert_eq!(
            lane.holders.len(),
            2,
            "holders keep their places; only two now"
        );
        let calm = 1_000 + HALVE_EVERY_MS + GROW_EVERY_MS;
        assert_eq!(enter(&mut lane, &stack(5), "run", calm, 8), Entry::Admitted);
        assert_eq!(lane.places, 3);
        let mut at = calm;
        for _ in 0..10 {
            at += GROW_EVERY_MS;
            enter(&mut lane, &stack(0), "run", at, 8);
        }
        assert_eq!(lane.places, 8, "never beyond the budget");
    }

    #[test]
    fn the_map_starts_every_lane_at_once_and_keeps_each_lanes_order() {
        let task = |account: &str, region: &str, name: &str| {
            RefreshTask::new(
                StackRef::from_stack_id(&format!(
                    "arn:aws:cloudformation:{region}:{account}:stack/{name}/1"
                ))
                .unwrap(),
                "RotateToken",
            )
        };
        let selected = vec![
            task("111111111111", "us-east-1", "a1"),
            task("111111111111", "us-east-1", "a2"),
            task("111111111111", "us-east-1", "a3"),
            task("222222222222", "us-east-1", "b1"),
            task("111111111111", "eu-west-1", "c1"),
        ];
        assert_eq!(map_concurrency(&selected, 10), 60);
        let names: Vec<String> = interleave(selected)
            .into_iter()
            .map(|t| t.stack.name)
            .collect();
        assert_eq!(names, ["a1", "b1", "c1", "a2", "a3"]);
        assert_eq!(map_concurrency(&[], 10), 20);
        let many: Vec<RefreshTask> = (0..600)
            .map(|n| task(&format!("{:012}", n), "us-east-1", "x"))
            .collect();
        assert_eq!(map_concurrency(&many, 10), MAP_CONCURRENCY_CAP);
    }

    #[test]
    fn the_stacks_started_at_once_begin_a_few_a_second_in_each_lane_and_later_ones_at_once() {
        let task = |account: &str, n: u32| {
            RefreshTask::new(
                StackRef::from_stack_id(&format!(
                    "arn:aws:cloudformation:us-east-1:{account}:stack/s{n}/1"
                ))
                .unwrap(),
                "RotateToken",
            )
        };
        let mut selected = interleave(
            (0..4)
                .flat_map(|n| [task("111111111111", n), task("222222222222", n)])
                .collect(),
        );
        stagger(&mut selected, 6);
        let waits: Vec<(String, u32)> = selected
            .iter()
            .map(|t| (t.stack.account.clone(), t.start_after_seconds))
            .collect();
        let per = STARTS_PER_SECOND;
        assert_eq!(
            waits.iter().map(|w| w.1).collect::<Vec<_>>(),
            vec![0, 0, 1 / per, 1 / per, 2 / per, 2 / per, 0, 0],
            "{waits:?}"
        );
        assert_ne!(waits[0].0, waits[1].0, "each lane has its own count");
    }
}
