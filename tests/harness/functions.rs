//! The real handlers a test owns, on a free loopback port, with the settings the SAM
//! template gives each function: on tests/emulator/lambda_host.py (a Lambda service of our
//! own, behind the Runtime API), or on `cargo lambda watch` (the README's Docker-free path).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use crate::{
    http, log_file, repo_root, state_machine_arn, venv_bin, wait_for_port, Emulator, REGION,
};

/// Settings the functions get, as the SAM template would set them.
#[derive(Debug, Clone)]
pub struct FunctionEnv {
    pub vars: Vec<(String, String)>,
    pub host: LambdaHost,
}

/// What serves the functions' Invoke API to the emulator's Lambda bridge (patch 8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LambdaHost {
    /// tests/emulator/lambda_host.py: one process per concurrent invocation behind the
    /// Runtime API, as Lambda runs them. The suites' default: `cargo lambda watch` spent
    /// about half a core in system calls on its own while a suite ran (measured 2026-12-06:
    /// 33 s of CPU in 70 s of the 30-secret coalescing test, against 1.6 s for this host),
    /// the CPU two cores' worth of suites need for the handlers and the emulator.
    RuntimeApi,
    /// `cargo lambda watch`, the README's path without Docker: tests/local_invoke.rs and
    /// tests/state_machine.rs's scenario run on it; `RT_LAMBDA_HOST=cargo-lambda` runs
    /// every suite on it.
    CargoLambdaWatch,
}

impl LambdaHost {
    /// `RT_LAMBDA_HOST`: `cargo-lambda`, else the Runtime API host.
    pub fn from_env() -> Self {
        match std::env::var("RT_LAMBDA_HOST").as_deref() {
            Ok("cargo-lambda") => Self::CargoLambdaWatch,
            _ => Self::RuntimeApi,
        }
    }
}

impl FunctionEnv {
    /// Instances of each function the host may run at once. Lambda gives one to
    /// every invocation the product has in flight: with `RT_LAMBDA_CONCURRENCY=aws` (the
    /// fleet benchmark) so does the bridge (each Map child can invoke at once; a run keeps
    /// `account-regions × MAX_CONCURRENCY × 2` children, `domain::lanes::map_concurrency`),
    /// else fewer would queue in the bridge and the queue would count as Lambda time. The
    /// suites keep MAX_CONCURRENCY instances (at least 8): on 2 cores, dozens of instances
    /// per suite starve the timing of the others.
    pub fn lambda_concurrency(&self) -> usize {
        let var = |name: &str| {
            self.vars
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let budget: usize = var("MAX_CONCURRENCY")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if std::env::var("RT_LAMBDA_CONCURRENCY").as_deref() != Ok("aws") {
            return budget.max(8);
        }
        let count = |name: &str| {
            var(name)
                .map(|v| v.split(',').filter(|s| !s.trim().is_empty()).count())
                .unwrap_or(1)
                .max(1)
        };
        let lanes = count("TARGET_ACCOUNTS") * count("TARGET_REGIONS");
        (rotatetoken::domain::lanes::map_concurrency_for(lanes, budget as u32) as usize).max(8)
    }

    pub fn for_emulator(emulator: &Emulator) -> Self {
        let vars = [
            ("AWS_ENDPOINT_URL", emulator.endpoint.as_str()),
            ("AWS_REGION", REGION),
            ("AWS_DEFAULT_REGION", REGION),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
            ("AWS_LAMBDA_LOG_LEVEL", "INFO"),
            ("STATE_MACHINE_ARN", &state_machine_arn()),
            ("PARAMETER_NAME", "RotateToken"),
            ("SECRET_NAME_PREFIXES", "*"),
            ("SELECTION_MODE", "all"),
            ("MAX_CONCURRENCY", "4"),
            ("POLL_INTERVAL_SECONDS", "0.2"),
            ("MAX_WAIT_SECONDS", "120"),
            ("STEP_BUDGET_SECONDS", "20"),
            // The fixtures' stacks have no service role (as `sam deploy` makes them): allowed
            // here; tests/operator.rs runs the refusal (a_stack_without_a_service_role_...).
            ("STACKS_WITHOUT_SERVICE_ROLE", "*"),
        ];
        Self {
            vars: vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            host: LambdaHost::from_env(),
        }
    }

    /// Served by `cargo lambda watch`, whatever `RT_LAMBDA_HOST` says.
    pub fn on_cargo_lambda_watch(mut self) -> Self {
        self.host = LambdaHost::CargoLambdaWatch;
        self
    }

    pub fn set(mut self, key: &str, value: &str) -> Self {
        self.vars.retain(|(k, _)| k != key);
        self.vars.push((key.to_string(), value.to_string()));
        self
    }
}

/// The real handlers, served by [`FunctionEnv::host`].
pub struct Functions {
    child: Child,
    pub port: u16,
    pub log: PathBuf,
}

/// Builds the functions once per test process (a no-op when they are fresh): every
/// instance `cargo lambda watch` starts then runs its binary directly (run-built.sh)
/// instead of a `cargo run` of its own.
/// The functions' build profile: `debug`, or `release` when `RT_FUNCTIONS_PROFILE=release`
/// (the benchmarks measure what is deployed).
pub fn functions_profile() -> &'static str {
    match std::env::var("RT_FUNCTIONS_PROFILE").as_deref() {
        Ok("release") => "release",
        _ => "debug",
    }
}

