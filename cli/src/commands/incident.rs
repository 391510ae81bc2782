//! `incident start`: the refresh of every secret matching patterns, as one incident. With
//! `--dry-run`, one plan: each secret's own dry run (as `plan`), merged into one row per
//! stack ([`rotatetoken::domain::incident`]). Otherwise, for each secret, the run of its
//! current version: the one its change started (found by the name the trigger gives it),
//! else, once `--grace` has passed since the change and no run of the secret holds its
//! lock, one started here under that very name (the change's event, if it comes, is then a
//! duplicate); then one progress view for all those runs and, once they have ended, one
//! report. Started again, it finds the same runs and follows them: nothing runs twice.
//! With `--since`, a secret whose current value was created before that moment is not
//! refreshed (its consumers would re-read the exposed value): it is said to need rotating.
//! One secret's trouble (a run that cannot be found, started or read) is its own row.

use std::time::Duration;

use aws_sdk_sfn::types::ExecutionStatus;
use rotatetoken::aws::targets::AssumedRoles;
use rotatetoken::domain::incident::{self, Incident, IncidentRun, ERROR, NOT_ROTATED};
use rotatetoken::domain::model::{ExecutionInput, SecretRef, Summary};
use rotatetoken::domain::run_lock::{lock_key, RunLock};
use rotatetoken::domain::trigger::execution_name;
use rotatetoken::domain::utc::format_ms;
use rotatetoken::{config, service};

use super::{matching_secrets, pipeline_settings, print_json, Attention};
use crate::args::{Output, ScopeArgs};
use crate::context::Context;
use crate::error::{self, CliError};
use crate::execution::{execution_arn, get_object, Execution};
use crate::follow::{Follower, Tally, View};

/// Looks at a run that fail one after the other before it is given up on.
const MAX_FAILED_LOOKS: u32 = 10;
/// The cause an incident's runs carry (their summaries and alerts say it).
const CAUSE: &str = "incident";
/// However long `--grace`, a change whose run is held back (its secret's lock names it, or
/// another run of the secret is in flight) is awaited at most this long, then reported.
const MAX_WAIT_MS: u64 = 30 * 60 * 1000;

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

/// A secret of the incident, with its current version.
struct Change {
    secret: SecretRef,
    version: String,
    created_ms: u64,
    /// Why its run is not there yet, once awaited.
    awaited: String,
}

