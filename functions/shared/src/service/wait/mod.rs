//! The waiter's use case: keep a waiting step's task token under its stack's key, and send
//! it back when the stack's end event arrives ([`crate::domain::waiting`]).
//!
//! Two orders make the two paths meet whatever their timing (S3 reads are strongly
//! consistent after writes): a registration is written *before* the stack's recorded ends
//! are read, and an end is recorded *before* the registrations are listed. An end that
//! arrives while a step registers is seen by one of the two, or by both (then the second
//! `SendTaskSuccess` finds the token used: [`Callback::Gone`]).
//!
//! Never logged: the task token (it completes the step) nor anything of the stack but its
//! id, status and request token.

use serde::Serialize;
use serde_json::Value;
use tracing::{info, warn};

use super::lane::HandOver;
use crate::domain::error::{from_step_input, required_str, InputError};
use crate::domain::lanes::{self, lane_key, place_registration_key, waiting_prefix};
use crate::domain::model::{Lane, RefreshTask, StackEnd, StackRef, WaitKind, WaitRegistration};
use crate::domain::waiting::{
    end_key, is_registration_key, last_end_key, own_registration_key, registration_key, stack_end,
    stack_prefix, wakes, CLOCK_SLACK_MS,
};
use crate::handler::FunctionError;
use crate::ports::{Callback, LockStore, TaskCallbacks, WaitBoard};

/// What one invocation did, returned (and logged) for the operator and the tests.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WaitReport {
    /// A step's token was kept.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub registered: bool,
    /// Steps woken by this invocation (a registration that found its end already
    /// recorded wakes itself: 1).
    pub woken: u32,
    /// Why nothing was done, when nothing was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ignored: Option<String>,
}

/// The waiter: a step registering (`{"task_token", "task"}`, from the state machine), a
/// CloudFormation status change event (from EventBridge), or a stack whose refresh ended
/// (`{"place_freed": <its task>}`, the state machine's `FreePlace`). `budget`: a lane's
/// places (`MaxConcurrency`).
pub async fn wait<B, T>(
    board: &B,
    tokens: &T,
    budget: u32,
    now_ms: u64,
    input: Value,
) -> Result<WaitReport, FunctionError>
where
    B: WaitBoard + LockStore + Sync,
    T: TaskCallbacks + Sync,
{
    if input.get("task_token").is_some() {
        register(board, tokens, budget, now_ms, input).await
    } else if let Some(ended) = input.get("place_freed") {
        hand_on(board, tokens, budget, now_ms, ended).await
    } else if input.get("detail-type").is_some() {
        wake(board, tokens, &input).await
    } else {
        Err(InputError::new(
            "input",
            "is neither a step to register (`task_token`, `task`), a CloudFormation stack status change event (`detail-type`), nor a stack whose place is freed (`place_freed`)",
        )
        .into())
    }
}

async fn register<B, T>(
    board: &B,
    tokens: &T,
    budget: u32,
    now_ms: u64,
    input: Value,
) -> Result<WaitReport, FunctionError>
where
    B: WaitBoard + LockStore + Sync,
    T: TaskCallbacks + Sync,
{
    let task_token = required_str(&input, &["task_token"])?.to_string();
    let task: RefreshTask = from_step_input(
        "input.task",
        input.get("task").cloned().unwrap_or(Value::Null),
    )?;
    let wait = match task.wait {
        Some(w) if matches!(w.kind, WaitKind::Stack | WaitKind::Place) => w,
        _ => {
            return Err(InputError::new(
                "input.task.wait",
                "must be a wait for the stack or for a place in its lane (kind `stack` or `place`): only a step handed back to wait is registered",
            )
            .into())
        }
    };
    if wait.kind == WaitKind::Place {
        return register_for_place(
            board,
            tokens,
            budget,
            now_ms,
            &task.stack,
            task_token,
            wait.seen_ms,
            task.execution,
        )
        .await;
    }
    let registration = WaitRegistration {
        stack_id: task.stack.id.clone(),
        task_token,
        request_token: wait.request_token,
        seen_ms: wait.seen_ms,
        execution: task.execution,
        task: None,
    };
    keep_for_stack(board, tokens, registration, true, async {}).await
}

