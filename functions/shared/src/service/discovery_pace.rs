//! Discovery's CloudFormation calls paced per account and region, shared by concurrent
//! runs through each account-region's seat file ([`crate::domain::discovery_pace`]).
//!
//! [`PacedAccess`] wraps the targets' access: every stack directory it opens waits for its
//! API's slot before each call. The seat file is the runs bucket's; without one (a plan
//! from the CLI, a local invoke) a run paces itself alone at the whole budget.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tracing::warn;

use crate::domain::discovery_pace::{
    next_slot, pace, seats_key, template_key, Pace, Seats, RECOUNT_EVERY_MS, SEATS_WHEN_UNKNOWN,
    SETTLE_MS,
};
use crate::domain::model::{
    FailedResource, OperationSeen, PlannedChange, PreviewRead, StackRef, StackSnapshot, Target,
    UpdatePlan,
};
use crate::ports::{
    AwsError, LockStore, NestedStack, StackDirectory, StackResource, StackUpdater, TargetAccess,
    UpdateStart,
};

/// Conditional writes tried on one seat file before the run paces as if among
/// [`SEATS_WHEN_UNKNOWN`].
const ATTEMPTS: u32 = 8;

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

/// One run's pace in one account-region.
struct Meter<'a, L> {
    store: Option<&'a L>,
    key: String,
    execution: String,
    calls_per_second: f64,
    pace: Mutex<Pace>,
    /// Each API's last slot (epoch ms).
    last: Mutex<HashMap<&'static str, u64>>,
    counted_ms: AtomicU64,
    counting: AtomicBool,
    /// The seat file exists (so a recount reads it rather than trying to create it).
    exists: AtomicBool,
    /// The run took a seat here and has not given it back.
    seated: AtomicBool,
    /// Where each stack listed or described here keeps its template (stack id to
    /// [`template_key`]).
    templates: Mutex<HashMap<String, Option<String>>>,
    /// Without a runs bucket (the operator's CLI auditing many secrets in one process):
    /// the templates read, kept in memory under the same keys.
    bodies: Mutex<HashMap<String, String>>,
}

impl<L: LockStore + Sync> Meter<'_, L> {
    /// Takes or renews the run's seat, and paces by the live seats.
    async fn count(&self) {
        let seats = match self.store {
            None => 1,
            Some(store) => match self.sit(store).await {
                Ok(seats) => seats,
                Err(e) => {
                    warn!(key = %self.key, error = %e, seats = SEATS_WHEN_UNKNOWN,
                        "discovery's seat file could not be read or written: pacing as one of several runs");
                    SEATS_WHEN_UNKNOWN
                }
            },
        };
        *self.pace.lock().expect("pace") = pace(self.calls_per_second, seats);
        self.counted_ms.store(now_ms(), Ordering::Relaxed);
    }

    async fn sit(&self, store: &L) -> Result<u32, AwsError> {
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                backoff(&self.execution, attempt).await;
            }
            let now = now_ms();
            if !self.exists.load(Ordering::Relaxed) {
                // The first run there creates the file; its GetObject would need
                // s3:ListBucket to tell "none yet" from "denied" (GetObject, S3 API).
                let mut seats = Seats::default();
                let live = seats.sit(&self.execution, now);
                if store.create(&self.key, to_vec(&seats)).await? {
                    self.exists.store(true, Ordering::Relaxed);
                    self.seated.store(true, Ordering::Relaxed);
                    return Ok(live);
                }
                self.exists.store(true, Ordering::Relaxed);
            }
            let Some((body, tag)) = store.read(&self.key).await? else {
                self.exists.store(false, Ordering::Relaxed);
                continue;
            };
            let mut seats: Seats = serde_json::from_slice(&body).unwrap_or_default();
            let before = seats.clone();
            let live = seats.sit(&self.execution, now);
            if seats == before || store.replace(&self.key, to_vec(&seats), &tag).await? {
                self.seated.store(true, Ordering::Relaxed);
                return Ok(live);
            }
        }
        Err(contended(&self.key))
    }

    /// Gives the run's seat back (best effort: a seat not given back lapses).
    async fn leave(&self) {
        let Some(store) = self.store else { return };
        if !self.seated.swap(false, Ordering::AcqRel) {
            return;
        }
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                backoff(&self.execution, attempt).await;
            }
            let read = match store.read(&self.key).await {
                Ok(Some(read)) => read,
                Ok(None) => return,
                Err(e) => {
                    warn!(key = %self.key, error = %e, "discovery's seat could not be given back: it lapses");
                    return;
                }
            };
            let mut seats: Seats = serde_json::from_slice(&read.0).unwrap_or_default();
            if !seats.seats.contains_key(&self.execution) {
                return;
            }
            seats.leave(&self.execution);
            match store.replace(&self.key, to_vec(&seats), &read.1).await {
                Ok(true) => return,
                Ok(false) => continue,
                Err(e) => {
                    warn!(key = %self.key, error = %e, "discovery's seat could not be given back: it lapses");
                    return;
                }
            }
        }
        warn!(key = %self.key, "discovery's seat could not be given back: it lapses");
    }

    /// Waits for the API's next slot in this account-region (recounting the seats first
    /// when due; one call recounts, the others go on at the pace they have).
    async fn before(&self, api: &'static str) {
        let now = now_ms();
        if now.saturating_sub(self.counted_ms.load(Ordering::Relaxed)) >= RECOUNT_EVERY_MS
            && !self.counting.swap(true, Ordering::AcqRel)
        {
            self.count().await;
            self.counting.store(false, Ordering::Release);
        }
        let now = now_ms();
        let pace = *self.pace.lock().expect("pace");
        let slot = {
            let mut last = self.last.lock().expect("slots");
            let slot = next_slot(
                pace,
                last.get(api).copied(),
                now,
                spread(&self.execution, api),
            );
            last.insert(api, slot);
            slot
        };
        if slot > now {
            tokio::time::sleep(Duration::from_millis(slot - now)).await;
        }
    }
}

