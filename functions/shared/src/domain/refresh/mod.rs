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
use super::model::{Outcome, Phase, PlannedUpdate, ReachedStack, RefreshTask, StackSnapshot};
pub use super::model::{ParameterValue, UpdatePlan};
use super::nested;
use super::planning::{plan_update, side_change_reason};
use super::selection::{classify_status, StatusClass};
pub use super::service_role::StacksWithoutServiceRole;

mod in_place_start;
pub mod operations;
pub mod preview;
mod start;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_budget;
#[cfg(test)]
mod tests_preview;
#[cfg(test)]
mod tests_service_role;
mod verdict;

use crate::ports::{
    AwsError, Clock, ResourceBudget, SecretDirectory, StackDirectory, StackUpdater, UpdateStart,
};
pub use operations::recall;
use operations::{in_place_token, phase_one_token, phase_two_token, running_token};
pub use verdict::{after_function_failure, restore_command, ERRORS_BEFORE_ANY_CHANGE};
use verdict::{explain_rollback, fail, held_back, not_done, orphans};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshSettings {
    /// The longest time between two DescribeStacks calls while an update runs (shorter
    /// while the update is young: [`next_look_ms`]).
    pub poll_interval_ms: u64,
    /// Longest a whole refresh (both phases) may wait before it is reported failed.
    pub max_wait_ms: u64,
    /// Only stacks tagged `rotatetoken:opt-in=true` may be updated (`RequireOptInTag`).
    pub require_opt_in: bool,
    /// Stacks the pipeline may update without a service role (`StacksWithoutServiceRole`).
    pub without_service_role: StacksWithoutServiceRole,
    /// Hand the task back as soon as the stack must be waited for, with a [`StackWait`]
    /// the state machine waits on (the stack's end event, or `poll_interval_ms` when the
    /// event is lost: [`super::waiting`]), instead of polling inside the invocation. On
    /// in the deployed pipeline (`WAIT_FOR_STATUS_EVENTS`); off where no state machine
    /// calls again (a test driving the function in process).
    ///
    /// [`StackWait`]: super::model::StackWait
    pub wait_for_events: bool,
    /// Stacks of a run in flight at once in one account and region (`MaxConcurrency`;
    /// [`super::lanes`]). 0: no lanes (no run files: a local invoke, an in-process test).
    pub lane_places: u32,
}

/// Phase-two updates tried before the stack is declared CRITICAL: a `true` update that
/// rolls back (a throttled resource API, a transient dependency) often succeeds again.
pub const ENABLE_ATTEMPTS: u32 = 3;

/// Pause before phase-two attempt `n + 1` (after `n` failures): 2, 4, 8... poll intervals,
/// counted in intervals of at most a minute: a longer `PollIntervalSeconds` bounds what a
/// lost event costs, and must not keep a stack at `false` longer between its attempts.
fn enable_backoff_ms(settings: &RefreshSettings, failures: u32) -> u64 {
    settings.poll_interval_ms.clamp(1_000, BACKOFF_UNIT_MS) * (1u64 << failures.min(6))
}

/// The longest unit of the phase-two backoff ([`enable_backoff_ms`]).
const BACKOFF_UNIT_MS: u64 = 60_000;

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

/// Whether a look is past its own time to act (`until_ms`: its step's time-out less a
/// margin, `service::look`; none for a bare task, whose invocation is its step), checked
/// right before each call that begins something (an update, a change set). Past it, its step may have timed out and
/// the look after it begun (the state's Catch, handed the same input): that look alone
/// acts, from what the stack says then. A look that stalled (its reads throttled and
/// retried past the time-out) acting anyway could begin phase one after the refresh
/// ended, undoing it unseen, wherever CloudFormation no longer refused its request token
/// (the API reference says a used token is refused, not for how long). So a late look
/// changes nothing and hands its task back with a short pause (`true`), as a look that
/// must wait does; if its step still waits, the next look acts.
pub(super) fn past_its_time(task: &mut RefreshTask, now_ms: u64, until_ms: u64) -> bool {
    if now_ms < until_ms {
        return false;
    }
    tracing::warn!(stack = %task.stack.id, "past this look's time: it begins nothing and hands its task back");
    task.wait = Some(super::waiting::pause(now_ms, 1_000));
    true
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
/// mode), the clock, and its lane's share of the account-region's concurrent resources.
pub struct Reach<'a, U, S, C, B> {
    pub updater: &'a U,
    pub secrets: &'a S,
    pub clock: &'a C,
    pub budget: &'a B,
}

