//! The invariants checked after a seed's runs (1 to 3; the fourth, the audit after a clean
//! run, is in `run_seed`), and the stack histories a violation prints.

use std::collections::{BTreeMap, BTreeSet};

use rotatetoken::domain::model::RunFiles;
use serde_json::Value;

use super::{cut, Consumer, SeedReport};
use crate::pipeline::{Pipeline, RUNS_BUCKET};

/// A stack's operations, oldest first, each named by the run and step whose request token
/// it carries (the refresh function's own `request_token` for each run and step), so
/// a violation says which run's update left the stack where it is.
pub(super) async fn history(
    p: &Pipeline,
    cfn: &aws_sdk_cloudformation::Client,
    name: &str,
) -> String {
    use rotatetoken::domain::model::{RefreshTask, StackRef};
    use rotatetoken::domain::refresh::operations::request_token;
    let runs = p.executions().await;
    let Ok(out) = cfn.describe_stack_events().stack_name(name).send().await else {
        return format!("{name}: no events");
    };
    let mut seen = Vec::new();
    for e in out.stack_events().iter().rev() {
        if e.logical_resource_id() != Some(name) {
            continue;
        }
        let token = e.client_request_token().unwrap_or_default();
        let stack_id = e.stack_id().unwrap_or_default();
        let by = runs
            .iter()
            .flat_map(|run| {
                ["false", "true-0", "true-1", "true-2", "true-3"].map(|step| (run, step))
            })
            .find(|(run, step)| {
                let stack = StackRef {
                    account: String::new(),
                    region: String::new(),
                    name: name.to_string(),
                    id: stack_id.to_string(),
                };
                let mut task = RefreshTask::new(stack, "RotateToken");
                task.execution = Some(run.to_string());
                request_token(&task, step).as_deref() == Some(token)
            })
            .map(|(run, step)| format!("{}/{step}", &run[run.len().saturating_sub(12)..]))
            .unwrap_or_else(|| format!("token {token:?}"));
        let at = e.timestamp().map(|t| t.secs() % 10_000).unwrap_or_default();
        seen.push(format!(
            "{}@{at} by {by}",
            e.resource_status().map(|s| s.as_str()).unwrap_or_default()
        ));
    }
    format!("{name}: {}", seen.join(", "))
}

/// Invariants 1 to 3 over every run of the seed so far.
pub(super) async fn check_runs(
    p: &Pipeline,
    fleet: &[Consumer],
    clients: &BTreeMap<(&'static str, &'static str), aws_sdk_cloudformation::Client>,
    deleted: Option<&str>,
    events_lost: bool,
    report: &mut SeedReport,
) {
    let s3 = aws_sdk_s3::Client::new(&p.config);
    let updates = p.emulator.updates();
    let alerts = p.alerts().await;
    let mut critical_rows: BTreeSet<String> = BTreeSet::new();
    // What each run said of each stack, for a violation to print.
    let mut said: BTreeMap<String, Vec<String>> = BTreeMap::new();
    // Runs that ended without a report, told (or alarmed) as such.
    let mut unreported = Vec::new();
    for name in p.executions().await {
        let arn = crate::execution_arn(&name);
        let d = p
            .sfn
            .describe_execution()
            .execution_arn(&arn)
            .send()
            .await
            .unwrap();
        let status = d.status().as_str().to_string();
        let key = RunFiles::new(RUNS_BUCKET, &name).summary_key();
        let summary = run_file(&s3, &key).await;
        let Some(summary) = summary else {
            let told = alerts
                .iter()
                .any(|(subject, m)| subject.starts_with("CRITICAL") && m.contains(&name));
            // An end whose event was lost is told by AWS's alarm on the state machine's own
            // metric (template.yaml; tests/contracts.rs), which the emulator does not run.
            match status.as_str() {
                "ABORTED" | "TIMED_OUT" if told || events_lost => unreported.push(name.clone()),
                "ABORTED" | "TIMED_OUT" => report.violations.push(format!(
                    "run {name} ended {status} and its end was told to no one"
                )),
                "FAILED" if told => unreported.push(name.clone()),
                "FAILED" => report.violations.push(format!(
                    "run {name} FAILED ({}) with neither a summary nor a CRITICAL alert",
                    d.error().unwrap_or_default()
                )),
                _ => report
                    .violations
                    .push(format!("run {name} {status} without a summary")),
            }
            continue;
        };
        let rows = summary["stacks"].as_array().cloned().unwrap_or_default();
        for r in &rows {
            let stack = r["stack"].as_str().unwrap_or_default().to_string();
            if r["critical"] == true {
                critical_rows.insert(stack.clone());
            }
            said.entry(stack.clone()).or_default().push(format!(
                "{}: {} {} ({})",
                &name[name.len().saturating_sub(12)..],
                r["outcome"].as_str().unwrap_or_default(),
                r["status"].as_str().unwrap_or_default(),
                cut(r["reason"].as_str().unwrap_or_default())
            ));
            if r["outcome"] == "refreshed" && r["mode"] != "in_place" {
                let tokens: Vec<&str> = updates
                    .iter()
                    .filter(|u| u.stack == stack && u.result == "UPDATE_COMPLETE")
                    .map(|u| u.token.as_str())
                    .collect();
                if !tokens.windows(2).any(|w| w == ["false", "true"]) {
                    report.violations.push(format!(
                        "run {name}: {stack} reported refreshed, but its updates were {tokens:?}"
                    ));
                }
            }
        }
        // Every stack the run selected (the Map's item list), exactly once.
        let items_key = RunFiles::new(RUNS_BUCKET, &name).items_key;
        let items: Vec<Value> = run_file(&s3, &items_key)
            .await
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default();
        for item in &items {
            let id = item["stack"]["id"].as_str().unwrap_or_default();
            let n = rows.iter().filter(|r| r["stack_id"] == id).count();
            if n != 1 {
                report
                    .violations
                    .push(format!("run {name}: selected stack {id} has {n} rows"));
            }
        }
    }
    // No stack silently at false.
    for c in fleet {
        if Some(c.name.as_str()) == deleted {
            continue;
        }
        let Ok(d) = clients[&(c.account, c.region)]
            .describe_stacks()
            .stack_name(&c.name)
            .send()
            .await
        else {
            continue;
        };
        let token = d.stacks()[0]
            .parameters()
            .iter()
            .find(|p| p.parameter_key() == Some("RotateToken"))
            .and_then(|p| p.parameter_value())
            .unwrap_or_default()
            .to_string();
        if token != "false" {
            continue;
        }
        let alerted = alerts
            .iter()
            .any(|(subject, m)| subject.starts_with("CRITICAL") && m.contains(&c.name));
        if !(critical_rows.contains(&c.name) || alerted || !unreported.is_empty()) {
            let cfn = &clients[&(c.account, c.region)];
            report.violations.push(format!(
                "{} ({} {}) is at false with no CRITICAL row or alert; the runs said {:?}; {}",
                c.name,
                c.account,
                c.region,
                said.get(&c.name).cloned().unwrap_or_default(),
                history(p, cfn, &c.name).await
            ));
        }
    }
}

/// A run file as JSON, `None` when it is missing or unreadable (a run that wrote none).
async fn run_file(s3: &aws_sdk_s3::Client, key: &str) -> Option<Value> {
    let object = s3
        .get_object()
        .bucket(RUNS_BUCKET)
        .key(key)
        .send()
        .await
        .ok()?;
    let bytes = object.body.collect().await.ok()?.into_bytes();
    serde_json::from_slice(&bytes).ok()
}
