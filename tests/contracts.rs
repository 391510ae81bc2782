//! What crosses between the state machine, the Rust code and the template is defined once
//! and checked here: the error names the ASL retries and catches are the ones the handlers
//! raise; every Lambda task retries the transient errors AWS documents for Lambda; the
//! environment variables the template sets are the ones the code reads.

use std::collections::BTreeSet;

use rotatetoken::config::TEMPLATE_VARIABLES;
use rotatetoken::handler::FunctionError;
use rotatetoken_tests::{repo_root, template_facts};
use serde_json::Value;

/// The paths the state machine reads and writes, against the Rust types.
#[path = "contracts/paths.rs"]
mod paths;

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

/// A lane remembers a refusal for a place wait and `REFUSED_SLACK_MS` (`lanes::leave`): a
/// stack that leaves within it has the steps waiting woken. A refused step's wait
/// (`WaitForStack`, a place wait long) begins with the attempt that registers it, so the
/// slack must cover the time from the refusal to the start of that attempt at its slowest,
/// as the state machine and the template allow it: the refused look's last writes and the
/// transitions to `WaitForStack`, then each failed attempt of the waiter (its whole
/// time-out, and Lambda's init phase, which the time-out does not count) and each retry's
/// longest backoff ("Handling errors in Step Functions workflows": `MaxAttempts` retries,
/// `IntervalSeconds` × `BackoffRate`^n up to `MaxDelaySeconds`; `FULL` jitter only
/// shortens them), and the Lambda hosts' clocks (`CLOCK_SLACK_MS`). Else a step
/// registering late would miss the hand-over and wait out its place wait.
#[test]
fn a_refused_steps_slowest_registration_falls_within_the_lanes_refusal_slack() {
    use rotatetoken::domain::lanes::REFUSED_SLACK_MS;
    use rotatetoken::domain::waiting::CLOCK_SLACK_MS;
    // After the refusal, the refused look's last writes: a throttled look narrows its lane
    // (up to 20 conditional writes, about 5 s of backoff between them), its progress, and
    // SendTaskSuccess with the SDK's retries; then two state transitions.
    const LOOK_TAIL_MS: u64 = 30_000;
    // "Lambda execution environment lifecycle": the init phase is limited to 10 seconds
    // and is not counted in the function's time-out.
    const INIT_MS: u64 = 10_000;
    let facts = template_facts();
    let waiter = facts["functions"]
        .as_object()
        .unwrap()
        .values()
        .find(|f| f["binary"] == "rotatetoken-waiter")
        .expect("template.yaml deploys the waiter");
    let attempt_ms = waiter["timeout"].as_u64().expect("the waiter's Timeout") * 1000 + INIT_MS;
    let states = &definition()["States"]["RefreshStacks"]["ItemProcessor"]["States"];
    let wait = &states["WaitForStack"];
    assert_eq!(wait["Parameters"]["FunctionName"], "${WaiterFunctionArn}");
    // Each retrier counts its own retries: an attempt's errors may fall to several in
    // turn, so all are added up.
    let (mut retries, mut backoffs_ms) = (0, 0);
    for retrier in wait["Retry"].as_array().unwrap() {
        let attempts = retrier["MaxAttempts"].as_u64().unwrap_or(3);
        let interval = retrier["IntervalSeconds"].as_f64().unwrap_or(1.0);
        let rate = retrier["BackoffRate"].as_f64().unwrap_or(2.0);
        let cap = retrier["MaxDelaySeconds"].as_f64().unwrap_or(f64::MAX);
        retries += attempts;
        backoffs_ms += (0..attempts)
            .map(|n| ((interval * rate.powi(n as i32)).min(cap) * 1000.0) as u64)
            .sum::<u64>();
    }
    assert!(retries > 0, "WaitForStack retries the waiter: {wait}");
    let slowest_ms = LOOK_TAIL_MS + retries * attempt_ms + backoffs_ms + CLOCK_SLACK_MS;
    assert!(
        slowest_ms <= REFUSED_SLACK_MS,
        "a refused step's wait may begin {} s after its refusal, the lane's slack is {} s",
        slowest_ms / 1000,
        REFUSED_SLACK_MS / 1000
    );
}