/// Works on one stack until it is finished or `budget_until_ms` is near.
pub async fn advance<U, S, C, B>(
    reach: Reach<'_, U, S, C, B>,
    settings: RefreshSettings,
    task: RefreshTask,
    budget_until_ms: u64,
) -> Result<RefreshTask, Interrupted>
where
    U: StackUpdater + StackDirectory + Sync,
    S: SecretDirectory + Sync,
    C: Clock + Sync,
    B: ResourceBudget + Sync,
{
    advance_acting_until(reach, settings, task, budget_until_ms, u64::MAX).await
}

/// [`advance`] by a look that begins nothing from `act_until_ms` on ([`past_its_time`]):
/// a look of the deployed pipeline, whose step can time out while it works.
pub async fn advance_acting_until<U, S, C, B>(
    reach: Reach<'_, U, S, C, B>,
    settings: RefreshSettings,
    mut task: RefreshTask,
    budget_until_ms: u64,
    act_until_ms: u64,
) -> Result<RefreshTask, Interrupted>
where
    U: StackUpdater + StackDirectory + Sync,
    S: SecretDirectory + Sync,
    C: Clock + Sync,
    B: ResourceBudget + Sync,
{
    if let Err(error) = recall(
        reach.updater,
        &mut task,
        reach.clock.now_ms(),
        settings.max_wait_ms,
    )
    .await
    {
        // Unknown whether our phase one began: said as a change may have been made.
        return Err(Interrupted {
            error,
            changed: task.mode.is_two_phase(),
        });
    }
    match work(&reach, settings, &mut task, budget_until_ms, act_until_ms).await {
        Ok(()) => Ok(task),
        Err(error) => {
            // A preview begun and not read: deleted (the retried look begins another), so
            // that none is left behind if the retries run out.
            if let (Some(_), Some(name)) = (task.preview_since_ms, preview::name(&task)) {
                reach.updater.drop_preview(&task.stack, &name).await;
            }
            Err(Interrupted {
                error,
                changed: task.phase != Phase::Disable || task.update_started,
            })
        }
    }
}

