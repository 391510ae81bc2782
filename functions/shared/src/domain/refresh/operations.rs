//! Our own updates of a stack, found in its events by their request tokens, never taken from
//! the payload. Each update carries a `ClientRequestToken` derived from the execution, the
//! stack and the step, and CloudFormation stamps it on every event the update causes
//! (UpdateStack API reference, `ClientRequestToken`). So an invocation retried with its
//! original input (the Map's `Retry`, after a time-out or a crash) reads from the stack
//! whether its phase one was accepted, instead of believing the input.

use sha2::Digest;

use super::super::model::{Phase, RefreshTask};
use crate::ports::{AwsError, StackUpdater};

/// Rollback triggers can hold each update in progress for up to 180 minutes, twice: no
/// update of one refresh is older than its wait budget plus this.
const LONGEST_MONITORING_MS: u64 = 2 * 180 * 60 * 1000;

/// The request token of one step of this refresh: `RotateToken-<step>-<hash>`, where the
/// hash (SHA-256, 24 hex digits) binds the execution and the stack. AWS's pattern is
/// `[a-zA-Z0-9][-a-zA-Z0-9]*`, at most 128 characters. `None` for a task that names no
/// execution (a hand-made invoke): two such runs could not be told apart, and a token
/// shared with an earlier run would be taken for ours.
pub fn request_token(task: &RefreshTask, step: &str) -> Option<String> {
    let execution = task.execution.as_deref()?;
    let digest = sha2::Sha256::digest(format!("{execution}\n{}\n{step}", task.stack.id));
    let hash: String = digest.iter().take(12).map(|b| format!("{b:02x}")).collect();
    let step: String = step
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(64)
        .collect();
    Some(format!("RotateToken-{step}-{hash}"))
}

/// Phase one's token: one per execution and stack (phase one is never re-run).
pub fn phase_one_token(task: &RefreshTask) -> Option<String> {
    request_token(task, "false")
}

/// The token of phase two's `run`-th update (a rolled-back one is tried again, and so is
/// one another execution's `false` followed).
pub fn phase_two_token(task: &RefreshTask, run: u32) -> Option<String> {
    request_token(task, &format!("true-{run}"))
}

/// The in-place update's token, for the version it pins.
pub fn in_place_token(task: &RefreshTask, version: &str) -> Option<String> {
    let digest = sha2::Sha256::digest(version);
    let short: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    request_token(task, &format!("version-{short}"))
}

/// The request token of our update that runs now, if one does: only its end wakes the step.
pub(super) fn running_token(task: &RefreshTask) -> Option<String> {
    if !task.update_started {
        return None;
    }
    match (task.mode, task.phase) {
        (super::super::in_place::RefreshMode::InPlace, _) => {
            in_place_token(task, task.version.as_deref()?)
        }
        (_, Phase::Disable) => phase_one_token(task),
        _ => phase_two_token(task, task.enable_runs),
    }
}

/// How far back our updates can be, from `now_ms`.
pub fn horizon_ms(now_ms: u64, max_wait_ms: u64) -> u64 {
    now_ms.saturating_sub(max_wait_ms + LONGEST_MONITORING_MS)
}

/// Reads from the stack's events, once per invocation, whether our phase one was accepted:
/// if it was, the stack is ours to bring back to `true`, whatever the input says (a stop
/// does not skip it, an error after it is an error after a change, its rollback is ours).
pub async fn recall<U: StackUpdater + Sync>(
    updater: &U,
    task: &mut RefreshTask,
    now_ms: u64,
    max_wait_ms: u64,
) -> Result<(), AwsError> {
    if task.recalled {
        return Ok(());
    }
    if task.mode.is_two_phase() && task.phase == Phase::Disable && !task.update_started {
        let Some(token) = phase_one_token(task) else {
            task.recalled = true;
            return Ok(());
        };
        let since = horizon_ms(now_ms, max_wait_ms);
        if let Some(seen) = updater.operation(&task.stack, &token, since).await? {
            tracing::warn!(status = %seen.status, "phase one was accepted by an earlier invocation; continuing it");
            task.update_started = true;
        }
    } else if task.mode.is_two_phase() && task.phase != Phase::Disable {
        check_phase_one_done(updater, task, horizon_ms(now_ms, max_wait_ms)).await?;
    }
    task.recalled = true;
    Ok(())
}

/// A task past phase one is believed only where the stack shows it: our `false` in its
/// events (or a `true` of ours after it), or the stack at `false` (phase one had nothing to
/// change). Otherwise the task is taken back to phase one, so the guard judges the stack
/// before anything is deleted: a task cannot skip phase one's checks by naming a phase. Our
/// `false` that rolled back is taken back to phase one too, as ours (it is reported failed).
async fn check_phase_one_done<U: StackUpdater + Sync>(
    updater: &U,
    task: &mut RefreshTask,
    since: u64,
) -> Result<(), AwsError> {
    let Some(one) = phase_one_token(task) else {
        return Ok(()); // no execution: no token to check against
    };
    match updater.operation(&task.stack, &one, since).await? {
        Some(seen) if seen.status.contains("ROLLBACK") => {
            tracing::warn!(status = %seen.status, "the task is past phase one, but our phase one rolled back");
            task.phase = Phase::Disable;
            task.update_started = true;
            return Ok(());
        }
        Some(_) => return Ok(()),
        None => {}
    }
    for run in [task.enable_runs, task.enable_runs + 1] {
        let Some(token) = (run > 0).then(|| phase_two_token(task, run)).flatten() else {
            continue;
        };
        if updater
            .operation(&task.stack, &token, since)
            .await?
            .is_some()
        {
            return Ok(());
        }
    }
    let at_false = updater.describe(&task.stack).await?.is_some_and(|s| {
        s.parameter(&task.parameter)
            .and_then(|p| p.value.as_deref())
            == Some("false")
    });
    if !at_false {
        tracing::warn!(
            phase = task.phase.token_value(),
            "the task is past phase one, which the stack does not show: back to phase one"
        );
        task.phase = Phase::Disable;
        task.update_started = false;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::model::StackRef;

    fn task(execution: &str) -> RefreshTask {
        let mut t = RefreshTask::new(
            StackRef::from_stack_id("arn:aws:cloudformation:us-east-1:111111111111:stack/app/1")
                .unwrap(),
            "RotateToken",
        );
        t.execution = Some(execution.into());
        t
    }

    #[test]
    fn tokens_are_aws_shaped_and_bound_to_the_execution_the_stack_and_the_step() {
        let a = task("run-1");
        let token = phase_one_token(&a);
        let text = token.clone().unwrap();
        assert!(text.len() <= 128);
        assert!(text.chars().next().unwrap().is_ascii_alphanumeric());
        assert!(
            text.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'),
            "{text}"
        );
        assert_eq!(
            token,
            phase_one_token(&a),
            "the same for a retried invocation"
        );
        assert_ne!(token, phase_one_token(&task("run-2")));
        assert_ne!(token, phase_two_token(&a, 1));
        assert_ne!(phase_two_token(&a, 1), phase_two_token(&a, 2));
        assert_ne!(in_place_token(&a, "v1"), in_place_token(&a, "v2"));
        let mut manual = a.clone();
        manual.execution = None;
        assert_eq!(
            phase_one_token(&manual),
            None,
            "no execution, no token to tell runs apart"
        );
    }
}
