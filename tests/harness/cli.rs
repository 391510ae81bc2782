//! The operator's command line (`rotate-token`, built with the functions), run against the
//! emulator as an operator would: a process with the standard AWS environment pointing at
//! the local AWS, piped or in a terminal.

use std::process::Stdio;

use crate::pipeline::Pipeline;
use crate::{state_machine_arn, template_facts};

/// What one run of `rotate-token` printed and returned.
#[derive(Debug)]
pub struct CliRun {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl CliRun {
    /// stdout as JSON (`--output json`).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {self:#?}"))
    }
}

/// Builds the binary (with the functions), once per test process.
pub fn build_once() {
    crate::functions::build_functions_once();
}

pub fn binary() -> std::path::PathBuf {
    crate::target_dir().join("debug/rotate-token")
}

impl Pipeline {
    /// `rotate-token <args>` with the deployment's state machine and discover function
    /// named (the harness deploys no stack of template.yaml to find them from).
    pub fn cli_command(&self, args: &[&str]) -> tokio::process::Command {
        crate::functions::build_functions_once();
        let discover = template_facts()["functions"]["DiscoverFunction"]["binary"]
            .as_str()
            .unwrap()
            .to_string();
        let mut command = tokio::process::Command::new(binary());
        command
            .arg("--discover-function")
            .arg(discover)
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_ENDPOINT_URL", &self.emulator.endpoint)
            .env("AWS_REGION", crate::REGION)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("ROTATE_TOKEN_STATE_MACHINE", state_machine_arn())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        command
    }

    pub async fn cli(&self, args: &[&str]) -> CliRun {
        finished(self.cli_command(args).output().await.unwrap())
    }

    /// The same in a terminal (a pseudo-terminal from util-linux's `script`): what an
    /// operator sees, progress bar included. stdout holds both streams, as a terminal does.
    pub async fn cli_in_terminal(&self, args: &[&str]) -> CliRun {
        let inner = self.cli_command(args);
        let std = inner.as_std();
        let mut line = vec![std.get_program().to_string_lossy().to_string()];
        line.extend(std.get_args().map(|a| shell_quote(&a.to_string_lossy())));
        let mut command = tokio::process::Command::new("script");
        command
            .args(["-qec", &line.join(" "), "/dev/null"])
            .env_clear()
            .envs(std.get_envs().filter_map(|(k, v)| Some((k, v?))))
            .env("TERM", "xterm")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        finished(command.output().await.unwrap())
    }
}

fn finished(out: std::process::Output) -> CliRun {
    CliRun {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).to_string(),
        stderr: String::from_utf8_lossy(&out.stderr).to_string(),
    }
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}
