//! The refresh of one stack. Two-phase: `RotateToken=false`, wait, `RotateToken=true`,
//! wait. In-place: one update setting the version parameter to the secret's current
//! version ([`super::in_place`]), wait.
//!
//! The refresh function calls [`advance`] with the task it got from the state machine; it
//! polls the stack itself for as long as its invocation budget allows and hands the task
//! back `Waiting` when the budget runs out, so the state machine spends two transitions per
//! budget slice instead of three per poll. Every decision is re-derived from the stack's
//! described state, so a retried invocation is harmless.

use super::in_place::{self, RefreshMode};
use super::model::{
    FailedResource, Outcome, Phase, PlannedChange, PlannedUpdate, ReachedStack, RefreshTask,
    SecretRef, StackRef, StackSnapshot,
};
pub use super::model::{ParameterValue, UpdatePlan};
use super::selection::{classify_status, StatusClass};
use super::{nested, rollback};
use crate::ports::{AwsError, Clock, SecretDirectory, StackDirectory, StackUpdater, UpdateStart};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefreshSettings {
    /// The longest time between two DescribeStacks calls while an update runs (shorter
    /// while the update is young: [`next_look_ms`]).
    pub poll_interval_ms: u64,
    /// Longest a whole refresh (both phases) may wait before it is reported failed.
    pub max_wait_ms: u64,
    /// Only stacks tagged `rotatetoken:opt-in=true` may be updated (`RequireOptInTag`).
    pub require_opt_in: bool,
}

/// The capabilities every refresh update acknowledges. The template is the stack's own,
/// unchanged (`UsePreviousTemplate`), so acknowledging what it contains changes nothing,
/// but CloudFormation refuses an update that does not (`InsufficientCapabilitiesException`)
/// and DescribeStacks does not list every capability the template needs: a stack deployed
/// through a change set (`sam deploy`, the console) never records `CAPABILITY_AUTO_EXPAND`,
/// yet a direct UpdateStack of its `Transform` needs it (UpdateStack API reference,
/// "Capabilities"; CloudFormation User Guide, "Acknowledging IAM resources").
pub const ACKNOWLEDGED_CAPABILITIES: [&str; 3] = [
    "CAPABILITY_IAM",
    "CAPABILITY_NAMED_IAM",
    "CAPABILITY_AUTO_EXPAND",
];

/// Plans the update that sets the token to `value`; `Err` names what is missing.
pub fn plan_update(
    snapshot: &StackSnapshot,
    token_parameter: &str,
    value: &str,
) -> Result<UpdatePlan, String> {
    if snapshot.parameter(token_parameter).is_none() {
        return Err(format!(
            "stack has no `{token_parameter}` parameter any more"
        ));
    }
    let parameters = snapshot
        .parameters
        .iter()
        .map(|p| {
            let v = if p.key == token_parameter {
                ParameterValue::Value(value.to_string())
            } else {
                ParameterValue::UsePrevious
            };
            (p.key.clone(), v)
        })
        .collect();
    let mut capabilities: Vec<String> = ACKNOWLEDGED_CAPABILITIES
        .iter()
        .map(|c| c.to_string())
        .collect();
    for c in &snapshot.capabilities {
        if !capabilities.contains(c) {
            capabilities.push(c.clone());
        }
    }
    Ok(UpdatePlan {
        stack: snapshot.stack.clone(),
        parameters,
        capabilities,
    })
}

/// The AWS CLI command that puts a stack back to `token=true` by hand, keeping every other
/// parameter's value (CloudFormation resets a parameter left out to its default).
pub fn restore_command(stack: &StackRef, token_parameter: &str, others: &[String]) -> String {
    let mut parameters = format!("ParameterKey={token_parameter},ParameterValue=true");
    for key in others {
        parameters.push_str(&format!(" ParameterKey={key},UsePreviousValue=true"));
    }
    format!(
        "aws cloudformation update-stack --region {} --stack-name {} --use-previous-template \
         --capabilities {} --parameters {parameters}",
        stack.region,
        stack.id,
        ACKNOWLEDGED_CAPABILITIES.join(" "),
    )
}

/// Phase-two updates tried before the stack is declared CRITICAL: a `true` update that
/// rolls back (a throttled resource API, a transient dependency) often succeeds again.
pub const ENABLE_ATTEMPTS: u32 = 3;

/// Pause before phase-two attempt `n + 1` (after `n` failures): 2, 4, 8... poll intervals.
fn enable_backoff_ms(settings: &RefreshSettings, failures: u32) -> u64 {
    settings.poll_interval_ms.max(1_000) * (1u64 << failures.min(6))
}

/// The shortest wait between two looks at a running update of ours.
pub const SHORTEST_LOOK_MS: u64 = 2_000;

/// How long to wait before looking again at an update of ours that has run for `age_ms`:
/// a tenth of its age, at least [`SHORTEST_LOOK_MS`], at most the poll interval.
///
/// Why not a fixed interval: the time between an update finishing and the refresh noticing
/// it is pure overhead, up to a whole interval per phase. A fixed 15 s against updates of
/// 20 s added ~7.5 s (~37%) per phase on average. Waiting a tenth of the age caps that at a
/// tenth of the update's own time (a look at 0.9·U is followed by one before 1.0·U), so a
/// refresh never takes more than ~10% longer than CloudFormation does, while a long update
/// is looked at no more often than the poll interval allows (`make bench`: refresh
/// overhead). CloudFormation publishes no completion signal a function could wait on
/// without an event bus in every target account.
pub fn next_look_ms(settings: &RefreshSettings, age_ms: u64) -> u64 {
    let shortest = SHORTEST_LOOK_MS.min(settings.poll_interval_ms);
    (age_ms / 10).clamp(shortest, settings.poll_interval_ms)
}

/// An AWS call failed (after the SDK's retries) while working on a stack. `changed` says
/// whether an update of this refresh may already have started: the stack may then be at
/// `false`, and the state machine's record of the failure must say CRITICAL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interrupted {
    pub error: AwsError,
    pub changed: bool,
}

