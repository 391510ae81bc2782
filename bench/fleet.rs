//! The incident benchmark (`make bench-fleet`): a fleet of consuming stacks spread over
//! many accounts and regions, refreshed through the real state machine and functions on a
//! local AWS that has CloudFormation's limits, once per design on the same fleet:
//!
//! - `events` (the default deployment): each account-region's lane holds `MaxConcurrency`
//!   stacks; an updating stack's step waits on a task token, ended by the stack's own
//!   CloudFormation status change event (forwarded from its account-region) or, if that
//!   event is lost, by one look after `PollIntervalSeconds`.
//! - `polling` (how a refresh waited before the issue, today's design in its terms): each
//!   step holding its Lambda and looking at the stack every few seconds until CloudFormation
//!   is done, deployed as it was then (10 stacks in flight per account-region, a look every
//!   15 s); the stagger at the start is the same.
//!
//! The fleet (the incident): `stacks` stacks in `accounts` accounts × 2 regions,
//! each stack's updates taking their own time drawn from a clamped log-normal (median
//! 45 s, σ 0.6, 20 s to 4 min: a long tail), time-scaled by `scale`; CloudFormation's API
//! rates on, per account, region and API (every API 5 calls a second, burst 10: at or
//! below the DescribeStacks rate users measure, aws/aws-sam-cli#2671), divided by
//! `scale`; 1% of the status change events lost; and a customer's deploy tooling in the
//! first account-region calling DescribeStacks once a second (once every `scale` s)
//! throughout, without retries, counting how often CloudFormation throttles it.
//!
//! Figures per design: the time until every stack is fresh (its last update ended) against
//! the physical limit (the slowest stack's own two updates, or the time the fleet's
//! CloudFormation calls need at the API rates alone, whichever is larger); CloudFormation
//! calls per stack by API and read calls per stack and phase; throttled calls; the peak
//! of concurrent Lambda invocations; GB-seconds, state transitions and cost per 1,000
//! stacks; the customer probe's throttle rate. Times are reported as measured and in AWS
//! time (divided by `scale`); with `scale` 1 they are the same. Step Functions' Retry waits
//! take the run's time too (emulator patch 52, `scale` × AWS's).
//!
//! A `scale` above 1 slows the whole of AWS down by that factor (update times, API rates,
//! the probe, the deploy's waits), for a fleet whose calls one local AWS process on this
//! machine cannot answer in AWS's time (1,300 stacks at 100 places: `FLEET="1300 10 5"`;
//! at scale 3 the local AWS collapsed under 1,300 stacks in flight).
//! Only the events design is slowed: it holds no Lambda while CloudFormation updates a
//! stack or creates the guard's change set (one look begins it, the state machine's
//! `Pause` waits, the next look reads it), so its invocations are its own work, measured as they ran, and its concurrency is counted with
//! each invocation placed at its start in AWS time. The polling design holds a Lambda
//! through its waits (a slowed run would stretch them); at its 10 places it fits the local
//! AWS in AWS's time, where it runs. The state machine's Wait states and task time-outs
//! are slowed by the local AWS (emulator patch 55: the start's stagger,
//! `domain::lanes::STARTS_PER_SECOND` and `RUN_STARTS_PER_SECOND`; a place's ask-again time, 5 min; a lost event's
//! wait, `PollIntervalSeconds`); what stays in the functions' own time comes `scale` times
//! sooner in AWS time: the lanes' lease, growth and halving, so they can only add calls
//! and throttles (and a phase-two backoff `Pause`, slowed twice, never happens here).
//!
//! The local Lambda runs as many instances of a function as invocations are in flight, as
//! Lambda does (`RT_LAMBDA_CONCURRENCY=aws`), each binary behind the Runtime API of our own
//! host (tests/emulator/lambda_host.py, the suites' default: `cargo lambda watch` stalled
//! under a few hundred concurrent invocations). The local AWS answers each of the functions'
//! calls no sooner than AWS's typical latency for its service, slowed with the run
//! (`CALL_LATENCY`, emulator patch 63); its own work on 2 shared cores counts within that
//! latency, and beyond it only where it took longer: invocations take at least their
//! calls' typical time on AWS.
//!
//! Usage: cargo run --release --example fleet -- [stacks] [accounts] [scale] [designs]
//!        (defaults 1300 10 1 events,polling)

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_cloudformation::error::ProvideErrorMetadata;
use futures::{stream, StreamExt};
use rotatetoken_tests::fixtures::create_stack;
use rotatetoken_tests::pipeline::Pipeline;
use serde_json::{json, Value};

