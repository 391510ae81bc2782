//! Phase one's preview without holding a Lambda. CloudFormation takes seconds to create a
//! change set, at times minutes (DescribeChangeSet: CREATE_PENDING, CREATE_IN_PROGRESS;
//! "up to a minute to stabilize", cloudtools/stacker#389; about 20 minutes with many
//! nested stacks, aws/aws-sam-cli#4681) and sends no event when it is done. In the
//! deployed pipeline one look creates the change set and hands the task back with a pause
//! (the state machine's `Pause`, no Lambda held), and the next look reads it: waiting
//! inside the invocation kept one Lambda per starting stack busy for seconds, the largest
//! part of a fleet run's concurrent invocations (docs/performance.md).
//!
//! What the preview says is read from CloudFormation, by the change set's name (one per
//! execution and stack, as the request tokens): the task only says whether one was begun,
//! to choose which call comes first. A change set made before the stack was updated again
//! is `OBSOLETE` (ChangeSetSummary, ExecutionStatus, API reference) and is made anew.

use super::super::model::{Phase, PlannedChange, PreviewRead, RefreshTask, UpdatePlan};
use super::super::planning::plan_for;
use super::operations::request_token;
use crate::ports::{AwsError, Clock, StackUpdater};

/// The first look at a begun change set comes this long after its creation began: the
/// SAM CLI looks at a change set every 5 s (`sam deploy`, aws/aws-sam-cli
/// `deployer.py`, `wait_for_changeset`).
pub const FIRST_LOOK_MS: u64 = 5_000;
/// A change set still being created is looked at again after half its age so far,
/// within these bounds: few looks for the slow ones, each a DescribeChangeSet call on the
/// account-region's shared rate and three state transitions.
const NEXT_LOOK_MS: (u64, u64) = (5_000, 60_000);
/// The longest a refresh waits for its change set, as the SAM CLI's waiter does for a
/// whole `sam deploy` change set (aws/aws-sam-cli#4681): then the look fails as any AWS
/// error does (retried by the state machine, then reported).
pub const PATIENCE_MS: u64 = 15 * 60_000;

/// What the preview step of a look came to.
pub enum Previewed {
    /// The change set was read: what phase one would change.
    Read(Vec<PlannedChange>),
    /// Begun or still being created: the task waits (its `wait`, a pause) and looks again;
    /// the next look reads the change set whenever it comes (it only delays).
    Paused,
    /// CloudFormation could not make it (the reason, said in the stack's row): the update
    /// would fail the same way. Nothing was changed.
    Failed(String),
    /// Not begun here: the preview is made within this look, as where no state machine
    /// calls again (CloudFormation refused to begin it: the checks that follow, and the
    /// preview made after them, say why in their own words).
    InThisLook,
}

/// The change set's name: `RotateToken-preview-<hash of execution and stack>`, within
/// CloudFormation's `[a-zA-Z][-a-zA-Z0-9]*`, 128 characters. `None` without an execution.
pub fn name(task: &RefreshTask) -> Option<String> {
    request_token(task, "preview")
}

/// The first look at a stack whose refresh has not begun (its events say so: `recall`)
/// begins the preview before it reads anything else, and pauses: one DescribeStacks less
/// than beginning it after the stack is described, with the same inputs the update will
/// have (the token `false`, every other parameter `UsePreviousValue`: the parameters
/// discovery found; the look that reads the change set makes it again unless its inputs
/// are the stack's then). `true`: begun, the task pauses. `false` (CloudFormation refused, say the
/// stack is gone or busy): this look goes on as any, and says why.
pub async fn begin_ahead<U, C>(
    updater: &U,
    clock: &C,
    task: &mut RefreshTask,
    until_ms: u64,
) -> bool
where
    U: StackUpdater + Sync,
    C: Clock + Sync,
{
    let Some(name) = name(task) else {
        return false;
    };
    // The token, then the parameters discovery found.
    let keys: Vec<&str> = std::iter::once(task.parameter.as_str())
        .chain(task.other_parameters.iter().map(String::as_str))
        .collect();
    let plan = plan_for(
        &task.stack,
        &task.parameter,
        Phase::Disable.token_value(),
        &keys,
    );
    matches!(
        begin(updater, clock, task, &plan, &name, until_ms).await,
        Ok(Previewed::Paused)
    )
}

