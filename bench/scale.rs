//! Scale, refresh overhead and cost per stack: many stacks across many accounts, through the
//! real state machine definition and the real functions on the emulator.
//!
//! - Step Functions limits: the largest state input/output (256 KiB) and the parent's
//!   history events (25,000); each stack is a Distributed Map child with its own history.
//! - Refresh overhead (real runs with `update_seconds` U > 0: the emulator holds each update
//!   in progress for U): the delay between an update ending and the next phase's update
//!   being accepted (emulator update log), and between the last update ending and the
//!   refresh function seeing it finished (its progress file's `at_ms`); the run's wall time
//!   against the ideal `ceil(N / concurrency) × 2 × U`.
//! - Cost per stack: state transitions (parent history + the children's, emulator map-run
//!   log), Lambda invocations and GB-seconds (emulator invocation log, each function at its
//!   template MemorySize), priced at the list prices in [`PRICES`]; beside a naive
//!   Wait-loop state machine polling every [`NAIVE_POLL_SECONDS`] through the SDK
//!   integrations (computed for the same U, not run).
//! - Peak RSS of every function instance (`/proc/<pid>/status` VmHWM) at the end.
//!
//! Usage: cargo run --release --example scale -- <stacks> <accounts> dry|real
//!        [update_seconds] [concurrency]
//! With `RT_FUNCTIONS_PROFILE=release` the functions run as release builds (`make bench`).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures::{stream, StreamExt};

#[path = "common.rs"]
mod common;
use common::{
    epoch_seconds, keep_raw_logs, median, peak_rss_by_function, percentile, round,
    CONSUMER_TEMPLATE, PRICES,
};
use rotatetoken::domain::model::{RunFiles, StackProgress};
use rotatetoken_tests::fixtures::create_stack;
use rotatetoken_tests::pipeline::{Pipeline, RUNS_BUCKET};
use serde_json::{json, Value};

/// The naive design polls the stack every few seconds with a Wait state.
const NAIVE_POLL_SECONDS: f64 = 5.0;
/// The template's defaults, so the figures are those of a default deployment.
const POLL_INTERVAL_SECONDS: &str = "15";
const STEP_BUDGET_SECONDS: &str = "840";