#[path = "common.rs"]
mod common;
use common::{epoch_seconds, keep_raw_logs, percentile, round, CONSUMER_TEMPLATE, PRICES};

const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];
/// CloudFormation's API rate for every API, per account and region: [calls a second, burst].
const API_RATE: (f64, f64) = (5.0, 10.0);
/// The customer's deploy tooling polls DescribeStacks this often (calls a second).
const PROBE_RATE: f64 = 1.0;
/// Update times (seconds, before scaling): the long tail.
const UPDATE_TIMES: (f64, f64, f64, f64) = (45.0, 0.6, 20.0, 240.0);
/// Status change events lost on their way (the rest arrive, possibly late).
const EVENTS_LOST: f64 = 0.01;
/// Seconds CloudFormation takes to create the guard's change set (emulator patch 56): an
/// assumption, AWS publishes no figure; field reports say seconds, at times a minute
/// (cloudtools/stacker#389, acquia/moonshot#213). Not time-scaled: in the events design no
/// invocation waits for it (the preview's `Pause`, 5 s, is slowed with the run); the polling
/// design, in AWS's time, waits for it inside its invocation.
const CHANGE_SET_SECONDS: f64 = 3.0;
/// AWS's typical latency per call by service, seconds (emulator patch 63, which cites
/// them), slowed with the run: each call of the functions is answered no sooner (the local
/// AWS's own work counted within it, beyond it only where it took longer), so an
/// invocation takes at least its sequential calls' typical time on AWS. AWS publishes no latency for either service. CloudFormation: SDK logs show
/// DescribeStacks in 0.11 s (0.4 s in a slow hour); S3: "tens of milliseconds" (AWS's S3
/// performance whitepaper), SDK logs from Lambda 0.04 s to 0.08 s; any other service
/// (Step Functions, STS) as S3.
const CALL_LATENCY: [(&str, f64); 3] = [("cloudformation", 0.11), ("s3", 0.05), ("*", 0.05)];
/// A deploy parameter's default in template.yaml, so the figures are a default
/// deployment's; `RT_FLEET_<NAME>` (say `RT_FLEET_MaxConcurrency=40`) tries another value.
fn template_default(name: &str) -> String {
    if let Ok(v) = std::env::var(format!("RT_FLEET_{name}")) {
        return v;
    }
    let facts = rotatetoken_tests::template_facts();
    match &facts["parameter_defaults"][name] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => panic!("template.yaml: parameter {name} has no usable default ({other})"),
    }
}
/// The polling design's places, look interval and step budget (its template defaults then).
const POLLING_MAX_CONCURRENCY: u32 = 10;
const POLLING_INTERVAL_SECONDS: f64 = 15.0;
const STEP_BUDGET_SECONDS: f64 = 840.0;

struct Fleet {
    stacks_per_lane: usize,
    accounts: Vec<String>,
    scale: f64,
    /// The deploy's MaxConcurrency (stacks in flight per account-region) and
    /// PollIntervalSeconds (the events design's longest wait without an event).
    max_concurrency: String,
    poll_interval_seconds: f64,
}

impl Fleet {
    fn lanes(&self) -> usize {
        self.accounts.len() * REGIONS.len()
    }
    fn stacks(&self) -> usize {
        self.stacks_per_lane * self.lanes()
    }
}

