//! End to end: concurrency where CloudFormation's limits are, per account and region.
//! Each account-region's lane holds at most `MaxConcurrency` of a run's stacks at once; a
//! stack that finds its lane full waits on a task token (no Lambda, no polling) until a
//! place is freed; a throttled account-region narrows its own lane and slows no other.

use std::collections::BTreeMap;
use std::time::Duration;

use rotatetoken::domain::lanes::{lane_key, RENEW_EVERY_MS};
use rotatetoken::domain::model::{RunFiles, StackRef};
use rotatetoken::domain::trigger::execution_name;
use rotatetoken_tests::fixtures::*;
use rotatetoken_tests::pipeline::{Pipeline, RUNS_BUCKET};
use rotatetoken_tests::{AcceptedUpdate, ACCOUNT};
use serde_json::{json, Value};

const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];
const PER_REGION: usize = 6;
const PLACES: usize = 2;

/// Per region: the most stacks that were between their first update's start and their
/// last update's end at once, and when the region's last update ended.
fn in_flight(updates: &[AcceptedUpdate]) -> BTreeMap<String, (usize, f64)> {
    let mut spans: BTreeMap<(String, String), (f64, f64)> = BTreeMap::new();
    for u in updates {
        let end = u.ended_at.unwrap_or(f64::MAX);
        let span = spans
            .entry((u.region.clone(), u.stack.clone()))
            .or_insert((u.accepted_at, end));
        span.0 = span.0.min(u.accepted_at);
        span.1 = if span.1 == f64::MAX {
            end
        } else {
            span.1.max(end)
        };
    }
    let mut out = BTreeMap::new();
    for region in REGIONS {
        let mine: Vec<(f64, f64)> = spans
            .iter()
            .filter(|((r, _), _)| r == region)
            .map(|(_, s)| *s)
            .collect();
        let most = mine
            .iter()
            .map(|(start, _)| mine.iter().filter(|(s, e)| s <= start && start < e).count())
            .max()
            .unwrap_or(0);
        let last = mine.iter().map(|(_, e)| *e).fold(0.0, f64::max);
        out.insert(region.to_string(), (most, last));
    }
    out
}

#[tokio::test]
async fn each_account_region_has_its_own_places_and_a_throttled_one_slows_only_itself() {
    let p = Pipeline::start(|env| {
        env.set("TARGET_REGIONS", &REGIONS.join(","))
            .set("MAX_CONCURRENCY", &PLACES.to_string())
            // A wait that ends by its time-out costs a minute: a lane that works hands its
            // places on within seconds.
            .set("POLL_INTERVAL_SECONDS", "60")
            .set("MAX_WAIT_SECONDS", "900")
    })
    .await;
    let arn = create_secret(&p.sm, "prod/db", "v1").await;
    // The pipeline's own account in its other region forwards its stacks' ends
    // (target-role.yaml with RoleRegion=none).
    p.forward_stack_ends_from(ACCOUNT, "eu-west-1").await;
    for region in REGIONS {
        let cfn =
            aws_sdk_cloudformation::Client::new(&p.emulator.sdk_config_in(ACCOUNT, region).await);
        for n in 0..PER_REGION {
            create_stack(&cfn, &format!("app-{n}"), &consumer_template(&arn), &[]).await;
        }
    }
    // eu-west-1's CloudFormation answers a call a second (a customer's deploys use the
    // rest of its quota); us-east-1's is free.
    p.emulator.control(json!({"update_delay_seconds": 1.0,
        "rate_limits": {"cloudformation@eu-west-1": {"*": [1.0, 3]}}}));
    let version = put_secret(&p.sm, "prod/db", "v2").await;
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    p.deliver(&sample_event("put-secret-value.json", &arn, &version))
        .await;
    let done = p
        .wait_for(&execution_name(&arn, &version), Duration::from_secs(240))
        .await;

    assert_eq!(done.status, "SUCCEEDED", "{:#}", done.summary);
    assert_eq!(
        done.summary["counts"]["refreshed"],
        json!(REGIONS.len() * PER_REGION),
        "{:#}",
        done.summary
    );
    for region in REGIONS {
        for n in 0..PER_REGION {
            assert_eq!(
                p.emulator
                    .completed_token_updates_in(ACCOUNT, region, &format!("app-{n}")),
                vec!["false", "true"]
            );
        }
    }
    let lanes = in_flight(&p.emulator.updates());
    for (region, (most, _)) in &lanes {
        assert!(
            *most <= PLACES,
            "{region}: {most} stacks in flight at once, its lane has {PLACES} places"
        );
        assert!(*most >= 1, "{region}");
    }
    let (east, west) = (lanes["us-east-1"].1, lanes["eu-west-1"].1);
    eprintln!(
        "lanes: {lanes:?}; us-east-1 ended after {:.0} s, eu-west-1 after {:.0} s",
        east - started,
        west - started
    );
    assert!(
        east < west,
        "the throttled region ends last: us-east-1 {:.0} s, eu-west-1 {:.0} s",
        east - started,
        west - started
    );
    // Three waves of two 1 s updates each, and the looks between, each wave started by the
    // one before handing its places on: the free region is not held back by the
    // throttled one (nor by a time-out, a minute).
    assert!(
        east - started < 60.0,
        "us-east-1 took {:.0} s: slowed by eu-west-1's throttling",
        east - started
    );
    let log = p.functions.logs();
    assert!(
        log.contains("its lane narrowed"),
        "the throttled lane narrowed"
    );
    assert!(
        log.contains("waiting for a place"),
        "stacks waited for a place in their lane"
    );
    assert!(
        log.contains("a place in the lane was handed on"),
        "the stacks that ended handed their places on (FreePlace)"
    );
}