/// What a refresh works through: the stack's CloudFormation, the secret's versions (in-place
/// mode), the clock.
pub struct Reach<'a, U, S, C> {
    pub updater: &'a U,
    pub secrets: &'a S,
    pub clock: &'a C,
}

/// Works on one stack until it is finished or `budget_until_ms` is near.
pub async fn advance<U, S, C>(
    reach: Reach<'_, U, S, C>,
    settings: RefreshSettings,
    mut task: RefreshTask,
    budget_until_ms: u64,
) -> Result<RefreshTask, Interrupted>
where
    U: StackUpdater + StackDirectory + Sync,
    S: SecretDirectory + Sync,
    C: Clock + Sync,
{
    match work(&reach, settings, &mut task, budget_until_ms).await {
        Ok(()) => Ok(task),
        Err(error) => Err(Interrupted {
            error,
            changed: task.phase != Phase::Disable || task.update_started,
        }),
    }
}

async fn work<U, S, C>(
    reach: &Reach<'_, U, S, C>,
    settings: RefreshSettings,
    task: &mut RefreshTask,
    budget_until_ms: u64,
) -> Result<(), AwsError>
where
    U: StackUpdater + StackDirectory + Sync,
    S: SecretDirectory + Sync,
    C: Clock + Sync,
{
    let (updater, clock) = (reach.updater, reach.clock);
    task.invocations += 1;
    task.started_ms.get_or_insert(clock.now_ms());
    let deadline = *task
        .deadline_ms
        .get_or_insert(clock.now_ms() + settings.max_wait_ms);
    while task.outcome == Outcome::Waiting {
        if clock.now_ms() >= deadline {
            let status = task.status.clone().unwrap_or_default();
            let stranded =
                task.mode.is_two_phase() && (task.phase == Phase::Enable || task.update_started);
            let step = match task.mode {
                RefreshMode::TwoPhase => format!("phase {}", task.phase.token_value()),
                RefreshMode::InPlace => "the in-place update".to_string(),
            };
            let reason = format!(
                "gave up after waiting {} s in {step}; last status {status}{}",
                settings.max_wait_ms / 1000,
                if stranded {
                    "; the stack may be left without its guarded resources"
                } else {
                    ""
                }
            );
            fail(task, reason, stranded);
            break;
        }
        let Some(mut snapshot) = updater.describe(&task.stack).await? else {
            let critical = task.phase == Phase::Enable;
            fail(task, "stack no longer exists".to_string(), critical);
            break;
        };
        task.status = Some(snapshot.status.clone());
        // Rollback triggers hold each of the two updates in progress for their monitoring
        // time: that time is added to the wait budget (twice), not taken from it.
        if let Some(started) = task.started_ms {
            let monitoring = u64::from(snapshot.rollback_monitoring_minutes) * 60_000;
            task.deadline_ms = Some(started + settings.max_wait_ms + 2 * monitoring);
        }
        task.other_parameters = snapshot.other_parameter_keys(&task.parameter);
        let class = classify_status(&snapshot.status);
        if task.update_started && class == StatusClass::RolledBack {
            explain_rollback(updater, task, &mut snapshot).await;
        }
        let must_wait = if task.mode == RefreshMode::InPlace {
            if task.update_started {
                observe_in_place(task, &snapshot, class)
            } else {
                start_in_place(updater, reach.secrets, task, &snapshot, class, &settings).await?
            }
        } else if task.update_started {
            let phase_before = task.phase;
            let wait = observe_running_update(task, &snapshot, class, &settings, clock.now_ms());
            if phase_before == Phase::Disable && task.phase == Phase::Enable {
                // Our `false` is complete. A guarded resource CloudFormation failed to
                // delete in cleanup still ends UPDATE_COMPLETE: only the resource's events
                // say so. It lives on outside the stack holding the old value.
                for f in orphans(updater.failed_resources(&task.stack).await?) {
                    task.orphaned.push(format!(
                        "{} ({}): {}",
                        f.logical_id, f.physical_id, f.reason
                    ));
                }
                // The same in the nested stacks the token updated in place: their
                // resources' events are their own, not the root's.
                for reached in task.nested.clone() {
                    let Ok(child) = StackRef::from_stack_id(&reached.stack_id) else {
                        continue;
                    };
                    for f in orphans(updater.failed_resources(&child).await?) {
                        task.orphaned.push(format!(
                            "{}/{} ({}): {}",
                            reached.path, f.logical_id, f.physical_id, f.reason
                        ));
                    }
                }
            }
            wait
        } else if task.retry_at_ms.is_some_and(|at| clock.now_ms() < at) {
            true // backing off before another phase-two attempt
        } else {
            start_phase(updater, task, &snapshot, class, settings.require_opt_in).await?
        };
        if task.phase == Phase::Enable && task.enable_started_ms.is_none() {
            task.enable_started_ms = Some(clock.now_ms());
        }
        task.update_since_ms = match (task.update_started, task.update_since_ms) {
            (true, since) => Some(since.unwrap_or(clock.now_ms())),
            (false, _) => None,
        };
        if must_wait {
            let pause = match task.update_since_ms {
                Some(since) => next_look_ms(&settings, clock.now_ms().saturating_sub(since)),
                // Backing off, or someone else's operation: nothing of ours to catch.
                None => settings.poll_interval_ms,
            };
            if clock.now_ms() + pause >= budget_until_ms {
                break; // hand back Waiting: the state machine calls again
            }
            clock.sleep_ms(pause).await;
        }
    }
    Ok(())
}

