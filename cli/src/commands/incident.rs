//! `incident start`: the refresh of every secret matching patterns, as one incident. With
//! `--dry-run`, one plan: each secret's own dry run (as `plan`), merged into one row per
//! stack ([`rotatetoken::domain::incident`]). Otherwise, for each secret, the run of its
//! current version: the one its change started (found by the name the trigger gives it),
//! else started here under that very name (the change's event, if it comes, is then a
//! duplicate); then one progress view for all those runs and, once they have ended, one
//! report. Started again, it finds the same runs and follows them: nothing runs twice.
//! With `--since`, a secret whose current value was created before that moment is not
//! refreshed (its consumers would re-read the exposed value): it is said to need rotating.

use std::time::Duration;

use rotatetoken::aws::targets::AssumedRoles;
use rotatetoken::domain::incident::{self, Incident, IncidentRun};
use rotatetoken::domain::model::{ExecutionInput, SecretRef, Summary};
use rotatetoken::domain::trigger::execution_name;
use rotatetoken::domain::utc::format_ms;
use rotatetoken::service;

use super::{matching_secrets, pipeline_settings, print_json, Attention};
use crate::args::{Output, ScopeArgs};
use crate::context::Context;
use crate::error::{self, CliError};
use crate::execution::{execution_arn, Execution};
use crate::follow::{Follower, Tally, View};

/// The cause an incident's runs carry (their summaries and alerts say it).
const CAUSE: &str = "incident";

pub struct Start<'a> {
    pub patterns: &'a str,
    pub since_ms: Option<u64>,
    pub dry_run: bool,
    /// Start what is missing, print the runs, and return without following them.
    pub detach: bool,
    /// Seconds after a change that its own run is awaited before one is started here.
    pub grace: f64,
    pub interval: f64,
    pub scope: &'a ScopeArgs,
}

pub async fn start(ctx: &Context, args: Start<'_>) -> Result<Attention, CliError> {
    let (scope, settings) = pipeline_settings(ctx, args.scope).await?;
    let (secrets, chosen, outside_scope) = matching_secrets(ctx, &settings, args.patterns).await?;
    if !outside_scope.is_empty() {
        eprintln!(
            "rotate-token: {} secret(s) match but are outside the deployment's SecretNamePrefixes, not refreshed: {}",
            outside_scope.len(),
            outside_scope.join(", ")
        );
    }
    // Each secret's current version, and whether it was rotated since the moment given.
    let mut current = Vec::with_capacity(chosen.len());
    for secret in chosen {
        let version = service::current_version(&secrets, &secret.arn).await?;
        current.push((secret, version.id, version.created_ms));
    }
    let rotated = |created_ms: u64| args.since_ms.is_none_or(|t| created_ms >= t);
    let not_rotated = |secret: &SecretRef, created_ms: u64| {
        IncidentRun {
        secret: secret.name.clone(),
        secret_arn: secret.arn.clone(),
        execution: None,
        status: "NOT_ROTATED".into(),
        started_here: false,
        note: Some(format!(
            "its current value was created {}, before --since: rotate it, and its change refreshes its consumers",
            format_ms(created_ms)
        )),
    }
    };
    let mut runs: Vec<(IncidentRun, Option<Summary>)> = Vec::new();
    if args.dry_run {
        let access = AssumedRoles::new(&ctx.aws, scope.targets.clone()).read_only();
        for (secret, _, created_ms) in current {
            if !rotated(created_ms) {
                runs.push((not_rotated(&secret, created_ms), None));
                continue;
            }
            let run = IncidentRun {
                secret: secret.name.clone(),
                secret_arn: secret.arn.clone(),
                execution: None,
                status: "PLANNED".into(),
                started_here: false,
                note: None,
            };
            let plan =
                super::plan::summary(ctx, &access, &secrets, &scope, &settings, secret).await?;
            runs.push((run, Some(plan)));
        }
        return report(ctx, incident::merge(true, runs));
    }

    let machine = ctx.state_machine().await?;
    let sfn = aws_sdk_sfn::Client::new(&ctx.aws);
    let mut followers = Vec::new();
    let mut not_started = Vec::new();
    let mut pending = Vec::new();
    for (secret, version, created_ms) in current {
        match rotated(created_ms) {
            false => not_started.push(not_rotated(&secret, created_ms)),
            true => pending.push((secret, version, created_ms)),
        }
    }
    // A change's own run is awaited for `grace` after the change: CloudTrail's events reach
    // EventBridge on a best-effort basis, some time after the call ("AWS service events
    // delivered via AWS CloudTrail", EventBridge user guide), and a run its change starts
    // takes part in coalescing (it holds its secret's lock), one started here does not.
    let grace_ms = (args.grace.max(0.0) * 1000.0) as u64;
    let interval = Duration::from_secs_f64(args.interval.clamp(0.2, 60.0));
    let mut said = false;
    while !pending.is_empty() {
        let now_ms = now_ms();
        let mut waiting = Vec::new();
        for (mut secret, version, created_ms) in pending {
            let name = execution_name(&secret.arn, &version);
            let arn = execution_arn(&machine, &name);
            let exists = sfn
                .describe_execution()
                .execution_arn(&arn)
                .send()
                .await
                .is_ok();
            let mut started_here = false;
            if !exists {
                if now_ms < created_ms.saturating_add(grace_ms) {
                    waiting.push((secret, version, created_ms));
                    continue;
                }
                secret.version_id = Some(version.clone());
                started_here = start_run(&sfn, &machine, &name, &secret).await?;
            }
            let execution = Execution::find(ctx, &arn).await?;
            followers.push((secret, started_here, Follower::new(execution)));
        }
        pending = waiting;
        if !pending.is_empty() {
            if !said {
                eprintln!(
                    "incident: waiting up to {}s after each change for the run its event starts ({} change(s) without one yet)",
                    args.grace,
                    pending.len()
                );
                said = true;
            }
            tokio::time::sleep(interval).await;
        }
    }
    let started = followers.iter().filter(|(_, here, _)| *here).count();
    eprintln!(
        "incident: {} run(s), {started} started here, {} found started by their changes{}",
        followers.len(),
        followers.len() - started,
        match not_started.len() {
            0 => String::new(),
            n => format!("; {n} secret(s) not rotated since --since"),
        }
    );
    if args.detach {
        for (secret, here, f) in &followers {
            eprintln!(
                "  {} {}{}",
                secret.name,
                f.execution.arn,
                if *here { " (started here)" } else { "" }
            );
        }
        eprintln!(
            "follow them with: rotate-token incident start --secrets '{}'",
            args.patterns
        );
        return Ok(!not_started.is_empty());
    }
    follow(&mut followers, interval).await?;

    for (secret, here, f) in followers {
        let status = f.execution.status().await?;
        let (summary, note) = match f.execution.summary().await {
            Ok(summary) => (Some(summary), None),
            Err(e) => (None, Some(e.to_string())),
        };
        let run = IncidentRun {
            secret: secret.name.clone(),
            secret_arn: secret.arn.clone(),
            execution: f.execution.arn.rsplit(':').next().map(str::to_string),
            status: status.status.as_str().to_string(),
            started_here: here,
            note,
        };
        runs.push((run, summary));
    }
    runs.extend(not_started.into_iter().map(|r| (r, None)));
    report(ctx, incident::merge(false, runs))
}

