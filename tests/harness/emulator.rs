//! The local AWS a test owns: moto plus the package `tests/emulator/rotatetoken/`, forked
//! from a warm server on a free loopback port, its control endpoint, and its logs.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::{free_port, http, log_file, repo_root, venv_bin, ACCOUNT, REGION};

/// One UpdateStack the emulator accepted (its own log, independent of the product's report).
#[derive(Debug, Clone, PartialEq)]
pub struct AcceptedUpdate {
    pub account: String,
    pub region: String,
    pub stack: String,
    /// The RotateToken value the update set.
    pub token: String,
    /// UPDATE_IN_PROGRESS, UPDATE_COMPLETE or UPDATE_ROLLBACK_COMPLETE.
    pub result: String,
    /// Every parameter as the update resolved it.
    pub parameters: std::collections::BTreeMap<String, String>,
    /// What a completed update did to the stack's resources (emulator #29).
    pub resources: ResourceActions,
    /// When the emulator accepted the update and when it ended (epoch seconds; `ended_at`
    /// is `None` while it runs).
    pub accepted_at: f64,
    pub ended_at: Option<f64>,
}

/// The logical ids an update deleted, created, modified in place and replaced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResourceActions {
    pub deleted: Vec<String>,
    pub created: Vec<String>,
    pub modified: Vec<String>,
    pub replaced: Vec<String>,
}

/// The local AWS emulator, one per test.
pub struct Emulator {
    process: EmulatorProcess,
    pub port: u16,
    pub endpoint: String,
    pub log: PathBuf,
}

/// Started by the fork server (the usual way, [`fork_emulator`]), or as a process of its
/// own (`RT_EMULATOR_FORKS=0`).
enum EmulatorProcess {
    Forked(u32),
    Own(Child),
}

impl EmulatorProcess {
    fn exited(&mut self) -> bool {
        match self {
            // Reaped by the kernel (the fork server ignores SIGCHLD): gone means exited.
            EmulatorProcess::Forked(pid) => !Path::new(&format!("/proc/{pid}")).exists(),
            EmulatorProcess::Own(child) => matches!(child.try_wait(), Ok(Some(_))),
        }
    }

