//! Fuzzing the step inputs: whatever JSON the state machine (or a person with `cargo lambda
//! invoke`) hands a function, it answers with a value or an error naming the field; it
//! never panics. Arbitrary JSON, and near-valid inputs with one field replaced.

use proptest::prelude::*;
use serde_json::{json, Value};

use super::{discover, refresh, report, Scope, NO_STOPS};
use crate::domain::discovery::DiscoverySettings;
use crate::domain::refresh::RefreshSettings;
use crate::domain::targets::TargetSettings;
use crate::fakes::{NoRetries, Unreachable};
use crate::handler::FunctionError;
use crate::ports::{NoNotifier, NoOrganization};

/// A deployment's discovery settings, every secret in scope.
/// Discovery paces its calls with tokio's timers.
fn with_timers<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime")
        .block_on(f)
}

fn discovery_settings() -> DiscoverySettings {
    DiscoverySettings {
        parameter: "RotateToken".into(),
        version_parameter: "RotateTokenVersion".into(),
        mode: crate::domain::selection::SelectionMode::All,
        max_concurrency: 1,
        template_concurrency: 1,
        target_concurrency: 1,
        calls_per_second: crate::domain::discovery_pace::DEFAULT_CALLS_PER_SECOND,
        require_opt_in: false,
        without_service_role: crate::domain::service_role::StacksWithoutServiceRole::none(),
        secret_scope: None,
        coalesce: false,
        reconcile_since: Default::default(),
    }
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        "\\PC{0,30}".prop_map(Value::from),
        Just(json!(
            "arn:aws:cloudformation:us-east-1:111111111111:stack/app/1"
        )),
        Just(json!(
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf"
        )),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    Just("stack".to_string()),
                    Just("id".to_string()),
                    Just("account".to_string()),
                    Just("region".to_string()),
                    Just("parameter".to_string()),
                    Just("phase".to_string()),
                    Just("secret".to_string()),
                    Just("arn".to_string()),
                    Just("request".to_string()),
                    Just("results".to_string()),
                    Just("selected".to_string()),
                    "[a-z_]{1,10}"
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A valid refresh task with one field replaced by arbitrary JSON.
fn near_valid_task() -> impl Strategy<Value = Value> {
    let fields = prop::sample::select(vec![
        "stack",
        "parameter",
        "phase",
        "update_started",
        "deadline_ms",
        "outcome",
        "invocations",
        "retry_at_ms",
        "preview_since_ms",
        "enable_failures",
        "session",
        "mode",
        "secret_arn",
        "version",
        "plan",
    ]);
    (fields, any_json()).prop_map(|(field, v)| {
        let mut task = json!({
            "stack": {"account": "111111111111", "region": "us-east-1", "name": "app",
                      "id": "arn:aws:cloudformation:us-east-1:111111111111:stack/app/1"},
            "parameter": "RotateToken", "phase": "disable", "outcome": "waiting"
        });
        task[field] = v;
        task
    })
}

fn scope() -> Scope {
    Scope {
        targets: TargetSettings::default(),
        own_region: "us-east-1".into(),
        parameter: "RotateToken".into(),
        version_parameter: "RotateTokenVersion".into(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn no_refresh_input_panics(input in prop_oneof![any_json(), near_valid_task()]) {
        let settings = RefreshSettings { poll_interval_ms: 1, max_wait_ms: 10, require_opt_in: false, wait_for_events: false, lane_places: 0, without_service_role: crate::domain::service_role::StacksWithoutServiceRole::none() };
        let _ = futures::executor::block_on(refresh(
            NO_STOPS,
            &Unreachable, &NoOrganization, &Unreachable, &crate::ports::SystemClock, &NoRetries, settings, &scope(), input, 0,
        ));
    }

    /// Inputs are not authority: whatever the rest of the task says, another token
    /// parameter or a session that is not the pipeline's is refused by field, before any
    /// AWS call (every call here would fail with an AWS error instead).
    #[test]
    fn a_task_naming_another_parameter_or_session_is_refused_before_any_call(
        parameter in "[A-Za-z]{1,12}", session in "[a-z-]{1,20}",
    ) {
        let settings = RefreshSettings { poll_interval_ms: 1, max_wait_ms: 10, require_opt_in: false, wait_for_events: false, lane_places: 0, without_service_role: crate::domain::service_role::StacksWithoutServiceRole::none() };
        let task = |parameter: &str, session: Option<&str>| json!({
            "stack": {"account": "123456789012", "region": "us-east-1", "name": "app",
                      "id": "arn:aws:cloudformation:us-east-1:123456789012:stack/app/1"},
            "parameter": parameter, "session": session, "execution": "run-1",
        });
        let refused = |input: Value| match futures::executor::block_on(refresh(
            NO_STOPS,
            &Unreachable, &NoOrganization, &Unreachable, &crate::ports::SystemClock, &NoRetries, settings.clone(), &scope(), input, 0,
        )) {
            Err(FunctionError::Input(e)) => e.field,
            other => format!("not refused by field: {other:?}"),
        };
        prop_assume!(parameter != "RotateToken" && session != "rotatetoken-run-1");
        prop_assert_eq!(refused(task(&parameter, None)), "input.parameter");
        prop_assert_eq!(refused(task("RotateToken", Some(&session))), "input.session");
        // An in-place task sets the version parameter, and only the configured one.
        let mut in_place = task("RotateToken", Some("rotatetoken-run-1"));
        in_place["mode"] = json!("in_place");
        prop_assert_eq!(refused(in_place.clone()), "input.parameter");
        in_place["parameter"] = json!("RotateTokenVersion");
        let own = refused(in_place);
        prop_assert!(own.starts_with("not refused by field"), "{}", own);
        // The pipeline's own task gets as far as AWS (which fails here).
        let own = refused(task("RotateToken", Some("rotatetoken-run-1")));
        prop_assert!(own.starts_with("not refused by field"), "{}", own);
    }

    #[test]
    fn no_discover_input_panics(input in any_json()) {
        let settings = discovery_settings();
        let _ = with_timers(discover(
            &Unreachable, &NoOrganization, Some(&Unreachable), &Unreachable, &NoRetries, &scope(), &settings, input,
        ));
    }

    #[test]
    fn a_run_for_a_secret_outside_the_deployments_scope_is_refused_before_any_call(
        name in "(other|staging)/[a-z]{1,8}",
    ) {
        let settings = DiscoverySettings {
            secret_scope: Some(crate::domain::secret_scope::SecretScope::parse("SECRET_NAME_PREFIXES", "prod/").unwrap()),
            ..discovery_settings()
        };
        let arn = format!("arn:aws:secretsmanager:us-east-1:123456789012:secret:{name}-AbCdEf");
        // Unreachable AWS: a refusal before any call, or the test sees AWS's error instead.
        let err = with_timers(discover(
            &Unreachable, &NoOrganization, Some(&Unreachable), &Unreachable, &NoRetries, &scope(), &settings,
            json!({"secret": {"arn": arn}}),
        )).unwrap_err();
        match err {
            FunctionError::Input(e) => {
                prop_assert_eq!(e.field.as_str(), "input.secret.arn");
                prop_assert!(e.problem.contains("not one of this deployment's secrets"), "{}", e.problem);
            }
            other => prop_assert!(false, "not refused by field: {other}"),
        }
    }

    #[test]
    fn no_report_input_panics(input in any_json()) {
        let _ = futures::executor::block_on(report(Some(&Unreachable), &NoNotifier, input));
    }
}
