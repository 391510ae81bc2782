//! Discovery's CloudFormation calls, paced per account and region under a stated budget
//! (`DiscoveryCallsPerSecond`), shared by every run discovering there at once.
//!
//! Why: CloudFormation's API rates are per account, region and API, shared with the
//! customer's own deploys, and not published (Service Quotas lists them as non-adjustable
//! rate quotas); users measure DescribeStacks near 5 calls a second (aws-sam-cli #2671) and
//! see deployments fail on a throttled poll (aws-cdk-cli #1777). Discovery reads each
//! candidate's template (GetTemplate) and stack policy (GetStackPolicy): unpaced, up to 8
//! in flight per target, about 70 calls a second at AWS's latency, and an incident rotating
//! several secrets discovers several runs at once in the same accounts.
//!
//! How: each run discovering in an account-region holds a seat in that account-region's
//! seat file (`discovery/<account>/<region>.json` in the runs bucket, changed only by S3
//! conditional writes, as the lanes are). A run with `n` live seats around it calls each
//! API at most once every `n / budget` seconds there, so the runs together stay at the
//! budget; a seat is renewed while its run discovers and given back when it ends; one
//! whose run vanished (a time-out) lapses after [`SEAT_LEASE_MS`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::model::{StackSnapshot, Target};

/// `DiscoveryCallsPerSecond`'s default: calls a second per CloudFormation API per account
/// and region, for all of the pipeline's discoveries there together. Under half of the ~5 a
/// second users measure, so most of each API's rate stays the customer's.
pub const DEFAULT_CALLS_PER_SECOND: f64 = 2.0;

/// A seat not renewed for this long belongs to a run that no longer discovers.
pub const SEAT_LEASE_MS: u64 = 60_000;
/// A run renews its seat this often while it discovers (a third of the lease).
pub const RENEW_EVERY_MS: u64 = 20_000;
/// A run reads its account-region's seats again this often, to follow runs that came or
/// went: for at most this long a newcomer and the runs before it overlap at more than the
/// budget, by at most one call per API and seat per interval.
pub const RECOUNT_EVERY_MS: u64 = 2_000;
/// When the seat file cannot be read or written, a run paces itself as if it were one of
/// this many: it cannot know how many others discover there, so it takes a small share.
pub const SEATS_WHEN_UNKNOWN: u32 = 4;
/// A run that just took its seat counts again this soon: runs that began together (an
/// incident's secrets rotated at once) each took their seats one after another, and the
/// first ones counted before the others sat down.
pub const SETTLE_MS: u64 = 250;
/// Calls a run alone in its account-region may make at once before its pace applies
/// (CloudFormation's buckets have a burst of their own). A run among others has none: it
/// cannot know whether theirs is spent.
pub const BURST: u32 = 4;

/// An account-region's seat file: each discovering run (execution name) and when it last
/// renewed its seat (epoch ms).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seats {
    #[serde(default)]
    pub seats: BTreeMap<String, u64>,
}

impl Seats {
    /// Takes or renews `execution`'s seat and drops lapsed ones; the live seats after it.
    /// A seat renewed within [`RENEW_EVERY_MS`] is left as it is (no write is needed).
    pub fn sit(&mut self, execution: &str, now_ms: u64) -> u32 {
        self.seats
            .retain(|_, renewed| now_ms.saturating_sub(*renewed) < SEAT_LEASE_MS);
        let due = self
            .seats
            .get(execution)
            .is_none_or(|renewed| now_ms.saturating_sub(*renewed) >= RENEW_EVERY_MS);
        if due {
            self.seats.insert(execution.to_string(), now_ms);
        }
        self.seats.len() as u32
    }

    /// Gives `execution`'s seat back.
    pub fn leave(&mut self, execution: &str) {
        self.seats.remove(execution);
    }
}

/// The seat file of a target (`self` for the pipeline's own account, reached with its own
/// credentials).
pub fn seats_key(target: &Target) -> String {
    format!(
        "discovery/{}/{}.json",
        target.account.as_deref().unwrap_or("self"),
        target.region
    )
}

