//! What crosses between the state machine, the Rust code and the template is defined once
//! and checked here: the error names the ASL retries and catches are the ones the handlers
//! raise; every Lambda task retries the transient errors AWS documents for Lambda; the
//! environment variables the template sets are the ones the code reads.

use std::collections::BTreeSet;

use rotatetoken::config::TEMPLATE_VARIABLES;
use rotatetoken::handler::FunctionError;
use rotatetoken_tests::{repo_root, template_facts};
use serde_json::Value;

/// Lambda's transient errors, as the Step Functions developer guide lists them
/// ("Handling transient Lambda service exceptions": `Lambda.ServiceException`,
/// `Lambda.AWSLambdaException`, `Lambda.SdkClientException`,
/// `Lambda.ClientExecutionTimeoutException`), plus `Lambda.TooManyRequestsException`
/// (throttled invoke), `Sandbox.Timedout` (the function timed out) and `Runtime.ExitError`
/// (its process was killed: out of memory, a crash; Lambda developer guide,
/// "Troubleshoot invocation issues"), after which the task's input predates what it did.
const LAMBDA_TRANSIENT: [&str; 7] = [
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.ClientExecutionTimeoutException",
    "Lambda.TooManyRequestsException",
    "Sandbox.Timedout",
    "Runtime.ExitError",
];

