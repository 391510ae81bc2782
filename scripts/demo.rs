//! `make demo`: the whole pipeline on a local AWS emulator.
//!
//! Starts the emulator and the real handlers, deploys the state machine and the EventBridge
//! rules of template.yaml, creates a secret and a handful of stacks; then, with the
//! operator's command line (`rotate-token`): plans the refresh, puts a new secret value and
//! delivers the CloudTrail event, watches the real state machine run, prints a before/after
//! table per stack, the run's report and a freshness audit; then an incident: the plan for
//! every prod/ secret (`rotate-token incident start --dry-run`), three more secrets rotated
//! within seconds, each consumer refreshed once by the latest run of the secrets it reads
//! (coalescing), all runs followed and reported as one (`incident start`), and the audit
//! across secrets since the moment the leak was contained. Secret values are shown only as short
//! fingerprints.

use std::collections::BTreeMap;
use std::time::Duration;

use rotatetoken::domain::trigger::execution_name;
use rotatetoken_tests::fixtures::*;
use rotatetoken_tests::pipeline::Pipeline;

use serde_json::json;
use sha2::{Digest, Sha256};

fn fingerprint(value: Option<&str>) -> String {
    match value {
        None => "-".into(),
        Some(v) => Sha256::digest(v.as_bytes())
            .iter()
            .take(4)
            .map(|b| format!("{b:02x}"))
            .collect(),
    }
}

struct Row {
    token: String,
    status: String,
    guarded_id: String,
    value: String,
}

async fn snapshot(p: &Pipeline, stacks: &[&str]) -> BTreeMap<String, Row> {
    let mut out = BTreeMap::new();
    for s in stacks {
        let (status, token) = stack_status_and_token(&p.cfn, s).await;
        let res = resources(&p.cfn, s).await;
        let guarded = res
            .get("DatabasePassword")
            .or_else(|| res.get("Holder"))
            .cloned()
            .unwrap_or_else(|| "-".into());
        let value = if guarded == "-" {
            None
        } else {
            ssm_value(&p.ssm, &guarded).await
        };
        out.insert(
            s.to_string(),
            Row {
                token: token.unwrap_or_else(|| "(none)".into()),
                status,
                guarded_id: guarded,
                value: fingerprint(value.as_deref()),
            },
        );
    }
    out
}

/// Runs `rotate-token <args>` in this terminal, as an operator would, and says its exit code.
async fn operator(p: &Pipeline, args: &[&str]) {
    println!("\n$ rotate-token {}", args.join(" "));
    let status = p
        .cli_command(args)
        .stdout(std::process::Stdio::inherit())
        .stderr(std::process::Stdio::inherit())
        .status()
        .await
        .expect("run rotate-token");
    println!("(exit code {})", status.code().unwrap_or(-1));
}

/// Each run started by a change waits this long for the changes that follow it
/// (`CoalesceWindowSeconds`, 120 when deployed).
const COALESCE_SECONDS: u64 = 5;

/// An incident's secrets and who reads them: `checkout` all three, `mailer` two, `search` one.
const LEAKED: [&str; 3] = ["prod/api-key", "prod/queue-token", "prod/cache-password"];
const READERS: [(&str, &[usize]); 3] = [
    ("checkout", &[0, 1, 2]),
    ("mailer", &[0, 1]),
    ("search", &[2]),
];

/// The incident's secrets and their consumers (before the leak is contained): their ARNs.
async fn seed_incident(p: &Pipeline) -> Vec<String> {
    let mut arns = vec![];
    for (i, name) in LEAKED.iter().enumerate() {
        arns.push(create_secret(&p.sm, name, &format!("leaked-{i}")).await);
    }
    for (stack, reads) in READERS {
        let names: Vec<String> = reads.iter().map(|i| LEAKED[*i].to_string()).collect();
        create_stack(&p.cfn, stack, &consumer_of(&names), &[]).await;
    }
    arns
}

/// Rotates the incident's three secrets within seconds: three runs, and each consumer
/// refreshed once, by the latest run of the secrets it reads; `rotate-token incident start`
/// plans it first, then follows the runs as one and reports each stack once.
async fn incident(p: &Pipeline, arns: &[String], contained: &str) {
    println!(
        "\nAn incident: {} more secrets leaked. First the plan for every prod/ secret: one row \
         per stack, however many of the secrets it reads.",
        LEAKED.len()
    );
    operator(
        p,
        &["incident", "start", "--secrets", "prod/*", "--dry-run"],
    )
    .await;
    println!(
        "\nbilling and uploads would keep the exposed value (skipped: exit 3); the rest are \
         refreshed once each. The secrets are rotated within seconds. Each run waits {COALESCE_SECONDS} s \
         (CoalesceWindowSeconds) for the changes that follow it, and leaves a stack to the \
         latest run of the secrets the stack reads. The operator follows every run as one:"
    );
    for (i, (name, arn)) in LEAKED.iter().zip(arns).enumerate() {
        let version = put_secret(&p.sm, name, &format!("rotated-{i}")).await;
        p.deliver(&sample_event("put-secret-value.json", arn, &version))
            .await;
    }
    operator(
        p,
        &[
            "incident",
            "start",
            "--secrets",
            "prod/*",
            "--since",
            contained,
            "--interval",
            "1",
        ],
    )
    .await;
    println!();
    for (stack, reads) in READERS {
        let updates = p.emulator.completed_token_updates(stack).len();
        println!(
            "{stack:<10} reads {} of the leaked secrets: refreshed {} time(s) ({updates} updates)",
            reads.len(),
            updates / 2
        );
    }
}

