//! Every JSONPath the state machine reads is a field the Rust types write, and every
//! value its Choices compare with is one they write.

use super::*;

/// Every JSONPath in a state of the definition (`$.…`, not the context `$$.…`): values of
/// `….$` parameters, Choice variables and the state's path fields, with the state's name.
fn json_paths(states: &Value, out: &mut Vec<(String, String, String)>) {
    fn walk(state: &str, node: &Value, out: &mut Vec<(String, String, String)>) {
        match node {
            Value::Object(map) => {
                for (k, v) in map {
                    if k == "States" {
                        json_paths(v, out);
                        continue;
                    }
                    let is_path = k.ends_with(".$")
                        || matches!(
                            k.as_str(),
                            "Variable"
                                | "InputPath"
                                | "OutputPath"
                                | "ResultPath"
                                | "ItemsPath"
                                | "MaxConcurrencyPath"
                                | "CausePath"
                                | "ErrorPath"
                                | "TimeoutSecondsPath"
                                | "SecondsPath"
                        );
                    match v.as_str() {
                        Some(p) if is_path && p.starts_with("$.") => {
                            out.push((state.to_string(), k.clone(), p.to_string()))
                        }
                        // An intrinsic function's arguments (`States.Format('…', $.a.b)`).
                        Some(p) if is_path && p.starts_with("States.") => {
                            for arg in p.split(|c: char| c == ',' || c == ')' || c.is_whitespace())
                            {
                                if arg.starts_with("$.") {
                                    out.push((state.to_string(), k.clone(), arg.to_string()));
                                }
                            }
                        }
                        _ => walk(state, v, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|i| walk(state, i, out)),
            _ => {}
        }
    }
    for (name, state) in states.as_object().unwrap() {
        walk(name, state, out);
    }
}

/// The value at a simple JSONPath (`$.a.b`), if the document has it.
fn at<'a>(doc: &'a Value, path: &str) -> Option<&'a Value> {
    path.trim_start_matches("$.")
        .split('.')
        .try_fold(doc, |v, key| v.get(key))
}

#[test]
fn every_path_the_state_machine_reads_is_a_field_the_rust_types_write() {
    use rotatetoken::domain::model::{
        DiscoveryOutput, Outcome, RefreshTask, ReportInput, RunFiles, StackRef,
    };
    use rotatetoken::domain::report;

    // What each function returns, serialized by its own Rust type (the fields the code
    // writes, `skip_serializing_if` included), in the state that reads it.
    let discovery: DiscoveryOutput = serde_json::from_value(serde_json::json!({
        "secret": {"arn": "arn:aws:secretsmanager:us-east-1:111111111111:secret:prod/db-AbCdEf", "name": "prod/db"},
        "cause": "PutSecretValue", "dry_run": false, "parameter": "RotateToken", "mode": "all",
        "max_concurrency": 10, "scanned": 1, "not_consumers": 0, "selected": [], "skipped": []
    }))
    .unwrap();
    let discovery = DiscoveryOutput {
        run: Some(RunFiles::new("runs", "exec-1")),
        ..discovery
    };
    let stack =
        StackRef::from_stack_id("arn:aws:cloudformation:us-east-1:111111111111:stack/app/1")
            .unwrap();
    let mut waiting = RefreshTask::new(stack, "RotateToken");
    waiting.outcome = Outcome::Waiting;
    waiting.wait = Some(rotatetoken::domain::waiting::wait_for(
        Some("RotateToken-false-abc".into()),
        None,
        1_000,
        60_000,
    ));
    let mut summary = report::summarise(discovery.clone(), Some(vec![]));
    summary.run_failed = true; // the Fail state is reached only then
    summary.failure_cause = Some(report::failure_cause(&summary));
    let discover_out = serde_json::to_value(&discovery).unwrap();
    let refresh_out = serde_json::to_value(&waiting).unwrap();
    // Each Map item as discovery writes it: a new task.
    let item_out = serde_json::to_value(RefreshTask::new(
        StackRef::from_stack_id("arn:aws:cloudformation:us-east-1:111111111111:stack/app/1")
            .unwrap(),
        "RotateToken",
    ))
    .unwrap();
    let report_out = serde_json::to_value(&summary).unwrap();
    // The execution's input as the trigger writes it for a change (a window set).
    let trigger_out = serde_json::to_value(rotatetoken::domain::model::ExecutionInput {
        secret: discovery.secret.clone(),
        cause: "PutSecretValue".into(),
        dry_run: false,
        reconcile: false,
        coalesce_seconds: 120,
    })
    .unwrap();
    // The Lambda integration's own envelope (`$.Payload`) is AWS's, not ours.
    let lambda_result = serde_json::json!({"Payload": {}, "StatusCode": 200});
    // What the fallback alert reads: the Map's (or Report's) input, with the error its
    // Catch wrote where the Catch says (Step Functions' error output: Error and Cause).
    let states = &definition()["States"];
    let run_error_at = states["RefreshStacks"]["Catch"][0]["ResultPath"]
        .as_str()
        .expect("the Map catches its failure")
        .trim_start_matches("$.")
        .to_string();
    let mut caught_run = discover_out.clone();
    caught_run[&run_error_at] =
        serde_json::json!({"Error": "States.ResultWriterFailed", "Cause": "AccessDenied"});

    let mut paths = Vec::new();
    json_paths(&definition()["States"], &mut paths);
    assert!(paths.len() >= 8, "the definition was read: {paths:?}");
    let mut unchecked = Vec::new();
    for (state, field, path) in &paths {
        let document = match (state.as_str(), field.as_str()) {
            (_, "OutputPath") => &lambda_result,
            (
                "DryRun?" | "RefreshStacks",
                "Variable" | "Bucket.$" | "Key.$" | "MaxConcurrencyPath",
            ) => &discover_out,
            ("StillUpdating?", "Variable")
            | ("WaitForStack", "TimeoutSecondsPath" | "task.$")
            | ("Refresh", "TimeoutSecondsPath")
            | ("Pause", "SecondsPath") => &refresh_out,
            ("Stagger", "SecondsPath") => &item_out,
            ("GatherChanges", "Variable") | ("WaitForMoreChanges", "SecondsPath") => &trigger_out,
            ("AnyFailed?" | "StacksFailed", "Variable" | "CausePath") => &report_out,
            ("AlertRunNotReported", "Message.$") | ("RunNotReported", "CausePath") => &caught_run,
            // Where a result is written: checked below against the type that reads it.
            (_, "ResultPath") => continue,
            _ => {
                unchecked.push(format!("{state}.{field} = {path}"));
                continue;
            }
        };
        assert!(
            at(document, path).is_some(),
            "{state}.{field} reads {path}, which the Rust type does not write: {document}"
        );
    }
    assert!(
        unchecked.is_empty(),
        "paths with no Rust type to check them against (add them here): {unchecked:?}"
    );
    // The values the Choices compare with are the ones the types write.
    // The loop's Choices compare with what the refresh writes for a waiting stack: its
    // outcome, and the kind of its wait (`stack` here, as serde names WaitKind::Stack).
    let choices = &definition()["States"]["RefreshStacks"]["ItemProcessor"]["States"]
        ["StillUpdating?"]["Choices"];
    // One pass over its rules (an `And`'s, or the choice itself): the strings compare with
    // what the refresh writes; the hand-over is skipped only on the boolean every look
    // writes (`place_wanted`).
    let (mut compared, mut booleans) = (0, 0);
    for choice in choices.as_array().unwrap() {
        let rules = choice["And"]
            .as_array()
            .cloned()
            .unwrap_or(vec![choice.clone()]);
        for rule in rules.iter().filter(|r| r.get("StringEquals").is_some()) {
            let written = at(&refresh_out, rule["Variable"].as_str().unwrap());
            let wanted = &rule["StringEquals"];
            let pause = serde_json::json!("pause");
            assert!(
                written == Some(wanted) || wanted == &pause,
                "StillUpdating? compares {} with {wanted}, the refresh writes {written:?}",
                rule["Variable"]
            );
            compared += 1;
        }
        for rule in rules.iter().filter(|r| r.get("BooleanEquals").is_some()) {
            let variable = rule["Variable"].as_str().unwrap();
            assert!(
                at(&refresh_out, variable).is_some_and(Value::is_boolean)
                    && at(&item_out, variable).is_some_and(Value::is_boolean),
                "StillUpdating? compares {variable} with a boolean, which every task must carry"
            );
            assert_eq!(choice["Next"], "StackDone", "{choice}");
            // A task from before the field (an execution begun by an earlier version)
            // lacks it: AWS fails a Choice whose Variable is absent (States.Runtime)
            // unless the rule first asks whether it is present.
            assert!(
                rules.iter().any(|r| r["Variable"] == variable
                    && r["IsPresent"] == serde_json::json!(true)),
                "StillUpdating? must ask whether {variable} is present before comparing it: {choice}"
            );
            booleans += 1;
        }
    }
    assert!(compared >= 3, "{choices}");
    assert_eq!(booleans, 1, "{choices}");
    assert_eq!(
        serde_json::to_value(rotatetoken::domain::model::WaitKind::Pause).unwrap(),
        "pause"
    );
    assert!(at(&refresh_out, "$.wait.seconds").unwrap().is_u64());
    assert!(at(&item_out, "$.start_after_seconds").unwrap().is_u64());
    // Refresh's time-out is read from every task it is entered with: discovery's first.
    assert!(at(&item_out, "$.look_seconds").unwrap().as_u64().unwrap() > 0);
    assert!(at(&discover_out, "$.dry_run").unwrap().is_boolean());
    assert!(at(&report_out, "$.run_failed").unwrap().is_boolean());
    assert!(at(&discover_out, "$.max_concurrency").unwrap().is_u64());

    // Where a state writes a result, the type that reads it next takes it from there.
    let results_at = states["RefreshStacks"]["ResultPath"]
        .as_str()
        .map(|p| p.trim_start_matches("$.").to_string())
        .expect("the Map writes its results into the state");
    let mut report_in = discover_out.clone();
    report_in[&results_at] = serde_json::json!([refresh_out.clone()]);
    let read: ReportInput = serde_json::from_value(report_in).unwrap();
    assert!(
        read.results.is_some(),
        "Report reads the Map's results at {results_at}"
    );
    // Refresh's catchers write where the task reads: a failure for good (RecordError), and
    // a look's time-out, which goes back to Refresh (RefreshTask's `error`, `timed_out`).
    let catches: Vec<Value> = serde_json::from_value(
        states["RefreshStacks"]["ItemProcessor"]["States"]["Refresh"]["Catch"].clone(),
    )
    .unwrap();
    for (error, next, field) in [
        ("States.ALL", "RecordError", "error"),
        ("States.Timeout", "Refresh", "timed_out"),
    ] {
        let catch = catches
            .iter()
            .find(|c| c["ErrorEquals"] == serde_json::json!([error]));
        let catch = catch.unwrap_or_else(|| panic!("Refresh catches {error}"));
        assert_eq!(catch["Next"], next);
        let path = catch["ResultPath"].as_str().unwrap();
        let mut caught = refresh_out.clone();
        caught[&path[2..]] = serde_json::json!({"Error": error, "Cause": "x"});
        let task: RefreshTask = serde_json::from_value(caught).unwrap();
        let read = serde_json::to_value(task).unwrap();
        assert!(
            read[field].is_object(),
            "{error}'s Catch writes {path}: {read}"
        );
    }
}
