//! `rotate-token`: the operator's command line. It drives the deployed pipeline and reuses
//! the library's discovery, selection, safety and report code; it never reads a secret.

mod args;
mod commands;
mod context;
mod error;
mod execution;
mod follow;

use std::process::ExitCode;

use args::{Cli, Command, IncidentCommand};
use clap::Parser;

/// Exit codes scripts can rely on (also in `--help`).
const ATTENTION: u8 = 3;
const FAILED: u8 = 1;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let ctx = match context::Context::load(cli.global).await {
        Ok(ctx) => ctx,
        Err(e) => return failed(&e),
    };
    let outcome = match &cli.command {
        Command::Plan { secret, scope } => commands::plan::run(&ctx, &secret.secret, scope).await,
        Command::Start { secret, dry_run } => {
            commands::start::run(&ctx, &secret.secret, *dry_run).await
        }
        Command::Watch {
            execution,
            interval,
        } => commands::watch::run(&ctx, execution, *interval).await,
        Command::Stop { execution } => commands::stop::run(&ctx, execution).await,
        Command::Report { execution, format } => {
            commands::report::run(&ctx, execution, *format).await
        }
        Command::Audit {
            secret,
            secrets,
            since,
            format,
            scope,
        } => {
            let which = match (secret, secrets) {
                (Some(one), _) => commands::audit::Which::One(one),
                (None, patterns) => {
                    commands::audit::Which::Matching(patterns.as_deref().unwrap_or_default())
                }
            };
            commands::audit::run(&ctx, which, *since, *format, scope).await
        }
        Command::Incident {
            command:
                IncidentCommand::Start {
                    secrets,
                    since,
                    dry_run,
                    detach,
                    grace,
                    interval,
                    scope,
                },
        } => {
            let start = commands::incident::Start {
                patterns: secrets,
                since_ms: *since,
                dry_run: *dry_run,
                detach: *detach,
                grace: *grace,
                interval: *interval,
                scope,
            };
            commands::incident::start(&ctx, start).await
        }
    };
    match outcome {
        Ok(false) => ExitCode::SUCCESS,
        Ok(true) => ExitCode::from(ATTENTION),
        Err(e) => failed(&e),
    }
}

fn failed(e: &error::CliError) -> ExitCode {
    eprintln!("rotate-token: {e}");
    ExitCode::from(FAILED)
}