/// CloudFormation's other per-account-region limit: "resources in concurrent stack
/// operations" (`ConcurrentResourcesLimit`, DescribeAccountLimits). Each stack's refresh
/// deletes and recreates two guarded resources; with the limit at 8, a lane's begun stacks
/// may change 4 at once (half: the rest is the customer's), so two stacks at a time,
/// however many places `MaxConcurrency` gives.
#[tokio::test]
async fn begun_stacks_change_at_most_half_the_account_regions_concurrent_resources() {
    const STACKS: usize = 6;
    let p = Pipeline::start(|env| {
        env.set("MAX_CONCURRENCY", "10")
            .set("POLL_INTERVAL_SECONDS", "60")
            .set("MAX_WAIT_SECONDS", "900")
    })
    .await;
    let arn = create_secret(&p.sm, "prod/db", "v1").await;
    for n in 0..STACKS {
        create_stack(&p.cfn, &format!("app-{n}"), &consumer_template(&arn), &[]).await;
    }
    p.emulator.control(json!({"update_delay_seconds": 1.0,
        "account_limits": {"ConcurrentResourcesLimit": 8}}));
    let version = put_secret(&p.sm, "prod/db", "v2").await;
    p.deliver(&sample_event("put-secret-value.json", &arn, &version))
        .await;
    let done = p
        .wait_for(&execution_name(&arn, &version), Duration::from_secs(240))
        .await;
    assert_eq!(done.status, "SUCCEEDED", "{:#}", done.summary);
    assert_eq!(
        done.summary["counts"]["refreshed"],
        json!(STACKS),
        "{:#}",
        done.summary
    );

    // Each stack from its first update's start to its last update's end, with the most
    // resources one of its updates changed (the emulator's account of each update).
    let mut spans: BTreeMap<String, (f64, f64, usize)> = BTreeMap::new();
    for u in p.emulator.updates() {
        let r = &u.resources;
        let changed = r.deleted.len() + r.created.len() + r.modified.len() + r.replaced.len();
        let span = spans
            .entry(u.stack.clone())
            .or_insert((u.accepted_at, 0.0, 0));
        span.0 = span.0.min(u.accepted_at);
        span.1 = span.1.max(u.ended_at.expect("every update ended"));
        span.2 = span.2.max(changed);
    }
    assert_eq!(spans.len(), STACKS);
    assert!(
        spans.values().all(|s| s.2 == 2),
        "two guarded resources each: {spans:?}"
    );
    let most = spans
        .values()
        .map(|(at, _, _)| {
            spans
                .values()
                .filter(|(s, e, _)| s <= at && at < e)
                .map(|(_, _, n)| n)
                .sum::<usize>()
        })
        .max()
        .unwrap_or(0);
    assert!(
        most <= 4,
        "{most} resources in concurrent operations at once, half the limit is 4: {spans:?}"
    );
    assert!(most >= 2, "{spans:?}");
    // The limit is read once for the lane, not per stack.
    let reads = p
        .emulator
        .requests()
        .iter()
        .filter(|(_, _, action)| action == "cloudformation:DescribeAccountLimits")
        .count();
    assert!(
        (1..STACKS).contains(&reads),
        "DescribeAccountLimits read {reads} times for {STACKS} stacks: once for the lane (two stacks may find it due at once)"
    );
    assert!(
        p.functions
            .logs()
            .contains("change too many resources at once"),
        "stacks waited for the lane's resources"
    );
}

