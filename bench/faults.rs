//! `make faults`: the seeded fault campaign (tests/harness/campaign.rs). Prints the table
//! and writes it to docs/fault-campaign.md; exits 1 on any invariant violation.
//!
//! Usage: cargo run --example faults -- [seeds (50)] [stacks (200)]
//!        SEEDS=7,19 cargo run --example faults -- _ [stacks]   (replay those seeds)

use rotatetoken_tests::campaign::{run_seed, table};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let count: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(50);
    let stacks: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(200);
    let seeds: Vec<u64> = match std::env::var("SEEDS") {
        Ok(list) if !list.trim().is_empty() => list
            .split(',')
            .map(|s| s.trim().parse().expect("SEEDS: comma-separated numbers"))
            .collect(),
        _ => (1..=count).collect(),
    };
    let mut reports = Vec::new();
    for seed in seeds {
        let r = run_seed(seed, stacks).await;
        eprintln!(
            "seed {seed}: {} run(s), {:.0}s, injected {:?}, {} violation(s) {:?}",
            r.runs,
            r.seconds,
            r.injected,
            r.violations.len(),
            r.violations
        );
        reports.push(r);
    }
    let t = table(&reports, stacks);
    println!("{t}");
    let date = std::process::Command::new("date")
        .arg("+%Y-%m-%d")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let doc = format!(
        "# Fault campaign\n\nMeasured {date} with `make faults` (tests/harness/campaign.rs: the faults, how each is injected, the invariants).\n\n{t}"
    );
    let _ = std::fs::write(
        rotatetoken_tests::repo_root().join("docs/fault-campaign.md"),
        doc,
    );
    if reports.iter().any(|r| !r.violations.is_empty()) {
        std::process::exit(1);
    }
}
