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
/// lane that ends while one may be waiting ([`leave`]) hands its place on at once (the state
/// machine's `FreePlace`, waking the stacks waiting longest, `service::wait`), so this bounds
/// only a hand-over that was lost
/// (a `FreePlace` that failed for good, a holder whose lease ran out, a place grown back
/// while no stack ended). Asking again every `PollIntervalSeconds` instead cost the
/// 1,300-stack benchmark about one fruitless look per stack (three state transitions, a
/// DescribeStackEvents and S3 requests each). Five minutes, the longest
/// `PollIntervalSeconds`; never past the step's wait budget.
pub const PLACE_WAIT_MS: u64 = 5 * 60_000;
/// Beyond a place wait, how long a refused stack may still be waiting: its wait begins with
/// the `WaitForStack` attempt that registers it, which may start well after the refusal
/// (the refused look's last writes; then the waiter tried up to four times, a failed
/// attempt taking up to its 30 s time-out and Lambda's init phase, with backoffs of up to
/// 2, 4 and 8 s: about 166 s at the slowest), and Lambda hosts' clocks differ a little
/// (`CLOCK_SLACK_MS`); tests/contracts.rs holds the state machine and the template to it.
/// A longer slack costs only a `FreePlace` that wakes no one.
pub const REFUSED_SLACK_MS: u64 = 3 * 60_000;
/// Calm for this long, a lane grows by one place.
pub const GROW_EVERY_MS: u64 = 60_000;
/// A lane is halved at most this often: the looks of one throttled burst are one signal.
pub const HALVE_EVERY_MS: u64 = 30_000;

/// The share of an account-region's "resources in concurrent stack operations" a lane's
/// begun stacks may change at once (`ConcurrentResourcesLimit`: 2,500 by default, "CloudFormation
/// quotas"; DescribeAccountLimits says the account's own): the other half stays the
/// customer's, whose deploys in an incident must not fail on a quota we filled. With the
/// default limit and 100 places it binds for stacks whose updates change more than about
/// 12 resources each (40 places: about 30): those begin as others' resources come back.
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
        lane.refused_ms = lane.refused_ms.max(now_ms);
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

/// Whether the stack holds its place and no renewal of it is due at `now_ms`: a look that
/// read the lane so wrote nothing of its own place since ([`enter`] and [`renew`] write
/// only a holder missing or due).
pub fn holds_not_due(lane: &Lane, stack_id: &str, execution: &str, now_ms: u64) -> bool {
    lane.holders
        .get(&holder_key(stack_id, execution))
        .is_some_and(|h| now_ms.saturating_sub(h.renewed_ms) < RENEW_EVERY_MS)
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

/// The stack's refresh in this run ended: its place is free. Returns whether a step may be
/// waiting for it (a stack refused here within a place wait, [`PLACE_WAIT_MS`], and
/// [`REFUSED_SLACK_MS`]): only then does the state machine's `FreePlace` wake them, one
/// Lambda invocation and two S3 requests that a lane no stack waits in never needs (at the
/// default 100 places, a 1,300-stack fleet's lanes never fill: one invocation in seven).
/// The refusal and this leave are conditional writes of one document: a stack refused
/// before it is seen here; one refused after it found this place free and took it.
pub fn leave(lane: &mut Lane, stack_id: &str, execution: &str, now_ms: u64) -> bool {
    lane.holders.remove(&holder_key(stack_id, execution));
    lane.refused_ms > 0
        && now_ms
            < lane
                .refused_ms
                .saturating_add(PLACE_WAIT_MS + REFUSED_SLACK_MS)
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
        lane.refused_ms = lane.refused_ms.max(now_ms);
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

/// Stacks the whole run starts a second, over all its account-regions. Every start is two
/// looks, each a Lambda invocation of about a second (the change set begun, then read and
/// phase one begun), and the run's Lambdas share the pipeline account's concurrency with
/// the customer's functions (1,000 per Region by default, "Lambda quotas", Lambda developer
/// guide): 20 account-regions starting one a second each began 40 looks on every second
/// and held 224 invocations at once (`make bench-fleet`, 100 places, 2026-12-06); at 12 a
/// second, 94 (2026-12-07; 32 to 44 while only starts ran, on the local AWS). A run of N
/// stacks takes N / 12 seconds to begin: 1,300 take 108 s, which the 2026-12-06 run's own
/// updates, re-timed, put at 1.21x the slowest stack's two updates against the 1.25x
/// target (measured: 1.09x); 10,000 take 14 minutes. Only binds with more than 12
/// account-regions, and per run (two runs at once begin 24 a second). Step Functions waits whole seconds (Wait state, Seconds:
/// an integer; a Timestamp's milliseconds are truncated), so a second's starts come as one.
pub const RUN_STARTS_PER_SECOND: u32 = 12;

/// The run's stacks in the order, with the Map concurrency and the stagger, that start
/// every lane at once and a few stacks a second in each: planned from the stacks the run
/// will refresh, so again whenever that list changes (the audit keeps only stale stacks).
pub fn schedule(out: &mut DiscoveryOutput, budget: u32) {
    out.selected = interleave(std::mem::take(&mut out.selected));
    out.max_concurrency = map_concurrency(&out.selected, budget);
    stagger(&mut out.selected, out.max_concurrency);
}

/// Staggers the stacks the Distributed Map starts at once (the first `map_concurrency` of
/// the interleaved list): the k-th of each lane waits k / [`STARTS_PER_SECOND`] seconds,
/// and the i-th of the run at least i / [`RUN_STARTS_PER_SECOND`] (the list takes the
/// lanes in turn, so every lane slows alike). The others start later, each as an earlier
/// child ends, already spread; they wait nothing.
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
        task.start_after_seconds = (*k / STARTS_PER_SECOND).max(i as u32 / RUN_STARTS_PER_SECOND);
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
/// account-regions a run has (at 1,000, 25 lanes of 40 places already could not; at the
/// default 100 places, 50 lanes fill it).
pub const MAP_CONCURRENCY_CAP: u32 = 10_000;
const _: () = assert!(
    MAP_CONCURRENCY_CAP <= 10_000,
    "a Distributed Map runs at most 10,000 children"
);

#[cfg(test)]
mod tests;
