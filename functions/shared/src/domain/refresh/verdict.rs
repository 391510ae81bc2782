//! The failure verdict: how a stack that did not end refreshed is reported. Skipped only
//! when nothing was changed; failed, and CRITICAL with the command that restores it, when
//! it may have been left at `false`. Also used by the report for a refresh function that
//! failed for good or a child execution that ended without an output.

use super::super::in_place::RefreshMode;
use super::super::model::{FailedResource, Phase, RefreshTask, SecretRef, StackRef, StackSnapshot};
use super::super::planning::ACKNOWLEDGED_CAPABILITIES;
use super::super::rollback;
use super::super::selection::{managed_elsewhere, not_opted_in, StatusClass};
use super::super::service_role::{borrows_pipeline_power, StacksWithoutServiceRole};
use crate::domain::model::Outcome;
use crate::ports::{StackDirectory, StackUpdater};

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

/// Adds to the reason of a stack our update rolled back what each failed resource's event
/// says (the stack's own reason names only the resources) and, when a secret value lacked a
/// JSON key the stack reads, which keys of which secret its template reads. Best effort: an
/// explanation that cannot be read never fails the refresh.
pub(super) async fn explain_rollback<U: StackUpdater + StackDirectory + Sync>(
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
        .and_then(|arn| SecretRef::from_arn(arn, None).ok())
        .map(|s| SecretRef {
            replica_regions: task.secret_replica_regions.clone(),
            ..s
        });
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
pub(super) fn orphans(failed: Vec<FailedResource>) -> impl Iterator<Item = FailedResource> {
    failed.into_iter().filter(|f| f.status == "DELETE_FAILED")
}

/// Nothing was changed in phase one: skipped. After phase one it is a failure, and critical.
pub(super) fn not_done(task: &mut RefreshTask, reason: String) {
    if task.phase == Phase::Disable {
        task.outcome = Outcome::Skipped;
        task.reason = Some(reason);
    } else {
        fail(task, reason, true);
    }
}

pub(super) fn fail(task: &mut RefreshTask, reason: String, critical: bool) {
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

/// The checks before any update, in both modes: a stack without a service role that no
/// administrator listed (before every update: the task's phase is an input, and a stack
/// refused between phases is reported critical, never left at `false` in silence), a
/// stack another service owns, one not opted in (before phase one only: a stack between
/// phases is always brought back to `true`), one busy with someone else's operation, one
/// that needs an operator. `Some(wait)` when the update must not start now.
pub(super) fn held_back(
    task: &mut RefreshTask,
    snapshot: &StackSnapshot,
    class: StatusClass,
    require_opt_in: bool,
    without_service_role: &StacksWithoutServiceRole,
) -> Option<bool> {
    if let Some(reason) = borrows_pipeline_power(snapshot, without_service_role) {
        // Failed, not skipped: a consumer of the secret keeps the old value until someone
        // acts. Critical where the stack is at `false` (left without its resources: found
        // so, or refused between phases), read from the stack, not from the task's phase.
        let at_false = snapshot
            .parameter(&task.parameter)
            .and_then(|p| p.value.as_deref())
            == Some("false");
        fail(task, reason, at_false);
        return Some(false);
    }
    let opt_in = match task.phase {
        Phase::Disable => not_opted_in(snapshot, require_opt_in, &task.parameter),
        _ => None,
    };
    if let Some(reason) = managed_elsewhere(snapshot).or(opt_in) {
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