/// Where a stack's template is kept for the other runs discovering in its account-region
/// (an incident's runs read the same templates): the runs bucket, under the stack's id and
/// the moment and outcome of its last operation that could change it. CloudFormation
/// changes a template only by an operation, which moves `LastUpdatedTime` when it begins;
/// a rollback leaves the time and changes the status (`UPDATE_ROLLBACK_COMPLETE`: the
/// template from before). So a key names one template, but for one race: the key comes
/// from the run's listing and the template from GetTemplate after it, so a stack whose
/// operation begins in between has its new template kept under its old key. Only a run
/// that listed the stack before that operation began asks for that key, and such a run,
/// reading GetTemplate itself, could have read that same new template: no run reads a
/// template it could not have read without the cache. `None`: nothing kept or read for a
/// stack in the middle of an operation (its template may be changing), or whose times AWS
/// did not give.
pub fn template_key(snapshot: &StackSnapshot) -> Option<String> {
    let at = snapshot.last_changed_ms?;
    if !snapshot.status.ends_with("_COMPLETE") {
        return None;
    }
    let stack = &snapshot.stack;
    // `stack/<name>/<uuid>`: a name reused by a new stack is another stack.
    let unique = stack.id.rsplit('/').next().filter(|u| !u.is_empty())?;
    Some(format!(
        "templates/{}/{}/{}/{unique}/{at}-{}.template",
        stack.account, stack.region, stack.name, snapshot.status
    ))
}

/// Where a stack comes in a run's reading order: a hash of the run's session and the stack.
pub fn run_order(session: &str, stack_id: &str) -> [u8; 8] {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new()
        .chain_update(session.as_bytes())
        .chain_update([0])
        .chain_update(stack_id.as_bytes())
        .finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    first
}

/// How a run with `seats` live seats in its account-region paces each API there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pace {
    /// At least this long between two calls of one API.
    pub interval_ms: u64,
    /// Calls that may go before the interval applies.
    pub burst: u32,
}

/// The pace of one run among `seats` at a budget of `calls_per_second` per API.
pub fn pace(calls_per_second: f64, seats: u32) -> Pace {
    let seats = seats.max(1);
    let rate = if calls_per_second.is_finite() && calls_per_second > 0.0 {
        calls_per_second
    } else {
        DEFAULT_CALLS_PER_SECOND
    };
    Pace {
        interval_ms: (1000.0 * f64::from(seats) / rate).ceil() as u64,
        burst: if seats == 1 { BURST } else { 0 },
    }
}

