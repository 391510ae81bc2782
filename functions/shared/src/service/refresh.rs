//! Refresh's use case: one stack's task, checked against the function's own scope, advanced
//! through the domain's step machine until it is done or the invocation's budget runs out.

use serde_json::Value;
use tracing::{info, warn, Instrument};

use super::lane;
use super::scope::target_of;
use super::Scope;
use crate::domain::error::{from_step_input, required_str, InputError};
use crate::domain::in_place::RefreshMode;
use crate::domain::model::{
    Outcome, Phase, RefreshTask, RunFiles, StackProgress, StackRef, WaitKind, WaitRegistration,
};
use crate::domain::refresh::{self, RefreshSettings};
use crate::domain::targets::session_name;
use crate::domain::{utc, waiting};
use crate::handler::FunctionError;
use crate::ports::{
    AccountDirectory, Callback, Clock, LockStore, NoRunFiles, RetryTally, RunStore,
    SecretDirectory, StackUpdater, TargetAccess, TaskCallbacks, WaitBoard,
};
use crate::telemetry;

/// No run files (a local invoke): no operator stop, no progress for watchers.
pub const NO_STOPS: Option<&NoRunFiles> = None;

/// Why a stack is not refreshed after `rotate-token stop`.
pub const STOPPED_BY_OPERATOR: &str = "stopped by operator";

// The function's six ports, its settings and scope, the input and its time budget: one
// call site (functions/refresh/src/main.rs) builds it; a struct would only rename them.
#[allow(clippy::too_many_arguments)]
pub async fn refresh<R, A, O, S, C, T>(
    files: Option<&R>,
    access: &A,
    org: &O,
    secrets: &S,
    clock: &C,
    retries: &T,
    settings: RefreshSettings,
    scope: &Scope,
    input: Value,
    budget_until_ms: u64,
) -> Result<RefreshTask, FunctionError>
where
    R: RunStore + LockStore + Sync,
    A: TargetAccess + Sync,
    O: AccountDirectory + Sync,
    S: SecretDirectory + Sync,
    C: Clock + Sync,
    T: RetryTally + Sync,
{
    let out = refresh_acting_until(
        files,
        access,
        org,
        secrets,
        clock,
        retries,
        settings,
        scope,
        input,
        budget_until_ms,
        u64::MAX,
    )
    .await?;
    tell_progress(files, &out, clock.now_ms()).await;
    Ok(out)
}

