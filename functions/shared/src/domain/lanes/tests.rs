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
    assert!(
        leave(&mut lane, &stack(1), "run", now),
        "a holder refused its resources waits"
    );
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
    leave(&mut lane, &stack(1), "run", now);
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
    leave(&mut lane, &stack(0), "another run", 1_000);
    assert_eq!(
        enter(&mut lane, &stack(3), "run", 1_500, 3),
        Entry::Full,
        "another run's refresh is another holder"
    );
    leave(&mut lane, &stack(0), "run", 1_500);
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

/// Stack `s<n>` in account `account` (us-east-1), to refresh.
fn stack_of(account: u64, n: u32) -> RefreshTask {
    RefreshTask::new(
        StackRef::from_stack_id(&format!(
            "arn:aws:cloudformation:us-east-1:{account:012}:stack/s{n}/1"
        ))
        .unwrap(),
        "RotateToken",
    )
}

/// How many of the tasks begin on each second; never more than the run-wide rate.
fn starts_per_second(selected: &[RefreshTask]) -> std::collections::BTreeMap<u32, u32> {
    let mut per_second: std::collections::BTreeMap<u32, u32> = Default::default();
    for t in selected {
        *per_second.entry(t.start_after_seconds).or_default() += 1;
    }
    assert!(
        per_second.values().all(|n| *n <= RUN_STARTS_PER_SECOND),
        "{per_second:?}"
    );
    per_second
}

#[test]
fn a_run_over_many_account_regions_begins_at_most_its_run_wide_rate_of_stacks_on_any_second() {
    // 30 account-regions of 5 stacks: one a second in each lane would begin 30 at once.
    let selected: Vec<RefreshTask> = (0..30)
        .flat_map(|a| (0..5).map(move |n| stack_of(100_000_000_000 + a, n)))
        .collect();
    let mut selected = interleave(selected);
    stagger(&mut selected, 1_000);
    let per_second = starts_per_second(&selected);
    // Every second of the start is used: the run is slowed no more than the bound needs.
    let seconds = 150_u32.div_ceil(RUN_STARTS_PER_SECOND);
    assert_eq!(per_second.len() as u32, seconds, "{per_second:?}");
    // Each lane still keeps its own order, a second or more apart.
    for lane in 0..30 {
        let waits: Vec<u32> = selected
            .iter()
            .filter(|t| t.stack.account == format!("{:012}", 100_000_000_000u64 + lane))
            .map(|t| t.start_after_seconds)
            .collect();
        assert!(waits.windows(2).all(|w| w[1] > w[0]), "{waits:?}");
    }
}

#[test]
fn an_uneven_run_keeps_the_run_wide_rate_and_the_children_beyond_the_maps_concurrency_wait_nothing()
{
    // One account-region of 40 stacks beside 20 of one stack each.
    let mut all: Vec<RefreshTask> = (0..40).map(|n| stack_of(1, n)).collect();
    all.extend((0..20).map(|a| stack_of(100 + a, 0)));
    let mut selected = interleave(all.clone());
    stagger(&mut selected, 1_000);
    starts_per_second(&selected);
    let big: Vec<u32> = selected
        .iter()
        .filter(|t| t.stack.account == format!("{:012}", 1))
        .map(|t| t.start_after_seconds)
        .collect();
    assert_eq!(
        big,
        (0..40).collect::<Vec<u32>>(),
        "one a second in its lane"
    );
    // Those the Map starts later (as earlier children end) are already spread: no wait.
    let mut selected = interleave(all);
    stagger(&mut selected, 10);
    assert!(selected[10..].iter().all(|t| t.start_after_seconds == 0));
}

#[test]
fn a_stack_leaving_a_lane_where_none_was_refused_lately_wakes_no_one_and_one_refused_is_woken() {
    let mut lane = Lane::default();
    for n in 0..3 {
        assert_eq!(enter(&mut lane, &stack(n), "run", 0, 3), Entry::Admitted);
    }
    assert!(
        !leave(&mut lane, &stack(0), "run", MIN),
        "no stack was ever refused here: no hand-over"
    );
    assert_eq!(enter(&mut lane, &stack(0), "run", MIN, 3), Entry::Admitted);
    // The lane is full: a fourth stack is refused, and waits.
    assert_eq!(enter(&mut lane, &stack(3), "run", 2 * MIN, 3), Entry::Full);
    let wait_ends = 2 * MIN + PLACE_WAIT_MS;
    assert!(
        leave(
            &mut lane,
            &stack(0),
            "run",
            wait_ends + REFUSED_SLACK_MS - 1
        ),
        "a stack refused within a place wait (and the slack) may still wait: handed on"
    );
    assert!(
        !leave(&mut lane, &stack(1), "run", wait_ends + REFUSED_SLACK_MS),
        "past its wait it has looked again by itself"
    );
    // A holder refused its resources waits too.
    let mut lane = lane_with_limit(Some(4), 10 * MIN);
    enter(&mut lane, &stack(1), "run", 10 * MIN, 3);
    enter(&mut lane, &stack(2), "run", 10 * MIN, 3);
    assert_eq!(
        claim(&mut lane, &stack(1), "run", 2, 10 * MIN),
        Claim::Granted
    );
    assert!(!leave(&mut lane, &stack(9), "run", 10 * MIN));
    assert_eq!(claim(&mut lane, &stack(2), "run", 3, 11 * MIN), Claim::Full);
    assert!(leave(&mut lane, &stack(1), "run", 11 * MIN));
}