impl<L> Meter<'_, L> {
    /// The stacks as AWS just showed them: where each keeps its template now.
    fn seen(&self, stacks: &[StackSnapshot]) {
        let mut templates = self.templates.lock().expect("templates");
        for s in stacks {
            templates.insert(s.stack.id.clone(), template_key(s));
        }
    }
}

impl<L: LockStore + Sync> Meter<'_, L> {
    /// A template kept under `key`; `None` when there is none (or it cannot be read: then
    /// it is read from CloudFormation, as if none were kept).
    async fn kept(&self, key: &str) -> Option<String> {
        let Some(store) = self.store else {
            return self.bodies.lock().expect("bodies").get(key).cloned();
        };
        match store.read(key).await {
            Ok(Some((body, _))) => String::from_utf8(body).ok(),
            Ok(None) => None,
            Err(e) => {
                warn!(key = %key, error = %e, "a kept template could not be read: read from CloudFormation");
                None
            }
        }
    }

    /// Keeps a template read: written once, by the first run to read it (If-None-Match),
    /// best effort; in memory without a runs bucket.
    async fn keep(&self, key: &str, body: &str) {
        let Some(store) = self.store else {
            self.bodies
                .lock()
                .expect("bodies")
                .insert(key.to_string(), body.to_string());
            return;
        };
        if let Err(e) = store.create(key, body.as_bytes().to_vec()).await {
            warn!(key = %key, error = %e, "a template read could not be kept for the other runs");
        }
    }
}

fn to_vec(seats: &Seats) -> Vec<u8> {
    serde_json::to_vec(seats).unwrap_or_default()
}

fn contended(key: &str) -> AwsError {
    AwsError {
        operation: "PutObject",
        code: Some("ConditionalRequestConflict".into()),
        message: format!("{key}: changed by others {ATTEMPTS} times in a row"),
    }
}