/// [`refresh`] by a look that begins nothing from `act_until_ms` on (its step's time-out
/// less a margin: `domain::refresh::past_its_time`). The caller leaves the stack's progress
/// for watchers ([`tell_progress`]), at once with what it does next.
#[allow(clippy::too_many_arguments)]
async fn refresh_acting_until<R, A, O, S, C, T>(
    files: Option<&R>,
    access: &A,
    org: &O,
    secrets: &S,
    clock: &C,
    retries: &T,
    settings: RefreshSettings,
    scope: &Scope,
    input: Value,
    budget_until_ms: u64,
    act_until_ms: u64,
) -> Result<RefreshTask, FunctionError>
where
    R: RunStore + LockStore + Sync,
    A: TargetAccess + Sync,
    O: AccountDirectory + Sync,
    S: SecretDirectory + Sync,
    C: Clock + Sync,
    T: RetryTally + Sync,
{
    let task: RefreshTask = from_step_input("input", input)?;
    let parsed = StackRef::from_stack_id(&task.stack.id)
        .map_err(|e| InputError::new("input.stack.id", e.problem))?;
    if parsed.account != task.stack.account || parsed.region != task.stack.region {
        return Err(InputError::new(
            "input.stack",
            "account and region do not match the stack id",
        )
        .into());
    }
    // Inputs are not authority: the parameter this function sets and the session it acts
    // under come from its own configuration. A task that says otherwise (someone who can
    // invoke the function or write the run files) is refused before any AWS call.
    let configured = scope.parameter_for(task.mode);
    let what = match task.mode {
        RefreshMode::TwoPhase => "token",
        RefreshMode::InPlace => "version",
    };
    if task.parameter != configured {
        return Err(InputError::new(
            "input.parameter",
            format!(
                "`{}` is not this deployment's {what} parameter `{configured}`",
                task.parameter
            ),
        )
        .into());
    }
    // Every line about this stack names the execution (its full name, written into the task
    // by discover from `$$.Execution.Name`), the account, the region and the stack.
    let execution = task
        .execution
        .clone()
        .unwrap_or_else(|| "manual".to_string());
    let session = session_name(&execution);
    if let Some(given) = task.session.as_deref().filter(|g| *g != session) {
        return Err(InputError::new(
            "input.session",
            format!(
                "`{given}` is not the pipeline's session for execution `{execution}` (`{session}`)"
            ),
        )
        .into());
    }
    let span = tracing::info_span!("refresh", execution = %execution, account = %parsed.account, region = %parsed.region, stack = %parsed.name);
    let (retried_before, throttled_before) = (retries.retried_calls(), retries.throttled_calls());
    let asked = task.clone();
    let mut task = task;
    // Written by every look (never read): only the look that gives the place back says
    // whether anyone may wait for it.
    task.place_wanted = true;
    // A safe stop (`rotate-token stop`): a stack whose refresh has not begun is not begun;
    // one between phases always finishes (it must never be left at `false`). The marker
    // is read from this function's own bucket; naming another execution can only make a
    // task do less. Read ahead when the task says its refresh has not begun; whether it
    // has is decided below from the stack's events, never from the task.
    let marker = files.map(|f| RunFiles::new(f.bucket(), &execution).stop_key());
    let stop_asked = |marker: Option<String>| async move {
        match (files, marker) {
            (Some(files), Some(marker)) => files.exists(&marker).await,
            _ => Ok(false),
        }
    };
    let said_not_begun = !task.update_started && task.phase == Phase::Disable;
    // Lanes are kept in the runs bucket: without run files there are none.
    let lanes = files.filter(|_| settings.lane_places > 0);
    // The selection file, the stack's events, the stop marker and the stack's lane are read
    // at once (each a round trip to AWS; a look's time is its Lambda's). None of them
    // changes anything, and nothing is changed before all have answered, the selection
    // first. The marker is read ahead only for a task that says its refresh has not begun;
    // whether it has is decided from the stack's events, and the marker is read then if it
    // was not. The lane as read is the first attempt of each conditional write of it this
    // look makes (a place taken, renewed or given back): one that finds it changed since
    // reads it again.
    // Look two (the task says a preview was begun and nothing else) describes the stack
    // with those reads too: unless it is stopped, refused a place or past its deadline, it
    // describes it next, and reads the preview with the stack's template and policy right
    // after. The snapshot serves only where the stack's events say nothing of ours has
    // begun (as the task says); else the look describes the stack again, after its events,
    // as any look that finds an update of ours. The events page read beside it may be
    // older than the snapshot and is not marked so (`age_events` runs when a describe is
    // sent): no events are read again in a look that nothing of ours has begun before its
    // update forgets them. A look that reads them again must first know which page came
    // first (docs/performance.md, "What the targets still need").
    let describe_ahead =
        said_not_begun && task.preview_since_ms.is_some() && settings.wait_for_events;
    let stack = task.stack.clone();
    let (selected, recalled, stop_ahead, lane_ahead) = futures::join!(
        async {
            // Deployed (run files kept), the function acts only for a stack a run
            // selected: the selection file discover wrote for it in that run, which only
            // the pipeline's roles can write. A task from anyone else who can invoke the
            // function changes nothing.
            match files {
                Some(files) => selected_by_its_run(files, &asked).await,
                None => Ok(()),
            }
        },
        async {
            // Never act outside the deployment's targets, whatever the input says.
            let target = target_of(org, scope, &parsed).await?;
            let stacks = access
                .open(&target, &session)
                .instrument(span.clone())
                .await?;
            // How far our own updates got is read from the stack's events, not from the
            // input: a retried invocation whose phase one was accepted must not be taken
            // for one that has not begun (by the stop below, or by an error after this).
            let (recalled, described) = futures::join!(
                refresh::recall(&stacks, &mut task, clock.now_ms(), settings.max_wait_ms)
                    .instrument(span.clone()),
                async {
                    match describe_ahead {
                        // Not found or not read: described again by the look, as always.
                        true => stacks.describe(&stack).await.ok().flatten(),
                        false => None,
                    }
                }
            );
            recalled.map_err(|e| match task.mode.is_two_phase() {
                true => FunctionError::AwsAfterChange(e),
                false => FunctionError::Aws(e),
            })?;
            Ok::<_, FunctionError>((stacks, described))
        },
        async {
            match said_not_begun {
                true => Some(stop_asked(marker.clone()).await),
                false => None,
            }
        },
        async {
            match lanes {
                Some(files) => Some(lane::read_ahead(files, &parsed).await),
                None => None,
            }
        },
    );
    selected?;
    let (stacks, described) = recalled?;
    let not_begun = !task.update_started && task.phase == Phase::Disable;
    if let (true, Some(_)) = (not_begun, files) {
        let stopped = match stop_ahead {
            Some(read) => read?,
            None => stop_asked(marker.clone()).await?,
        };
        if stopped {
            let mut out = task;
            // Its preview, begun by the look before (or by a look whose output was lost:
            // any look may have begun it), will never be read.
            let begun = out.preview_since_ms.take().is_some() || out.invocations > 0;
            if let (true, Some(name)) = (begun, refresh::preview::name(&out)) {
                stacks.drop_preview(&out.stack, &name).await;
            }
            out.outcome = Outcome::Stopped;
            out.reason = Some(STOPPED_BY_OPERATOR.to_string());
            out.retried_calls += retries.retried_calls() - retried_before;
            if let Some(files) = lanes {
                // It may hold a place already (admitted, then waiting on someone else's
                // operation): given back, as any ended stack's.
                out.place_wanted =
                    lane::leave(files, &parsed, &execution, clock.now_ms(), lane_ahead).await;
            }
            info!(execution = %execution, stack = %out.stack.name, "stopped by operator before its refresh began");
            return Ok(out);
        }
    }
    // A place in the account-region's lane before anything of this stack's refresh begins
    // (its first check reads CloudFormation too); a stack already begun never waits for
    // one.
    if let (Some(files), true) = (lanes, not_begun) {
        let admitted = lane::enter(
            files,
            &parsed,
            &execution,
            clock.now_ms(),
            settings.lane_places,
            lane_ahead.clone(),
        )
        .instrument(span.clone())
        .await?;
        if !admitted {
            let now = clock.now_ms();
            let mut out = task;
            // The looks before (our phase one recalled from the stack's events) may
            // have been retried: counted, as every other look's.
            out.retried_calls += retries.retried_calls() - retried_before;
            // Waiting for a place counts against the refresh's whole wait budget, and
            // the stacks waiting longest are handed a place first (by when they began
            // to wait, kept across their looks as the deadline's start).
            let deadline = *out.deadline_ms.get_or_insert(now + settings.max_wait_ms);
            if now >= deadline {
                out.outcome = Outcome::Failed;
                out.reason = Some(format!(
                    "gave up after waiting {} s for a place in its account-region's lane (MaxConcurrency {}); nothing was changed",
                    settings.max_wait_ms / 1000,
                    settings.lane_places
                ));
            } else {
                out.wait = Some(crate::domain::waiting::wait_for_place(
                    now,
                    deadline,
                    settings.max_wait_ms,
                ));
            }
            return Ok(out);
        }
    }
    // A begun stack's place renewed at once with its look (one S3 round trip less a look;
    // a look's time is its Lambda's). Best effort; it and a claim made during the look are
    // both conditional writes of the lane document, so either may land first. The place
    // is given back only after both have ended (below).
    // What its updates change, from the plan its guard made: only counted again if its
    // lease ran out between two looks (a long phase-two backoff).
    let resources = task.plan.iter().map(|u| u.resources()).max().unwrap_or(1);
    let renewal = async {
        if let (Some(files), false) = (lanes, not_begun) {
            let ahead = lane_ahead.clone();
            lane::renew(
                files,
                &parsed,
                &execution,
                clock.now_ms(),
                resources.max(1),
                ahead,
            )
            .instrument(span.clone())
            .await;
        }
    };

    // Only for a look that nothing of ours has begun, as its events say (`work` checks
    // again).
    if not_begun {
        task.described = described;
    }
    let budget = lane::LaneBudget {
        lanes,
        updater: &stacks,
        clock,
        execution: &execution,
    };
    let reach = refresh::Reach {
        updater: &stacks,
        secrets,
        clock,
        budget: &budget,
    };
    let (advanced, ()) = futures::join!(
        refresh::advance_acting_until(reach, settings.clone(), task, budget_until_ms, act_until_ms)
            .instrument(span.clone()),
        renewal
    );
    let mut out = advanced.map_err(|i| match i.changed {
        true => FunctionError::AwsAfterChange(i.error),
        false => FunctionError::Aws(i.error),
    })?;
    let retried_here = retries.retried_calls() - retried_before;
    out.retried_calls += retried_here;
    if let Some(files) = lanes {
        // CloudFormation throttled this look: fewer places in this account-region until it
        // is calm. Only a throttle: a call retried after a reset connection or a 5xx says
        // nothing about the account-region's API rates (in a 1,300-stack trial, counting
        // every retry narrowed every lane to 3 places with no call throttled). A stack that
        // ended gives its place back.
        if retries.throttled_calls() > throttled_before {
            lane::throttled(files, &parsed, clock.now_ms(), settings.lane_places)
                .instrument(span.clone())
                .await;
        }
        if out.outcome != Outcome::Waiting {
            out.place_wanted = lane::leave(files, &parsed, &execution, clock.now_ms(), lane_ahead)
                .instrument(span.clone())
                .await;
        }
    } else {
        // No lanes (no run files, or no places): no step ever waits for a place.
        out.place_wanted = out.outcome == Outcome::Waiting;
    }
    let _guard = span.enter();
    match out.outcome {
        Outcome::Waiting => {
            info!(phase = out.phase.token_value(), status = ?out.status, "still updating; handing back to the state machine")
        }
        Outcome::Refreshed => {
            info!("stack refreshed");
            if let (Some(start), Some(enable)) = (out.started_ms, out.enable_started_ms) {
                let now = clock.now_ms();
                telemetry::emit_metrics(&[
                    (
                        "PhaseOneSeconds",
                        enable.saturating_sub(start) as f64 / 1000.0,
                        "Seconds",
                    ),
                    (
                        "PhaseTwoSeconds",
                        now.saturating_sub(enable) as f64 / 1000.0,
                        "Seconds",
                    ),
                ]);
            }
        }
        Outcome::Failed if out.critical => {
            tracing::error!(reason = ?out.reason, status = ?out.status, "CRITICAL: stack left without its guarded resources")
        }
        _ => {
            warn!(outcome = ?out.outcome, reason = ?out.reason, status = ?out.status, "stack not refreshed")
        }
    }
    Ok(out)
}

