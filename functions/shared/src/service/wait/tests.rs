//! The waiter's use case, tested with an in-memory board and Step Functions' side.

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

/// Step Functions' side: each token completes once; later sends find it gone. The outputs
/// delivered, in order, beside the tokens.
#[derive(Default)]
struct Tokens(Mutex<Vec<String>>, Mutex<Vec<String>>);

impl TaskCallbacks for Tokens {
    async fn succeed(&self, task_token: &str, output: &str) -> Result<Callback, AwsError> {
        let mut sent = self.0.lock().unwrap();
        if sent.iter().any(|t| t == task_token) {
            return Ok(Callback::Gone);
        }
        sent.push(task_token.to_string());
        self.1.lock().unwrap().push(output.to_string());
        Ok(Callback::Delivered)
    }
}

/// A look's own registration (the refresh's, [`keep_for_stack`]): its next task kept.
fn own_wait(task_token: &str) -> (WaitRegistration, RefreshTask) {
    let mut next = RefreshTask::new(StackRef::from_stack_id(STACK).unwrap(), "RotateToken");
    next.update_started = true;
    next.look_seconds = 135;
    let registration = WaitRegistration {
        stack_id: STACK.into(),
        task_token: task_token.into(),
        request_token: Some(OURS.into()),
        seen_ms: 0,
        execution: Some("run".into()),
        task: serde_json::to_value(&next).ok(),
    };
    (registration, next)
}

fn registrations(board: &Board) -> Vec<String> {
    let kept = board.0.lock().unwrap();
    kept.keys()
        .filter(|k| crate::domain::waiting::is_registration_key(k))
        .cloned()
        .collect()
}

/// A look keeps its own registration (nothing written beside it here).
fn keep_own(
    board: &Board,
    tokens: &Tokens,
    registration: WaitRegistration,
) -> Result<WaitReport, FunctionError> {
    run(keep_for_stack(board, tokens, registration, false, async {}))
}

#[test]
fn a_look_waiting_on_its_own_token_is_sent_its_next_task_by_the_end_it_waits_for() {
    let (board, tokens) = (Board::default(), Tokens::default());
    let (registration, next) = own_wait("own");
    let r = keep_own(&board, &tokens, registration).unwrap();
    assert_eq!((r.registered, r.woken), (true, 0));
    let r = run(wait(
        &board,
        &tokens,
        2,
        0,
        end("UPDATE_COMPLETE", OURS, "2026-12-04T08:00:05Z"),
    ))
    .unwrap();
    assert_eq!(r.woken, 1);
    // The step's output is its callback's: the look's next task, exactly.
    let sent: RefreshTask = serde_json::from_str(&tokens.1.lock().unwrap()[0]).unwrap();
    assert_eq!(sent, next);
    // Kept: the run's next own wait on the stack writes the same key (a removal after the
    // wake could take that one's), and replaces it.
    assert_eq!(registrations(&board).len(), 1);
    // A WaitForStack step keeps its own input: it is sent nothing of a task.
    run(wait(&board, &tokens, 2, 0, step("w", None, 0))).unwrap();
    run(wait(
        &board,
        &tokens,
        2,
        0,
        end("UPDATE_COMPLETE", "Console-1", "2026-12-04T08:00:09Z"),
    ))
    .unwrap();
    assert_eq!(tokens.1.lock().unwrap()[1], "{}");
}

#[test]
fn a_look_whose_end_came_first_wakes_itself_and_leaves_its_registration_to_the_waiter() {
    let (board, tokens) = (Board::default(), Tokens::default());
    run(wait(
        &board,
        &tokens,
        2,
        0,
        end("UPDATE_COMPLETE", OURS, "2026-12-04T08:00:05Z"),
    ))
    .unwrap();
    let (registration, next) = own_wait("own");
    let r = keep_own(&board, &tokens, registration).unwrap();
    assert_eq!((r.registered, r.woken), (true, 1));
    let sent: RefreshTask = serde_json::from_str(&tokens.1.lock().unwrap()[0]).unwrap();
    assert_eq!(sent, next);
    // The refresh removes nothing (its role cannot): the run's next own wait on the stack
    // replaces it, the bucket's lifecycle removes the last (template.yaml, expire-waits);
    // an end that would wake it again (its update's, delivered twice) wakes nothing.
    assert_eq!(registrations(&board).len(), 1);
    let r = run(wait(
        &board,
        &tokens,
        2,
        0,
        end("UPDATE_COMPLETE", OURS, "2026-12-04T08:00:05Z"),
    ))
    .unwrap();
    assert_eq!(r.woken, 0);
    let (again, _) = own_wait("own-2");
    keep_own(&board, &tokens, again).unwrap();
    assert_eq!(registrations(&board).len(), 1, "one per stack and run");
}