/// Reads the preview begun by an earlier look, or begins one and pauses. A preview made
/// with other inputs than `plan`'s, the update as the stack is now (discovery saw other
/// parameters), is made again: its description names the inputs it was made with.
pub async fn begun<U, C>(
    updater: &U,
    clock: &C,
    task: &mut RefreshTask,
    plan: &UpdatePlan,
    name: &str,
    until_ms: u64,
) -> Result<Previewed, AwsError>
where
    U: StackUpdater + Sync,
    C: Clock + Sync,
{
    let now = clock.now_ms();
    if let Some(since) = task.preview_since_ms {
        match updater.read_preview(&task.stack, name).await? {
            // Made with this very update's inputs (its description names them), on the
            // stack as it is (not OBSOLETE): what phase one will change. The caller deletes
            // it (`start`: at once with the claim, or after the look's checks).
            PreviewRead::Ready {
                changes,
                description,
            } if description.ends_with(&plan.inputs_mark()) => {
                task.preview_since_ms = None;
                return Ok(Previewed::Read(changes));
            }
            // With other inputs (discovery saw other parameters than the stack has now):
            // deleted, made again below under the same name (one not deleted would be
            // taken for the new one, and read again: the look fails instead, and its
            // retry reads it again).
            PreviewRead::Ready { .. } => updater.delete_preview(&task.stack, name).await?,
            // One made with this update's inputs: the update would fail the same way.
            PreviewRead::Failed {
                reason,
                description,
            } if description.ends_with(&plan.inputs_mark()) => {
                task.preview_since_ms = None;
                return Ok(Previewed::Failed(format!(
                    "CloudFormation could not preview phase one: {reason}"
                )));
            }
            PreviewRead::Pending { created_ms } => {
                // Waited for since CloudFormation began creating it (its CreationTime),
                // not since the task says: a task cannot make it fail sooner. The task's
                // time only where CloudFormation gives none.
                let age = now.saturating_sub(created_ms.unwrap_or(since));
                if age >= PATIENCE_MS {
                    // Deleted if CloudFormation lets it be (not while it is still being
                    // created: then the warning names it).
                    updater.drop_preview(&task.stack, name).await;
                    task.preview_since_ms = None;
                    return Ok(Previewed::Failed(format!(
                        "CloudFormation did not create phase one's preview (change set {name}) within {} minutes; nothing was changed",
                        PATIENCE_MS / 60_000
                    )));
                }
                let next = (age / 2).clamp(NEXT_LOOK_MS.0, NEXT_LOOK_MS.1);
                task.wait = Some(crate::domain::waiting::pause(now, next));
                return Ok(Previewed::Paused);
            }
            // Gone (deleted by someone, or by CloudFormation when another change set was
            // executed), made before the stack changed, or a failed one made with other
            // inputs (deleted): begun again.
            PreviewRead::Obsolete | PreviewRead::Missing | PreviewRead::Failed { .. } => {}
        }
    }
    begin(updater, clock, task, plan, name, until_ms).await
}

async fn begin<U, C>(
    updater: &U,
    clock: &C,
    task: &mut RefreshTask,
    plan: &UpdatePlan,
    name: &str,
    until_ms: u64,
) -> Result<Previewed, AwsError>
where
    U: StackUpdater + Sync,
    C: Clock + Sync,
{
    let now = clock.now_ms();
    // Begun late, a change set could be left that no look reads (and deletes). None is
    // begun: the next look begins it.
    if super::past_its_time(task, now, until_ms) {
        task.preview_since_ms = None;
        return Ok(Previewed::Paused);
    }
    match updater.begin_preview(plan, name).await {
        // `false`: this look was retried after it began the change set; read next time.
        Ok(_) => {
            task.preview_since_ms = Some(now);
            task.wait = Some(crate::domain::waiting::pause(now, FIRST_LOOK_MS));
            Ok(Previewed::Paused)
        }
        Err(e) => {
            tracing::info!(stack = %task.stack.id, error = %e, "the preview could not be begun ahead; made within this look");
            task.preview_since_ms = None;
            Ok(Previewed::InThisLook)
        }
    }
}