/// A begun stack is a holder until it ends, whatever its looks take: each look renews its
/// place when the renewal is due (`RENEW_EVERY_MS`), at once with the look's own reads, so
/// that a long refresh never outlives its lease and lets the lane admit one stack too many.
#[tokio::test]
async fn a_begun_stacks_look_renews_its_place_in_the_lane_when_due() {
    let p = Pipeline::start(|env| env).await;
    create_secret(&p.sm, "prod/db", "v1").await;
    // Between the phases: phase one left the token at `false`.
    let id = create_stack(
        &p.cfn,
        "app-1",
        &consumer_template("prod/db"),
        &[("RotateToken", "false")],
    )
    .await;
    let execution = "run-between-phases";
    let task = json!({
        "stack": {"account": ACCOUNT, "region": "us-east-1", "name": "app-1", "id": id},
        "parameter": "RotateToken", "phase": "enable", "execution": execution,
    });
    let s3 = aws_sdk_s3::Client::new(&p.config);
    let put = |key: String, body: String| {
        s3.put_object()
            .bucket(RUNS_BUCKET)
            .key(key)
            .body(body.into_bytes().into())
            .send()
    };
    let selected = RunFiles::new(RUNS_BUCKET, execution).selected_key(&id);
    put(selected, task.to_string()).await.unwrap();
    // Its place, last renewed longer ago than a renewal is due.
    let now_ms = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64
    };
    let stale = now_ms() - RENEW_EVERY_MS - 60_000;
    let holder = format!("{execution} {id}");
    let stack = StackRef::from_stack_id(&id).unwrap();
    let lane = json!({"holders": {&holder: {"execution": execution, "renewed_ms": stale, "resources": 2}}});
    put(lane_key(&stack), lane.to_string()).await.unwrap();

    let before = now_ms();
    let out = p.functions.invoke("rotatetoken-refresh", &task).unwrap();
    // Phase two began and the look handed the stack back to wait for its end: it still
    // holds its place (an ended stack gives it back).
    assert_eq!(out["outcome"], "waiting", "{out:#}");
    assert_eq!(
        p.emulator.updates().len(),
        1,
        "phase two's update began: {out:#}"
    );
    let body = s3
        .get_object()
        .bucket(RUNS_BUCKET)
        .key(lane_key(&stack))
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    let lane: Value = serde_json::from_slice(&body).unwrap();
    // Renewed by the begun stack's look: not entered again as a stack not begun, nor
    // claimed again (no resources read, the lane not made anew).
    assert_eq!(out["phase"], "enable", "{out:#}");
    assert_eq!(
        lane["holders"].as_object().map(|h| h.len()),
        Some(1),
        "{lane:#}"
    );
    assert_eq!(lane["holders"][&holder]["resources"], 2, "{lane:#}");
    assert!(
        lane["limit_read_ms"].as_u64().unwrap_or(0) == 0,
        "no claim read the account's limit: {lane:#}"
    );
    let renewed = lane["holders"][&holder]["renewed_ms"].as_u64().unwrap_or(0);
    assert!(
        renewed >= before,
        "its place was renewed by the look (renewed at {renewed}, the look began at {before}): {lane:#}"
    );
}