#[test]
fn a_look_whose_step_timed_out_leaves_its_task_for_the_look_after_the_time_out() {
    let (board, tokens) = (Board::default(), Tokens::default());
    let (registration, next) = own_wait("own");
    keep_own(&board, &tokens, registration).unwrap();
    // The step timed out: Step Functions closed its token.
    tokens.0.lock().unwrap().push("own".into());
    let r = run(wait(
        &board,
        &tokens,
        2,
        0,
        end("UPDATE_COMPLETE", OURS, "2026-12-04T08:00:05Z"),
    ))
    .unwrap();
    assert_eq!(r.woken, 0);
    let key = crate::domain::waiting::own_registration_key(STACK, "run");
    let kept: WaitRegistration = serde_json::from_slice(&board.0.lock().unwrap()[&key]).unwrap();
    let kept: RefreshTask = serde_json::from_value(kept.task.unwrap()).unwrap();
    assert_eq!(kept, next, "kept for the next look");
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

/// Stack `n` of the lane the tests' steps wait in (STACK's account-region).
fn app(n: u32) -> String {
    format!("arn:aws:cloudformation:us-east-1:222222222222:stack/app{n}/{n}")
}

/// Stack `n`'s step of run `run`, waiting for a place since `n` ms.
fn waiting_for_place(n: u32, token: &str) -> Value {
    let mut task = RefreshTask::new(StackRef::from_stack_id(&app(n)).unwrap(), "RotateToken");
    task.execution = Some("run".into());
    task.wait = Some(StackWait {
        kind: WaitKind::Place,
        seconds: 300,
        request_token: None,
        seen_ms: u64::from(n),
    });
    json!({"task_token": token, "task": task})
}

fn holder() -> crate::domain::model::LaneHolder {
    crate::domain::model::LaneHolder {
        execution: "run".into(),
        renewed_ms: 0,
        resources: 0,
        wants: 0,
    }
}

/// A lane of `places` held by `holders` (holder keys).
fn lane_of(places: u32, holders: &[&str]) -> Lane {
    Lane {
        places,
        holders: holders.iter().map(|h| (h.to_string(), holder())).collect(),
        ..Default::default()
    }
}

fn put_lane(board: &Board, lane: &Lane) {
    let key = crate::domain::lanes::lane_key(&StackRef::from_stack_id(STACK).unwrap());
    board
        .0
        .lock()
        .unwrap()
        .insert(key, serde_json::to_vec(lane).unwrap());
}

/// The lane's holders now, sorted.
fn held(board: &Board) -> Vec<String> {
    let key = crate::domain::lanes::lane_key(&StackRef::from_stack_id(STACK).unwrap());
    let (body, _) = run(board.read(&key)).unwrap().unwrap();
    let lane: Lane = serde_json::from_slice(&body).unwrap();
    let mut held: Vec<String> = lane.holders.into_keys().collect();
    held.sort();
    held
}

/// Steps of stacks `n` registering to wait for a place, in a lane found full: none woken.
fn register_waiting(board: &Board, tokens: &Tokens, budget: u32, steps: &[(u32, &str)]) {
    for (n, token) in steps {
        let r = run(wait(
            board,
            tokens,
            budget,
            10,
            waiting_for_place(*n, token),
        ))
        .unwrap();
        assert_eq!((r.registered, r.woken), (true, 0), "{token}");
    }
}

/// A stack of the lane ended: its place is handed on.
fn place_freed(board: &Board, tokens: &Tokens, budget: u32) -> WaitReport {
    let ended = step("x", None, 0)["task"].clone();
    run(wait(
        board,
        tokens,
        budget,
        10,
        json!({"place_freed": ended}),
    ))
    .unwrap()
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
        serde_json::from_slice(board.0.lock().unwrap().get(&last_end_key(STACK)).unwrap()).unwrap();
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
fn stacks_ending_together_hand_on_only_the_places_there_are() {
    let (board, tokens) = (Board::default(), Tokens::default());
    // Two places, both held by stacks a and b: three steps wait for a place.
    put_lane(&board, &lane_of(2, &["a", "b"]));
    register_waiting(&board, &tokens, 2, &[(1, "w1"), (2, "w2"), (3, "w3")]);
    // a and b end together: both give their places back before either hand-over runs.
    put_lane(&board, &lane_of(2, &[]));
    let woken = place_freed(&board, &tokens, 2).woken + place_freed(&board, &tokens, 2).woken;
    assert_eq!(
        woken, 2,
        "two places free, two steps woken, however many hand-overs"
    );
    assert_eq!(
        *tokens.0.lock().unwrap(),
        ["w1", "w2"],
        "the longest waiting"
    );
    assert_eq!(
        held(&board),
        [format!("run {}", app(1)), format!("run {}", app(2))],
        "their places are theirs before they look"
    );
}

#[test]
fn a_stale_registration_of_a_stack_that_got_in_by_itself_leaves_its_place_alone() {
    let (board, tokens) = (Board::default(), Tokens::default());
    put_lane(&board, &lane_of(2, &["a", "b"]));
    register_waiting(&board, &tokens, 2, &[(1, "stale-1"), (2, "w2")]);
    // Stack 1's step timed out and its own look got a (grown) place: it runs, holding it;
    // its old registration is still on the board. Then b ends.
    tokens.0.lock().unwrap().push("stale-1".into());
    let one = format!("run {}", app(1));
    put_lane(&board, &lane_of(3, &["a", &one]));
    assert_eq!(
        place_freed(&board, &tokens, 3).woken,
        1,
        "the step still waiting is woken"
    );
    assert_eq!(
        held(&board),
        ["a".to_string(), one, format!("run {}", app(2))],
        "the running stack keeps its place"
    );
}

#[test]
fn a_place_taken_for_a_step_gone_is_given_back_and_goes_to_the_next() {
    let (board, tokens) = (Board::default(), Tokens::default());
    put_lane(&board, &lane_of(2, &["a", "b"]));
    register_waiting(&board, &tokens, 2, &[(1, "gone-1"), (2, "w2")]);
    // Stack 1's step no longer waits (its run was stopped); then b ends.
    tokens.0.lock().unwrap().push("gone-1".into());
    put_lane(&board, &lane_of(2, &["a"]));
    assert_eq!(
        place_freed(&board, &tokens, 2).woken,
        1,
        "the place goes on to the step still waiting"
    );
    assert_eq!(held(&board), ["a".to_string(), format!("run {}", app(2))]);
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