/// A number drawn from a run's name and a salt (attempt, API), to spread runs apart.
fn spread_of(execution: &str, salt: &str, seed: u32) -> u64 {
    let h = execution
        .bytes()
        .chain(salt.bytes())
        .fold(seed, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    u64::from(h)
}

/// Where in an interval a run among others makes its first call of an API.
fn spread(execution: &str, api: &str) -> u64 {
    spread_of(execution, api, 7)
}

/// Runs joining at once collide on the file: back off a little, spread by run.
async fn backoff(execution: &str, attempt: u32) {
    let ms = 20 * u64::from(attempt) + spread_of(execution, "", attempt) % 50;
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

/// The targets' access with every CloudFormation call paced per account-region
/// (`DiscoveryCallsPerSecond`, shared with the other runs discovering there).
pub struct PacedAccess<'a, A, L> {
    inner: &'a A,
    store: Option<&'a L>,
    execution: String,
    calls_per_second: f64,
    meters: Mutex<HashMap<String, Arc<Meter<'a, L>>>>,
}

impl<'a, A, L: LockStore + Sync> PacedAccess<'a, A, L> {
    pub fn new(inner: &'a A, store: Option<&'a L>, execution: &str, calls_per_second: f64) -> Self {
        Self {
            inner,
            store,
            execution: execution.to_string(),
            calls_per_second,
            meters: Mutex::new(HashMap::new()),
        }
    }

    /// Gives back every seat this run took (its discovery is over).
    pub async fn leave(&self) {
        let meters: Vec<_> = self
            .meters
            .lock()
            .expect("meters")
            .values()
            .cloned()
            .collect();
        futures::future::join_all(meters.iter().map(|m| m.leave())).await;
    }

    async fn meter(&self, target: &Target) -> Arc<Meter<'a, L>> {
        let key = seats_key(target);
        let (meter, new) = {
            let mut meters = self.meters.lock().expect("meters");
            match meters.get(&key) {
                Some(m) => (m.clone(), false),
                None => {
                    let m = Arc::new(Meter {
                        store: self.store,
                        key: key.clone(),
                        execution: self.execution.clone(),
                        calls_per_second: self.calls_per_second,
                        pace: Mutex::new(pace(self.calls_per_second, SEATS_WHEN_UNKNOWN)),
                        last: Mutex::new(HashMap::new()),
                        counted_ms: AtomicU64::new(0),
                        counting: AtomicBool::new(true),
                        exists: AtomicBool::new(false),
                        seated: AtomicBool::new(false),
                        templates: Mutex::new(HashMap::new()),
                        bodies: Mutex::new(HashMap::new()),
                    });
                    meters.insert(key, m.clone());
                    (m, true)
                }
            }
        };
        if new {
            // The seat is taken before the first call there, and counted again after
            // SETTLE_MS rather than RECOUNT_EVERY_MS.
            meter.count().await;
            let settled = now_ms().saturating_sub(RECOUNT_EVERY_MS - SETTLE_MS);
            meter.counted_ms.store(settled, Ordering::Relaxed);
            meter.counting.store(false, Ordering::Release);
        }
        meter
    }
}

impl<'a, A, L> TargetAccess for PacedAccess<'a, A, L>
where
    A: TargetAccess + Sync,
    L: LockStore + Sync,
{
    type Stacks = Paced<'a, A::Stacks, L>;

    async fn open(&self, target: &Target, session: &str) -> Result<Self::Stacks, AwsError> {
        let inner = self.inner.open(target, session).await?;
        let meter = self.meter(target).await;
        Ok(Paced { inner, meter })
    }
}

/// One target's stacks, each call paced.
pub struct Paced<'a, S, L> {
    inner: S,
    meter: Arc<Meter<'a, L>>,
}