async fn work<U, S, C, B>(
    reach: &Reach<'_, U, S, C, B>,
    settings: RefreshSettings,
    task: &mut RefreshTask,
    budget_until_ms: u64,
    act_until_ms: u64,
) -> Result<(), AwsError>
where
    U: StackUpdater + StackDirectory + Sync,
    S: SecretDirectory + Sync,
    C: Clock + Sync,
    B: ResourceBudget + Sync,
{
    let (updater, clock) = (reach.updater, reach.clock);
    task.invocations += 1;
    task.wait = None; // each invocation says anew how to wait, if it must
    task.started_ms.get_or_insert(clock.now_ms());
    let deadline = *task
        .deadline_ms
        .get_or_insert(clock.now_ms() + settings.max_wait_ms);
    // The deployed pipeline's first look at a stack whose refresh has not begun (its events
    // say so: `recall`) begins phase one's preview before it reads anything else, and
    // pauses; the look after reads it, with every check (`preview`).
    // Its first look only: a stack woken from a wait for its lane's resources after its
    // checks has a snapshot to make the preview from (`start`).
    if settings.wait_for_events
        && task.invocations == 1
        && task.mode.is_two_phase()
        && task.phase == Phase::Disable
        && !task.update_started
        && task.preview_since_ms.is_none()
        && clock.now_ms() < deadline
        && preview::begin_ahead(updater, clock, task, act_until_ms).await
    {
        return Ok(());
    }
    // The stack as this invocation's last look saw it, when that look changed nothing and
    // the next one follows at once (our `false` found complete, phase two next): described
    // again, it would only say the same a few ms later. UpdateStack itself still refuses a
    // stack that someone else began to update meanwhile.
    // Or as this look described it with its first reads, at once with the stack's events
    // (look two: a preview begun, nothing else): only while the events say nothing of ours
    // has begun, so that no update of ours is judged on a snapshot older than its events.
    let mut seen: Option<StackSnapshot> = task
        .described
        .take()
        .filter(|_| !task.update_started && task.phase == Phase::Disable);
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
        let described = match seen.take() {
            Some(snapshot) => Some(snapshot),
            None => updater.describe(&task.stack).await?,
        };
        let Some(mut snapshot) = described else {
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
        // How our own update ended is read from the stack's events (its request token), not
        // from the stack's status now: another operation may have run since ours ended (a
        // second run's `true` that rolled back leaves UPDATE_ROLLBACK_COMPLETE at `false`
        // after our `false` completed; our `false` that rolled back may be followed by
        // someone's deploy at `true`).
        let ours = if task.mode.is_two_phase()
            && task.update_started
            && class != StatusClass::InProgress
        {
            our_update(
                updater,
                task,
                operations::horizon_ms(clock.now_ms(), settings.max_wait_ms),
            )
            .await?
        } else {
            OurUpdate::Untracked
        };
        let must_wait = if task.mode == RefreshMode::InPlace {
            if task.update_started {
                observe_in_place(task, &snapshot, class)
            } else {
                in_place_start::start_in_place(
                    reach,
                    task,
                    &snapshot,
                    class,
                    &settings,
                    act_until_ms,
                )
                .await?
            }
        } else if task.update_started {
            let phase_before = task.phase;
            let never_begun = ours == OurUpdate::NotBegun;
            let wait =
                observe_running_update(task, &snapshot, class, ours, &settings, clock.now_ms());
            if never_begun && settings.wait_for_events {
                // Believed begun, yet no event of the stack carries our update's token: it
                // has not begun. The deployed look hands it back at once, so that the next
                // look takes it as any stack not begun (the operator's stop, a place in its
                // lane) before its phase begins: a task cannot skip those by saying it
                // began. Our `false` not begun: nothing was changed.
                task.wait = Some(super::waiting::pause(clock.now_ms(), 1_000));
            }
            if phase_before == Phase::Disable && task.phase == Phase::Enable {
                // Our `false` is complete. A guarded resource CloudFormation failed to
                // delete in cleanup still ends UPDATE_COMPLETE: only the resource's events
                // say so. It lives on outside the stack holding the old value.
                // The same in the nested stacks the token updated in place: their
                // resources' events are their own, not the root's. Which stacks those are
                // is read again from the root (its template and nested stacks now), not
                // taken from the task: a task cannot choose whose events are read, nor
                // leave a child out. The root's events and template are read at once.
                let (failed, body) = futures::join!(
                    updater.failed_resources(&task.stack),
                    updater.template_body(&task.stack)
                );
                for f in orphans(failed?) {
                    task.orphaned.push(format!(
                        "{} ({}): {}",
                        f.logical_id, f.physical_id, f.reason
                    ));
                }
                let body = body?;
                if body.contains(super::model::NESTED_STACK_TYPE) {
                    let members =
                        nested::reached(updater, &task.stack, &body, &task.parameter).await?;
                    for reached in members.into_iter().filter(|m| !m.deleted_whole) {
                        for f in orphans(updater.failed_resources(&reached.stack).await?) {
                            task.orphaned.push(format!(
                                "{}/{} ({}): {}",
                                reached.path, f.logical_id, f.physical_id, f.reason
                            ));
                        }
                    }
                }
            }
            wait
        } else if task.retry_at_ms.is_some_and(|at| clock.now_ms() < at) {
            true // backing off before another phase-two attempt
        } else {
            start::start_phase(reach, &settings, task, &snapshot, class, act_until_ms).await?
        };
        if task.phase == Phase::Enable && task.enable_started_ms.is_none() {
            task.enable_started_ms = Some(clock.now_ms());
        }
        task.update_since_ms = match (task.update_started, task.update_since_ms) {
            (true, since) => Some(since.unwrap_or(clock.now_ms())),
            (false, _) => None,
        };
        if task.wait.is_some() {
            break; // no share of the lane's resources yet: waits for a place
        }
        if must_wait && settings.wait_for_events {
            // Hand back now: no Lambda is held while CloudFormation works.
            task.wait = Some(super::waiting::wait_for(
                running_token(task),
                task.retry_at_ms,
                clock.now_ms(),
                settings.poll_interval_ms,
            ));
            break;
        }
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
        } else {
            seen = Some(snapshot);
        }
    }
    // A begun preview no look will read (the stack was skipped, failed, found at `false`,
    // or its phase one began): deleted, never left for someone to execute.
    if task.preview_since_ms.is_some()
        && !(task.outcome == Outcome::Waiting
            && task.phase == Phase::Disable
            && !task.update_started)
    {
        if let Some(name) = preview::name(task) {
            updater.drop_preview(&task.stack, &name).await;
        }
        task.preview_since_ms = None;
    }
    Ok(())
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