/// The refresh function's input, as the state machine's `Refresh` sends it: the task, the
/// step's token and when the state was entered (`$$.State.EnteredTime`). A bare task (a
/// local invoke, `cargo lambda invoke`) is answered with the next task.
///
/// The step's output is its callback's ("Invoke an AWS Lambda function with Step
/// Functions": `.waitForTaskToken`; an error the function raises fails the task, which
/// `Refresh` retries and catches as before). A look that must wait for its stack's end
/// keeps its own token for that end ([`waiting::waits_on_own_token`]; the waiter sends the
/// next task when the stack's event comes, or the state's time-out, `look_seconds`, leads
/// back to `Refresh`): no `WaitForStack` step, two state transitions a look instead of
/// three. Any other look sends its task back at once.
#[allow(clippy::too_many_arguments)]
pub async fn look<R, A, O, S, C, T, K>(
    files: Option<&R>,
    access: &A,
    org: &O,
    secrets: &S,
    clock: &C,
    retries: &T,
    tokens: &K,
    settings: RefreshSettings,
    scope: &Scope,
    input: Value,
    budget_until_ms: u64,
) -> Result<RefreshTask, FunctionError>
where
    R: RunStore + LockStore + WaitBoard + Sync,
    A: TargetAccess + Sync,
    O: AccountDirectory + Sync,
    S: SecretDirectory + Sync,
    C: Clock + Sync,
    T: RetryTally + Sync,
    K: TaskCallbacks + Sync,
{
    if input.get("task_token").is_none() {
        let (events, poll) = (settings.wait_for_events, settings.poll_interval_ms);
        let mut out = refresh(
            files,
            access,
            org,
            secrets,
            clock,
            retries,
            settings,
            scope,
            input,
            budget_until_ms,
        )
        .await?;
        out.look_seconds = waiting::look_seconds(events, poll);
        return Ok(out);
    }
    let token = required_str(&input, &["task_token"])?.to_string();
    let mut task = input.get("task").cloned().unwrap_or(Value::Null);
    // This state's time-out, as the task it was entered with says (the state read it from
    // there): the look ends its own work before it, and waits on its token only within it.
    let this_look = task
        .get("look_seconds")
        .and_then(Value::as_u64)
        .unwrap_or(waiting::FIRST_LOOK_SECONDS);
    if let Some(files) = files.filter(|_| task.get("timed_out").is_some()) {
        task = taken_up(files, task).await?;
    }
    let started_ms = clock.now_ms();
    // Never after this look began: an `entered` from the future would only lift the look's
    // time to act. Saturating: a time-out too large for milliseconds is refused by Step
    // Functions, never a panic here.
    let entered_ms = input
        .get("entered")
        .and_then(Value::as_str)
        .and_then(utc::parse_ms)
        .unwrap_or(started_ms)
        .min(started_ms);
    let act_until = entered_ms
        .saturating_add(this_look.saturating_mul(1000))
        .saturating_sub(LOOK_MARGIN_MS);
    let until = budget_until_ms.min(act_until);
    let (events, poll) = (settings.wait_for_events, settings.poll_interval_ms);
    let mut out = refresh_acting_until(
        files, access, org, secrets, clock, retries, settings, scope, task, until, act_until,
    )
    .await
    .map_err(|e| match e {
        FunctionError::Input(i) => FunctionError::Input(InputError::new(
            i.field.replacen("input", "input.task", 1),
            i.problem,
        )),
        other => other,
    })?;
    out.look_seconds = waiting::look_seconds(events, poll);
    out.timed_out = None;
    // As the domain's `Interrupted::changed`: an update of this refresh may have begun.
    let changed = out.update_started || (out.mode.is_two_phase() && out.phase != Phase::Disable);
    let after_change = |e: FunctionError| match (e, changed) {
        (FunctionError::Aws(e), true) => FunctionError::AwsAfterChange(e),
        (e, _) => e,
    };
    let now = clock.now_ms();
    if let (Some(files), Some(wait), Outcome::Waiting) = (files, out.wait.as_ref(), out.outcome) {
        if waiting::waits_on_own_token(wait, this_look, entered_ms, now) {
            let mut next = out.clone();
            next.wait = None;
            let registration = WaitRegistration {
                stack_id: out.stack.id.clone(),
                task_token: token,
                request_token: wait.request_token.clone(),
                seen_ms: wait.seen_ms,
                execution: out.execution.clone(),
                task: serde_json::to_value(&next).ok(),
            };
            // The progress at once with the registration, both before the ends already
            // recorded are read: an end already come wakes the next look only after both.
            // (An end recorded meanwhile wakes it through the waiter, three round trips and
            // a state transition later than the registration at the soonest; a progress
            // write retried past that is shown no older by `rotate-token watch`.)
            let progress = tell_progress(Some(files), &out, now);
            let kept =
                super::wait::keep_for_stack(files, tokens, registration, false, progress).await;
            let woken = kept.map_err(after_change)?.woken;
            info!(stack = %out.stack.name, woken, "waiting on its own token for the stack's end");
            return Ok(out);
        }
    }
    let output = serde_json::to_string(&out).unwrap_or_default();
    // A stack's last look writes its progress beside the callback (no look comes after
    // it to be overwritten), and so does a look that pauses (its next look comes a whole
    // second later at the soonest: a Wait state); any other first, since its next look may
    // begin at once.
    let pauses = out.wait.as_ref().map(|w| w.kind) == Some(WaitKind::Pause);
    let sent = if out.outcome == Outcome::Waiting && !pauses {
        tell_progress(files, &out, now).await;
        tokens.succeed(&token, &output).await
    } else {
        let (sent, ()) = futures::join!(
            tokens.succeed(&token, &output),
            tell_progress(files, &out, now)
        );
        sent
    };
    match sent {
        Ok(Callback::Delivered) => {}
        // The state timed out meanwhile: its Catch has begun another look, which reads
        // the stack again; this one's task is not needed.
        Ok(Callback::Gone) => {
            warn!(stack = %out.stack.name, "the step no longer waited for this look (timed out)")
        }
        Err(e) => return Err(after_change(FunctionError::Aws(e))),
    }
    Ok(out)
}

