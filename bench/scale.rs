//! Scale benchmark: many stacks across many accounts, through the real state machine
//! definition on the emulator, measuring what Step Functions limits care about: the
//! largest state input/output (256 KiB limit) and the history events of the parent
//! execution (25,000 limit). Each stack is a Distributed Map child execution with its own
//! history, so the parent's figures must not grow with the number of stacks.
//!
//! Usage: cargo run --release --example scale -- [stacks] [accounts] [dry|real]
//!   make bench-scale  runs 10,000 stacks / 50 accounts as a dry run (discovery, selection,
//!   summary at full size) and 200 stacks / 50 accounts for real (the refresh Map).

use std::time::{Duration, Instant};

use futures::{stream, StreamExt};
use rotatetoken_tests::fixtures::create_stack;
use rotatetoken_tests::pipeline::Pipeline;
use serde_json::{json, Value};

const TEMPLATE: &str = r#"Parameters:
  RotateToken: {Type: String, Default: "true", AllowedValues: ["true", "false"]}
Conditions:
  RotateToken: !Equals [!Ref RotateToken, "true"]
Resources:
  Guarded: {Type: "AWS::CloudFormation::WaitConditionHandle", Condition: RotateToken}
  Always: {Type: "AWS::CloudFormation::WaitConditionHandle"}
"#;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let stacks: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let accounts: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(50);
    let dry_run = args.get(3).map(|a| a != "real").unwrap_or(true);
    let account_ids: Vec<String> = (0..accounts)
        .map(|i| format!("{:012}", 100_000_000_000u64 + i as u64))
        .collect();
    let p = Pipeline::start(|env| {
        env.set("TARGET_ACCOUNTS", &account_ids.join(","))
            .set("TARGET_REGIONS", "us-east-1")
            .set("MAX_CONCURRENCY", "40")
            .set("POLL_INTERVAL_SECONDS", "0.2")
    })
    .await;

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
            create_stack(&cfn, &name, TEMPLATE, &[]).await;
        })
        .await;
    eprintln!(
        "seeded {} stacks in {} accounts in {:.1}s",
        per_account * accounts,
        accounts,
        started.elapsed().as_secs_f64()
    );

    let secret = "arn:aws:secretsmanager:us-east-1:123456789012:secret:shared/db-AbCdEf";
    let name = format!("scale-{}", if dry_run { "dry" } else { "real" });
    let run = Instant::now();
    p.start_execution(
        &name,
        &json!({"secret": {"arn": secret, "version_id": "v2"}, "dry_run": dry_run}),
    )
    .await;
    let done = p.wait_for(&name, Duration::from_secs(3600)).await;
    let run_seconds = run.elapsed().as_secs_f64();

    // Sizes straight from the history events (typed getters: Debug output redacts them).
    let mut max_input = (0usize, String::new());
    let mut max_output = (0usize, String::new());
    let mut events = 0usize;
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
    let report = json!({
        "stacks": per_account * accounts, "accounts": accounts, "dry_run": dry_run,
        "status": done.status, "run_seconds": (run_seconds * 10.0).round() / 10.0,
        "counts": counts,
        "parent_history_events": events,
        "largest_state_input_bytes": max_input.0, "largest_state_input_state": max_input.1,
        "largest_state_output_bytes": max_output.0, "largest_state_output_state": max_output.1,
        "execution_output_bytes": done.raw_output.len(),
        "limits": {"payload_bytes": 262_144, "history_events": 25_000},
    });
    println!("{}", serde_json::to_string_pretty(&report).unwrap());
    let expected = per_account * accounts;
    let seen =
        counts["would_refresh"].as_u64().unwrap_or(0) + counts["refreshed"].as_u64().unwrap_or(0);
    if seen as usize != expected {
        eprintln!(
            "expected {expected} stacks handled, got {seen}: {}",
            Value::to_string(&done.summary)
        );
        std::process::exit(1);
    }
}