impl<S: StackDirectory + Sync, L: LockStore + Sync> StackDirectory for Paced<'_, S, L> {
    async fn list_stacks(&self) -> Result<Vec<StackSnapshot>, AwsError> {
        self.meter.before("DescribeStacks").await;
        let stacks = self.inner.list_stacks().await?;
        self.meter.seen(&stacks);
        Ok(stacks)
    }

    async fn template_body(&self, stack: &StackRef) -> Result<String, AwsError> {
        let key = (self.meter.templates.lock().expect("templates"))
            .get(&stack.id)
            .cloned()
            .flatten();
        let Some(key) = key else {
            self.meter.before("GetTemplate").await;
            return self.inner.template_body(stack).await;
        };
        // Kept by another run (or this one)? Asked again after the wait for a slot: the
        // runs read their stacks in orders of their own, so one may have kept it meanwhile.
        if let Some(body) = self.meter.kept(&key).await {
            return Ok(body);
        }
        self.meter.before("GetTemplate").await;
        if let Some(body) = self.meter.kept(&key).await {
            return Ok(body);
        }
        let body = self.inner.template_body(stack).await?;
        self.meter.keep(&key, &body).await;
        Ok(body)
    }

    async fn stack_policy(&self, stack: &StackRef) -> Result<Option<String>, AwsError> {
        self.meter.before("GetStackPolicy").await;
        self.inner.stack_policy(stack).await
    }

    async fn nested_stacks(&self, stack: &StackRef) -> Result<Vec<NestedStack>, AwsError> {
        self.meter.before("ListStackResources").await;
        self.inner.nested_stacks(stack).await
    }

    async fn resources(&self, stack: &StackRef) -> Result<Vec<StackResource>, AwsError> {
        self.meter.before("ListStackResources").await;
        self.inner.resources(stack).await
    }
}

