//! The in-place refresh's one update: the secret's current version, read now, set as the
//! stack's version parameter once its checks pass ([`super::super::in_place`]).

use super::*;

/// Starts the in-place update, once its checks pass; returns whether to wait. The version
/// set is the secret's `AWSCURRENT` read now from Secrets Manager, never a version the
/// input names: a task cannot pin a stack to an older value.
pub(super) async fn start_in_place<U, S, C, B>(
    reach: &Reach<'_, U, S, C, B>,
    task: &mut RefreshTask,
    snapshot: &StackSnapshot,
    class: StatusClass,
    settings: &RefreshSettings,
    until_ms: u64,
) -> Result<bool, AwsError>
where
    U: StackUpdater + StackDirectory + Sync,
    S: SecretDirectory + Sync,
    C: Clock + Sync,
    B: ResourceBudget + Sync,
{
    let (updater, secrets) = (reach.updater, reach.secrets);
    if let Some(wait) = held_back(
        task,
        snapshot,
        class,
        settings.require_opt_in,
        &settings.without_service_role,
    ) {
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
    let mut plan = match plan_update(snapshot, &task.parameter, &current) {
        Ok(plan) => plan,
        Err(why) => {
            not_done(task, why);
            return Ok(false);
        }
    };
    plan.request_token = in_place_token(task, &current);
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
    if !super::start::claimed(reach.budget, reach.clock, settings, task).await? {
        return Ok(true);
    }
    if super::past_its_time(task, reach.clock.now_ms(), until_ms) {
        return Ok(true);
    }
    match updater.update(&plan).await? {
        UpdateStart::Started | UpdateStart::AlreadyOurs => {
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