/// Keeps a step's token under its stack's key until the end it waits for: the waiter's
/// registrations (`WaitForStack`), and those of a look that waits on its own token (the
/// refresh, [`crate::domain::waiting::waits_on_own_token`]). The registration is written
/// before the ends already recorded are read (the module's comment), and an end that came
/// first wakes the step now. `remove_woken`: whether a step woken here has its
/// registration removed at once (a look's own is never removed: see [`send_and`]).
/// `alongside`: written at once with the registration, and ended before an end already
/// come wakes the step here (a look's progress for watchers).
pub(crate) async fn keep_for_stack<B, T>(
    board: &B,
    tokens: &T,
    mut registration: WaitRegistration,
    remove_woken: bool,
    alongside: impl std::future::Future<Output = ()>,
) -> Result<WaitReport, FunctionError>
where
    B: WaitBoard + LockStore + Sync,
    T: TaskCallbacks + Sync,
{
    // A look's own: one per stack and run (the look after a time-out finds it there).
    let key = match (&registration.task, &registration.execution) {
        (Some(_), Some(execution)) => own_registration_key(&registration.stack_id, execution),
        _ => registration_key(&registration.stack_id, &registration.task_token),
    };
    let (kept, ()) = futures::join!(board.keep(&key, to_json(&registration)), alongside);
    kept?;
    let mut report = WaitReport {
        registered: true,
        ..WaitReport::default()
    };
    // Then the ends already recorded: one that came before this registration was written.
    if let Some(ours) = registration.request_token.clone() {
        match read_end(board, &end_key(&registration.stack_id, &ours)).await? {
            Some(end) if end.time_ms + CLOCK_SLACK_MS >= registration.seen_ms => {
                info!(stack = %registration.stack_id, status = %end.status, "our update's end came before its wait: waking now");
                report.woken += send_and(board, tokens, &key, &registration, remove_woken).await?;
                return Ok(report);
            }
            // Our update had ended before the stack was seen busy: what runs now is
            // someone else's operation, whose end (any token) is the one to wake on. Not
            // woken by ours, which would only find the stack busy again, and again.
            Some(_) => {
                registration.request_token = None;
                board.keep(&key, to_json(&registration)).await?;
            }
            None => return Ok(report),
        }
    }
    if let Some(end) = read_end(board, &last_end_key(&registration.stack_id)).await? {
        if wakes(&registration, &end) {
            info!(stack = %registration.stack_id, status = %end.status, "the stack's end came before its wait: waking now");
            report.woken += send_and(board, tokens, &key, &registration, remove_woken).await?;
        }
    }
    Ok(report)
}

/// A step whose lane was full: kept under the lane; then, as an end is recorded before the
/// registrations are listed, the lane is read after the registration is written, and a
/// place freed meanwhile wakes it now.
#[allow(clippy::too_many_arguments)]
async fn register_for_place<B, T>(
    board: &B,
    tokens: &T,
    budget: u32,
    now_ms: u64,
    stack: &StackRef,
    task_token: String,
    seen_ms: u64,
    execution: Option<String>,
) -> Result<WaitReport, FunctionError>
where
    B: WaitBoard + LockStore + Sync,
    T: TaskCallbacks + Sync,
{
    let registration = WaitRegistration {
        stack_id: stack.id.clone(),
        task_token,
        request_token: None,
        seen_ms,
        execution,
        task: None,
    };
    let key = place_registration_key(&stack.account, &stack.region, &registration.task_token);
    board.keep(&key, to_json(&registration)).await?;
    let mut report = WaitReport {
        registered: true,
        ..WaitReport::default()
    };
    let lane = read_lane(board, stack).await?;
    // A holder refused its resources waits for them, not for a place (it has one).
    match resources_waiter(&lane, &registration, now_ms, 0) {
        Some(true) => report.woken += send(board, tokens, &key, &registration).await?,
        Some(false) => {}
        None if lanes::free_places(&lane, now_ms, budget) > 0 => {
            let handed = hand_place(board, tokens, budget, now_ms, &key, &registration).await?;
            report.woken += handed.unwrap_or(0);
        }
        None => {}
    }
    Ok(report)
}