/// How our update of the current phase stands in the stack's events.
#[derive(Debug, Clone, PartialEq, Eq)]
enum OurUpdate {
    /// No request token (a hand-made invoke names no execution): only the stack's status.
    Untracked,
    /// No event carries our token: CloudFormation never began it.
    NotBegun,
    Running,
    Completed,
    /// Rolled back (`UPDATE_ROLLBACK_COMPLETE`) or stuck (`UPDATE_ROLLBACK_FAILED`), with
    /// the status its last event shows.
    Ended(String),
}

async fn our_update<U: StackUpdater + Sync>(
    updater: &U,
    task: &RefreshTask,
    since_ms: u64,
) -> Result<OurUpdate, AwsError> {
    let token = match task.phase {
        Phase::Disable => phase_one_token(task),
        _ => phase_two_token(task, task.enable_runs),
    };
    let Some(token) = token else {
        return Ok(OurUpdate::Untracked);
    };
    Ok(
        match updater.operation(&task.stack, &token, since_ms).await? {
            None => OurUpdate::NotBegun,
            Some(seen) if seen.status.ends_with("_IN_PROGRESS") => OurUpdate::Running,
            Some(seen) if classify_status(&seen.status) == StatusClass::Updatable => {
                OurUpdate::Completed
            }
            Some(seen) => OurUpdate::Ended(seen.status),
        },
    )
}

/// Returns whether to wait before looking again. Where our update's own events say how it
/// ended (`ours`), that decides; the stack's status now is only the fallback for a task
/// with no request token.
fn observe_running_update(
    task: &mut RefreshTask,
    snapshot: &StackSnapshot,
    class: StatusClass,
    ours: OurUpdate,
    settings: &RefreshSettings,
    now_ms: u64,
) -> bool {
    let (class, ended_in) = match ours {
        OurUpdate::Untracked => (class, snapshot.status.clone()),
        // The stack is not busy, yet our update is: its events are behind. Look again.
        OurUpdate::Running => return true,
        OurUpdate::NotBegun => {
            // Believed started (a task's word, or an update CloudFormation then lost):
            // started now, after the phase's checks.
            tracing::warn!(
                phase = task.phase.token_value(),
                "no event of the stack carries our update's token: starting it"
            );
            task.update_started = false;
            return false;
        }
        OurUpdate::Completed => (StatusClass::Updatable, "UPDATE_COMPLETE".to_string()),
        OurUpdate::Ended(status) => (classify_status(&status), status),
    };
    // The stack's reason, when its status is still our update's end.
    let reason_suffix = if snapshot.status == ended_in {
        snapshot.reason_suffix()
    } else {
        String::new()
    };
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
                // Our `false` completed (its events say so) and the stack is at `true`: an
                // update after ours set it and completed (a rolled-back one would have left
                // `false`), so the guarded resources were recreated after our secret
                // changed and have re-read it. Done, without deleting them again.
                tracing::info!("another execution completed phase two after our phase one");
                complete_phase(task);
                complete_phase(task);
            } else if task.phase == Phase::Disable {
                // Our `false` completed; another update changed the token since (a second
                // run's `true` that rolled back, a deploy): phase two brings it to `true`.
                tracing::info!(found = %actual, "phase one completed; the token changed since");
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
                "update to true ended in {ended_in}{reason_suffix} (attempt {} of {ENABLE_ATTEMPTS})",
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
            let mut reason = format!(
                "update to {} ended in {ended_in}{reason_suffix}",
                task.phase.token_value(),
            );
            if task.phase == Phase::Disable && snapshot.status != ended_in {
                reason = format!(
                    "our update to {}=false ended in {ended_in}; the stack is {} from another update since, its guarded resources as they were: not refreshed",
                    task.parameter, snapshot.status
                );
            }
            fail(task, reason, critical);
            false
        }
    }
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
