//! `make faults`: the seeded fault campaign (tests/harness/campaign/). Prints the table;
//! the whole campaign (no SEEDS) also writes it to docs/fault-campaign.md. Exits 1 on any
//! invariant violation.
//!
//! Usage: cargo run --example faults -- [seeds (50)] [stacks (200)]
//!        SEEDS=7,19 cargo run --example faults -- _ [stacks]   (replay those seeds)
//!        JOBS=2: seeds run two at a time, each on its own emulator and functions (a seed
//!        mostly waits on CloudFormation's pace and Step Functions' retries, not on a core).

use futures::StreamExt;
use rotatetoken_tests::campaign::{run_seed, table};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let count: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(50);
    let stacks: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(200);
    let jobs: usize = match std::env::var("JOBS") {
        Ok(n) if !n.trim().is_empty() => match n.trim().parse() {
            Ok(n) if n >= 1 => n,
            _ => {
                eprintln!(
                    "JOBS: expected a whole number of seeds run at once (1 or more), got {n:?}"
                );
                std::process::exit(2);
            }
        },
        _ => 1,
    };
    let replay = std::env::var("SEEDS")
        .map(|s| !s.trim().is_empty())
        .unwrap_or(false);
    let seeds: Vec<u64> = match std::env::var("SEEDS") {
        Ok(list) if replay => match list.split(',').map(|s| s.trim().parse()).collect() {
            Ok(seeds) => seeds,
            Err(_) => {
                eprintln!("SEEDS: expected comma-separated seed numbers (e.g. 7,19), got {list:?}");
                std::process::exit(2);
            }
        },
        _ => (1..=count).collect(),
    };
    let started = std::time::Instant::now();
    let reports: Vec<_> = futures::stream::iter(seeds)
        .map(|seed| async move {
            let r = run_seed(seed, stacks).await;
            eprintln!(
                "seed {seed}: {} run(s), {:.0}s, injected {:?}, {} violation(s) {:?}",
                r.runs,
                r.seconds,
                r.injected,
                r.violations.len(),
                r.violations
            );
            r
        })
        .buffered(jobs)
        .collect()
        .await;
    let t = table(&reports, stacks);
    println!("{t}");
    if !replay {
        let date = std::process::Command::new("date")
            .arg("+%Y-%m-%d")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        let minutes = started.elapsed().as_secs_f64() / 60.0;
        let doc = format!(
            "# Fault campaign\n\nMeasured {date} with `JOBS={jobs} make faults` on this project's build machine (2 cores): {minutes:.0} minutes in all, {jobs} seed(s) at a time (a seed's seconds below are its own wall time; Step Functions' retry waits at a tenth of AWS's, emulator patch 52). tests/harness/campaign/ holds the faults, how each is injected, and the invariants.\n\n{t}"
        );
        let _ = std::fs::write(
            rotatetoken_tests::repo_root().join("docs/fault-campaign.md"),
            doc,
        );
    }
    if reports.iter().any(|r| !r.violations.is_empty()) {
        std::process::exit(1);
    }
}