#[tokio::main]
async fn main() {
    println!("Starting the local AWS emulator and the RotateToken functions (first run compiles them)...");
    let p = Pipeline::start(|env| {
        env.set("SELECTION_MODE", "referencing")
            .set("COALESCE_WINDOW_SECONDS", &COALESCE_SECONDS.to_string())
    })
    .await;
    p.emulator.control(json!({"update_delay_seconds": 1.0}));

    let arn = create_secret(&p.sm, "prod/db-password", "correct-horse-1").await;
    create_secret(&p.sm, "other/api-key", "unrelated").await;
    let leaked = seed_incident(&p).await;
    let stacks = [
        "orders-api",
        "payments-worker",
        "reports-job",
        "legacy-cron",
        "search-indexer",
        "billing",
        "uploads",
        "profile-service",
    ];
    create_stack(
        &p.cfn,
        "orders-api",
        &consumer_template("prod/db-password"),
        &[],
    )
    .await;
    create_stack(&p.cfn, "payments-worker", &consumer_template(&arn), &[]).await;
    create_stack(
        &p.cfn,
        "reports-job",
        &consumer_template("prod/db-password"),
        &[("RotateToken", "false")],
    )
    .await;
    create_stack(
        &p.cfn,
        "legacy-cron",
        &plain_template("prod/db-password"),
        &[],
    )
    .await;
    create_stack(
        &p.cfn,
        "search-indexer",
        &consumer_template("other/api-key"),
        &[],
    )
    .await;
    create_stack(
        &p.cfn,
        "billing",
        &consumer_template("prod/db-password"),
        &[],
    )
    .await;
    create_stack(
        &p.cfn,
        "uploads",
        &consumer_with_guarded_bucket("prod/db-password"),
        &[],
    )
    .await;
    // In-place mode: the reader pins the secret version with RotateTokenVersion; one update
    // moves the pin, and the resource keeps its physical id.
    create_stack(
        &p.cfn,
        "profile-service",
        &in_place_consumer_template("prod/db-password"),
        &[],
    )
    .await;
    p.emulator.force_status(
        "billing",
        "UPDATE_ROLLBACK_FAILED",
        "a previous update failed to roll back",
    );
    println!(
        "Created secret prod/db-password and {} stacks (SelectionMode=referencing).",
        stacks.len()
    );

    let before = snapshot(&p, &stacks).await;
    // The moment the leak is contained (the next whole second): values created before it
    // count as exposed in the incident audit at the end.
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let contained_ms = (now_ms / 1000 + 1) * 1000;
    tokio::time::sleep(Duration::from_millis(contained_ms - now_ms + 50)).await;
    let contained = rotatetoken::domain::utc::format_ms(contained_ms);
    let version = put_secret(&p.sm, "prod/db-password", "correct-horse-2").await;
    println!("PutSecretValue: new version {version}.");
    operator(&p, &["plan", "--secret", "prod/db-password"]).await;
    println!("Delivering the CloudTrail event through EventBridge: the trigger starts the run.");
    let event = sample_event("put-secret-value.json", &arn, &version);
    p.deliver(&event).await;

    let name = execution_name(&arn, &version);
    // The execution exists once the trigger has started it.
    while p.executions().await.iter().all(|e| *e != name) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    operator(&p, &["watch", &name, "--interval", "0.5"]).await;
    let done = p.wait_for(&name, Duration::from_secs(180)).await;
    let after = snapshot(&p, &stacks).await;

    println!("\nExecution {name}: {}\n", done.status);
    println!(
        "{:<16} {:<14} {:<22} {:<9} {:<46} {:<46} VALUE AFTER",
        "STACK", "TOKEN", "STATUS", "VALUE", "GUARDED RESOURCE BEFORE", "GUARDED RESOURCE AFTER"
    );
    for s in stacks {
        let (b, a) = (&before[s], &after[s]);
        println!(
            "{:<16} {:<14} {:<22} {:<9} {:<46} {:<46} {}",
            s,
            format!("{}->{}", b.token, a.token),
            a.status,
            b.value,
            b.guarded_id,
            if a.guarded_id == b.guarded_id {
                "(unchanged)".to_string()
            } else {
                a.guarded_id.clone()
            },
            a.value
        );
    }
    println!("(VALUE columns are SHA-256 fingerprints of what the guarded resource holds; the pipeline never reads the secret.)\n");
    operator(&p, &["report", &name, "--format", "markdown"]).await;
    operator(&p, &["audit", "--secret", "prod/db-password"]).await;
    incident(&p, &leaked, &contained).await;
    println!(
        "\nThe incident view: every secret under prod/ and other/ against the moment the leak \
         was contained ({contained}). The prod/ secrets were rotated and their consumers \
         refreshed; other/api-key was not, so it and its consumer still hold a value from \
         before (exit 3)."
    );
    operator(
        &p,
        &[
            "audit",
            "--secrets",
            "prod/*,other/*",
            "--since",
            &contained,
            "--format",
            "markdown",
        ],
    )
    .await;
    if done.status != "SUCCEEDED" {
        std::process::exit(1);
    }
}