/// Hands a free place in its lane to a step waiting for one: the place is taken for the
/// step's stack (a conditional write of the lane, as the stack's own look would make)
/// *before* its token is sent, so that the hand-overs of stacks ending at once never wake
/// more steps than there are places: two hand-overs that read the lane before either woken
/// step has looked would each see the same places free, and each wake too many costs a
/// look that finds the lane full again (three state transitions, a DescribeStackEvents,
/// S3 requests). (`make bench-fleet`'s ends come spread out: each of its hand-overs found
/// one place free and woke one step, so this guards a race it did not show.) The woken
/// step's look finds the place its own (`lanes::enter` admits a holder). A step that no
/// longer waited gives back the place taken for it here (its stack may have got in by
/// itself and ended, or its run may have ended: a place kept would be idle until the
/// holder's lease ran out), never one its stack already held (a stack that got in by
/// itself and left a stale registration behind). Its own look taking the place between
/// the two writes costs at most one stack too many in the lane, which a look renews.
/// `Some(woken)`, or `None` when the lane was full again (another hand-over, or a
/// stack's own look, took the place first).
async fn hand_place<B, T>(
    board: &B,
    tokens: &T,
    budget: u32,
    now_ms: u64,
    key: &str,
    registration: &WaitRegistration,
) -> Result<Option<u32>, FunctionError>
where
    B: WaitBoard + LockStore + Sync,
    T: TaskCallbacks + Sync,
{
    let (Some(execution), Ok(stack)) = (
        registration.execution.as_deref(),
        StackRef::from_stack_id(&registration.stack_id),
    ) else {
        // Without its run the place cannot be held for it: woken, its look asks itself.
        return Ok(Some(send(board, tokens, key, registration).await?));
    };
    let handed = super::lane::hand_to(board, &stack, execution, now_ms, budget).await?;
    if handed == HandOver::Full {
        return Ok(None);
    }
    let woken = send(board, tokens, key, registration).await?;
    if woken == 0 && handed == HandOver::Taken {
        super::lane::leave(board, &stack, execution, now_ms, None).await;
    }
    Ok(Some(woken))
}

/// For a registration of a holder refused its resources: whether what it wants fits now,
/// beside `woken` more resources handed on already ([`lanes::may_begin`]); `None` for a
/// step waiting for a place.
fn resources_waiter(lane: &Lane, r: &WaitRegistration, now_ms: u64, woken: u32) -> Option<bool> {
    let execution = r.execution.as_deref()?;
    lanes::may_begin(lane, &r.stack_id, execution, now_ms, woken)
}

/// A stack's refresh ended (its place given back by the refresh): the steps waiting longest
/// for a place in its lane are woken, as many as there are places free, each place taken
/// for its step before the step is woken ([`hand_place`]).
async fn hand_on<B, T>(
    board: &B,
    tokens: &T,
    budget: u32,
    now_ms: u64,
    ended: &Value,
) -> Result<WaitReport, FunctionError>
where
    B: WaitBoard + LockStore + Sync,
    T: TaskCallbacks + Sync,
{
    let id = required_str(ended, &["stack", "id"])
        .map_err(|e| InputError::new(format!("place_freed.{}", e.field), e.problem))?;
    let stack = StackRef::from_stack_id(id)
        .map_err(|e| InputError::new("place_freed.stack.id", e.problem))?;
    let lane = read_lane(board, &stack).await?;
    let free = lanes::free_places(&lane, now_ms, budget);
    let mut waiting = vec![];
    for key in board
        .keys(&waiting_prefix(&stack.account, &stack.region))
        .await?
    {
        if let Some(body) = board.find(&key).await? {
            match serde_json::from_slice::<WaitRegistration>(&body) {
                Ok(r) => waiting.push((r.seen_ms, key, r)),
                Err(_) => board.forget(&key).await?,
            }
        }
    }
    waiting.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
    // A registration whose step already timed out (it asked again under a new token)
    // finds its token gone: removed, any place taken for it given back, and the next is
    // tried, until `free` are woken.
    // Holders refused their resources are woken as what they want fits (an ended stack
    // gave its resources back), beside the places handed on to stacks waiting for one.
    let mut report = WaitReport::default();
    let (mut places_woken, mut resources_woken) = (0, 0);
    let mut lane_full = false;
    for (_, key, registration) in waiting {
        match resources_waiter(&lane, &registration, now_ms, resources_woken) {
            Some(false) => continue,
            Some(true) => {
                let woken = send(board, tokens, &key, &registration).await?;
                if woken > 0 {
                    resources_woken += lanes::wanted(
                        &lane,
                        &registration.stack_id,
                        registration.execution.as_deref().unwrap_or_default(),
                    );
                }
                report.woken += woken;
            }
            None if lane_full || places_woken >= free => continue,
            None => match hand_place(board, tokens, budget, now_ms, &key, &registration).await? {
                Some(woken) => {
                    places_woken += woken;
                    report.woken += woken;
                }
                None => lane_full = true,
            },
        }
    }
    info!(account = %stack.account, region = %stack.region, free, woken = report.woken, "a place in the lane was handed on");
    Ok(report)
}

async fn read_lane<B: LockStore + Sync>(
    board: &B,
    stack: &StackRef,
) -> Result<Lane, FunctionError> {
    Ok(board
        .read(&lane_key(stack))
        .await?
        .and_then(|(body, _)| serde_json::from_slice(&body).ok())
        .unwrap_or_default())
}