/// When the next call of an API may go, given when its last slot was (`last_ms`, none
/// yet: `None`) and the time now: its slot, which is also its last slot from then on. A
/// slot may lie up to `burst` intervals in the past (calls saved while the API was idle),
/// never more: the pace is a token bucket of `burst + 1` calls refilled every interval.
/// A run among others (no burst) makes its first call of an API `spread_ms` (modulo the
/// interval) from now: runs that began together do not all call at once.
pub fn next_slot(pace: Pace, last_ms: Option<u64>, now_ms: u64, spread_ms: u64) -> u64 {
    let earliest = now_ms.saturating_sub(u64::from(pace.burst).saturating_mul(pace.interval_ms));
    match last_ms {
        None if pace.burst == 0 => now_ms.saturating_add(spread_ms % pace.interval_ms.max(1)),
        None => earliest,
        Some(last) => last.saturating_add(pace.interval_ms).max(earliest),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_alone_takes_the_whole_budget_and_two_runs_half_each() {
        assert_eq!(pace(2.0, 1).interval_ms, 500);
        assert_eq!(pace(2.0, 2).interval_ms, 1000);
        assert_eq!(pace(2.0, 10).interval_ms, 5000);
        // A budget below one call a second (a time-scaled benchmark) paces in seconds.
        assert_eq!(pace(0.4, 1).interval_ms, 2500);
    }

    #[test]
    fn a_budget_that_is_not_a_positive_number_paces_at_the_default() {
        assert_eq!(pace(0.0, 1), pace(DEFAULT_CALLS_PER_SECOND, 1));
        assert_eq!(pace(f64::NAN, 1), pace(DEFAULT_CALLS_PER_SECOND, 1));
    }

    #[test]
    fn only_a_run_alone_has_a_burst() {
        assert_eq!(pace(2.0, 1).burst, BURST);
        assert_eq!(pace(2.0, 2).burst, 0);
        assert_eq!(pace(2.0, 9).burst, 0);
    }

    #[test]
    fn calls_go_at_once_within_the_burst_then_one_per_interval() {
        let p = pace(2.0, 1);
        let now = 100_000;
        let mut last = None;
        let mut slots = vec![];
        for _ in 0..7 {
            let slot = next_slot(p, last, now, 0);
            slots.push(slot);
            last = Some(slot);
        }
        let at_once = slots.iter().filter(|s| **s <= now).count();
        assert_eq!(at_once, BURST as usize + 1, "{slots:?}");
        assert_eq!(slots[6] - slots[5], 500);
        assert_eq!(slots[5], now + 500);
    }

    #[test]
    fn an_idle_api_saves_no_more_than_its_burst() {
        let p = pace(2.0, 1);
        // The last call an hour ago: the next goes at once, but only burst + 1 do.
        assert_eq!(next_slot(p, Some(0), 3_600_000, 0), 3_600_000 - 4 * 500);
    }

    #[test]
    fn runs_among_others_spread_their_first_calls_over_an_interval() {
        let p = pace(2.0, 4);
        assert_eq!(p.interval_ms, 2_000);
        assert_eq!(next_slot(p, None, 10_000, 700), 10_700);
        assert_eq!(next_slot(p, None, 10_000, 2_700), 10_700);
        // Alone, the first call goes at once whatever the spread.
        assert!(next_slot(pace(2.0, 1), None, 10_000, 700) <= 10_000);
    }

    #[test]
    fn a_seat_lapses_after_its_lease_and_is_renewed_only_when_due() {
        let mut s = Seats::default();
        assert_eq!(s.sit("a", 1_000), 1);
        assert_eq!(s.sit("b", 2_000), 2);
        // Renewed within RENEW_EVERY_MS: unchanged, so no write.
        let before = s.clone();
        assert_eq!(s.sit("a", 1_000 + RENEW_EVERY_MS - 1), 2);
        assert_eq!(s, before);
        assert_eq!(s.sit("a", 1_000 + RENEW_EVERY_MS), 2);
        assert_eq!(s.seats["a"], 1_000 + RENEW_EVERY_MS);
        // b never renews: gone after its lease, from the count and the file.
        assert_eq!(s.sit("a", 2_000 + SEAT_LEASE_MS), 1);
        assert!(!s.seats.contains_key("b"));
        s.leave("a");
        assert!(s.seats.is_empty());
    }

    #[test]
    fn a_template_is_kept_under_its_stacks_last_operation_and_outcome() {
        let id = "arn:aws:cloudformation:us-east-1:111111111111:stack/app/5f0c-11";
        let mut s = StackSnapshot {
            status: "UPDATE_COMPLETE".into(),
            last_changed_ms: Some(1_000),
            ..StackSnapshot::for_test(id, &[])
        };
        let updated = template_key(&s).unwrap();
        assert_eq!(
            updated,
            "templates/111111111111/us-east-1/app/5f0c-11/1000-UPDATE_COMPLETE.template"
        );
        s.status = "UPDATE_ROLLBACK_COMPLETE".into();
        assert_ne!(
            template_key(&s).unwrap(),
            updated,
            "rolled back: the template before"
        );
        s.status = "UPDATE_COMPLETE".into();
        s.last_changed_ms = Some(2_000);
        assert_ne!(template_key(&s).unwrap(), updated, "updated again");
        for busy in [
            "UPDATE_IN_PROGRESS",
            "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS",
            "UPDATE_ROLLBACK_FAILED",
        ] {
            s.status = busy.into();
            assert_eq!(template_key(&s), None, "{busy}");
        }
        s.status = "CREATE_COMPLETE".into();
        s.last_changed_ms = None;
        assert_eq!(template_key(&s), None, "no time from AWS");
    }

    #[test]
    fn each_account_region_has_its_own_seat_file() {
        let t = |a: Option<&str>, r: &str| Target {
            account: a.map(str::to_string),
            region: r.into(),
        };
        assert_eq!(
            seats_key(&t(Some("111111111111"), "eu-west-1")),
            "discovery/111111111111/eu-west-1.json"
        );
        assert_ne!(
            seats_key(&t(Some("111111111111"), "eu-west-1")),
            seats_key(&t(Some("111111111111"), "us-east-1"))
        );
        assert_eq!(
            seats_key(&t(None, "us-east-1")),
            "discovery/self/us-east-1.json"
        );
    }
}