/// The checks before any update, in both modes: a stack another service owns, one not
/// opted in (before phase one only: a stack between phases is always brought back to
/// `true`), one busy with someone else's operation, one that needs an operator.
/// `Some(wait)` when the update must not start now.
fn held_back(
    task: &mut RefreshTask,
    snapshot: &StackSnapshot,
    class: StatusClass,
    require_opt_in: bool,
) -> Option<bool> {
    let opt_in = match task.phase {
        Phase::Disable => super::selection::not_opted_in(snapshot, require_opt_in, &task.parameter),
        _ => None,
    };
    if let Some(reason) = super::selection::managed_elsewhere(snapshot).or(opt_in) {
        not_done(task, reason);
        return Some(false);
    }
    match class {
        StatusClass::InProgress => Some(true), // someone else's operation
        StatusClass::NeedsOperator => {
            let reason = format!(
                "stack is in {} and needs an operator{}",
                snapshot.status,
                snapshot.reason_suffix()
            );
            not_done(task, reason);
            Some(false)
        }
        StatusClass::Updatable | StatusClass::RolledBack => None,
    }
}

/// Returns whether to wait before looking again.
async fn start_phase<U: StackUpdater + StackDirectory>(
    updater: &U,
    task: &mut RefreshTask,
    snapshot: &StackSnapshot,
    class: StatusClass,
    require_opt_in: bool,
) -> Result<bool, AwsError> {
    if let Some(wait) = held_back(task, snapshot, class, require_opt_in) {
        return Ok(wait);
    }
    // The data-loss guard, on the template as it is now, right before anything is deleted
    // (discovery may have run hours earlier). A stack already at `false` has nothing left
    // to lose: bringing it back to `true` only restores it.
    let token_is_true = snapshot
        .parameter(&task.parameter)
        .and_then(|p| p.value.as_deref())
        == Some("true");
    if task.phase == Phase::Disable && !task.guard_passed && token_is_true {
        let body = updater.template_body(&task.stack).await?;
        // Nested stacks the token reaches go false and true with this stack: judged too.
        let members = nested::reached(updater, &task.stack, &body, &task.parameter).await?;
        // An update CloudFormation would refuse is a failure (the stack cannot receive the
        // new value until its template is mended), found before anything is changed.
        if let Some(reason) = nested::refusal_reason(&body, &task.parameter, &members) {
            fail(task, reason, false);
            return Ok(false);
        }
        if let Some(reason) = nested::skip_reason(&body, &task.parameter, &members, snapshot) {
            not_done(task, reason);
            return Ok(false);
        }
        if let Some(reason) =
            super::stack_policy::reason(updater, &task.stack, &body, &task.parameter).await?
        {
            not_done(task, reason);
            return Ok(false);
        }
        // What else would phase one change? SSM-typed parameters are resolved again on
        // every update, AWS::Include and nested templates are read again: CloudFormation
        // says exactly, in a change set with the same inputs.
        if let Ok(preview_plan) =
            plan_update(snapshot, &task.parameter, Phase::Disable.token_value())
        {
            let guarded = nested::guarded(&body, &task.parameter, &members);
            let tokens = nested::token_names(&task.parameter, &members);
            let planned = updater.preview(&preview_plan).await?;
            if let Some(reason) = side_change_reason(&planned, &guarded, &tokens, snapshot) {
                not_done(task, reason);
                return Ok(false);
            }
            let first = PlannedUpdate::from_changes(format!("{}=false", task.parameter), &planned);
            let second = first.undone(format!("{}=true", task.parameter));
            task.plan = vec![first, second];
        }
        task.nested = members
            .iter()
            .filter(|m| !m.deleted_whole)
            .map(|m| ReachedStack {
                path: m.path.clone(),
                stack_id: m.stack.id.clone(),
            })
            .collect();
        task.guard_passed = true;
    }
    let plan = match plan_update(snapshot, &task.parameter, task.phase.token_value()) {
        Ok(plan) => plan,
        Err(why) => {
            not_done(task, why);
            return Ok(false);
        }
    };
    match updater.update(&plan).await? {
        UpdateStart::Started => {
            task.update_started = true;
            Ok(true)
        }
        UpdateStart::NoChange => {
            complete_phase(task);
            Ok(false)
        }
        UpdateStart::Busy(_) => Ok(true),
        // CloudFormation refused (access denied, a capability, template validation): a
        // failure the operator must see and the run's alarm must count, never a skip.
        // Nothing changed in phase one; in phase two the stack is left at `false`.
        UpdateStart::Refused(why) => {
            let critical = task.phase != Phase::Disable;
            fail(
                task,
                format!("CloudFormation refused the update: {why}"),
                critical,
            );
            Ok(false)
        }
    }
}

/// Why phase one must not run: it would change more than the guarded resources and the
/// stack has not allowed side changes.
pub fn side_change_reason(
    planned: &[PlannedChange],
    guarded: &[String],
    tokens: &[String],
    snapshot: &StackSnapshot,
) -> Option<String> {
    let side = side_changes(planned, guarded, tokens);
    (!side.is_empty() && !snapshot.allows_side_changes()).then(|| {
        format!(
            "phase one would also change {}; tag the stack {}=true to refresh it anyway",
            side.join("; "),
            super::model::ALLOW_SIDE_CHANGES_TAG
        )
    })
}