fn definition() -> Value {
    let text =
        std::fs::read_to_string(repo_root().join("statemachine/rotatetoken.asl.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Every Task state, at any depth: (name, state).
fn tasks(states: &Value, out: &mut Vec<(String, Value)>) {
    for (name, state) in states.as_object().unwrap() {
        if state["Type"] == "Task" {
            out.push((name.clone(), state.clone()));
        }
        if let Some(inner) = state.get("ItemProcessor").or_else(|| state.get("Iterator")) {
            tasks(&inner["States"], out);
        }
    }
}

fn names(rules: &Value) -> BTreeSet<String> {
    rules
        .as_array()
        .map(|rules| {
            rules
                .iter()
                .flat_map(|r| r["ErrorEquals"].as_array().cloned().unwrap_or_default())
                .filter_map(|e| e.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn the_state_machine_names_exactly_the_errors_the_handlers_raise() {
    let mut all = Vec::new();
    tasks(&definition()["States"], &mut all);
    assert!(all.len() >= 3, "{all:?}");
    let raised: BTreeSet<String> = FunctionError::ALL.iter().map(|s| s.to_string()).collect();
    let lambda_tasks = all.iter().filter(|(_, t)| {
        t["Resource"]
            .as_str()
            .is_some_and(|r| r.starts_with("arn:aws:states:::lambda:invoke"))
    });
    assert!(lambda_tasks.clone().count() >= 3, "{all:?}");
    for (name, task) in lambda_tasks {
        let mentioned: BTreeSet<String> = names(&task["Retry"])
            .union(&names(&task["Catch"]))
            .filter(|e| e.starts_with("RotateToken."))
            .cloned()
            .collect();
        let unknown: Vec<_> = mentioned.difference(&raised).collect();
        assert!(
            unknown.is_empty(),
            "{name} names errors no handler raises: {unknown:?}"
        );
        let retried = names(&task["Retry"]);
        for transient in LAMBDA_TRANSIENT {
            assert!(
                retried.contains(transient),
                "{name} does not retry {transient}"
            );
        }
        assert!(
            retried.contains(FunctionError::AWS),
            "{name} does not retry {}",
            FunctionError::AWS
        );
    }
    let refresh = &all.iter().find(|(n, _)| n == "Refresh").unwrap().1;
    assert!(
        names(&refresh["Retry"]).contains(FunctionError::AWS_AFTER_CHANGE),
        "Refresh must retry {}",
        FunctionError::AWS_AFTER_CHANGE
    );
    assert!(
        names(&refresh["Catch"]).contains("States.ALL"),
        "every failure of Refresh must reach RecordError"
    );
}

/// The end statuses the waiter wakes on are the ones the pipeline's rule and the target
/// accounts' forwarding rule let through: one missing would leave its waits to time out,
/// one too many would invoke the waiter for nothing.
#[test]
fn the_rules_that_wake_waiting_steps_pass_exactly_the_end_statuses() {
    use rotatetoken::domain::waiting::END_STATUSES;
    let ends: BTreeSet<String> = END_STATUSES.iter().map(|s| s.to_string()).collect();
    let statuses = |pattern: &Value| -> BTreeSet<String> {
        assert_eq!(pattern["source"], serde_json::json!(["aws.cloudformation"]));
        assert_eq!(
            pattern["detail-type"],
            serde_json::json!([rotatetoken::domain::waiting::STATUS_CHANGE])
        );
        pattern["detail"]["status-details"]["status"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect()
    };
    let facts = template_facts();
    let pipeline = facts["rule_patterns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "StackOperationEnded")
        .expect("template.yaml routes stack ends to the waiter");
    assert_eq!(pipeline["function"], "WaiterFunction");
    assert_eq!(statuses(&pipeline["pattern"]), ends, "template.yaml");
    let targets = rotatetoken_tests::template_facts_of("target-role.yaml");
    let forward = targets["other_rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "ForwardStackOperationEnds")
        .expect("target-role.yaml forwards stack ends");
    assert_eq!(statuses(&forward["pattern"]), ends, "target-role.yaml");
    for status in &ends {
        assert!(rotatetoken::domain::waiting::is_end(status), "{status}");
    }
}

#[test]
fn each_function_is_set_exactly_the_variables_its_settings_read() {
    use rotatetoken::config;
    let facts = template_facts();
    let strings = |v: &Value| -> BTreeSet<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect()
    };
    let globals = strings(&facts["global_environment"]);
    // A valid value for every variable any setting reads, so that each function's reader
    // gets through all of its settings (what they are does not matter here, only which
    // names are read).
    let values: std::collections::BTreeMap<String, String> = [
        ("PARAMETER_NAME", "RotateToken"),
        ("VERSION_PARAMETER_NAME", "RotateTokenVersion"),
        ("SELECTION_MODE", "all"),
        ("MAX_CONCURRENCY", "10"),
        ("POLL_INTERVAL_SECONDS", "15"),
        ("MAX_WAIT_SECONDS", "3600"),
        ("STEP_BUDGET_SECONDS", "600"),
        ("WAIT_FOR_STATUS_EVENTS", "true"),
        ("TARGET_ACCOUNTS", "111111111111"),
        ("TARGET_ORGANIZATIONAL_UNITS", ""),
        ("TARGET_REGIONS", "us-east-1"),
        ("TARGET_ROLE_NAME", "RotateTokenTarget"),
        ("TARGET_EXTERNAL_ID", "x"),
        ("RUNS_BUCKET", "runs"),
        (
            "ALERTS_TOPIC_ARN",
            "arn:aws:sns:us-east-1:111111111111:alerts",
        ),
        (
            "STATE_MACHINE_ARN",
            "arn:aws:states:us-east-1:111111111111:stateMachine:rt",
        ),
        ("SECRET_NAME_PREFIXES", "prod/"),
        ("SOURCE_ACCOUNTS", ""),
        ("REQUIRE_OPT_IN_TAG", "no"),
        ("STACKS_WITHOUT_SERVICE_ROLE", ""),
        ("RECONCILE_ACTION", "alert"),
        ("AWS_REGION", "us-east-1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert!(
        config::use_variables(values),
        "the first settings read here"
    );
    // Lambda sets these itself.
    let lambda_sets = |n: &String| n != "AWS_REGION" && n != "AWS_DEFAULT_REGION";
    let mut read_by_any = BTreeSet::new();
    let functions = facts["functions"].as_object().unwrap();
    assert_eq!(
        functions.len(),
        5,
        "every function of the template is checked"
    );
    for (logical, f) in functions {
        let binary = f["binary"].as_str().unwrap();
        config::variables_read();
        match binary {
            "rotatetoken-discover" => drop(config::discover().unwrap()),
            "rotatetoken-refresh" => drop(config::refresh().unwrap()),
            "rotatetoken-report" => drop(config::report()),
            "rotatetoken-trigger" => drop(config::trigger().unwrap()),
            "rotatetoken-waiter" => drop(config::waiter().unwrap()),
            other => panic!("{logical}: no settings reader for {other}"),
        }
        let read: BTreeSet<String> = config::variables_read()
            .into_iter()
            .filter(lambda_sets)
            .collect();
        let own = strings(&f["environment"]);
        let set: BTreeSet<String> = own.union(&globals).cloned().collect();
        let not_set: Vec<_> = read.difference(&set).collect();
        let not_read: Vec<_> = own.difference(&read).collect();
        assert!(
            not_set.is_empty(),
            "{logical} reads {not_set:?}, which template.yaml does not set for it"
        );
        assert!(
            not_read.is_empty(),
            "template.yaml sets {not_read:?} for {logical}, which never reads it"
        );
        read_by_any.extend(read);
    }
    let unread: Vec<_> = globals.difference(&read_by_any).collect();
    assert!(
        unread.is_empty(),
        "Globals set {unread:?}, which no function reads"
    );
    // And every name a reader may ask for is one of these (config::var's own check).
    let known: BTreeSet<String> = TEMPLATE_VARIABLES.iter().map(|v| v.to_string()).collect();
    assert!(read_by_any.is_subset(&known));
}

#[test]
fn a_distributed_map_tolerates_its_children_failing_so_report_always_runs() {
    let d = definition();
    let map = &d["States"]["RefreshStacks"];
    assert_eq!(
        map["ItemProcessor"]["ProcessorConfig"]["Mode"],
        "DISTRIBUTED"
    );
    assert_eq!(
        map["ToleratedFailurePercentage"], 100,
        "AWS's default (0) fails the Map on one failed child and Report never runs"
    );
}

/// No lost trigger: an event EventBridge cannot deliver and an invocation that fails after
/// Lambda's own retries both land in one queue, and an alarm on that queue tells the
/// operators (Lambda's "asynchronous invocation" destinations; EventBridge rule target
/// dead-letter queues).
#[test]
fn a_trigger_that_fails_for_good_lands_in_a_queue_with_an_alarm() {
    let facts = template_facts();
    let queue = facts["functions"]["TriggerFunction"]["on_failure"]
        .as_str()
        .expect("the trigger has an on-failure destination");
    assert_eq!(facts["types"][queue], "AWS::SQS::Queue");
    // The trigger's rules. The waiter's is not one: a wake it misses costs its step one
    // time-out (PollIntervalSeconds), then a look; nothing is lost, nothing to replay.
    for rule in facts["rule_patterns"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["function"] == "TriggerFunction")
    {
        assert_eq!(
            rule["dead_letter"], queue,
            "rule {} has no dead-letter queue",
            rule["name"]
        );
    }
    // The forwarded-events bus's rule too (issue 9): every rule that reaches the trigger.
    let other_rules = facts["other_rules"].as_array().cloned().unwrap_or_default();
    let to_trigger: Vec<&Value> = other_rules
        .iter()
        .flat_map(|r| r["targets"].as_array().unwrap().iter())
        .filter(|t| t["target"] == "TriggerFunction")
        .collect();
    assert!(!to_trigger.is_empty(), "the forwarded-events rule is found");
    for target in to_trigger {
        assert_eq!(target["dead_letter"], queue, "{target}");
    }
    let alarmed = facts["alarms"].as_array().unwrap().iter().any(|a| {
        a["watches"].as_array().unwrap().iter().any(|w| w == queue)
            && a["actions"]
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t == "AlertsTopic")
    });
    assert!(alarmed, "no alarm on {queue} tells the alerts topic");
}

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
    let mut compared = 0;
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
    }
    assert!(compared >= 3, "{choices}");
    // The hand-over is skipped only on the boolean every look writes (`place_wanted`).
    let mut booleans = 0;
    for choice in choices.as_array().unwrap() {
        let rules = choice["And"]
            .as_array()
            .cloned()
            .unwrap_or(vec![choice.clone()]);
        for rule in rules.iter().filter(|r| r.get("BooleanEquals").is_some()) {
            let variable = rule["Variable"].as_str().unwrap();
            assert!(
                at(&refresh_out, variable).is_some_and(Value::is_boolean)
                    && at(&item_out, variable).is_some_and(Value::is_boolean),
                "StillUpdating? compares {variable} with a boolean, which every task must carry"
            );
            assert_eq!(choice["Next"], "StackDone", "{choice}");
            booleans += 1;
        }
    }
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

#[test]
fn every_way_a_run_can_end_without_a_report_raises_an_alarm() {
    // A run that fails reaches the operators through its summary and FailedRunsAlarm; one
    // aborted or timed out never reaches Report: only an alarm on the state machine's own
    // metric says it ("Monitoring Step Functions metrics": ExecutionsFailed,
    // ExecutionsAborted, ExecutionsTimedOut).
    let facts = template_facts();
    let machine = facts["state_machines"]
        .as_object()
        .unwrap()
        .keys()
        .next()
        .unwrap()
        .clone();
    let alarms = facts["alarms"].as_array().unwrap();
    for metric in [
        "ExecutionsFailed",
        "ExecutionsAborted",
        "ExecutionsTimedOut",
    ] {
        let alarm = alarms.iter().find(|a| {
            a["metric"] == metric
                && a["watches"]
                    .as_array()
                    .unwrap()
                    .contains(&Value::from(machine.as_str()))
        });
        let alarm = alarm.unwrap_or_else(|| panic!("no alarm on {metric} of {machine}"));
        assert_eq!(
            alarm["actions"],
            serde_json::json!(["AlertsTopic"]),
            "{alarm}"
        );
    }
}

#[test]
fn nothing_a_running_run_or_a_lock_needs_expires() {
    // The lifecycle rules expire the runs' files only, never the secrets' locks (storm
    // control), whatever the retention deploy parameter says.
    let facts = template_facts();
    let expiring = &facts["expiring_prefixes"]["RunsBucket"];
    let prefixes: Vec<&str> = expiring
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert!(!prefixes.is_empty(), "run files do expire");
    let lock = rotatetoken::domain::run_lock::lock_key(
        "arn:aws:secretsmanager:us-east-1:111111111111:secret:prod/db-AbCdEf",
    );
    for prefix in &prefixes {
        assert!(
            !prefix.is_empty(),
            "a rule without a prefix expires everything, locks included"
        );
        assert!(!lock.starts_with(prefix), "{lock} expires under {prefix}");
    }
}

/// The CRITICAL alert survives any failure of the run: when the Map (its item reader, its
/// children's results, its ResultWriter) or Report fails for good, no summary and no
/// per-stack alert will come, so each catches every error into a state that publishes to
/// the alerts topic by Step Functions' own SNS integration (no function of ours), with a
/// subject SNS accepts (at most 100 characters, "Publish", SNS API reference), and then
/// fails the execution.
#[test]
fn a_map_or_report_that_fails_for_good_still_alerts_and_fails_the_run() {
    let d = definition();
    let states = &d["States"];
    let facts = template_facts();
    let machine = facts["state_machines"]
        .as_object()
        .unwrap()
        .values()
        .next()
        .unwrap();
    for name in ["RefreshStacks", "Report"] {
        let catch = &states[name]["Catch"];
        assert!(
            names(catch).contains("States.ALL"),
            "{name} must catch every error: {catch}"
        );
        let alert_name = catch[0]["Next"].as_str().unwrap();
        let alert = &states[alert_name];
        assert_eq!(alert["Resource"], "arn:aws:states:::sns:publish", "{alert}");
        let topic = alert["Parameters"]["TopicArn"].as_str().unwrap();
        let placeholder = topic
            .strip_prefix("${")
            .and_then(|t| t.strip_suffix('}'))
            .unwrap_or_else(|| panic!("{alert_name} publishes to {topic}, not a substitution"));
        assert_eq!(
            machine["substitution_values"][placeholder], "${Ref:AlertsTopic}",
            "{alert_name} publishes to the alerts topic"
        );
        let subject = alert["Parameters"]["Subject"].as_str().unwrap();
        assert!(
            subject.starts_with("CRITICAL") && subject.len() <= 100 && subject.is_ascii(),
            "{subject}"
        );
        let fail = &states[alert["Next"].as_str().unwrap()];
        assert_eq!(
            fail["Type"], "Fail",
            "after the alert the run fails: {fail}"
        );
    }
}

#[test]
fn each_stack_begins_with_its_stagger_and_no_later_step_waits_on_it_again() {
    let child = &definition()["States"]["RefreshStacks"]["ItemProcessor"];
    assert_eq!(child["StartAt"], "Stagger", "{child}");
    let stagger = &child["States"]["Stagger"];
    assert_eq!(stagger["Type"], "Wait");
    assert_eq!(stagger["SecondsPath"], "$.start_after_seconds");
    assert_eq!(stagger["Next"], "Refresh");
    // Entered once: a wake, a retry or a pause goes back to Refresh, never to the stagger.
    for (name, state) in child["States"].as_object().unwrap() {
        let mut next: Vec<&Value> = vec![&state["Next"], &state["Default"]];
        for list in ["Catch", "Choices"] {
            next.extend(
                state[list]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|c| &c["Next"]),
            );
        }
        assert!(
            next.iter().all(|n| *n != "Stagger"),
            "{name} leads back to Stagger"
        );
    }
}

#[test]
fn max_concurrency_deploys_with_the_default_and_range_the_functions_accept() {
    use rotatetoken::config::{DEFAULT_MAX_CONCURRENCY, MAX_MAX_CONCURRENCY};
    let facts = template_facts();
    let default = &facts["parameter_defaults"]["MaxConcurrency"];
    assert_eq!(
        default
            .as_u64()
            .or_else(|| default.as_str().and_then(|s| s.parse().ok())),
        Some(u64::from(DEFAULT_MAX_CONCURRENCY)),
        "template.yaml's MaxConcurrency default"
    );
    assert_eq!(
        facts["parameter_ranges"]["MaxConcurrency"],
        serde_json::json!([1, MAX_MAX_CONCURRENCY]),
        "template.yaml's MaxConcurrency MinValue and MaxValue"
    );
}