/// An update's accepted and ended times (epoch seconds).
type Timing = (f64, Option<f64>);

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let stacks: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let accounts: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(50);
    let dry_run = args.get(3).map(|a| a != "real").unwrap_or(true);
    let update_seconds: f64 = args.get(4).and_then(|a| a.parse().ok()).unwrap_or(0.0);
    // Update times spread ± a fifth of U, so looks and update ends fall at random phases.
    let jitter_seconds = update_seconds / 5.0;
    let concurrency: usize = args.get(5).and_then(|a| a.parse().ok()).unwrap_or(40);
    let account_ids: Vec<String> = (0..accounts)
        .map(|i| format!("{:012}", 100_000_000_000u64 + i as u64))
        .collect();
    let timed = update_seconds > 0.0;
    let p = Pipeline::start(|env| {
        let env = env
            .set("TARGET_ACCOUNTS", &account_ids.join(","))
            .set("TARGET_REGIONS", "us-east-1")
            .set("MAX_CONCURRENCY", &concurrency.to_string())
            .set("MAX_WAIT_SECONDS", "3600")
            // Measured without CloudFormation's rate limits, as every figure of this table
            // was: discovery's budget (domain::discovery_pace) out of the way too.
            // `make bench-fleet` measures with both.
            .set("DISCOVERY_CALLS_PER_SECOND", "100");
        if timed {
            env.set("POLL_INTERVAL_SECONDS", POLL_INTERVAL_SECONDS)
                .set("STEP_BUDGET_SECONDS", STEP_BUDGET_SECONDS)
        } else {
            env.set("POLL_INTERVAL_SECONDS", "0.2")
        }
    })
    .await;

    // Measured without CloudFormation's rate limits (the local AWS's default, emulator patch
    // 42), as every figure of this table was: `make bench-fleet` measures with them.
    p.emulator.control(json!({"rate_limits": {}}));
    let started = Instant::now();
    let per_account = stacks / accounts;
    let mut work = Vec::new();
    for account in &account_ids {
        let cfn = aws_sdk_cloudformation::Client::new(
            &p.emulator.sdk_config_in(account, "us-east-1").await,
        );
        for i in 0..per_account {
            work.push((cfn.clone(), format!("app-{i:04}")));
        }
    }
    stream::iter(work)
        .for_each_concurrent(16, |(cfn, name)| async move {
            create_stack(&cfn, &name, CONSUMER_TEMPLATE, &[]).await;
        })
        .await;
    let stacks = per_account * accounts;
    eprintln!(
        "seeded {stacks} stacks in {accounts} accounts in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    p.emulator.control(json!({
        "update_delay_seconds": update_seconds,
        "update_delay_jitter_seconds": jitter_seconds,
        // AWS's time for the state machine's own waits (the suites shorten them).
        "wait_state_scale": 1.0,
    }));

    let secret = "arn:aws:secretsmanager:us-east-1:123456789012:secret:shared/db-AbCdEf";
    let name = format!("scale-{}", if dry_run { "dry" } else { "real" });
    if timed {
        // Warm-up: a dry run first, so the timed run does not include the local Lambda
        // (tests/emulator/lambda_host.py) starting the discover and report instances for
        // the first time (seconds
        // each here; Lambda starts one in milliseconds, `make bench`'s cold start figures).
        let warm = "warm-up";
        p.start_execution(
            warm,
            &json!({"secret": {"arn": secret, "version_id": "v1"}, "dry_run": true}),
        )
        .await;
        p.wait_for(warm, Duration::from_secs(3600)).await;
    }
    // Only the timed run's calls and invocations count, not the warm-up's.
    let (calls_before, invocations_before) =
        (p.emulator.requests().len(), p.emulator.invocations().len());
    let run = Instant::now();
    let run_started_epoch = epoch_seconds();
    p.start_execution(
        &name,
        &json!({"secret": {"arn": secret, "version_id": "v2"}, "dry_run": dry_run}),
    )
    .await;
    let done = p.wait_for(&name, Duration::from_secs(4 * 3600)).await;
    let run_seconds = run.elapsed().as_secs_f64();
    let run_ended_epoch = epoch_seconds();
    let peak_rss_mib = peak_rss_by_function();

    // Sizes straight from the history events (typed getters: Debug output redacts them).
    let mut max_input = (0usize, String::new());
    let mut max_output = (0usize, String::new());
    let (mut events, mut parent_transitions) = (0usize, 0usize);
    let mut token = None;
    loop {
        let out = p
            .sfn
            .get_execution_history()
            .execution_arn(&done.arn)
            .set_next_token(token)
            .send()
            .await
            .unwrap();
        for e in out.events() {
            events += 1;
            if let Some(d) = e.state_entered_event_details() {
                parent_transitions += 1;
                let n = d.input().map(str::len).unwrap_or(0);
                if n > max_input.0 {
                    max_input = (n, d.name().to_string());
                }
            }
            if let Some(d) = e.state_exited_event_details() {
                let n = d.output().map(str::len).unwrap_or(0);
                if n > max_output.0 {
                    max_output = (n, d.name().to_string());
                }
            }
        }
        token = out.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    let counts = &done.summary["counts"];
    let mut report = json!({
        "stacks": stacks, "accounts": accounts, "dry_run": dry_run,
        "functions_profile": rotatetoken_tests::functions_profile(),
        "status": done.status, "run_seconds": round(run_seconds, 1),
        "counts": counts,
        "parent_history_events": events,
        "largest_state_input_bytes": max_input.0, "largest_state_input_state": max_input.1,
        "largest_state_output_bytes": max_output.0, "largest_state_output_state": max_output.1,
        "execution_output_bytes": done.raw_output.len(),
        "limits": {"payload_bytes": 262_144, "history_events": 25_000},
        "peak_rss_mib": peak_rss_mib,
    });

    if !dry_run {
        let files = RunFiles::new(RUNS_BUCKET, &name);
        let s3 = aws_sdk_s3::Client::new(&p.emulator.sdk_config().await);
        let read = |key: String| {
            let s3 = s3.clone();
            async move {
                let body = s3
                    .get_object()
                    .bucket(RUNS_BUCKET)
                    .key(&key)
                    .send()
                    .await
                    .ok()?
                    .body
                    .collect()
                    .await
                    .ok()?
                    .into_bytes();
                serde_json::from_slice::<Value>(&body).ok()
            }
        };
        let summary = read(files.summary_key()).await.unwrap_or(Value::Null);
        let rows = summary["stacks"].as_array().cloned().unwrap_or_default();
        let invocations: Vec<u64> = rows
            .iter()
            .filter_map(|r| r["invocations"].as_u64())
            .collect();

        // The children's state transitions, measured, against the rows' own account.
        let map_runs = p.emulator.map_runs();
        let child_transitions: u64 = map_runs
            .iter()
            .map(|m| m["state_transitions"].as_u64().unwrap_or(0))
            .sum();
        let child_events: u64 = map_runs
            .iter()
            .map(|m| m["events"].as_u64().unwrap_or(0))
            .sum();
        let from_rows: u64 = invocations.iter().map(|i| 2 * i + 1).sum();

        let calls: Vec<Value> = p
            .emulator
            .invocations()
            .into_iter()
            .skip(invocations_before)
            .collect();
        let gb_seconds: f64 = calls
            .iter()
            .map(|c| {
                c["seconds"].as_f64().unwrap_or(0.0) * c["memory_mb"].as_f64().unwrap_or(128.0)
                    / 1024.0
            })
            .sum();
        let n = stacks as f64;
        let transitions_per_stack = (parent_transitions as f64 + child_transitions as f64) / n;
        let invocations_per_stack = calls.len() as f64 / n;
        let gb_seconds_per_stack = gb_seconds / n;
        let cost_per_1000 = 1000.0
            * (transitions_per_stack * PRICES.per_transition
                + invocations_per_stack * PRICES.per_request
                + gb_seconds_per_stack * PRICES.per_gb_second_arm64);
        // The naive design: per phase one UpdateStack task, then Wait + DescribeStacks +
        // Choice until the update is seen done, all through SDK integrations (no Lambda).
        let naive_polls = (update_seconds / NAIVE_POLL_SECONDS).ceil().max(1.0);
        let naive_transitions = 2.0 * (1.0 + 3.0 * naive_polls) + 1.0;
        report["cost"] = json!({
            "prices": {"date": PRICES.date, "usd_per_state_transition": PRICES.per_transition,
                       "usd_per_lambda_request": PRICES.per_request,
                       "usd_per_gb_second_arm64": PRICES.per_gb_second_arm64},
            "state_transitions_per_stack": round(transitions_per_stack, 2),
            "child_state_transitions_measured": child_transitions,
            "child_state_transitions_from_rows": from_rows,
            "lambda_invocations_per_stack": round(invocations_per_stack, 2),
            "lambda_gb_seconds_per_stack": round(gb_seconds_per_stack, 3),
            "usd_per_1000_stacks": round(cost_per_1000, 4),
            "naive_wait_loop": {
                "poll_seconds": NAIVE_POLL_SECONDS,
                "state_transitions_per_stack": naive_transitions,
                "usd_per_1000_stacks": round(1000.0 * naive_transitions * PRICES.per_transition, 4),
                "note": "computed for the same update time: 2 × (UpdateStack + ceil(U / poll) × (Wait, DescribeStacks, Choice)) + 1",
            },
        });
        // AWS calls per stack by function and action (emulator request log): what a run
        // costs CloudFormation's API quotas.
        let mut call_counts: BTreeMap<String, f64> = BTreeMap::new();
        for (function, _, action) in p.emulator.requests().into_iter().skip(calls_before) {
            *call_counts
                .entry(format!("{function} {action}"))
                .or_default() += 1.0 / n;
        }
        report["aws_calls_per_stack"] = json!(call_counts
            .into_iter()
            .map(|(k, v)| (k, round(v, 2)))
            .collect::<BTreeMap<_, _>>());
        report["child_history"] = json!({
            "events_mean": round(child_events as f64 / n, 1),
            "largest_invocations": invocations.iter().max().copied().unwrap_or(0),
            "largest_state_transitions": 2 * invocations.iter().max().copied().unwrap_or(0) + 1,
        });

        if timed {
            // Each stack's updates in order: the gap from one ending to the next accepted.
            let mut by_stack: BTreeMap<(String, String), Vec<Timing>> = BTreeMap::new();
            for u in p.emulator.updates() {
                by_stack
                    .entry((u.account, u.stack))
                    .or_default()
                    .push((u.accepted_at, u.ended_at));
            }
            let mut gaps = Vec::new();
            let mut last_ended = BTreeMap::new();
            let first_accepted = by_stack
                .values()
                .flatten()
                .map(|u| u.0)
                .fold(f64::MAX, f64::min);
            let last_end = by_stack
                .values()
                .flatten()
                .filter_map(|u| u.1)
                .fold(0.0, f64::max);
            let updates: usize = by_stack.values().map(Vec::len).sum();
            let held: f64 = by_stack
                .values()
                .flatten()
                .filter_map(|u| Some(u.1? - u.0))
                .sum();
            for (key, updates) in &by_stack {
                for pair in updates.windows(2) {
                    if let Some(ended) = pair[0].1 {
                        gaps.push(pair[1].0 - ended);
                    }
                }
                if let Some(ended) = updates.last().and_then(|u| u.1) {
                    last_ended.insert(key.clone(), ended);
                }
            }
            // When the refresh function saw each stack finished: its last progress file.
            let ids: Vec<(String, String, String)> = rows
                .iter()
                .filter_map(|r| {
                    let id = r["stack_id"].as_str()?.to_string();
                    let account = r["account"].as_str()?.to_string();
                    let name = r["stack"].as_str()?.to_string();
                    Some((account, name, id))
                })
                .collect();
            let finish: Vec<f64> = stream::iter(ids)
                .map(|(account, stack, id)| {
                    let key = files.progress_key(&id);
                    let ended = last_ended.get(&(account, stack)).copied();
                    let read = &read;
                    async move {
                        let progress: StackProgress =
                            serde_json::from_value(read(key).await?).ok()?;
                        Some(progress.at_ms as f64 / 1000.0 - ended?)
                    }
                })
                .buffer_unordered(16)
                .filter_map(|d| async move { d })
                .collect()
                .await;
            let waves = stacks.div_ceil(concurrency) as f64;
            let ideal = waves * 2.0 * update_seconds;
            // The same ideal for the update times this run actually had (they vary by the
            // jitter): the stacks, in the order they started, each given the first free
            // one of `concurrency` slots for exactly its two updates' time.
            let mut order: Vec<(f64, f64)> = by_stack
                .values()
                .map(|u| {
                    let first = u.first().map(|t| t.0).unwrap_or_default();
                    (first, u.iter().filter_map(|t| Some(t.1? - t.0)).sum())
                })
                .collect();
            order.sort_by(|a, b| a.0.total_cmp(&b.0));
            let mut slots = vec![0.0f64; concurrency];
            for (_, held) in &order {
                let free = slots
                    .iter_mut()
                    .min_by(|a, b| a.total_cmp(b))
                    .expect("at least one slot");
                *free += held;
            }
            let ideal_actual = slots.iter().copied().fold(0.0, f64::max);
            report["overhead"] = json!({
                "update_seconds": update_seconds,
                "update_jitter_seconds": jitter_seconds,
                "mean_update_seconds": round(held / updates.max(1) as f64, 2),
                "start_to_first_update_seconds": round(first_accepted - run_started_epoch, 1),
                "last_update_to_end_seconds": round(run_ended_epoch - last_end, 1),
                "concurrency": concurrency,
                "poll_interval_seconds": POLL_INTERVAL_SECONDS.parse::<f64>().unwrap(),
                "ideal_seconds": ideal,
                "overhead_percent": round(100.0 * (run_seconds - ideal) / ideal, 1),
                "ideal_for_these_updates_seconds": round(ideal_actual, 1),
                "overhead_percent_for_these_updates": round(100.0 * (run_seconds - ideal_actual) / ideal_actual, 1),
                "phase_gap_seconds": {"median": round(median(gaps.clone()), 2),
                                      "p95": round(percentile(gaps.clone(), 0.95), 2), "count": gaps.len()},
                "finish_seen_seconds": {"median": round(median(finish.clone()), 2),
                                        "p95": round(percentile(finish.clone(), 0.95), 2), "count": finish.len()},
            });
        }
    }
    keep_raw_logs(p.emulator.port, &name);
    println!("{}", serde_json::to_string_pretty(&report).unwrap());
    drop(p); // stops the emulator and the functions before any exit
    let seen =
        counts["would_refresh"].as_u64().unwrap_or(0) + counts["refreshed"].as_u64().unwrap_or(0);
    if seen as usize != stacks {
        eprintln!(
            "expected {stacks} stacks handled, got {seen}: {}",
            Value::to_string(&done.summary)
        );
        std::process::exit(1);
    }
}