/// Starts the in-place update, once its checks pass; returns whether to wait. The version
/// set is the secret's `AWSCURRENT` read now from Secrets Manager, never a version the
/// input names: a task cannot pin a stack to an older value.
async fn start_in_place<U: StackUpdater + StackDirectory, S: SecretDirectory>(
    updater: &U,
    secrets: &S,
    task: &mut RefreshTask,
    snapshot: &StackSnapshot,
    class: StatusClass,
    settings: &RefreshSettings,
) -> Result<bool, AwsError> {
    if let Some(wait) = held_back(task, snapshot, class, settings.require_opt_in) {
        return Ok(wait);
    }
    let Some(secret_arn) = task.secret_arn.clone() else {
        fail(task, "in-place task names no secret".to_string(), false);
        return Ok(false);
    };
    let versions = secrets.versions(&secret_arn).await?;
    task.warning = in_place::stale_pin_warning(snapshot, &task.parameter, &versions);
    let Some(current) = versions.current().map(str::to_string) else {
        fail(
            task,
            "the secret has no version labelled AWSCURRENT".to_string(),
            false,
        );
        return Ok(false);
    };
    let plan = match plan_update(snapshot, &task.parameter, &current) {
        Ok(plan) => plan,
        Err(why) => {
            not_done(task, why);
            return Ok(false);
        }
    };
    task.version = Some(current.clone());
    if in_place::pinned_version(snapshot, &task.parameter) == Some(current.as_str()) {
        // Already pinned to the current version (a retried invocation, or a newer run).
        task.warning = None;
        complete_phase(task);
        return Ok(false);
    }
    if !task.guard_passed {
        let planned = updater.preview(&plan).await?;
        if let Some(reason) = in_place::refusal(&planned, snapshot.allows_data_loss()) {
            not_done(task, reason);
            return Ok(false);
        }
        task.plan = vec![PlannedUpdate::from_changes(
            format!("{}={current}", task.parameter),
            &planned,
        )];
        task.guard_passed = true;
    }
    match updater.update(&plan).await? {
        UpdateStart::Started => {
            task.update_started = true;
            Ok(true)
        }
        UpdateStart::NoChange => {
            task.warning = None;
            complete_phase(task);
            Ok(false)
        }
        UpdateStart::Busy(_) => Ok(true),
        UpdateStart::Refused(why) => {
            fail(
                task,
                format!("CloudFormation refused the update: {why}"),
                false,
            );
            Ok(false)
        }
    }
}

/// The in-place update is running or has ended; returns whether to wait. A failed or
/// rolled-back update leaves the stack as it was (its resources, the old version).
fn observe_in_place(task: &mut RefreshTask, snapshot: &StackSnapshot, class: StatusClass) -> bool {
    let status_detail = || format!("{}{}", snapshot.status, snapshot.reason_suffix());
    match class {
        StatusClass::InProgress => true,
        StatusClass::Updatable => {
            let actual = in_place::pinned_version(snapshot, &task.parameter).unwrap_or_default();
            if Some(actual) == task.version.as_deref() {
                task.warning = None;
                complete_phase(task);
            } else {
                let reason = format!(
                    "after the update, {} is `{actual}`, not `{}`: another update changed it",
                    task.parameter,
                    task.version.as_deref().unwrap_or_default()
                );
                fail(task, reason, false);
            }
            false
        }
        StatusClass::RolledBack | StatusClass::NeedsOperator => {
            let reason = format!(
                "in-place update to {}={} ended in {}; the stack keeps its resources and its previous version",
                task.parameter,
                task.version.as_deref().unwrap_or_default(),
                status_detail()
            );
            fail(task, reason, false);
            false
        }
    }
}

/// The changes a `false` update plans beyond what the token itself does: adding or
/// removing a resource that is not guarded, or modifying one for any cause but the token
/// (an SSM-typed parameter that moved on, a template read again), or for a cause not given.
/// `tokens` are the token parameter's names across the nested stacks it reaches; changes in
/// nested stacks are named `path/logical id`, as `guarded` names theirs.
pub fn side_changes(
    planned: &[PlannedChange],
    guarded: &[String],
    tokens: &[String],
) -> Vec<String> {
    planned
        .iter()
        .filter_map(|c| {
            let is_guarded = guarded.contains(&c.logical_id);
            let described = format!("{} ({}): {}", c.logical_id, c.resource_type, c.action);
            match c.action.as_str() {
                "Remove" | "Add" if is_guarded => None,
                "Modify" => {
                    let others: Vec<&str> = c
                        .causes
                        .iter()
                        .map(String::as_str)
                        .filter(|e| !tokens.iter().any(|t| t == e))
                        .collect();
                    if !c.causes.is_empty() && others.is_empty() {
                        return None; // an Fn::If on the token: the pattern's own effect
                    }
                    let replacement = c
                        .replacement
                        .as_deref()
                        .map(|r| format!(", Replacement {r}"))
                        .unwrap_or_default();
                    let cause = if others.is_empty() {
                        "cause not given".to_string()
                    } else {
                        format!("caused by {}", others.join(", "))
                    };
                    Some(format!("{described}{replacement}, {cause}"))
                }
                _ => Some(described),
            }
        })
        .collect()
}

/// Returns whether to wait before looking again.
fn observe_running_update(
    task: &mut RefreshTask,
    snapshot: &StackSnapshot,
    class: StatusClass,
    settings: &RefreshSettings,
    now_ms: u64,
) -> bool {
    match class {
        StatusClass::InProgress => true,
        StatusClass::Updatable => {
            let expected = task.phase.token_value();
            let actual = snapshot
                .parameter(&task.parameter)
                .and_then(|p| p.value.clone())
                .unwrap_or_default();
            if actual == expected {
                complete_phase(task);
            } else if task.phase == Phase::Disable && actual == "true" {
                // Another execution (a second secret changing) set `true` after our
                // `false` finished: its recreation started after our secret changed, so the
                // guarded resources have re-read it. Done, without deleting them again.
                tracing::info!("another execution completed phase two after our phase one");
                complete_phase(task);
                complete_phase(task);
            } else {
                // Another execution's `false` followed our `true`: set `true` again (it
                // waits while that execution's update runs, or finds nothing to change).
                // Only phase two is ever re-run, so two executions converge on `true`.
                tracing::info!(phase = expected, found = %actual, "another update changed the token after ours; running the phase again");
                task.update_started = false;
            }
            false
        }
        StatusClass::RolledBack if task.phase == Phase::Enable => {
            task.enable_failures += 1;
            let reason = format!(
                "update to true ended in {}{} (attempt {} of {ENABLE_ATTEMPTS})",
                snapshot.status,
                snapshot.reason_suffix(),
                task.enable_failures
            );
            if task.enable_failures < ENABLE_ATTEMPTS {
                tracing::warn!(%reason, "phase two rolled back; retrying with backoff");
                task.update_started = false;
                task.retry_at_ms = Some(now_ms + enable_backoff_ms(settings, task.enable_failures));
                task.reason = Some(reason);
                return true;
            }
            fail(task, reason, true);
            false
        }
        StatusClass::RolledBack | StatusClass::NeedsOperator => {
            let critical = task.phase == Phase::Enable || class == StatusClass::NeedsOperator;
            let reason = format!(
                "update to {} ended in {}{}",
                task.phase.token_value(),
                snapshot.status,
                snapshot.reason_suffix()
            );
            fail(task, reason, critical);
            false
        }
    }
}