    fn kill(&mut self) {
        match self {
            EmulatorProcess::Forked(pid) => {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .stderr(Stdio::null())
                    .status();
            }
            EmulatorProcess::Own(child) => {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// The fork server's socket: one per checkout and version of the emulator's sources (every
/// `.py` under tests/emulator, the package's modules included), so a changed emulator
/// (break-on-purpose) never answers from the old code.
fn fork_server_socket() -> PathBuf {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    hash.update(repo_root().to_string_lossy().as_bytes());
    let dir = repo_root().join("tests/emulator");
    let mut sources = python_sources(&dir);
    sources.sort();
    for source in sources {
        // The path too: a module moved or renamed is another emulator.
        hash.update(
            source
                .strip_prefix(&dir)
                .unwrap()
                .to_string_lossy()
                .as_bytes(),
        );
        hash.update(std::fs::read(&source).unwrap_or_default());
    }
    let digest: String = hash
        .finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect();
    std::env::temp_dir().join(format!("rotatetoken-emulator-{digest}.sock"))
}

/// Every `.py` file under `dir`, at any depth (`__pycache__` left out).
fn python_sources(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().filter_map(Result::ok) {
        let path = entry.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "__pycache__") {
                out.extend(python_sources(&path));
            }
        } else if path.extension().is_some_and(|x| x == "py") {
            out.push(path);
        }
    }
    out
}

/// Asks the fork server (started here when none answers) for an emulator: its pid.
fn fork_emulator(port: u16, instance: &str, bridge: Option<&str>, log: &Path) -> u32 {
    use std::io::{BufRead, BufReader, Write};
    use std::os::unix::net::UnixStream;
    use std::os::unix::process::CommandExt;
    let socket = fork_server_socket();
    let request = json!({"port": port, "instance": instance, "bridge": bridge.unwrap_or(""),
                         "log": log.to_string_lossy()})
    .to_string();
    let start = Instant::now();
    let mut spawned = false;
    // One server for every test process: whoever finds none starts it, under a lock, and
    // the others wait for it to listen.
    let lock = std::fs::File::create(socket.with_extension("lock")).unwrap();
    let mut locked = false;
    loop {
        if let Ok(mut stream) = UnixStream::connect(&socket) {
            if locked {
                let _ = lock.unlock();
            }
            stream.write_all(format!("{request}\n").as_bytes()).unwrap();
            let mut answer = String::new();
            BufReader::new(stream).read_line(&mut answer).unwrap();
            let answer: Value = serde_json::from_str(&answer)
                .unwrap_or_else(|e| panic!("fork server answered `{answer}`: {e}"));
            return answer["pid"].as_u64().expect("a pid") as u32;
        }
        if !locked {
            lock.lock().unwrap();
            locked = true;
            continue; // it may have been started while this waited for the lock
        }
        if !spawned {
            // Its own process group: it outlives this test process and serves the next ones
            // (never waited for here: init reaps it when it exits after its idle time).
            let server_log = repo_root().join("target/test-logs/emulator-fork-server.log");
            std::fs::create_dir_all(server_log.parent().unwrap()).unwrap();
            #[allow(clippy::zombie_processes)]
            Command::new(venv_bin("python"))
                .arg(repo_root().join("tests/emulator/rotatetoken_emulator.py"))
                .arg("--fork-server")
                .arg(&socket)
                .stdin(Stdio::null())
                .stdout(Stdio::from(std::fs::File::create(&server_log).unwrap()))
                .stderr(Stdio::from(
                    std::fs::File::options()
                        .append(true)
                        .open(&server_log)
                        .unwrap(),
                ))
                .process_group(0)
                .spawn()
                .expect("start the emulator's fork server (run `make deps` first)");
            spawned = true;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the emulator's fork server did not listen on {}",
            socket.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Emulator {
    /// An emulator without Lambda (for the function-level suites).
    pub fn start() -> Self {
        Self::start_inner(None)
    }

    /// An emulator whose Lambda Invoke runs the real handlers behind `bridge`.
    pub fn start_with_bridge(bridge_port: u16) -> Self {
        Self::start_inner(Some(format!("http://127.0.0.1:{bridge_port}")))
    }

    fn start_inner(bridge: Option<String>) -> Self {
        // A port handed out by free_port() may be taken by another test's emulator before
        // ours binds it: each emulator answers with its own instance id, and a start that
        // finds another one listening (ours then fails to bind) is retried on a new port.
        for _ in 0..5 {
            if let Some(emulator) = Self::try_start(bridge.as_deref()) {
                return emulator;
            }
        }
        panic!("no emulator could be started on a free port (5 attempts)");
    }

    fn try_start(bridge: Option<&str>) -> Option<Self> {
        // Never the bridge's port: two free_port() calls can hand out the same port while
        // neither is bound yet, and the emulator would then receive its own invocations.
        let port = loop {
            let p = free_port();
            if !bridge.is_some_and(|b| b.ends_with(&format!(":{p}"))) {
                break p;
            }
        };
        let instance = format!("{}-{port}-{:?}", std::process::id(), Instant::now());
        let log = log_file("emulator", port);
        let mut child = if std::env::var("RT_EMULATOR_FORKS").as_deref() == Ok("0") {
            let mut cmd = Command::new(venv_bin("python"));
            cmd.arg(repo_root().join("tests/emulator/rotatetoken_emulator.py"))
                .args(["--port", &port.to_string(), "--instance", &instance])
                .stdout(Stdio::from(std::fs::File::create(&log).unwrap()))
                .stderr(Stdio::from(
                    std::fs::File::options().append(true).open(&log).unwrap(),
                ));
            if let Some(b) = bridge {
                cmd.args(["--lambda-bridge", b]);
            }
            EmulatorProcess::Own(
                cmd.spawn()
                    .expect("start the emulator (run `make deps` first)"),
            )
        } else {
            EmulatorProcess::Forked(fork_emulator(port, &instance, bridge, &log))
        };
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(60) {
            if child.exited() {
                return None; // could not bind: the port was taken
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                let (status, text) = http::post(port, "/moto-api/rotatetoken/config", "{}");
                let answered: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                if status == 200 && answered["instance"] == instance.as_str() {
                    return Some(Self {
                        process: child,
                        port,
                        endpoint: format!("http://127.0.0.1:{port}"),
                        log,
                    });
                }
                child.kill();
                return None; // another test's emulator holds this port
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        child.kill();
        panic!(
            "the emulator did not open port {port}: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// SDK configuration pointing at the emulator with dummy credentials. The local AWS
    /// throttles CloudFormation as AWS does (emulator patch 42, on by default): the
    /// harness's own calls (seeding stacks, reading them back) retry as the product's do,
    /// up to 10 attempts, so that a fixture is slowed, never failed, by a limit.
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(10))
            .endpoint_url(&self.endpoint)
            .region(aws_config::Region::new(REGION))
            .credentials_provider(aws_sdk_cloudformation::config::Credentials::new(
                "test", "test", None, None, "harness",
            ))
            .load()
            .await
    }

    /// Sets emulator behaviour (the control endpoints: tests/emulator/rotatetoken/control.py).
    /// Returns the whole configuration after the change (and counters such as `throttled`).
    /// A key the emulator does not know is refused (HTTP 400): this panics with its message,
    /// so a misspelt key fails the test that sent it.
    pub fn control(&self, body: Value) -> Value {
        let (status, text) =
            http::post(self.port, "/moto-api/rotatetoken/config", &body.to_string());
        assert_eq!(status, 200, "control {body}: {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// The UpdateStack calls the emulator accepted, in order.
    pub fn updates(&self) -> Vec<AcceptedUpdate> {
        let (status, text) = http::post(self.port, "/moto-api/rotatetoken/updates", "{}");
        assert_eq!(status, 200, "updates: {text}");
        let log: Vec<Value> = serde_json::from_str(&text).unwrap();
        let field = |e: &Value, k: &str| e[k].as_str().unwrap_or_default().to_string();
        log.iter()
            .map(|e| AcceptedUpdate {
                account: field(e, "account"),
                region: field(e, "region"),
                stack: field(e, "stack"),
                token: field(&e["parameters"], "RotateToken"),
                result: field(e, "result"),
                accepted_at: e["accepted_at"].as_f64().unwrap_or_default(),
                ended_at: e["ended_at"].as_f64(),
                parameters: e["parameters"]
                    .as_object()
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                            .collect()
                    })
                    .unwrap_or_default(),
                resources: {
                    let ids = |action: &str| -> Vec<String> {
                        e["resources"][action]
                            .as_array()
                            .map(|a| a.iter().map(|r| field(r, "logical")).collect())
                            .unwrap_or_default()
                    };
                    ResourceActions {
                        deleted: ids("deleted"),
                        created: ids("created"),
                        modified: ids("modified"),
                        replaced: ids("replaced"),
                    }
                },
            })
            .collect()
    }

    /// The Lambda invocations the emulator bridged: function, started_at, seconds, memory_mb.
    pub fn invocations(&self) -> Vec<Value> {
        let (status, text) = http::post(self.port, "/moto-api/rotatetoken/invocations", "{}");
        assert_eq!(status, 200, "invocations: {text}");
        serde_json::from_str(&text).unwrap()
    }

    /// Per Distributed Map run: its children and their events, state transitions and Lambda
    /// invocations.
    pub fn map_runs(&self) -> Vec<Value> {
        let (status, text) = http::post(self.port, "/moto-api/rotatetoken/map-runs", "{}");
        assert_eq!(status, 200, "map runs: {text}");
        serde_json::from_str(&text).unwrap()
    }

    /// The token values a stack's completed updates set, in order (any account/region).
    pub fn completed_token_updates(&self, stack: &str) -> Vec<String> {
        self.completed_where(|u| u.stack == stack)
    }

    /// Like [`Self::completed_token_updates`], for a stack in a given account and region.
    pub fn completed_token_updates_in(
        &self,
        account: &str,
        region: &str,
        stack: &str,
    ) -> Vec<String> {
        self.completed_where(|u| u.account == account && u.region == region && u.stack == stack)
    }

    fn completed_where(&self, keep: impl Fn(&AcceptedUpdate) -> bool) -> Vec<String> {
        self.updates()
            .into_iter()
            .filter(|u| u.result == "UPDATE_COMPLETE" && keep(u))
            .map(|u| u.token)
            .collect()
    }

    /// Every AWS call the product's functions made, with the authorisations AWS checks
    /// without a request of their own (implied: a GetObject of a missing key is also
    /// `s3:ListBucket`): (function, `own`/`assumed` credentials, IAM action such as
    /// `cloudformation:UpdateStack`). What the policies must grant (tests/iam.rs).
    pub fn calls(&self) -> Vec<(String, String, String)> {
        self.logged(true)
    }

    /// The requests the product's functions sent, one per request as AWS bills and
    /// rate-limits them (no implied authorisations): what the benchmarks count.
    pub fn requests(&self) -> Vec<(String, String, String)> {
        self.logged(false)
    }

    fn logged(&self, with_implied: bool) -> Vec<(String, String, String)> {
        let (status, text) = http::post(self.port, "/moto-api/rotatetoken/calls", "{}");
        assert_eq!(status, 200, "calls: {text}");
        let log: Vec<Value> = serde_json::from_str(&text).unwrap();
        log.iter()
            .filter(|c| with_implied || c["implied"] != Value::Bool(true))
            .map(|c| {
                let f = |k: &str| c[k].as_str().unwrap_or_default().to_string();
                // An assumed role's session: `assumed:<role name>`.
                let credentials = match (f("credentials").as_str(), f("role")) {
                    ("assumed", role) if !role.is_empty() => format!("assumed:{role}"),
                    (other, _) => other.to_string(),
                };
                (f("function"), credentials, f("action"))
            })
            .collect()
    }

    /// Every account with any accepted update.
    pub fn updated_accounts(&self) -> Vec<String> {
        let mut accounts: Vec<String> = self.updates().into_iter().map(|u| u.account).collect();
        accounts.sort();
        accounts.dedup();
        accounts
    }

    /// The AssumeRole calls the emulator saw: `[(role ARN, session name, external ID)]`.
    pub fn assumed_roles(&self) -> Vec<(String, String, String)> {
        let (_, text) = http::post(self.port, "/moto-api/rotatetoken/assumed-roles", "{}");
        let log: Vec<Value> = serde_json::from_str(&text).unwrap();
        log.iter()
            .map(|e| {
                let s = |k: &str| e[k].as_str().unwrap_or_default().to_string();
                (s("role_arn"), s("session"), s("external_id"))
            })
            .collect()
    }

    /// How many AssumeRole calls carried a session policy, and how many did not.
    pub fn session_policies(&self) -> (usize, usize) {
        let (_, text) = http::post(self.port, "/moto-api/rotatetoken/assumed-roles", "{}");
        let log: Vec<Value> = serde_json::from_str(&text).unwrap();
        let with = log
            .iter()
            .filter(|e| e["session_policy"].as_bool() == Some(true))
            .count();
        (with, log.len() - with)
    }

    /// SDK configuration acting inside another account and region of the emulator (moto
    /// maps credentials from an assumed role to the role's account).
    pub async fn sdk_config_in(&self, account: &str, region: &str) -> aws_config::SdkConfig {
        let base = self.sdk_config().await;
        let sts = aws_sdk_sts::Client::new(&base);
        let out = sts
            .assume_role()
            .role_arn(format!("arn:aws:iam::{account}:role/seeder"))
            .role_session_name("seeder")
            .send()
            .await
            .unwrap();
        let c = out.credentials().unwrap();
        let creds = aws_sdk_cloudformation::config::Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_string()),
            None,
            "seeder",
        );
        base.to_builder()
            .region(aws_config::Region::new(region.to_string()))
            .credentials_provider(
                aws_sdk_cloudformation::config::SharedCredentialsProvider::new(creds),
            )
            .build()
    }

    /// Forces a stack into a status such as UPDATE_ROLLBACK_FAILED.
    pub fn force_status(&self, stack: &str, status: &str, reason: &str) {
        let body = json!({"account": ACCOUNT, "region": REGION, "stack": stack, "status": status, "reason": reason});
        let (code, text) = http::post(
            self.port,
            "/moto-api/rotatetoken/stack-status",
            &body.to_string(),
        );
        assert_eq!(code, 200, "force_status: {text}");
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.process.kill();
    }
}
