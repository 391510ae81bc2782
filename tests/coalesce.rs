//! Coalesced refreshes (issue 28), end to end as tests/state_machine.rs runs them: an
//! incident's rotations, many secrets changed within a window, each consuming stack
//! refreshed once, after the last change to any secret it consumes, by the latest of their
//! runs; the other runs leave it to that one (rows `skipped` "coalesced: ..."). With the
//! window at 0, today's behaviour: each secret's run refreshes each of its consumers.

use std::collections::BTreeMap;
use std::time::Duration;

use rotatetoken::domain::trigger::execution_name;
use rotatetoken_tests::fixtures::*;
use rotatetoken_tests::pipeline::{row, Pipeline};
use serde_json::json;

/// Secret `i` of the incident.
fn name(i: usize) -> String {
    format!("prod/leaked-{i:02}")
}

/// Stack `i` consumes 1 to 5 of the `n` secrets.
fn consumed(i: usize, n: usize) -> Vec<usize> {
    let mut out: Vec<usize> = (0..=(i % 5)).map(|k| (i * 7 + k * 11) % n).collect();
    out.sort();
    out.dedup();
    out
}

/// Rotates every secret (a new value, its CloudTrail event delivered) and waits for every
/// run; returns each run's summary by secret.
async fn rotate_all(p: &Pipeline, arns: &[String]) -> Vec<serde_json::Value> {
    let mut changes = vec![];
    for (i, arn) in arns.iter().enumerate() {
        let version = put_secret(&p.sm, &name(i), &format!("v2-{i}")).await;
        changes.push((arn, version));
    }
    let mut runs = vec![];
    for (arn, version) in changes {
        p.deliver(&sample_event("put-secret-value.json", arn, &version))
            .await;
        runs.push(execution_name(arn, &version));
    }
    let mut summaries = vec![];
    for run in runs {
        let done = p.wait_for(&run, Duration::from_secs(240)).await;
        if done.status != "SUCCEEDED" {
            panic!(
                "{run}: {} {:#}\n{:#?}",
                done.status,
                done.summary,
                p.history(&done.arn).await
            );
        }
        summaries.push(done.summary);
    }
    summaries
}

#[tokio::test]
async fn an_incidents_rotations_refresh_each_consumer_once_after_its_last_change() {
    const SECRETS: usize = 30;
    const STACKS: usize = 60;
    let p = Pipeline::start(|env| {
        env.set("SELECTION_MODE", "referencing")
            .set("COALESCE_WINDOW_SECONDS", "25")
            .set("MAX_CONCURRENCY", "20")
    })
    .await;
    p.emulator.control(json!({"update_delay_seconds": 0.2}));
    let mut arns = vec![];
    for i in 0..SECRETS {
        arns.push(create_secret(&p.sm, &name(i), &format!("v1-{i}")).await);
    }
    let mut reads: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for i in 0..STACKS {
        let secrets = consumed(i, SECRETS);
        let stack = format!("app-{i:02}");
        let names: Vec<String> = secrets.iter().map(|s| name(*s)).collect();
        create_stack(&p.cfn, &stack, &consumer_of(&names), &[]).await;
        reads.insert(stack, secrets);
    }

    let summaries = rotate_all(&p, &arns).await;

    for (stack, secrets) in &reads {
        assert_eq!(
            p.emulator.completed_token_updates(stack),
            vec!["false", "true"],
            "{stack} (reads {secrets:?}) is refreshed exactly once"
        );
        let res = resources(&p.cfn, stack).await;
        for (k, s) in secrets.iter().enumerate() {
            assert_eq!(
                ssm_value(&p.ssm, &res[&format!("Reader{k}")]).await,
                Some(format!("v2-{s}")),
                "{stack} holds the new value of {}",
                name(*s)
            );
        }
        // One run refreshed it; every other run of its secrets left it to a later one.
        let rows: Vec<String> = summaries
            .iter()
            .filter(|s| {
                s["stacks"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|r| r["stack"] == stack.as_str())
            })
            .map(|s| row(s, stack)["outcome"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(
            rows.iter().filter(|o| *o == "refreshed").count(),
            1,
            "{stack}: {rows:?}"
        );
        assert_eq!(
            rows.len(),
            secrets.len(),
            "a row in each of its secrets' runs"
        );
    }
    for s in &summaries {
        for r in s["stacks"].as_array().unwrap() {
            if r["outcome"] == "skipped" {
                assert!(
                    r["reason"].as_str().unwrap().starts_with("coalesced:"),
                    "{r:#}"
                );
            }
        }
    }
}

#[tokio::test]
async fn with_no_window_each_secrets_run_refreshes_each_of_its_consumers() {
    let p = Pipeline::start(|env| {
        env.set("SELECTION_MODE", "referencing")
            .set("COALESCE_WINDOW_SECONDS", "0")
    })
    .await;
    p.emulator.control(json!({"update_delay_seconds": 0.2}));
    let mut arns = vec![];
    for i in 0..3 {
        arns.push(create_secret(&p.sm, &name(i), &format!("v1-{i}")).await);
    }
    let names: Vec<String> = (0..3).map(name).collect();
    create_stack(&p.cfn, "app", &consumer_of(&names), &[]).await;

    let summaries = rotate_all(&p, &arns).await;

    // Each run refreshes it; runs overlapping on the stack converge (how-it-works.md, "Two
    // secrets at once"), but none leaves it to another: more than one refresh.
    let updates = p.emulator.completed_token_updates("app");
    assert!(updates.len() > 2, "{updates:?}");
    for s in &summaries {
        assert_eq!(row(s, "app")["outcome"], "refreshed", "{s:#}");
    }
}
