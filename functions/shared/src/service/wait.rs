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

use crate::domain::error::{from_step_input, required_str, InputError};
use crate::domain::lanes::{self, lane_key, place_registration_key, waiting_prefix};
use crate::domain::model::{Lane, RefreshTask, StackEnd, StackRef, WaitKind, WaitRegistration};
use crate::domain::waiting::{
    end_key, is_registration_key, last_end_key, registration_key, stack_end, stack_prefix, wakes,
    CLOCK_SLACK_MS,
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
    let mut registration = WaitRegistration {
        stack_id: task.stack.id.clone(),
        task_token,
        request_token: wait.request_token,
        seen_ms: wait.seen_ms,
        execution: task.execution,
    };
    let key = registration_key(&registration.stack_id, &registration.task_token);
    board.keep(&key, to_json(&registration)).await?;
    let mut report = WaitReport {
        registered: true,
        ..WaitReport::default()
    };
    // Then the ends already recorded: one that came before this registration was written.
    if let Some(ours) = registration.request_token.clone() {
        match read_end(board, &end_key(&registration.stack_id, &ours)).await? {
            Some(end) if end.time_ms + CLOCK_SLACK_MS >= registration.seen_ms => {
                info!(stack = %registration.stack_id, status = %end.status, "our update's end came before its wait: waking now");
                report.woken += send(board, tokens, &key, &registration).await?;
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
            report.woken += send(board, tokens, &key, &registration).await?;
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
    };
    let key = place_registration_key(&stack.account, &stack.region, &registration.task_token);
    board.keep(&key, to_json(&registration)).await?;
    let mut report = WaitReport {
        registered: true,
        ..WaitReport::default()
    };
    let lane = read_lane(board, stack).await?;
    // A holder refused its resources waits for them, not for a place (it has one).
    let wake = match resources_waiter(&lane, &registration, now_ms, 0) {
        Some(fits) => fits,
        None => lanes::free_places(&lane, now_ms, budget) > 0,
    };
    if wake {
        report.woken += send(board, tokens, &key, &registration).await?;
    }
    Ok(report)
}

/// For a registration of a holder refused its resources: whether what it wants fits now,
/// beside `woken` more resources handed on already ([`lanes::may_begin`]); `None` for a
/// step waiting for a place.
fn resources_waiter(lane: &Lane, r: &WaitRegistration, now_ms: u64, woken: u32) -> Option<bool> {
    let execution = r.execution.as_deref()?;
    lanes::may_begin(lane, &r.stack_id, execution, now_ms, woken)
}

/// A stack's refresh ended (its place given back by the refresh): the steps waiting longest
/// for a place in its lane are woken, as many as there are places free.
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
    // finds its token gone: removed, and the next is tried, until `free` are woken.
    // Holders refused their resources are woken as what they want fits (an ended stack
    // gave its resources back), beside the places handed on to stacks waiting for one.
    let mut report = WaitReport::default();
    let (mut places_woken, mut resources_woken) = (0, 0);
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
            None if places_woken >= free => continue,
            None => {
                let woken = send(board, tokens, &key, &registration).await?;
                places_woken += woken;
                report.woken += woken;
            }
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
    // Recorded first, for a step registering at this moment (the module's comment).
    if let Some(token) = end.request_token.as_deref() {
        board
            .keep(&end_key(&end.stack_id, token), to_json(&end))
            .await?;
    }
    // Delivery is out of order: a late event never replaces a later end (a conditional
    // write: two ends delivered at once cannot leave the older one kept).
    let last = last_end_key(&end.stack_id);
    for _ in 0..5 {
        let written = match board.read(&last).await? {
            Some((body, tag)) => {
                let kept: Option<StackEnd> = serde_json::from_slice(&body).ok();
                if kept.is_some_and(|kept| kept.time_ms > end.time_ms) {
                    break;
                }
                board.replace(&last, to_json(&end), &tag).await?
            }
            None => board.create(&last, to_json(&end)).await?,
        };
        if written {
            break;
        }
    }
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

/// Sends the step its token back and removes the registration; 1 when the step was woken,
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
    let sent = tokens.succeed(&registration.task_token, "{}").await?;
    board.forget(key).await?;
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
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    use serde_json::{json, Value};

    use super::*;
    use crate::domain::model::{StackRef, StackWait};
    use crate::ports::AwsError;

    const STACK: &str = "arn:aws:cloudformation:us-east-1:222222222222:stack/app/1";
    const OURS: &str = "RotateToken-false-abc";

    #[derive(Default)]
    struct Board(Mutex<BTreeMap<String, Vec<u8>>>);

    impl LockStore for Board {
        async fn read(&self, key: &str) -> Result<Option<(Vec<u8>, String)>, AwsError> {
            Ok(self
                .0
                .lock()
                .unwrap()
                .get(key)
                .map(|b| (b.clone(), "tag".to_string())))
        }
        async fn create(&self, key: &str, body: Vec<u8>) -> Result<bool, AwsError> {
            self.0.lock().unwrap().insert(key.to_string(), body);
            Ok(true)
        }
        async fn replace(&self, key: &str, body: Vec<u8>, _: &str) -> Result<bool, AwsError> {
            self.0.lock().unwrap().insert(key.to_string(), body);
            Ok(true)
        }
        async fn remove(&self, key: &str, _: &str) -> Result<bool, AwsError> {
            Ok(self.0.lock().unwrap().remove(key).is_some())
        }
    }

    impl WaitBoard for Board {
        async fn keep(&self, key: &str, body: Vec<u8>) -> Result<(), AwsError> {
            self.0.lock().unwrap().insert(key.to_string(), body);
            Ok(())
        }
        async fn find(&self, key: &str) -> Result<Option<Vec<u8>>, AwsError> {
            Ok(self.0.lock().unwrap().get(key).cloned())
        }
        async fn keys(&self, prefix: &str) -> Result<Vec<String>, AwsError> {
            let kept = self.0.lock().unwrap();
            Ok(kept
                .keys()
                .filter(|k| k.starts_with(prefix))
                .cloned()
                .collect())
        }
        async fn forget(&self, key: &str) -> Result<(), AwsError> {
            self.0.lock().unwrap().remove(key);
            Ok(())
        }
    }

    /// Step Functions' side: each token completes once; later sends find it gone.
    #[derive(Default)]
    struct Tokens(Mutex<Vec<String>>);

    impl TaskCallbacks for Tokens {
        async fn succeed(&self, task_token: &str, _: &str) -> Result<Callback, AwsError> {
            let mut sent = self.0.lock().unwrap();
            if sent.iter().any(|t| t == task_token) {
                return Ok(Callback::Gone);
            }
            sent.push(task_token.to_string());
            Ok(Callback::Delivered)
        }
    }

    fn step(task_token: &str, request_token: Option<&str>, seen_ms: u64) -> Value {
        let mut task = RefreshTask::new(StackRef::from_stack_id(STACK).unwrap(), "RotateToken");
        task.wait = Some(StackWait {
            kind: WaitKind::Stack,
            seconds: 60,
            request_token: request_token.map(str::to_string),
            seen_ms,
        });
        json!({"task_token": task_token, "task": task})
    }

    fn end(status: &str, token: &str, time: &str) -> Value {
        json!({"detail-type": "CloudFormation Stack Status Change", "source": "aws.cloudformation",
               "time": time, "detail": {"stack-id": STACK, "status-details": {"status": status},
                                        "client-request-token": token}})
    }

    fn run<T>(f: impl std::future::Future<Output = T>) -> T {
        futures::executor::block_on(f)
    }

    #[test]
    fn an_end_wakes_the_step_waiting_for_it_and_only_once() {
        let (board, tokens) = (Board::default(), Tokens::default());
        let r = run(wait(&board, &tokens, 2, 0, step("t1", Some(OURS), 0))).unwrap();
        assert_eq!((r.registered, r.woken), (true, 0));
        let progress = run(wait(
            &board,
            &tokens,
            2,
            0,
            end("UPDATE_IN_PROGRESS", OURS, "2026-12-04T08:00:00Z"),
        ))
        .unwrap();
        assert_eq!(progress.woken, 0, "an operation in progress ends nothing");
        let woken = run(wait(
            &board,
            &tokens,
            2,
            0,
            end("UPDATE_COMPLETE", OURS, "2026-12-04T08:00:05Z"),
        ))
        .unwrap();
        assert_eq!(woken.woken, 1);
        assert_eq!(*tokens.0.lock().unwrap(), vec!["t1".to_string()]);
        let again = run(wait(
            &board,
            &tokens,
            2,
            0,
            end("UPDATE_COMPLETE", OURS, "2026-12-04T08:00:05Z"),
        ))
        .unwrap();
        assert_eq!(again.woken, 0, "a duplicate finds nothing waiting");
    }

    #[test]
    fn an_end_that_came_before_its_wait_wakes_the_step_as_it_registers() {
        let (board, tokens) = (Board::default(), Tokens::default());
        run(wait(
            &board,
            &tokens,
            2,
            0,
            end("UPDATE_COMPLETE", OURS, "2026-12-04T08:00:05Z"),
        ))
        .unwrap();
        let r = run(wait(&board, &tokens, 2, 0, step("t1", Some(OURS), 0))).unwrap();
        assert_eq!((r.registered, r.woken), (true, 1));
        let left: Vec<String> = board.0.lock().unwrap().keys().cloned().collect();
        assert!(
            left.iter()
                .all(|k| !crate::domain::waiting::is_registration_key(k)),
            "the woken registration is removed: {left:?}"
        );
    }

    #[test]
    fn another_operations_end_wakes_only_a_wait_for_someone_elses_operation() {
        let (board, tokens) = (Board::default(), Tokens::default());
        let seen = crate::domain::utc::parse_ms("2026-12-04T08:00:00Z").unwrap();
        run(wait(&board, &tokens, 2, 0, step("ours", Some(OURS), seen))).unwrap();
        run(wait(&board, &tokens, 2, 0, step("theirs", None, seen))).unwrap();
        let r = run(wait(
            &board,
            &tokens,
            2,
            0,
            end(
                "UPDATE_COMPLETE",
                "Console-Update-1",
                "2026-12-04T08:00:09Z",
            ),
        ))
        .unwrap();
        assert_eq!(r.woken, 1);
        assert_eq!(*tokens.0.lock().unwrap(), vec!["theirs".to_string()]);
    }

    #[test]
    fn a_late_end_never_replaces_a_later_one_and_wakes_no_newer_wait() {
        let (board, tokens) = (Board::default(), Tokens::default());
        run(wait(
            &board,
            &tokens,
            2,
            0,
            end("UPDATE_COMPLETE", "Console-2", "2026-12-04T08:10:00Z"),
        ))
        .unwrap();
        run(wait(
            &board,
            &tokens,
            2,
            0,
            end("UPDATE_COMPLETE", "Console-1", "2026-12-04T08:00:00Z"),
        ))
        .unwrap();
        let seen = crate::domain::utc::parse_ms("2026-12-04T08:20:00Z").unwrap();
        let r = run(wait(&board, &tokens, 2, 0, step("t", None, seen))).unwrap();
        assert_eq!(
            r.woken, 0,
            "both ends are older than the operation it waits for"
        );
        let last: StackEnd =
            serde_json::from_slice(board.0.lock().unwrap().get(&last_end_key(STACK)).unwrap())
                .unwrap();
        assert_eq!(last.request_token.as_deref(), Some("Console-2"));
    }

    #[test]
    fn a_wait_on_our_update_that_ended_before_the_stack_was_seen_busy_waits_for_the_next_end() {
        let (board, tokens) = (Board::default(), Tokens::default());
        run(wait(
            &board,
            &tokens,
            2,
            0,
            end("UPDATE_COMPLETE", OURS, "2026-12-04T08:00:00Z"),
        ))
        .unwrap();
        // Someone's deploy began after our update ended; the refresh saw the stack busy.
        let seen = crate::domain::utc::parse_ms("2026-12-04T08:05:00Z").unwrap();
        let r = run(wait(&board, &tokens, 2, 0, step("t", Some(OURS), seen))).unwrap();
        assert_eq!(
            r.woken, 0,
            "not woken by our old end (it would find the stack busy again)"
        );
        let r = run(wait(
            &board,
            &tokens,
            2,
            0,
            end("UPDATE_COMPLETE", "Console-1", "2026-12-04T08:06:00Z"),
        ))
        .unwrap();
        assert_eq!(r.woken, 1, "the deploy's end wakes it");
    }

    #[test]
    fn a_freed_place_goes_to_the_longest_waiting_step_that_still_waits() {
        let (board, tokens) = (Board::default(), Tokens::default());
        let place = |token: &str, since: u64| {
            let mut s = step(token, None, since);
            s["task"]["wait"]["kind"] = json!("place");
            s
        };
        // Lane full (2 places, 2 holders): registered, not woken.
        let lane = Lane {
            places: 2,
            holders: [("a", 0), ("b", 0)]
                .into_iter()
                .map(|(k, at)| {
                    (
                        k.to_string(),
                        crate::domain::model::LaneHolder {
                            execution: "run".into(),
                            renewed_ms: at,
                            resources: 0,
                            wants: 0,
                        },
                    )
                })
                .collect(),
            changed_ms: 0,
            ..Default::default()
        };
        let key = crate::domain::lanes::lane_key(&StackRef::from_stack_id(STACK).unwrap());
        board
            .0
            .lock()
            .unwrap()
            .insert(key.clone(), serde_json::to_vec(&lane).unwrap());
        for (token, since) in [("timed-out", 1), ("first", 2), ("second", 3)] {
            let r = run(wait(&board, &tokens, 2, 10, place(token, since))).unwrap();
            assert_eq!((r.registered, r.woken), (true, 0), "{token}");
        }
        tokens.0.lock().unwrap().push("timed-out".into()); // its step timed out and asked again
        let mut freed = lane.clone();
        freed.holders.remove("a");
        board
            .0
            .lock()
            .unwrap()
            .insert(key, serde_json::to_vec(&freed).unwrap());
        let task = step("x", None, 0)["task"].clone();
        let r = run(wait(&board, &tokens, 2, 10, json!({"place_freed": task}))).unwrap();
        assert_eq!(r.woken, 1);
        assert_eq!(
            tokens.0.lock().unwrap().last().map(String::as_str),
            Some("first")
        );
    }

    #[test]
    fn bad_input_is_refused_naming_the_field_and_changes_nothing() {
        let (board, tokens) = (Board::default(), Tokens::default());
        let err = run(wait(&board, &tokens, 2, 0, json!({"hello": 1}))).unwrap_err();
        assert!(err.to_string().contains("input"), "{err}");
        let mut no_wait = step("t", None, 0);
        no_wait["task"]["wait"] = Value::Null;
        let err = run(wait(&board, &tokens, 2, 0, no_wait)).unwrap_err();
        assert!(err.to_string().contains("input.task.wait"), "{err}");
        let mut bad_time = end("UPDATE_COMPLETE", OURS, "yesterday");
        bad_time["time"] = json!("yesterday");
        let err = run(wait(&board, &tokens, 2, 0, bad_time)).unwrap_err();
        assert!(err.to_string().contains("time"), "{err}");
        assert!(board.0.lock().unwrap().is_empty());
    }
}
