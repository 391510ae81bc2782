//! Beginning a phase: the checks right before anything is deleted (the data-loss guard,
//! CloudFormation's preview, the stack policy), a share of the lane's resources, then the
//! update with our request token.

use super::*;

/// Right before a refresh's first update: the resources that update changes, claimed in
/// the stack's lane ([`super::lanes::claim`]), counted from the change set the guard just
/// read from CloudFormation (never from the task: a stack whose guard did not run here
/// claims one). `false`: not now; the task is handed back to wait for a place, nothing
/// changed.
pub(super) async fn claimed<B: ResourceBudget, C: Clock>(
    budget: &B,
    clock: &C,
    settings: &RefreshSettings,
    task: &mut RefreshTask,
) -> Result<bool, AwsError> {
    let resources = match task.guard_passed {
        true => task
            .plan
            .iter()
            .map(PlannedUpdate::resources)
            .max()
            .unwrap_or(0),
        false => 0,
    };
    if budget.claim(&task.stack, resources.max(1)).await? {
        return Ok(true);
    }
    let now = clock.now_ms();
    let deadline = task.deadline_ms.unwrap_or(now + settings.max_wait_ms);
    task.wait = Some(super::super::waiting::wait_for_place(
        now,
        deadline,
        settings.max_wait_ms,
    ));
    Ok(false)
}

/// Returns whether to wait before looking again.
pub(super) async fn start_phase<U, S, C, B>(
    reach: &Reach<'_, U, S, C, B>,
    settings: &RefreshSettings,
    task: &mut RefreshTask,
    snapshot: &StackSnapshot,
    class: StatusClass,
    until_ms: u64,
) -> Result<bool, AwsError>
where
    U: StackUpdater + StackDirectory + Sync,
    S: SecretDirectory + Sync,
    C: Clock + Sync,
    B: ResourceBudget + Sync,
{
    // A preview this look read is deleted in this look, whatever follows: at once with the
    // claim where the look gets that far (one round trip less before the update; a look's
    // time is its Lambda's), else when the look is done with it (a skip, a failure, an
    // error). One that cannot be deleted is tried again here; if it still cannot, the
    // look fails unless our update began (a change set made before the stack was updated
    // is OBSOLETE and can no longer be executed: ChangeSetSummary, ExecutionStatus) or
    // CloudFormation found it had nothing to change (the same inputs: the change set
    // would change nothing either; and the phase has moved on, so a failure now would be
    // reported as after a change). The state machine retries the look with its input,
    // which says a preview was begun: the retry reads it again and deletes it. Never left
    // for someone to execute unseen.
    let mut read = None;
    let out = judge_and_start(reach, settings, task, snapshot, class, until_ms, &mut read).await;
    let Some(name) = read else {
        return out;
    };
    match (reach.updater.delete_preview(&task.stack, &name).await, out) {
        (Ok(()), out) => out,
        (Err(e), Ok(_)) if !task.update_started && task.phase == Phase::Disable => Err(e),
        (Err(e), out) => {
            tracing::warn!(stack = %task.stack.id, change_set = %name, error = %e, "the preview's change set could not be deleted");
            out
        }
    }
}