fn row(secret: &SecretRef, status: &str, note: Option<String>) -> IncidentRun {
    IncidentRun {
        secret: secret.name.clone(),
        secret_arn: secret.arn.clone(),
        execution: None,
        status: status.into(),
        started_here: false,
        note,
    }
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
    // Each secret's current version; a secret not rotated since the moment given, or whose
    // versions cannot be read, is a row of its own.
    let mut runs: Vec<(IncidentRun, Option<Summary>)> = Vec::new();
    let mut changes = Vec::with_capacity(chosen.len());
    for secret in chosen {
        match service::current_version(&secrets, &secret.arn).await {
            Err(e) => runs.push((row(&secret, ERROR, Some(e.to_string())), None)),
            Ok(v) if args.since_ms.is_some_and(|t| v.created_ms < t) => {
                let note = format!(
                    "its current value was created {}, before --since: rotate it, and its change refreshes its consumers",
                    format_ms(v.created_ms)
                );
                runs.push((row(&secret, NOT_ROTATED, Some(note)), None));
            }
            Ok(v) => changes.push(Change {
                secret,
                version: v.id,
                created_ms: v.created_ms,
                awaited: String::new(),
            }),
        }
    }
    if args.dry_run {
        let access = AssumedRoles::new(&ctx.aws, scope.targets.clone()).read_only();
        for c in changes {
            let planned =
                super::plan::summary(ctx, &access, &secrets, &scope, &settings, c.secret.clone())
                    .await;
            runs.push(match planned {
                Ok(plan) => (row(&c.secret, "PLANNED", None), Some(plan)),
                Err(e) => (row(&c.secret, ERROR, Some(e.to_string())), None),
            });
        }
        return report(ctx, incident::merge(true, settings.coalesce, runs));
    }

    let machine = ctx.state_machine().await?;
    let sfn = aws_sdk_sfn::Client::new(&ctx.aws);
    let s3 = aws_sdk_s3::Client::new(&ctx.aws);
    let bucket = config::runs_bucket();
    // A change's own run is awaited for `grace` after the change: CloudTrail's events reach
    // EventBridge on a best-effort basis, some time after the call ("AWS service events
    // delivered via AWS CloudTrail", EventBridge user guide), and a run its change starts
    // takes part in coalescing (it holds its secret's lock), one started here does not.
    let grace_ms = (args.grace.clamp(0.0, 3600.0) * 1000.0) as u64;
    let interval = Duration::from_secs_f64(args.interval.clamp(0.2, 60.0));
    let began_ms = now_ms();
    let mut followers = Vec::new();
    let mut said = false;
    let mut pending = changes;
    while !pending.is_empty() {
        let mut waiting = Vec::new();
        for mut c in pending {
            let name = execution_name(&c.secret.arn, &c.version);
            let arn = execution_arn(&machine, &name);
            let next = match status_of(&sfn, &arn).await {
                Err(e) => Next::Fail(e.to_string()),
                Ok(Some(_)) => Next::Follow,
                Ok(None) => {
                    // Without the runs bucket storm control cannot be asked: nothing is
                    // started on a guess.
                    let lock = match &bucket {
                        Some(bucket) => read_lock(&s3, bucket, &c.secret.arn).await,
                        None => Err(CliError::Invalid(
                            "the deployment's runs bucket (RUNS_BUCKET) is unknown, so whether storm control holds this run back cannot be told; give --stack <deployment> (not --standalone)".into(),
                        )),
                    };
                    // The holder of the secret's lock: in flight, or claimed and about to
                    // start (not there yet) holds the change back; unknown is a row.
                    let holder = match lock
                        .as_ref()
                        .ok()
                        .and_then(Option::as_ref)
                        .filter(|l| l.holder != name)
                    {
                        Some(l) => status_of(&sfn, &execution_arn(&machine, &l.holder))
                            .await
                            .map(|s| s.is_none_or(|s| s == ExecutionStatus::Running)),
                        None => Ok(false),
                    };
                    match (lock, holder) {
                        (Err(e), _) | (_, Err(e)) => Next::Fail(e.to_string()),
                        (Ok(lock), Ok(holder_running)) => next_for(
                            &name,
                            lock.as_ref(),
                            holder_running,
                            now_ms(),
                            c.created_ms,
                            grace_ms,
                        ),
                    }
                }
            };
            let started_here = match next {
                Next::Follow => false,
                Next::Wait(why) if now_ms() < began_ms + MAX_WAIT_MS.max(grace_ms) => {
                    c.awaited = why;
                    waiting.push(c);
                    continue;
                }
                Next::Wait(why) => {
                    let note = format!("its change's run did not appear: {why}");
                    runs.push((row(&c.secret, ERROR, Some(note)), None));
                    continue;
                }
                Next::Fail(why) => {
                    runs.push((row(&c.secret, ERROR, Some(why)), None));
                    continue;
                }
                Next::Start => {
                    c.secret.version_id = Some(c.version.clone());
                    match start_run(&sfn, &machine, &name, &c.secret).await {
                        Ok(here) => here,
                        Err(e) => {
                            runs.push((row(&c.secret, ERROR, Some(e.to_string())), None));
                            continue;
                        }
                    }
                }
            };
            match Execution::find(ctx, &arn).await {
                Ok(execution) => followers.push((c.secret, started_here, Follower::new(execution))),
                Err(e) => runs.push((row(&c.secret, ERROR, Some(e.to_string())), None)),
            }
        }
        pending = waiting;
        if !pending.is_empty() {
            if !said {
                eprintln!(
                    "incident: waiting for the runs of {} change(s): up to {}s after each change for the run its event starts, longer while another run of the secret holds it",
                    pending.len(),
                    grace_ms / 1000
                );
                for c in &pending {
                    eprintln!("  {}: {}", c.secret.name, c.awaited);
                }
                said = true;
            }
            tokio::time::sleep(interval).await;
        }
    }
    let started = followers.iter().filter(|(_, here, _)| *here).count();
    let not_rotated = runs.iter().filter(|(r, _)| r.status == NOT_ROTATED).count();
    eprintln!(
        "incident: {} run(s), {started} started here, {} found started by their changes{}",
        followers.len(),
        followers.len() - started,
        match not_rotated {
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
        eprintln!("follow them: run the same command again, without --detach");
        return Ok(!runs.is_empty());
    }
    follow(&mut followers, interval).await;

    for (secret, here, f) in followers {
        let mut run = row(&secret, ERROR, None);
        run.execution = f.execution.arn.rsplit(':').next().map(str::to_string);
        run.started_here = here;
        let summary = match f.execution.status().await {
            Ok(status) => {
                run.status = status.status.as_str().to_string();
                match f.execution.summary().await {
                    Ok(summary) => Some(summary),
                    Err(e) => {
                        run.note = Some(e.to_string());
                        None
                    }
                }
            }
            Err(e) => {
                run.note = Some(e.to_string());
                None
            }
        };
        runs.push((run, summary));
    }
    report(ctx, incident::merge(false, settings.coalesce, runs))
}

/// What to do about a change whose run does not exist yet.
#[derive(Debug, PartialEq, Eq)]
enum Next {
    Follow,
    /// Not yet: why.
    Wait(String),
    Start,
    Fail(String),
}

/// Whether to start a change's run here: never while the pipeline has it (its secret's
/// lock names it, as holder about to start or as the run waiting behind the holder), nor
/// while another run of the secret holds the lock and is in flight (the change runs after
/// it, through storm control), nor within `grace_ms` of the change (its event may be on
/// the way). Otherwise its event was lost, or came before the pipeline was deployed.
fn next_for(
    name: &str,
    lock: Option<&RunLock>,
    holder_running: bool,
    now_ms: u64,
    created_ms: u64,
    grace_ms: u64,
) -> Next {
    if let Some(lock) = lock {
        if lock.holder == name {
            return Next::Wait(format!(
                "its secret's lock names it (claimed {})",
                format_ms(lock.since_ms)
            ));
        }
        if lock
            .pending
            .as_ref()
            .is_some_and(|p| p.execution_name == name)
        {
            return Next::Wait(format!(
                "it waits behind run {} of the same secret",
                lock.holder
            ));
        }
        if holder_running {
            return Next::Wait(format!(
                "run {} of the same secret is in flight",
                lock.holder
            ));
        }
    }
    if now_ms < created_ms.saturating_add(grace_ms) {
        return Next::Wait("its event may still be on the way".into());
    }
    Next::Start
}

/// The secret's lock in the runs bucket (storm control), if any.
async fn read_lock(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    secret_arn: &str,
) -> Result<Option<RunLock>, CliError> {
    let key = lock_key(secret_arn);
    let Some(body) = get_object(s3, bucket, &key).await? else {
        return Ok(None);
    };
    serde_json::from_slice(&body)
        .map(Some)
        .map_err(|e| CliError::Aws(format!("s3://{bucket}/{key} is not a lock: {e}")))
}

/// The execution's status, `None` when it does not exist.
async fn status_of(
    sfn: &aws_sdk_sfn::Client,
    arn: &str,
) -> Result<Option<ExecutionStatus>, CliError> {
    match sfn.describe_execution().execution_arn(arn).send().await {
        Ok(d) => Ok(Some(d.status().clone())),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_execution_does_not_exist()) =>
        {
            Ok(None)
        }
        Err(e) => Err(error::aws("DescribeExecution", &e)),
    }
}