/// The task a look starts from after its step timed out (`timed_out`, the state machine's
/// Catch): Step Functions hands it the timed-out look's input, from before that look began
/// an update, judged a phase or counted a failure. What that look handed on is in the run's
/// registration for the stack ([`waiting::own_registration_key`], written only by the
/// pipeline's roles): taken up when it is that look's (same stack and run, a later look
/// than the input's). Else the input, as after any retry; either way the look reads the
/// stack before it acts.
async fn taken_up<R: WaitBoard + Sync>(files: &R, input: Value) -> Result<Value, FunctionError> {
    let given: RefreshTask = from_step_input("input.task", input.clone())?;
    let Some(execution) = given.execution.as_deref() else {
        return Ok(input);
    };
    let key = waiting::own_registration_key(&given.stack.id, execution);
    // An update of the timed-out look's may have begun: a failure here is after a change.
    let changed =
        given.update_started || (given.mode.is_two_phase() && given.phase != Phase::Disable);
    let kept = files
        .find(&key)
        .await
        .map_err(|e| match changed {
            true => FunctionError::AwsAfterChange(e),
            false => FunctionError::Aws(e),
        })?
        .and_then(|body| serde_json::from_slice::<WaitRegistration>(&body).ok())
        .and_then(|r| r.task)
        .and_then(|t| serde_json::from_value::<RefreshTask>(t).ok());
    match kept {
        Some(kept)
            if kept.stack.id == given.stack.id
                && kept.execution == given.execution
                && kept.invocations > given.invocations =>
        {
            info!(stack = %given.stack.name, "its step timed out: the look goes on from the task the timed-out look kept");
            Ok(serde_json::to_value(kept).unwrap_or(input))
        }
        _ => Ok(input),
    }
}

