//! Test harness: starts the local AWS (moto plus the package `tests/emulator/rotatetoken/`)
//! and the real Rust handlers (tests/emulator/lambda_host.py, or `cargo lambda watch`), each
//! on a free loopback port, owned by
//! the test and killed when it is dropped. Suites in `tests/*.rs` use it.
//!
//! Tools come from the project's virtualenv (`make deps`): `.venv/bin/python` and
//! `.venv/bin/cargo-lambda`.

pub mod campaign;
pub mod cli;
mod emulator;
pub mod fixtures;
mod functions;
pub mod http;
pub mod pipeline;

pub use emulator::{AcceptedUpdate, Emulator, ResourceActions};
pub use functions::{functions_profile, target_dir, FunctionEnv, Functions};

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";
pub const STATE_MACHINE_NAME: &str = "rotatetoken";
pub const FUNCTIONS: [&str; 4] = [
    "rotatetoken-trigger",
    "rotatetoken-discover",
    "rotatetoken-refresh",
    "rotatetoken-report",
];

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn venv_bin(name: &str) -> PathBuf {
    repo_root().join(".venv/bin").join(name)
}

pub fn state_machine_arn() -> String {
    format!("arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{STATE_MACHINE_NAME}")
}

/// The ARN of the state machine's execution named `name`.
pub fn execution_arn(name: &str) -> String {
    format!("arn:aws:states:{REGION}:{ACCOUNT}:execution:{STATE_MACHINE_NAME}:{name}")
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for_port(port: u16, child: &mut Child, what: &str, log: &Path) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(60) {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "{what} exited with {status}: {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "{what} did not open port {port}: {}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

fn log_file(prefix: &str, port: u16) -> PathBuf {
    let dir = repo_root().join("target/test-logs");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(format!("{prefix}-{port}.log"))
}

/// Runs one of the Python helpers in tests/emulator on these repository files (then the
/// `extra` arguments) and parses the JSON it prints.
fn python_json(script: &str, files: &[&str], extra: &[&str]) -> Value {
    let root = repo_root();
    let out = Command::new(venv_bin("python"))
        .arg(root.join("tests/emulator").join(script))
        .args(files.iter().map(|f| root.join(f)))
        .args(extra)
        .output()
        .unwrap_or_else(|e| panic!("run {script}: {e}"));
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Reads facts from template.yaml (rule patterns, substitutions, settings) through
/// `tests/emulator/template_facts.py`, so tests use the deployed definitions, not copies.
pub fn template_facts() -> Value {
    template_facts_of("template.yaml")
}

/// [`template_facts`] of another template of the repository (`target-role.yaml`, ...).
pub fn template_facts_of(template: &str) -> Value {
    python_json("template_facts.py", &[template], &[])
}

/// The resource policy template.yaml puts on the pipeline's default event bus for these
/// deploy parameters (tests/emulator/bus_policy.py).
pub fn bus_policy(parameters: &Value) -> Value {
    python_json(
        "bus_policy.py",
        &["template.yaml"],
        &[&parameters.to_string()],
    )
}

/// The IAM actions template.yaml grants each function, and target-role.yaml grants the
/// target role, for these deploy parameters (tests/emulator/iam_policies.py).
pub fn iam_grants(parameters: &Value) -> Value {
    python_json(
        "iam_policies.py",
        &["template.yaml", "target-role.yaml"],
        &[&parameters.to_string()],
    )
}

/// What `tests/emulator/iam_review.py` finds wrong with the resources and conditions of
/// template.yaml and target-role.yaml for these deploy parameters (empty: nothing).
pub fn iam_review(parameters: &Value) -> Vec<String> {
    let found = python_json(
        "iam_review.py",
        &["template.yaml", "target-role.yaml"],
        &[&parameters.to_string()],
    );
    serde_json::from_value(found).expect("iam_review.py prints a list of problems")
}

/// The ASL definition with `${Name}` replaced as CloudFormation's DefinitionSubstitutions
/// would; panics when a placeholder has no value.
pub fn render_definition(substitutions: &[(&str, String)]) -> String {
    let mut text =
        std::fs::read_to_string(repo_root().join("statemachine/rotatetoken.asl.json")).unwrap();
    for (k, v) in substitutions {
        text = text.replace(&format!("${{{k}}}"), v);
    }
    assert!(
        !text.contains("${"),
        "unsubstituted placeholder in the definition"
    );
    text
}

pub fn wait_until<T>(timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    loop {
        if let Some(v) = probe() {
            return Some(v);
        }
        if start.elapsed() > timeout {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