async fn wake<B, T>(board: &B, tokens: &T, event: &Value) -> Result<WaitReport, FunctionError>
where
    B: WaitBoard + LockStore + Sync,
    T: TaskCallbacks + Sync,
{
    let Some(end) = stack_end(event)? else {
        return Ok(WaitReport {
            ignored: Some("an operation in progress, not its end".to_string()),
            ..WaitReport::default()
        });
    };
    // Both records first, for a step registering at this moment (the module's comment),
    // written at once: neither reads the other, and the registrations are listed only
    // after both have answered (one S3 round trip less for each end; a wake's time is its
    // Lambda's).
    let by_token = async {
        match end.request_token.as_deref() {
            Some(token) => {
                board
                    .keep(&end_key(&end.stack_id, token), to_json(&end))
                    .await
            }
            None => Ok(()),
        }
    };
    futures::try_join!(by_token, record_last_end(board, &end))?;
    let mut report = WaitReport::default();
    for key in board.keys(&stack_prefix(&end.stack_id)).await? {
        if !is_registration_key(&key) {
            continue;
        }
        let Some(body) = board.find(&key).await? else {
            continue; // woken meanwhile by another event or by its own registration
        };
        let Ok(registration) = serde_json::from_slice::<WaitRegistration>(&body) else {
            warn!(key = %key, "not a wait registration: removed");
            board.forget(&key).await?;
            continue;
        };
        if wakes(&registration, &end) {
            report.woken += send(board, tokens, &key, &registration).await?;
        }
    }
    info!(stack = %end.stack_id, status = %end.status, request_token = ?end.request_token, woken = report.woken, "stack operation ended");
    Ok(report)
}

/// The stack's last end, for registrations without our request token: delivery is out of
/// order, so a late event never replaces a later end (a conditional write: two ends
/// delivered at once cannot leave the older one kept).
async fn record_last_end<B: LockStore + Sync>(
    board: &B,
    end: &StackEnd,
) -> Result<(), crate::ports::AwsError> {
    let last = last_end_key(&end.stack_id);
    for _ in 0..5 {
        let written = match board.read(&last).await? {
            Some((body, tag)) => {
                let kept: Option<StackEnd> = serde_json::from_slice(&body).ok();
                if kept.is_some_and(|kept| kept.time_ms > end.time_ms) {
                    break;
                }
                board.replace(&last, to_json(end), &tag).await?
            }
            None => board.create(&last, to_json(end)).await?,
        };
        if written {
            break;
        }
    }
    Ok(())
}

/// Sends the step its token back and removes the registration (unless it is a look's own:
/// [`send_and`]); 1 when the step was woken,
/// 0 when it no longer waited.
async fn send<B, T>(
    board: &B,
    tokens: &T,
    key: &str,
    registration: &WaitRegistration,
) -> Result<u32, FunctionError>
where
    B: WaitBoard + LockStore + Sync,
    T: TaskCallbacks + Sync,
{
    send_and(board, tokens, key, registration, true).await
}

/// [`send`], removing the registration only when `remove` and not a look's own (kept: the
/// run's next look replaces it, the bucket's lifecycle expires the last).
async fn send_and<B, T>(
    board: &B,
    tokens: &T,
    key: &str,
    registration: &WaitRegistration,
    remove: bool,
) -> Result<u32, FunctionError>
where
    B: WaitBoard + LockStore + Sync,
    T: TaskCallbacks + Sync,
{
    // A look waiting on its own token is sent its task, the step's output; a WaitForStack
    // step keeps its input and is sent nothing.
    let output = match &registration.task {
        Some(task) => task.to_string(),
        None => "{}".to_string(),
    };
    let sent = tokens.succeed(&registration.task_token, &output).await?;
    // A look's own registration is never removed here. Whose step timed out, the look after
    // the time-out takes up its task; woken, its key is the run's for the stack, which the
    // next look may already have written again (a removal now would take that one's wake).
    // The run's next such look replaces it; the bucket's lifecycle removes the last, and an
    // end that finds its token closed meanwhile wakes nothing.
    let own = registration.task.is_some();
    if remove && !own {
        board.forget(key).await?;
    }
    let execution = registration.execution.as_deref().unwrap_or("-");
    Ok(match sent {
        Callback::Delivered => {
            info!(execution, stack = %registration.stack_id, "step woken");
            1
        }
        Callback::Gone => {
            info!(execution, stack = %registration.stack_id, "the step no longer waited (timed out, or woken before)");
            0
        }
    })
}

async fn read_end<B: WaitBoard + Sync>(
    board: &B,
    key: &str,
) -> Result<Option<StackEnd>, FunctionError> {
    Ok(board
        .find(key)
        .await?
        .and_then(|body| serde_json::from_slice(&body).ok()))
}

fn to_json<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

#[cfg(test)]
mod tests;