/// Adds to the reason of a stack our update rolled back what each failed resource's event
/// says (the stack's own reason names only the resources) and, when a secret value lacked a
/// JSON key the stack reads, which keys of which secret its template reads. Best effort: an
/// explanation that cannot be read never fails the refresh.
async fn explain_rollback<U: StackUpdater + StackDirectory + Sync>(
    updater: &U,
    task: &RefreshTask,
    snapshot: &mut StackSnapshot,
) {
    let failures = match updater.failed_resources(&task.stack).await {
        Ok(f) => f,
        Err(e) => {
            tracing::warn!(error = %e, "could not read why the update rolled back");
            return;
        }
    };
    let secret = task
        .secret_arn
        .as_deref()
        .and_then(|arn| SecretRef::from_arn(arn, None).ok());
    let keys = match &secret {
        Some(s)
            if failures
                .iter()
                .any(|f| f.reason.contains(rollback::JSON_KEY_MISSING)) =>
        {
            match updater.template_body(&task.stack).await {
                Ok(template) => rollback::json_keys_read(&template, &s.as_seen_from(&task.stack)),
                Err(e) => {
                    tracing::warn!(error = %e, "could not read the template for the keys it reads");
                    Vec::new()
                }
            }
        }
        _ => Vec::new(),
    };
    if let Some(text) = rollback::explain(&failures, secret.as_ref(), &keys) {
        snapshot.status_reason = Some(match snapshot.status_reason.take() {
            Some(r) if !r.trim().is_empty() => format!("{} {text}", r.trim_end()),
            _ => text,
        });
    }
}

/// The cleanup failures among an update's failed resources: each lives on outside the stack.
fn orphans(failed: Vec<FailedResource>) -> impl Iterator<Item = FailedResource> {
    failed.into_iter().filter(|f| f.status == "DELETE_FAILED")
}

fn complete_phase(task: &mut RefreshTask) {
    task.update_started = false;
    task.retry_at_ms = None;
    if task.mode == RefreshMode::InPlace {
        task.phase = Phase::Done;
        task.outcome = Outcome::Refreshed;
        return;
    }
    match task.phase {
        Phase::Disable => task.phase = Phase::Enable,
        Phase::Enable | Phase::Done if !task.orphaned.is_empty() => {
            task.phase = Phase::Done;
            let reason = format!(
                "phase one could not delete {}; CloudFormation completed the update and left it outside the stack, still holding the old value: delete it by hand (the stack itself is back at true)",
                task.orphaned.join("; ")
            );
            fail(task, reason, false);
        }
        Phase::Enable | Phase::Done => {
            task.phase = Phase::Done;
            task.outcome = Outcome::Refreshed;
            // Phase-two attempts that rolled back before one succeeded: said, not hidden.
            task.reason = (task.enable_failures > 0).then(|| {
                format!(
                    "refreshed after {} rolled-back phase-two attempt(s); last: {}",
                    task.enable_failures,
                    task.reason.take().unwrap_or_default()
                )
            });
        }
    }
}

/// Nothing was changed in phase one: skipped. After phase one it is a failure, and critical.
fn not_done(task: &mut RefreshTask, reason: String) {
    if task.phase == Phase::Disable {
        task.outcome = Outcome::Skipped;
        task.reason = Some(reason);
    } else {
        fail(task, reason, true);
    }
}

fn fail(task: &mut RefreshTask, reason: String, critical: bool) {
    // In-place mode deletes nothing: a stack can never be left without its resources.
    let critical = critical && task.mode == RefreshMode::TwoPhase;
    task.outcome = Outcome::Failed;
    task.critical = critical;
    task.reason = Some(if critical {
        format!(
            "{reason}. CRITICAL: restore with `{}`",
            restore_command(&task.stack, &task.parameter, &task.other_parameters)
        )
    } else {
        reason
    });
}

/// Error names the refresh function raises before it has changed anything: bad input
/// (refused before any AWS call) and an AWS call that failed before any update started.
pub const ERRORS_BEFORE_ANY_CHANGE: [&str; 2] =
    ["RotateToken.InvalidInput", "RotateToken.AwsError"];