pub(crate) fn build_functions_once() {
    static BUILT: std::sync::Once = std::sync::Once::new();
    BUILT.call_once(|| {
        let mut args = vec!["build", "--workspace", "--bins", "--locked", "--quiet"];
        if functions_profile() == "release" {
            args.push("--release");
        }
        let status = Command::new(real_cargo())
            .args(&args)
            .current_dir(repo_root())
            .status()
            .expect("run cargo build");
        assert!(status.success(), "cargo build of the functions failed");
    });
}

/// The cargo that runs this test (cargo sets `CARGO` for its tests).
fn real_cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string())
}

pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"))
}

impl Functions {
    pub fn start(port: u16, env: &FunctionEnv) -> Self {
        build_functions_once();
        let log = log_file("functions", port);
        // An env file, not --env-var: cargo lambda splits --env-var values at commas.
        let env_file = log.with_extension("env");
        let lines: Vec<String> = env.vars.iter().map(|(k, v)| format!("{k}={v}")).collect();
        std::fs::write(&env_file, lines.join("\n") + "\n").unwrap();
        if env.host == LambdaHost::RuntimeApi {
            return Self::start_runtime_api_host(port, env, log, &env_file);
        }
        let mut cmd = Command::new(venv_bin("cargo-lambda"));
        cmd.args([
            "lambda",
            "watch",
            "--ignore-changes",
            "--quiet",
            "--concurrency",
            &env.lambda_concurrency().to_string(),
        ])
        .args([
            "--invoke-address",
            "127.0.0.1",
            "--invoke-port",
            &port.to_string(),
        ])
        .current_dir(repo_root())
        .env("CARGO", repo_root().join("tests/harness/run-built.sh"))
        .env("RT_REAL_CARGO", real_cargo())
        .env("RT_TARGET_DIR", target_dir())
        .env("RT_PROFILE_DIR", functions_profile())
        .stdout(Stdio::from(std::fs::File::create(&log).unwrap()))
        .stderr(Stdio::from(
            std::fs::File::options().append(true).open(&log).unwrap(),
        ));
        cmd.arg("--env-file").arg(&env_file);
        let mut child = cmd
            .spawn()
            .expect("start cargo lambda watch (run `make deps` first)");
        wait_for_port(port, &mut child, "cargo lambda watch", &log);
        Self { child, port, log }
    }

    /// [`LambdaHost::RuntimeApi`]: tests/emulator/lambda_host.py, a Lambda service of our
    /// own that runs each binary behind the Runtime API, one process per concurrent
    /// invocation, as many as `lambda_concurrency` per function. `cargo lambda watch` also
    /// stalled under a few hundred concurrent invocations (docs/performance.md).
    fn start_runtime_api_host(port: u16, env: &FunctionEnv, log: PathBuf, env_file: &Path) -> Self {
        let bin_dir = target_dir().join(functions_profile());
        let mut child = Command::new(venv_bin("python"))
            .arg(repo_root().join("tests/emulator/lambda_host.py"))
            .args(["--port", &port.to_string(), "--max-instances"])
            .arg(env.lambda_concurrency().to_string())
            .arg("--bin-dir")
            .arg(&bin_dir)
            .arg("--env-file")
            .arg(env_file)
            .arg("--log")
            .arg(&log)
            .stdout(Stdio::null())
            .stderr(Stdio::from({
                std::fs::File::create(&log).unwrap();
                std::fs::File::options().append(true).open(&log).unwrap()
            }))
            .spawn()
            .expect("start tests/emulator/lambda_host.py (run `make deps` first)");
        wait_for_port(port, &mut child, "lambda_host.py", &log);
        Self { child, port, log }
    }

    /// Invokes a function through the host's Invoke API; `Err` carries the
    /// function's `{errorType, errorMessage}`.
    pub fn invoke(&self, function: &str, payload: &Value) -> Result<Value, Value> {
        let path = format!("/2015-03-31/functions/{function}/invocations");
        let (status, body) = http::post(self.port, &path, &payload.to_string());
        let value: Value = serde_json::from_str(&body).unwrap_or(Value::String(body));
        if status == 200 {
            Ok(value)
        } else {
            Err(value)
        }
    }

    /// Everything the functions logged so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The sum of each metric the functions emitted so far in the embedded metric format
    /// (each a JSON line with `_aws.CloudWatchMetrics`), as CloudWatch would add them up.
    pub fn metric_sums(&self) -> std::collections::BTreeMap<String, f64> {
        let mut sums = std::collections::BTreeMap::new();
        for line in self.logs().lines() {
            let Some(start) = line.find('{').filter(|_| line.contains("\"_aws\"")) else {
                continue;
            };
            let Ok(doc) = serde_json::from_str::<Value>(&line[start..]) else {
                continue;
            };
            for block in doc["_aws"]["CloudWatchMetrics"]
                .as_array()
                .into_iter()
                .flatten()
            {
                for metric in block["Metrics"].as_array().into_iter().flatten() {
                    let name = metric["Name"].as_str().unwrap_or_default();
                    *sums.entry(name.to_string()).or_insert(0.0) +=
                        doc[name].as_f64().unwrap_or(0.0);
                }
            }
        }
        sums
    }
}

impl Drop for Functions {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