/// What a look leaves itself before its state's time-out: to hand its task back.
const LOOK_MARGIN_MS: u64 = 5_000;

/// The task's run selected its stack (with this parameter and mode), as the selection file
/// discover wrote says; else the task is refused, naming the field.
async fn selected_by_its_run<R: RunStore + Sync>(
    files: &R,
    task: &RefreshTask,
) -> Result<(), FunctionError> {
    let Some(execution) = task.execution.as_deref() else {
        return Err(InputError::new(
            "input.execution",
            "is missing: a deployed refresh acts only for a run that selected the stack",
        )
        .into());
    };
    let key = RunFiles::new(files.bucket(), execution).selected_key(&task.stack.id);
    let not_selected = || {
        InputError::new(
            "input.stack",
            format!(
                "`{}` was not selected by run `{execution}` (no selection file {key})",
                task.stack.id
            ),
        )
    };
    let body = match files.get(files.bucket(), &key).await {
        Err(e) if e.code.as_deref() == Some("NoSuchKey") => return Err(not_selected().into()),
        other => other?,
    };
    let selected: RefreshTask = serde_json::from_slice(&body).map_err(|_| not_selected())?;
    if selected.stack.id != task.stack.id
        || selected.parameter != task.parameter
        || selected.mode != task.mode
    {
        return Err(not_selected().into());
    }
    Ok(())
}

/// Leaves the stack's progress for `rotate-token watch` (no run files: nowhere). Best
/// effort: a progress file that cannot be written costs the watcher a live line, never the
/// stack its refresh.
async fn tell_progress<R: RunStore + Sync>(files: Option<&R>, task: &RefreshTask, at_ms: u64) {
    let Some(files) = files else {
        return;
    };
    let execution = task.execution.as_deref().unwrap_or("manual");
    let key = RunFiles::new(files.bucket(), execution).progress_key(&task.stack.id);
    let body = serde_json::to_vec(&StackProgress::of(task, at_ms)).unwrap_or_default();
    if let Err(e) = files.put(&key, body).await {
        warn!(error = %e, execution, stack = %task.stack.id, "could not write the stack's progress for watchers");
    }
}