/// The stack's final row when the refresh function failed for good (`error`, recorded by
/// the state machine's Catch) or its child execution ended without an output (timed out,
/// aborted). CRITICAL unless the failure is known to have come before any change: an
/// update may have set the token to `false`, and a stack must never be left silently
/// without its guarded resources.
pub fn after_function_failure(mut task: RefreshTask, error: &str, cause: &str) -> RefreshTask {
    let before_any_change = ERRORS_BEFORE_ANY_CHANGE.contains(&error)
        && task.phase == Phase::Disable
        && !task.update_started;
    let in_place = task.mode == RefreshMode::InPlace;
    let mut cause = cause.trim().to_string();
    if cause.len() > 600 {
        let mut end = 600;
        while !cause.is_char_boundary(end) {
            end -= 1;
        }
        cause.truncate(end);
        cause.push('…');
    }
    let reason = if before_any_change {
        format!("refresh function failed before changing the stack: {error}: {cause}")
    } else if in_place {
        format!(
            "refresh function failed during the in-place update ({error}: {cause}); check the stack's {} and status",
            task.parameter
        )
    } else {
        format!(
            "refresh function failed in phase {} ({error}: {cause}); the stack may have been left at {}=false",
            task.phase.token_value(),
            task.parameter
        )
    };
    fail(&mut task, reason, !before_any_change);
    task
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::{FakeClock, FakeStack, NoSecrets, TABLE_TEMPLATE};
    use std::sync::atomic::AtomicU64;

    fn reach<'a, U>(updater: &'a U, clock: &'a FakeClock) -> Reach<'a, U, NoSecrets, FakeClock> {
        Reach {
            updater,
            secrets: &NoSecrets,
            clock,
        }
    }

    const SETTINGS: RefreshSettings = RefreshSettings {
        poll_interval_ms: 1_000,
        max_wait_ms: 60_000,
        require_opt_in: false,
    };

    fn task(stack: &FakeStack) -> RefreshTask {
        RefreshTask::new(stack.snapshot.lock().unwrap().stack.clone(), "RotateToken")
    }

    fn run(stack: &FakeStack, task: RefreshTask, budget_ms: u64) -> RefreshTask {
        let clock = FakeClock(AtomicU64::new(1_000_000));
        let until = 1_000_000 + budget_ms;
        futures::executor::block_on(advance(reach(stack, &clock), SETTINGS, task, until)).unwrap()
    }

    /// When a refresh that looks at `next_look_ms` intervals notices an update that took
    /// `update_ms`.
    fn noticed_after(settings: &RefreshSettings, update_ms: u64) -> u64 {
        let mut age = 0;
        while age < update_ms {
            age += next_look_ms(settings, age);
        }
        age - update_ms
    }

    #[test]
    fn an_update_is_noticed_within_a_tenth_of_its_time_or_the_shortest_look() {
        let settings = RefreshSettings {
            poll_interval_ms: 15_000,
            ..SETTINGS
        };
        for update_ms in (1_000..3_600_000).step_by(997) {
            let late = noticed_after(&settings, update_ms);
            let bound = (update_ms / 10).clamp(SHORTEST_LOOK_MS, settings.poll_interval_ms);
            assert!(
                late <= bound,
                "an update of {update_ms} ms noticed {late} ms late"
            );
        }
    }

    #[test]
    fn looks_are_never_closer_than_the_shortest_nor_further_apart_than_the_poll_interval() {
        let settings = RefreshSettings {
            poll_interval_ms: 15_000,
            ..SETTINGS
        };
        assert_eq!(next_look_ms(&settings, 0), SHORTEST_LOOK_MS);
        assert_eq!(next_look_ms(&settings, 60_000), 6_000);
        assert_eq!(next_look_ms(&settings, 3_600_000), 15_000);
        // A poll interval below the shortest look is honoured (the emulator suites poll fast).
        let fast = RefreshSettings {
            poll_interval_ms: 200,
            ..SETTINGS
        };
        assert_eq!(next_look_ms(&fast, 3_600_000), 200);
        // Long updates: no more looks than the poll interval allows, plus the ramp.
        let mut looks = 0;
        let mut age = 0;
        while age < 3_600_000 {
            age += next_look_ms(&settings, age);
            looks += 1;
        }
        assert!(looks < 3_600_000 / 15_000 + 40, "{looks} looks in an hour");
    }

    #[test]
    fn both_phases_run_in_order() {
        let stack = FakeStack::new("UPDATE_COMPLETE", "true");
        let t = run(&stack, task(&stack), 600_000);
        assert_eq!(t.outcome, Outcome::Refreshed);
        assert_eq!(*stack.updates.lock().unwrap(), vec!["false", "true"]);
        assert_eq!(stack.token(), "true");
        assert!(!t.critical);
    }

    #[test]
    fn a_stack_found_at_false_ends_at_true() {
        let stack = FakeStack::new("UPDATE_COMPLETE", "false");
        let t = run(&stack, task(&stack), 600_000);
        assert_eq!(t.outcome, Outcome::Refreshed);
        assert_eq!(*stack.updates.lock().unwrap(), vec!["false", "true"]);
        assert_eq!(stack.token(), "true");
    }

    #[test]
    fn a_short_budget_hands_back_waiting_and_resumes() {
        let stack = FakeStack::new("UPDATE_COMPLETE", "true");
        let t = run(&stack, task(&stack), 1_500);
        assert_eq!(t.outcome, Outcome::Waiting);
        assert!(t.update_started);
        let mut t = t;
        for _ in 0..10 {
            if t.outcome != Outcome::Waiting {
                break;
            }
            t = run(&stack, t, 1_500);
        }
        assert_eq!(t.outcome, Outcome::Refreshed);
        assert!(t.invocations > 2);
    }

    #[test]
    fn a_busy_stack_is_waited_for() {
        let stack = FakeStack::new("UPDATE_COMPLETE", "true");
        *stack.busy_refusals.lock().unwrap() = 2;
        let t = run(&stack, task(&stack), 600_000);
        assert_eq!(t.outcome, Outcome::Refreshed);
    }

    #[test]
    fn phase_one_rollback_fails_without_phase_two() {
        let mut stack = FakeStack::new("UPDATE_COMPLETE", "true");
        stack.fail_value = Some(("false", "UPDATE_ROLLBACK_COMPLETE"));
        let t = run(&stack, task(&stack), 600_000);
        assert_eq!(t.outcome, Outcome::Failed);
        assert_eq!(t.phase, Phase::Disable);
        assert!(!t.critical);
        assert_eq!(*stack.updates.lock().unwrap(), vec!["false"]);
    }

    #[test]
    fn phase_two_failure_is_critical_with_a_restore_command() {
        let mut stack = FakeStack::new("UPDATE_COMPLETE", "true");
        stack.fail_value = Some(("true", "UPDATE_ROLLBACK_COMPLETE"));
        let t = run(&stack, task(&stack), 600_000);
        assert_eq!(t.outcome, Outcome::Failed);
        assert_eq!(t.phase, Phase::Enable);
        assert!(t.critical);
        let reason = t.reason.unwrap();
        assert!(
            reason.contains("aws cloudformation update-stack"),
            "{reason}"
        );
        assert!(reason.contains("attempt 3 of 3"), "{reason}");
        assert_eq!(
            *stack.updates.lock().unwrap(),
            vec!["false", "true", "true", "true"],
            "phase two retried, phase one not"
        );
    }

    #[test]
    fn a_phase_two_rollback_is_retried_with_backoff_and_can_heal() {
        let mut stack = FakeStack::new("UPDATE_COMPLETE", "true");
        stack.fail_value = Some(("true", "UPDATE_ROLLBACK_COMPLETE"));
        *stack.fails_left.lock().unwrap() = 1;
        let clock = FakeClock(AtomicU64::new(1_000_000));
        let t = futures::executor::block_on(advance(
            reach(&stack, &clock),
            SETTINGS,
            task(&stack),
            1_600_000,
        ))
        .unwrap();
        assert_eq!(t.outcome, Outcome::Refreshed, "{t:?}");
        assert!(!t.critical);
        let reason = t.reason.unwrap();
        assert!(
            reason.starts_with("refreshed after 1 rolled-back phase-two attempt(s)"),
            "the healed failure is reported: {reason}"
        );
        assert_eq!(
            *stack.updates.lock().unwrap(),
            vec!["false", "true", "true"]
        );
        // 2 polls per update, 3 updates, plus a backoff of at least 2 poll intervals.
        assert!(clock.now_ms() - 1_000_000 >= 2 * SETTINGS.poll_interval_ms + 6_000);
    }

    #[test]
    fn another_executions_phase_two_after_our_phase_one_completes_the_refresh() {
        // Our `false` completes, then another execution's `true` lands before we look.
        let stack = FakeStack::new("UPDATE_COMPLETE", "true");
        *stack.overtaken_once.lock().unwrap() = Some("true");
        let t = run(&stack, task(&stack), 600_000);
        assert_eq!(t.outcome, Outcome::Refreshed, "{t:?}");
        assert!(!t.critical);
        assert_eq!(*stack.updates.lock().unwrap(), vec!["false"]);
        assert_eq!(stack.token(), "true");
    }

    #[test]
    fn another_executions_phase_one_after_our_phase_two_is_followed_by_true_again() {
        // Our `false` and `true` complete, but another execution's `false` lands in between.
        let stack = FakeStack::new("UPDATE_COMPLETE", "true");
        let mut t = run(&stack, task(&stack), 3_500); // our `false` is done, `true` started
        assert_eq!(t.phase, Phase::Enable, "{t:?}");
        *stack.overtaken_once.lock().unwrap() = Some("false");
        t = run(&stack, t, 600_000);
        assert_eq!(t.outcome, Outcome::Refreshed, "{t:?}");
        assert_eq!(
            *stack.updates.lock().unwrap(),
            vec!["false", "true", "true"]
        );
        assert_eq!(stack.token(), "true");
    }

    #[test]
    fn an_unsafe_template_is_skipped_right_before_phase_one() {
        let mut stack = FakeStack::new("UPDATE_COMPLETE", "true");
        stack.template = TABLE_TEMPLATE;
        let t = run(&stack, task(&stack), 600_000);
        assert_eq!(t.outcome, Outcome::Skipped, "{t:?}");
        assert!(t.reason.unwrap().contains("Orders (AWS::DynamoDB::Table)"));
        assert!(stack.updates.lock().unwrap().is_empty(), "nothing deleted");

        // Opted in: refreshed.
        let mut stack = FakeStack::new("UPDATE_COMPLETE", "true");
        stack.template = TABLE_TEMPLATE;
        stack.snapshot.lock().unwrap().tags =
            vec![("rotatetoken:allow-data-loss".into(), "true".into())];
        assert_eq!(
            run(&stack, task(&stack), 600_000).outcome,
            Outcome::Refreshed
        );

        // Already at `false` (a run died between phases): nothing left to lose, restored.
        let mut stack = FakeStack::new("UPDATE_COMPLETE", "false");
        stack.template = TABLE_TEMPLATE;
        let t = run(&stack, task(&stack), 600_000);
        assert_eq!(t.outcome, Outcome::Refreshed);
        assert_eq!(*stack.updates.lock().unwrap(), vec!["false", "true"]);
    }

    #[test]
    fn operator_states_are_skipped_before_any_change() {
        let stack = FakeStack::new("UPDATE_ROLLBACK_FAILED", "true");
        let t = run(&stack, task(&stack), 600_000);
        assert_eq!(t.outcome, Outcome::Skipped);
        assert!(stack.updates.lock().unwrap().is_empty());
    }

    #[test]
    fn waiting_is_bounded() {
        let mut stack = FakeStack::new("UPDATE_COMPLETE", "true");
        stack.update_polls = u32::MAX;
        let mut t = task(&stack);
        t.deadline_ms = Some(1_000_000 + 5_000);
        let t = run(&stack, t, 600_000);
        assert_eq!(t.outcome, Outcome::Failed);
        assert!(
            t.critical,
            "a false update still running may strand the stack"
        );
        assert!(t.reason.unwrap().contains("gave up"));
    }

    #[test]
    fn an_update_cloudformation_refuses_is_a_failure_not_a_skip() {
        let mut stack = FakeStack::new("UPDATE_COMPLETE", "true");
        stack.refuse = Some((
            "false",
            "InsufficientCapabilitiesException: Requires capabilities : [CAPABILITY_AUTO_EXPAND]",
        ));
        let t = run(&stack, task(&stack), 600_000);
        assert_eq!(t.outcome, Outcome::Failed, "{t:?}");
        assert!(!t.critical, "nothing was changed");
        assert!(t.reason.unwrap().contains("CAPABILITY_AUTO_EXPAND"));

        // Refused in phase two: the stack is at `false`, CRITICAL.
        let mut stack = FakeStack::new("UPDATE_COMPLETE", "false");
        stack.refuse = Some((
            "true",
            "AccessDenied: not authorized to perform: iam:PassRole",
        ));
        let mut t = task(&stack);
        t.phase = Phase::Enable;
        let t = run(&stack, t, 600_000);
        assert_eq!(t.outcome, Outcome::Failed);
        assert!(t.critical);
    }

    #[test]
    fn a_function_failure_is_critical_unless_nothing_was_changed() {
        let stack = FakeStack::new("UPDATE_COMPLETE", "true");
        let mut fresh = task(&stack);
        fresh.other_parameters = vec!["Env".into()];
        let t = after_function_failure(fresh.clone(), "RotateToken.InvalidInput", "bad");
        assert_eq!((t.outcome, t.critical), (Outcome::Failed, false));
        let t = after_function_failure(fresh.clone(), "RotateToken.AwsError", "AccessDenied");
        assert_eq!((t.outcome, t.critical), (Outcome::Failed, false));
        // The failed call may itself have started phase one.
        for error in [
            "RotateToken.AwsErrorAfterChange",
            "Sandbox.Timedout",
            "States.Timeout",
        ] {
            let t = after_function_failure(fresh.clone(), error, "");
            assert!(t.critical, "{error}");
            assert!(t.reason.unwrap().contains("UsePreviousValue=true"));
        }
        let mut started = fresh;
        started.update_started = true;
        assert!(after_function_failure(started, "RotateToken.AwsError", "").critical);
    }

    #[test]
    fn an_aws_failure_after_an_update_started_says_so() {
        // DescribeStacks throttled for good after phase one began.
        let mut flaky = FakeStack::new("UPDATE_COMPLETE", "true");
        flaky.describe_fails_after = Some(1);
        let clock = FakeClock(AtomicU64::new(1_000_000));
        let t = task(&flaky);
        let err =
            futures::executor::block_on(advance(reach(&flaky, &clock), SETTINGS, t, 2_000_000))
                .unwrap_err();
        assert!(err.changed, "phase one was started before the failed call");
    }

    #[test]
    fn a_stack_policy_protecting_a_guarded_resource_skips_the_stack_before_phase_one() {
        let mut stack = FakeStack::new("UPDATE_COMPLETE", "true");
        stack.policy = Some(
            r#"{"Statement":[{"Effect":"Allow","Action":"Update:*","Principal":"*","Resource":"*"},{"Effect":"Deny","Action":"Update:Delete","Principal":"*","Resource":"LogicalResourceId/Reader"}]}"#,
        );
        let t = run(&stack, task(&stack), 600_000);
        assert_eq!(t.outcome, Outcome::Skipped, "{t:?}");
        assert!(t.reason.unwrap().contains("Reader (AWS::SSM::Parameter)"));
        assert!(stack.updates.lock().unwrap().is_empty());
    }

    fn change(action: &str, id: &str, causes: &[&str]) -> PlannedChange {
        PlannedChange {
            action: action.into(),
            logical_id: id.into(),
            resource_type: "AWS::EC2::Instance".into(),
            replacement: (action == "Modify").then(|| "Conditional".into()),
            recreates: vec![],
            causes: causes.iter().map(|c| c.to_string()).collect(),
        }
    }

    #[test]
    fn only_changes_beyond_the_tokens_own_are_side_changes() {
        let guarded = vec!["Reader".to_string()];
        let planned = vec![
            change("Remove", "Reader", &[]),
            change("Modify", "Switch", &["RotateToken"]),
            change("Modify", "Server", &["AmiId"]),
            change("Modify", "Mystery", &[]),
            change("Remove", "Cache", &[]),
        ];
        let side = side_changes(&planned, &guarded, &["RotateToken".to_string()]);
        assert_eq!(
            side,
            vec![
                "Server (AWS::EC2::Instance): Modify, Replacement Conditional, caused by AmiId",
                "Mystery (AWS::EC2::Instance): Modify, Replacement Conditional, cause not given",
                "Cache (AWS::EC2::Instance): Remove",
            ]
        );
    }

    #[test]
    fn a_stack_whose_phase_one_would_change_more_is_skipped_unless_it_opts_in() {
        let mut stack = FakeStack::new("UPDATE_COMPLETE", "true");
        stack.planned = vec![
            change("Remove", "Reader", &[]),
            change("Modify", "Server", &["AmiId"]),
        ];
        let t = run(&stack, task(&stack), 600_000);
        assert_eq!(t.outcome, Outcome::Skipped, "{t:?}");
        assert!(t
            .reason
            .unwrap()
            .contains("Server (AWS::EC2::Instance): Modify"));
        assert!(stack.updates.lock().unwrap().is_empty());
        stack.snapshot.lock().unwrap().tags = vec![(
            crate::domain::model::ALLOW_SIDE_CHANGES_TAG.into(),
            "true".into(),
        )];
        assert_eq!(
            run(&stack, task(&stack), 600_000).outcome,
            Outcome::Refreshed
        );
    }

    #[test]
    fn a_cleanup_failure_is_reported_failed_never_refreshed() {
        let mut stack = FakeStack::new("UPDATE_COMPLETE", "true");
        stack.cleanup_failure = Some("DatabasePassword");
        let t = run(&stack, task(&stack), 600_000);
        assert_eq!(t.outcome, Outcome::Failed, "{t:?}");
        assert!(!t.critical, "phase two brought the stack back");
        assert_eq!(*stack.updates.lock().unwrap(), vec!["false", "true"]);
        let reason = t.reason.unwrap();
        assert!(
            reason.contains("DatabasePassword (DatabasePassword-physical)"),
            "{reason}"
        );
    }

    #[test]
    fn rollback_trigger_monitoring_time_is_added_to_the_wait_budget() {
        let stack = FakeStack::new("UPDATE_COMPLETE", "true");
        stack.snapshot.lock().unwrap().rollback_monitoring_minutes = 30;
        let t = run(&stack, task(&stack), 1_500);
        assert_eq!(
            t.deadline_ms,
            Some(t.started_ms.unwrap() + SETTINGS.max_wait_ms + 2 * 30 * 60_000)
        );
    }

    #[test]
    fn plan_keeps_every_other_parameter() {
        let stack = FakeStack::new("UPDATE_COMPLETE", "true");
        let snap = stack.snapshot.lock().unwrap().clone();
        let plan = plan_update(&snap, "RotateToken", "false").unwrap();
        assert_eq!(
            plan.parameters,
            vec![
                ("Env".to_string(), ParameterValue::UsePrevious),
                (
                    "RotateToken".to_string(),
                    ParameterValue::Value("false".into())
                ),
            ]
        );
        assert!(plan_update(&snap, "Other", "false").is_err());
    }
}