/// [`start_phase`], naming in `read_preview` a preview it read and has not deleted yet.
async fn judge_and_start<U, S, C, B>(
    reach: &Reach<'_, U, S, C, B>,
    settings: &RefreshSettings,
    task: &mut RefreshTask,
    snapshot: &StackSnapshot,
    class: StatusClass,
    until_ms: u64,
    read_preview: &mut Option<String>,
) -> Result<bool, AwsError>
where
    U: StackUpdater + StackDirectory + Sync,
    S: SecretDirectory + Sync,
    C: Clock + Sync,
    B: ResourceBudget + Sync,
{
    let updater = reach.updater;
    if let Some(wait) = held_back(
        task,
        snapshot,
        class,
        settings.require_opt_in,
        &settings.without_service_role,
    ) {
        return Ok(wait);
    }
    // The data-loss guard, on the template as it is now, right before anything is deleted
    // (discovery may have run hours earlier). A stack already at `false` has nothing left
    // to lose: bringing it back to `true` only restores it.
    // Whenever the token is not `false`: a condition such as
    // `!Not [!Equals [!Ref RotateToken, "false"]]` holds for "", "True" and "yes" as well.
    let token_not_false = snapshot
        .parameter(&task.parameter)
        .and_then(|p| p.value.as_deref())
        != Some("false");
    if task.phase == Phase::Disable && !task.guard_passed && token_not_false {
        let preview_plan = plan_update(snapshot, &task.parameter, Phase::Disable.token_value());
        // In the deployed pipeline the preview is begun first and read by a later look
        // (`preview`): no Lambda waits while CloudFormation creates the change set. Every
        // check below still runs in the look that reads it, on the stack as it is then.
        let mut previewed = preview::Previewed::InThisLook;
        // Read ahead when this look reads a preview an earlier look began (it is almost
        // always ready: the look comes after `Pause`): the template and the stack policy
        // the checks below need, at once with the preview, not one round trip after
        // another; a look's time is its Lambda's. Both are read after the update was
        // planned and before it begins, as one after another would be; a look that finds
        // the preview still pending has read them for nothing (its next look reads them
        // again).
        let mut ahead = None;
        if let (true, Ok(plan), Some(name)) = (
            settings.wait_for_events,
            preview_plan.as_ref(),
            preview::name(task),
        ) {
            let stack = task.stack.clone();
            let read = if task.preview_since_ms.is_some() {
                let (read, body, policy) = futures::join!(
                    preview::begun(updater, reach.clock, task, plan, &name, until_ms),
                    updater.template_body(&stack),
                    updater.stack_policy(&stack),
                );
                ahead = Some((body, policy));
                read
            } else {
                preview::begun(updater, reach.clock, task, plan, &name, until_ms).await
            };
            previewed = read?;
            if let preview::Previewed::Read(_) = previewed {
                *read_preview = Some(name.clone());
            }
            match previewed {
                preview::Previewed::Paused => return Ok(true),
                // The update would fail as the preview did: a failure the operator must
                // see, found before anything is changed.
                preview::Previewed::Failed(reason) => {
                    fail(task, reason, false);
                    return Ok(false);
                }
                _ => {}
            }
        }
        // The policy's answer (an error too) is taken where it was read before: after the
        // nested stacks' verdicts, which it must not pre-empt.
        let (body, policy) = match ahead {
            Some((body, policy)) => (body?, Some(policy)),
            None => (updater.template_body(&task.stack).await?, None),
        };
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
        let policy = match policy {
            Some(policy) => policy?,
            None => updater.stack_policy(&task.stack).await?,
        };
        if let Some(reason) =
            super::super::stack_policy::reason_of(policy.as_deref(), &body, &task.parameter)
        {
            not_done(task, reason);
            return Ok(false);
        }
        // What else would phase one change? SSM-typed parameters are resolved again on
        // every update, AWS::Include and nested templates are read again: CloudFormation
        // says exactly, in a change set with the same inputs.
        if let Ok(preview_plan) = preview_plan {
            let guarded = nested::token_conditioned(&body, &task.parameter, &members);
            let tokens = nested::token_names(&task.parameter, &members);
            let planned = match previewed {
                preview::Previewed::Read(changes) => changes,
                _ => updater.preview(&preview_plan).await?,
            };
            if let Some(reason) =
                super::super::guard::replacement_reason(&planned, snapshot.allows_data_loss())
            {
                not_done(task, reason);
                return Ok(false);
            }
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
    let mut plan = match plan_update(snapshot, &task.parameter, task.phase.token_value()) {
        Ok(plan) => plan,
        Err(why) => {
            not_done(task, why);
            return Ok(false);
        }
    };
    // A stack already at `false` (left there by an earlier run) is restored at once: its
    // phase one changes nothing, and its guarded resources are missing meanwhile.
    if task.phase == Phase::Disable && token_not_false {
        let stack = task.stack.clone();
        let deleting = async {
            if let Some(name) = read_preview.take() {
                if updater.delete_preview(&stack, &name).await.is_err() {
                    // Tried again once the look is done with it (`start_phase`).
                    *read_preview = Some(name);
                }
            }
        };
        let (claim, ()) =
            futures::join!(claimed(reach.budget, reach.clock, settings, task), deleting);
        if !claim? {
            return Ok(true);
        }
    }
    if super::past_its_time(task, reach.clock.now_ms(), until_ms) {
        return Ok(true);
    }
    plan.request_token = match task.phase {
        Phase::Disable => phase_one_token(task),
        _ => {
            task.enable_runs += 1;
            phase_two_token(task, task.enable_runs)
        }
    };
    match updater.update(&plan).await? {
        UpdateStart::Started | UpdateStart::AlreadyOurs => {
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