impl<S: StackUpdater + Sync, L: LockStore + Sync> StackUpdater for Paced<'_, S, L> {
    async fn describe(&self, stack: &StackRef) -> Result<Option<StackSnapshot>, AwsError> {
        self.meter.before("DescribeStacks").await;
        let described = self.inner.describe(stack).await?;
        self.meter.seen(described.as_slice());
        Ok(described)
    }

    async fn update(&self, plan: &UpdatePlan) -> Result<UpdateStart, AwsError> {
        self.meter.before("UpdateStack").await;
        self.inner.update(plan).await
    }

    async fn preview(&self, plan: &UpdatePlan) -> Result<Vec<PlannedChange>, AwsError> {
        self.meter.before("CreateChangeSet").await;
        self.inner.preview(plan).await
    }

    async fn begin_preview(&self, plan: &UpdatePlan, name: &str) -> Result<bool, AwsError> {
        self.meter.before("CreateChangeSet").await;
        self.inner.begin_preview(plan, name).await
    }

    async fn read_preview(&self, stack: &StackRef, name: &str) -> Result<PreviewRead, AwsError> {
        self.meter.before("DescribeChangeSet").await;
        self.inner.read_preview(stack, name).await
    }

    async fn drop_preview(&self, stack: &StackRef, name: &str) {
        self.meter.before("DeleteChangeSet").await;
        self.inner.drop_preview(stack, name).await
    }

    async fn delete_preview(&self, stack: &StackRef, name: &str) -> Result<(), AwsError> {
        self.meter.before("DeleteChangeSet").await;
        self.inner.delete_preview(stack, name).await
    }

    async fn failed_resources(&self, stack: &StackRef) -> Result<Vec<FailedResource>, AwsError> {
        self.meter.before("DescribeStackEvents").await;
        self.inner.failed_resources(stack).await
    }

    async fn operation(
        &self,
        stack: &StackRef,
        token: &str,
        since_ms: u64,
    ) -> Result<Option<OperationSeen>, AwsError> {
        self.meter.before("DescribeStackEvents").await;
        self.inner.operation(stack, token, since_ms).await
    }

    async fn concurrent_resources_limit(&self) -> Result<Option<u32>, AwsError> {
        self.meter.before("DescribeAccountLimits").await;
        self.inner.concurrent_resources_limit().await
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::domain::discovery_pace::{BURST, SEAT_LEASE_MS};
    use crate::fakes::{Locks, Unreachable};

    const NAMED: &str = "arn:aws:cloudformation:us-east-1:111111111111:stack/app/1";

    fn target() -> Target {
        Target {
            account: Some("111111111111".into()),
            region: "us-east-1".into(),
        }
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
    }

    /// How long `calls` GetTemplate calls take through a run's paced access.
    async fn time_calls<L: LockStore + Sync>(
        access: &PacedAccess<'_, Unreachable, L>,
        calls: u32,
    ) -> Duration {
        let stacks = access.open(&target(), "s").await.unwrap();
        let stack = StackRef::from_stack_id(NAMED).unwrap();
        let began = Instant::now();
        for _ in 0..calls {
            let _ = stacks.template_body(&stack).await;
        }
        began.elapsed()
    }

    fn seats(store: &Locks) -> Seats {
        let docs = store.docs.lock().unwrap();
        serde_json::from_slice(&docs[&seats_key(&target())].0).unwrap()
    }

    #[test]
    fn a_run_alone_calls_each_api_once_an_interval_after_its_burst() {
        runtime().block_on(async {
            let store = Locks::default();
            // 100 calls a second: one every 10 ms.
            let access = PacedAccess::new(&Unreachable, Some(&store), "run-a", 100.0);
            let took = time_calls(&access, BURST + 21).await;
            assert!(took >= Duration::from_millis(200), "{took:?}");
            assert!(took < Duration::from_millis(2_000), "{took:?}");
            assert_eq!(seats(&store).seats.len(), 1);
        });
    }

    #[test]
    fn a_run_beside_another_takes_half_the_budget_and_gives_its_seat_back() {
        runtime().block_on(async {
            let store = Locks::default();
            let other = PacedAccess::new(&Unreachable, Some(&store), "run-b", 100.0);
            let _ = other.open(&target(), "s").await.unwrap();
            let access = PacedAccess::new(&Unreachable, Some(&store), "run-a", 100.0);
            // Two seats: one call every 20 ms each, no burst.
            let took = time_calls(&access, 21).await;
            assert!(took >= Duration::from_millis(400), "{took:?}");
            assert_eq!(seats(&store).seats.len(), 2);
            access.leave().await;
            let left = seats(&store);
            assert!(!left.seats.contains_key("run-a"), "{left:?}");
            assert!(left.seats.contains_key("run-b"), "{left:?}");
        });
    }

    #[test]
    fn a_lapsed_seat_is_not_counted() {
        runtime().block_on(async {
            let store = Locks::default();
            let mut stale = Seats::default();
            stale
                .seats
                .insert("gone".into(), now_ms() - SEAT_LEASE_MS - 1);
            store.docs.lock().unwrap().insert(
                seats_key(&target()),
                (serde_json::to_vec(&stale).unwrap(), 1),
            );
            let access = PacedAccess::new(&Unreachable, Some(&store), "run-a", 100.0);
            let took = time_calls(&access, BURST + 21).await;
            assert!(
                took < Duration::from_millis(400),
                "paced as one of two: {took:?}"
            );
            assert_eq!(seats(&store).seats.keys().collect::<Vec<_>>(), ["run-a"]);
        });
    }

    #[test]
    fn a_run_that_cannot_reach_the_seat_file_paces_as_one_of_several() {
        runtime().block_on(async {
            let store = Locks {
                down: true,
                ..Default::default()
            };
            let access = PacedAccess::new(&Unreachable, Some(&store), "run-a", 100.0);
            let calls = 11;
            let took = time_calls(&access, calls).await;
            let interval = 10 * u64::from(SEATS_WHEN_UNKNOWN);
            assert!(took >= Duration::from_millis(10 * interval), "{took:?}");
        });
    }

    #[test]
    fn each_api_has_its_own_pace() {
        runtime().block_on(async {
            let access = PacedAccess::new(&Unreachable, None::<&Locks>, "run-a", 10.0);
            let stacks = access.open(&target(), "s").await.unwrap();
            let stack = StackRef::from_stack_id(NAMED).unwrap();
            let began = Instant::now();
            // A burst's worth of each of three APIs: none waits for another's.
            for _ in 0..=BURST {
                let _ = stacks.template_body(&stack).await;
                let _ = stacks.stack_policy(&stack).await;
                let _ = stacks.list_stacks().await;
            }
            assert!(
                began.elapsed() < Duration::from_millis(90),
                "{:?}",
                began.elapsed()
            );
        });
    }
}