/// One view of every run until all have ended: stacks done out of those selected, runs
/// finished, where the others stand, each failure as it happens.
async fn follow(
    followers: &mut [(SecretRef, bool, Follower)],
    interval: Duration,
) -> Result<(), CliError> {
    let mut view = View::new(0);
    loop {
        let mut tally = Tally::default();
        let (mut total, mut running) = (0, 0);
        for (_, _, f) in followers.iter_mut() {
            if f.running {
                for line in f.look().await? {
                    view.say(&line);
                }
            }
            total += f.total.unwrap_or_default();
            running += usize::from(f.running);
            tally.add(&f.tally());
        }
        view.show(
            tally.done,
            total,
            format!(
                "runs {}/{} ended · {}",
                followers.len() - running,
                followers.len(),
                tally.line()
            ),
        );
        if running == 0 {
            view.finish();
            return Ok(());
        }
        tokio::time::sleep(interval).await;
    }
}

/// Starts the run of a change under the trigger's own name for it; false when that run
/// began meanwhile (its event arrived): that one is followed.
async fn start_run(
    sfn: &aws_sdk_sfn::Client,
    machine: &str,
    name: &str,
    secret: &SecretRef,
) -> Result<bool, CliError> {
    let input = ExecutionInput {
        secret: secret.clone(),
        cause: CAUSE.into(),
        dry_run: false,
        reconcile: false,
        coalesce_seconds: 0,
    };
    let body = serde_json::to_string(&input).map_err(|e| CliError::Invalid(e.to_string()))?;
    match sfn
        .start_execution()
        .state_machine_arn(machine)
        .name(name)
        .input(body)
        .send()
        .await
    {
        Ok(_) => Ok(true),
        Err(e) if format!("{e:?}").contains("ExecutionAlreadyExists") => Ok(false),
        Err(e) => Err(error::aws("StartExecution", &e)),
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

fn report(ctx: &Context, incident: Incident) -> Result<Attention, CliError> {
    match ctx.global.output {
        Output::Json => print_json(&incident)?,
        Output::Table => print!("{}", incident::render_table(&incident)),
    }
    Ok(incident.needs_attention())
}