/// The customer's steady DescribeStacks calls in one account-region: (calls, throttled).
fn probe(
    cfn: aws_sdk_cloudformation::Client,
    every: Duration,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Probe> {
    tokio::spawn(async move {
        let mut out = Probe::default();
        let mut tick = tokio::time::interval(every);
        // A customer's deploy tool that was kept waiting polls on, it does not catch up
        // on the polls it missed (tokio's default would send them back to back).
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while !stop.load(Ordering::Relaxed) {
            tick.tick().await;
            let sent = Instant::now();
            let answer = cfn.describe_stacks().stack_name("app-0000").send().await;
            out.latencies.push(sent.elapsed().as_secs_f64());
            if let Err(e) = answer {
                if e.code() == Some("Throttling") {
                    out.throttled += 1;
                }
            }
        }
        out
    })
}

/// The local AWS's latency per call (emulator patch 63): AWS's, slowed with the run.
fn call_latency(scale: f64) -> Value {
    let mut latency: serde_json::Map<String, Value> = CALL_LATENCY
        .iter()
        .map(|(service, seconds)| (service.to_string(), json!(seconds)))
        .collect();
    latency.insert("scale".into(), json!(scale));
    Value::Object(latency)
}

/// What the customer's probe saw: each call's latency (the local AWS's load, too), and
/// how many were throttled.
#[derive(Default)]
struct Probe {
    latencies: Vec<f64>,
    throttled: u64,
}

/// The most invocations that ran at once, from their start times and durations, with
/// each start placed at `start / start_scale` (AWS time, for a design whose invocations
/// are its own work; 1 leaves the run's time) and each duration divided by
/// `duration_scale`, and how many of each function ran then.
///
/// The headline figure is in one time base (`duration_scale` = `start_scale`): the local
/// AWS answers each call no sooner than AWS's typical latency slowed with the run (patch
/// 63), so an invocation's duration, divided by the scale, is its sequential calls' typical
/// time on AWS, or longer where the local AWS's own work took longer (a dozen looks begun
/// together share its one process and 2 cores). With durations left as measured (`duration_scale` 1,
/// the headline until 2026-12-07, before the local AWS had AWS's latency), looks begun
/// together in one second of AWS time overlap the next second's, which here began
/// seconds after they ended: overlaps that never happened (docs/performance.md).
fn peak_concurrency(
    invocations: &[Value],
    start_scale: f64,
    duration_scale: f64,
) -> (usize, BTreeMap<String, i32>) {
    let mut edges: Vec<(f64, i32, &str)> = Vec::new();
    for i in invocations {
        let start = i["started_at"].as_f64().unwrap_or_default() / start_scale;
        let function = i["function"].as_str().unwrap_or_default();
        edges.push((start, 1, function));
        edges.push((
            start + i["seconds"].as_f64().unwrap_or_default() / duration_scale,
            -1,
            function,
        ));
    }
    // An end before a start at the same instant: back-to-back calls do not overlap.
    edges.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let (mut now, mut peak) = (0i32, 0i32);
    let mut running: BTreeMap<String, i32> = BTreeMap::new();
    let mut at_peak = BTreeMap::new();
    for (_, d, function) in edges {
        now += d;
        *running.entry(function.to_string()).or_default() += d;
        if now > peak {
            peak = now;
            at_peak = running.clone();
        }
    }
    at_peak.retain(|_, n| *n > 0);
    (peak as usize, at_peak)
}

async fn run(design: &str, fleet: &Fleet) -> Value {
    let events = design == "events";
    // The time scale and places this design runs with (the module's doc).
    let (scale, max_concurrency) = if events {
        (fleet.scale, fleet.max_concurrency.clone())
    } else {
        (fleet.scale.min(1.0), POLLING_MAX_CONCURRENCY.to_string())
    };
    let secs = |s: f64| format!("{}", (s * scale).max(1.0).round());
    let p = Pipeline::start(|env| {
        let env = env
            .set("TARGET_ACCOUNTS", &fleet.accounts.join(","))
            .set("TARGET_REGIONS", &REGIONS.join(","))
            .set("MAX_CONCURRENCY", &max_concurrency)
            .set("MAX_WAIT_SECONDS", "3600")
            .set("STEP_BUDGET_SECONDS", &secs(STEP_BUDGET_SECONDS))
            // The deployed default budget, in the run's time (AWS's rates are slowed `scale`
            // times, emulator patch 42 below).
            .set(
                "DISCOVERY_CALLS_PER_SECOND",
                &format!(
                    "{}",
                    rotatetoken::domain::discovery_pace::DEFAULT_CALLS_PER_SECOND / scale
                ),
            )
            .set(
                "WAIT_FOR_STATUS_EVENTS",
                if events { "true" } else { "false" },
            );
        if events {
            // AWS's seconds, not scaled here: every wait this value sets is a state of the
            // state machine (a look's time-out, `WaitForStack`'s, a `Pause`), which the local
            // AWS slows itself (emulator patch 55, `task_timeout_scale` below). Scaled here
            // too, a lost event cost `scale` times its time-out in AWS time (375 s for 135 s
            // in the run of 2026-12-06, whose last stack had lost its phase-one end event).
            env.set(
                "POLL_INTERVAL_SECONDS",
                &format!("{}", fleet.poll_interval_seconds),
            )
        } else {
            env.set("POLL_INTERVAL_SECONDS", &secs(POLLING_INTERVAL_SECONDS))
        }
    })
    .await;
    // The fleet is seeded without CloudFormation's rate limits (the local AWS's default,
    // emulator patch 42): the incident's limits are set below, before the run.
    p.emulator.control(json!({"rate_limits": {}}));
    let seeding = Instant::now();
    let mut work = Vec::new();
    let mut probe_client = None;
    for account in &fleet.accounts {
        for region in REGIONS {
            let config = p.emulator.sdk_config_in(account, region).await;
            let cfn = aws_sdk_cloudformation::Client::new(&config);
            if probe_client.is_none() {
                let config = aws_sdk_cloudformation::config::Builder::from(&config)
                    .retry_config(aws_config::retry::RetryConfig::disabled())
                    .build();
                probe_client = Some(aws_sdk_cloudformation::Client::from_conf(config));
            }
            for i in 0..fleet.stacks_per_lane {
                work.push((cfn.clone(), format!("app-{i:04}")));
            }
        }
    }
    stream::iter(work)
        .for_each_concurrent(16, |(cfn, name)| async move {
            create_stack(&cfn, &name, CONSUMER_TEMPLATE, &[]).await;
        })
        .await;
    // The fleet exists before the pipeline is deployed: target-role.yaml's forwarding rule
    // in each account-region (the StackSet) comes after the stacks' creation, whose ends
    // would otherwise all wake the waiter at once.
    for account in &fleet.accounts {
        for region in REGIONS {
            p.forward_stack_ends_from(account, region).await;
        }
    }
    eprintln!(
        "{design}: seeded {} stacks in {} account-regions in {:.1}s",
        fleet.stacks(),
        fleet.lanes(),
        seeding.elapsed().as_secs_f64()
    );
    let secret = "arn:aws:secretsmanager:us-east-1:123456789012:secret:shared/db-AbCdEf";
    // Warm-up: a dry run, so the timed run does not include the local Lambda starting
    // each function for the first time (seconds here; milliseconds on Lambda).
    p.start_execution(
        "warm-up",
        &json!({"secret": {"arn": secret, "version_id": "v1"}, "dry_run": true}),
    )
    .await;
    p.wait_for("warm-up", Duration::from_secs(3600)).await;

    let (rate, burst) = (API_RATE.0 / scale, API_RATE.1);
    let (median, sigma, min, max) = UPDATE_TIMES;
    p.emulator.control(json!({
        "update_delay_distribution": {"median": median, "sigma": sigma, "min": min, "max": max,
                                      "scale": scale, "seed": 1},
        "stack_status_event_faults": {"lose": EVENTS_LOST, "seed": 7},
        "stack_status_events": {},
        "rate_limits": {"cloudformation": {"*": [rate, burst]}},
        // The suites' tenfold-faster Retry waits (harness) would hide the backoff's cost.
        "retry_interval_scale": scale,
        "wait_state_scale": scale,
        "task_timeout_scale": scale,
        "change_set_seconds": CHANGE_SET_SECONDS,
        "call_latency": call_latency(scale),
        "throttled": 0,
    }));
    let (calls_before, invocations_before) =
        (p.emulator.requests().len(), p.emulator.invocations().len());
    let map_runs_before = p.emulator.map_runs().len();
    let stop = Arc::new(AtomicBool::new(false));
    let probe_task = probe(
        probe_client.expect("at least one account-region"),
        Duration::from_secs_f64(scale / PROBE_RATE),
        stop.clone(),
    );

    let name = format!("fleet-{design}");
    let started = epoch_seconds();
    let clock = Instant::now();
    p.start_execution(
        &name,
        &json!({"secret": {"arn": secret, "version_id": "v2"}, "dry_run": false}),
    )
    .await;
    let done = p.wait_for(&name, Duration::from_secs(6 * 3600)).await;
    let run_seconds = clock.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let probe = probe_task.await.unwrap_or_default();
    let control = p.emulator.control(json!({}));

    // Each stack's updates: the slowest stack's own two, and when the last one ended.
    let mut by_stack: BTreeMap<(String, String, String), f64> = BTreeMap::new();
    let mut last_end = started;
    let mut unfinished = 0;
    for u in p.emulator.updates() {
        match u.ended_at {
            Some(end) => {
                *by_stack.entry((u.account, u.region, u.stack)).or_default() += end - u.accepted_at;
                last_end = last_end.max(end);
            }
            None => unfinished += 1,
        }
    }
    let slowest_stack = by_stack.values().copied().fold(0.0, f64::max);
    let fresh_seconds = last_end - started;

    let n = fleet.stacks() as f64;
    let is_read = |api: &str| {
        api.starts_with("Describe") || api.starts_with("Get") || api.starts_with("List")
    };
    let mut cfn_calls: BTreeMap<String, f64> = BTreeMap::new();
    let mut refresh_reads = 0.0;
    let mut s3_usd = 0.0;
    // S3 requests by function and API: what the runs bucket's share of the cost is made of.
    let mut s3_calls: BTreeMap<String, f64> = BTreeMap::new();
    for (function, _, action) in p.emulator.requests().into_iter().skip(calls_before) {
        s3_usd += PRICES.s3_call(&action);
        if action.starts_with("s3:") {
            *s3_calls.entry(format!("{function} {action}")).or_default() += 1.0;
        }
        if let Some(api) = action.strip_prefix("cloudformation:") {
            *cfn_calls.entry(api.to_string()).or_default() += 1.0;
            if function == "rotatetoken-refresh" && is_read(api) {
                refresh_reads += 1.0;
            }
        }
    }
    // The calls the fleet needs, spread over its lanes, at the API rates alone.
    let rate_floor = cfn_calls
        .values()
        .map(|calls| calls / fleet.lanes() as f64 / rate)
        .fold(0.0, f64::max);
    let physical_limit = slowest_stack.max(rate_floor);
    let reads: f64 = cfn_calls
        .iter()
        .filter(|(api, _)| is_read(api))
        .map(|(_, c)| c)
        .sum();

    let invocations: Vec<Value> = p
        .emulator
        .invocations()
        .into_iter()
        .skip(invocations_before)
        .collect();
    // In AWS time, as the peak is (`peak_concurrency`): a slowed run's invocations take
    // `scale` times their calls' AWS latency here.
    let start_scale = if events { scale } else { 1.0 };
    let gb_seconds: f64 = invocations
        .iter()
        .map(|c| {
            c["seconds"].as_f64().unwrap_or(0.0) * c["memory_mb"].as_f64().unwrap_or(128.0) / 1024.0
        })
        .sum::<f64>()
        / start_scale;
    let mut by_function: BTreeMap<String, (usize, f64)> = BTreeMap::new();
    for c in &invocations {
        let entry = by_function
            .entry(c["function"].as_str().unwrap_or_default().to_string())
            .or_default();
        entry.0 += 1;
        entry.1 = entry.1.max(c["seconds"].as_f64().unwrap_or_default());
    }
    let map_runs: Vec<Value> = p
        .emulator
        .map_runs()
        .into_iter()
        .skip(map_runs_before)
        .collect();
    let child_transitions: u64 = map_runs
        .iter()
        .map(|m| m["state_transitions"].as_u64().unwrap_or(0))
        .sum();
    // Where the transitions go: each state's entries per stack.
    let mut entered: BTreeMap<String, f64> = BTreeMap::new();
    for m in &map_runs {
        for (state, count) in m["states_entered"].as_object().into_iter().flatten() {
            *entered.entry(state.clone()).or_default() += count.as_f64().unwrap_or_default() / n;
        }
    }
    let entered: BTreeMap<String, f64> =
        entered.into_iter().map(|(k, v)| (k, round(v, 2))).collect();
    let (peak, at_peak) = peak_concurrency(&invocations, start_scale, start_scale);
    let (peak_as_measured, _) = peak_concurrency(&invocations, start_scale, 1.0);
    let parent_transitions = p
        .history(&done.arn)
        .await
        .iter()
        .filter(|e| e.contains("state_entered_event_details: Some"))
        .count();
    let transitions_per_stack = (parent_transitions as f64 + child_transitions as f64) / n;
    let cost_per_1000 = 1000.0
        * (transitions_per_stack * PRICES.per_transition
            + invocations.len() as f64 / n * PRICES.per_request
            + gb_seconds / n * PRICES.per_gb_second_arm64
            + s3_usd / n);
    let (probed, probe_throttles) = (probe.latencies.len() as u64, probe.throttled);
    let throttled = control["throttled"].as_u64().unwrap_or(0);
    let durations: Vec<f64> = by_stack.values().copied().collect();
    let report = json!({
        "design": design,
        "max_concurrency_per_account_region": max_concurrency.parse::<u32>().unwrap_or(0),
        "time_scale": scale,
        "status": done.status,
        "counts": done.summary["counts"],
        "updates_unfinished": unfinished,
        "fresh_seconds": round(fresh_seconds, 1),
        "fresh_aws_seconds": round(fresh_seconds / scale, 1),
        "run_seconds": round(run_seconds, 1),
        "physical_limit_seconds": round(physical_limit, 1),
        "slowest_stack_two_updates_seconds": round(slowest_stack, 1),
        "rate_floor_seconds": round(rate_floor, 1),
        "fresh_over_physical_limit": round(fresh_seconds / physical_limit.max(1e-9), 2),
        "stack_two_updates_seconds": {"p50": round(percentile(durations.clone(), 0.5), 1),
                                      "p99": round(percentile(durations, 0.99), 1)},
        "s3_calls_per_stack": s3_calls.iter()
            .map(|(k, v)| (k.clone(), round(v / n, 2))).collect::<BTreeMap<_, _>>(),
        "cloudformation_calls_per_stack": cfn_calls.iter()
            .map(|(k, v)| (k.clone(), round(v / n, 2))).collect::<BTreeMap<_, _>>(),
        // Every read of the run (discovery's change-set preview included) over the two
        // phases; and the refresh's own.
        "read_calls_per_stack_per_phase": round(reads / n / 2.0, 2),
        "refresh_read_calls_per_stack_per_phase": round(refresh_reads / n / 2.0, 2),
        "throttled_calls_of_the_pipeline": throttled.saturating_sub(probe_throttles),
        "peak_concurrent_lambda_invocations": peak,
        "peak_concurrent_lambda_invocations_by_function": at_peak,
        "peak_concurrent_lambda_invocations_durations_unscaled": peak_as_measured,
        "call_latency_seconds": call_latency(1.0),
        "lambda": {
            "invocations_per_stack": round(invocations.len() as f64 / n, 2),
            "gb_seconds_per_stack": round(gb_seconds / n, 3),
            "by_function": by_function.iter().map(|(f, (count, longest))|
                (f.clone(), json!({"invocations": count, "longest_seconds": round(*longest, 1)})))
                .collect::<BTreeMap<_, _>>(),
        },
        "state_transitions_per_stack": round(transitions_per_stack, 2),
        "child_states_entered_per_stack": entered,
        "usd_per_1000_stacks": round(cost_per_1000, 4),
        // Of which the runs bucket's requests (waits, places, run files). Not priced: the
        // forwarded status events (EventBridge, $1 per million cross-account: at most 4
        // per stack, under $0.004 per 1,000 stacks).
        "s3_usd_per_1000_stacks": round(1000.0 * s3_usd / n, 4),
        "customer_probe": {"calls": probed, "throttled": probe_throttles,
            "throttled_percent": round(100.0 * probe_throttles as f64 / probed.max(1) as f64, 2),
            "latency_seconds": {"p50": round(percentile(probe.latencies.clone(), 0.5), 3),
                                "p99": round(percentile(probe.latencies, 0.99), 3)}},
        "status_events": control["stack_status_events"],
    });
    keep_raw_logs(p.emulator.port, &format!("fleet-{design}"));
    drop(p);
    report
}

fn main() {
    // Lambda runs every invocation in flight at once: so must the local bridge, or its queue
    // would count as Lambda time (tests/harness/functions.rs). Set before any thread starts.
    if std::env::var_os("RT_LAMBDA_CONCURRENCY").is_none() {
        std::env::set_var("RT_LAMBDA_CONCURRENCY", "aws");
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(bench());
}

async fn bench() {
    let args: Vec<String> = std::env::args().collect();
    let stacks: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1300);
    let accounts: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(10);
    let scale: f64 = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(1.0);
    let designs: Vec<String> = args
        .get(4)
        .map(String::as_str)
        .unwrap_or("events,polling")
        .split(',')
        .map(str::to_string)
        .collect();
    if !(scale > 0.0 && scale <= 10.0) || accounts == 0 || stacks < accounts * REGIONS.len() {
        eprintln!("usage: fleet [stacks ≥ 2 × accounts] [accounts ≥ 1] [scale in (0, 10]] [events,polling]");
        std::process::exit(2);
    }
    let fleet = Fleet {
        stacks_per_lane: stacks / (accounts * REGIONS.len()),
        accounts: (0..accounts)
            .map(|i| format!("{:012}", 100_000_000_000u64 + i as u64))
            .collect(),
        scale,
        max_concurrency: template_default("MaxConcurrency"),
        poll_interval_seconds: template_default("PollIntervalSeconds")
            .parse()
            .expect("PollIntervalSeconds is a number"),
    };
    let mut results = Vec::new();
    for design in &designs {
        if design != "events" && design != "polling" {
            eprintln!("unknown design {design:?}: events or polling");
            std::process::exit(2);
        }
        let report = run(design, &fleet).await;
        eprintln!("{design}: {report}");
        results.push(report);
    }
    let (median, sigma, min, max) = UPDATE_TIMES;
    let out = json!({
        "stacks": fleet.stacks(), "accounts": accounts, "regions": REGIONS,
        "functions_profile": rotatetoken_tests::functions_profile(),
        "time_scale": scale,
        "update_seconds": {"distribution": "log-normal, clamped", "median": median, "sigma": sigma,
                           "min": min, "max": max},
        "api_rate_per_account_region": {"calls_per_second": API_RATE.0, "burst": API_RATE.1},
        "status_events_lost": EVENTS_LOST,
        "change_set_seconds": CHANGE_SET_SECONDS,
        "customer_probe_calls_per_second": PROBE_RATE,
        "designs": results,
    });
    println!("{}", serde_json::to_string_pretty(&out).unwrap());
    let ok = out["designs"].as_array().into_iter().flatten().all(|d| {
        d["status"] == "SUCCEEDED"
            && d["counts"]["refreshed"].as_u64() == Some(fleet.stacks() as u64)
    });
    if !ok {
        eprintln!("not every stack was refreshed in every design");
        std::process::exit(1);
    }
}