/// One view of every run until all have ended: stacks done out of those selected, runs
/// ended, where the others stand, each failure as it happens. A look that fails (a
/// throttled call) is said and tried again at the next.
async fn follow(followers: &mut [(SecretRef, bool, Follower)], interval: Duration) {
    let mut view = View::new(0);
    loop {
        let mut tally = Tally::default();
        let (mut total, mut running) = (0, 0);
        for (secret, _, f) in followers.iter_mut() {
            if f.running {
                match f.look().await {
                    Ok(failures) => failures.iter().for_each(|line| view.say(line)),
                    Err(e) => {
                        view.say(&format!("could not look at {}'s run: {e}", secret.name));
                        // Looks failing again and again (credentials expired): given up
                        // on; its row then says why.
                        f.failed_looks += 1;
                        if f.failed_looks >= MAX_FAILED_LOOKS {
                            f.running = false;
                        }
                    }
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
            return;
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
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_execution_already_exists()) =>
        {
            Ok(false)
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use rotatetoken::domain::run_lock::PendingRun;

    fn lock(holder: &str, pending: Option<&str>) -> RunLock {
        let input: ExecutionInput = serde_json::from_value(serde_json::json!({
            "secret": {"arn": "arn:aws:secretsmanager:us-east-1:1:secret:s-AbCdEf"}
        }))
        .unwrap();
        RunLock {
            secret_arn: input.secret.arn.clone(),
            holder: holder.into(),
            since_ms: 1_000,
            pending: pending.map(|p| PendingRun {
                execution_name: p.into(),
                input: input.clone(),
                changes: 1,
            }),
            holder_input: Some(input),
        }
    }

    #[test]
    fn a_run_the_pipeline_holds_back_is_never_started_here() {
        let at = |lock: Option<&RunLock>, running: bool, now: u64| {
            next_for("rt-new", lock, running, now, 0, 10)
        };
        // Claimed by its change: about to start.
        assert!(matches!(
            at(Some(&lock("rt-new", None)), false, 99),
            Next::Wait(_)
        ));
        // Waiting behind the secret's run, even once that run has ended.
        assert!(matches!(
            at(Some(&lock("rt-old", Some("rt-new"))), false, 99),
            Next::Wait(_)
        ));
        // Another run of the secret in flight: the change runs after it.
        assert!(matches!(
            at(Some(&lock("rt-old", None)), true, 99),
            Next::Wait(_)
        ));
        // Within the grace: its event may be on the way.
        assert!(matches!(at(None, false, 5), Next::Wait(_)));
        // No lock, or a holder that ended, and the grace over: its event was lost.
        assert_eq!(at(None, false, 10), Next::Start);
        assert_eq!(at(Some(&lock("rt-old", None)), false, 99), Next::Start);
    }
}
