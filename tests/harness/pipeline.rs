//! The whole product on the local AWS: the real handlers behind moto's Lambda, the real ASL
//! run by moto's Step Functions interpreter, and the EventBridge rules of template.yaml
//! delivering to the trigger. Mirrors what `sam deploy` creates, minus IAM.

use std::time::{Duration, Instant};

use aws_sdk_sfn::types::ExecutionStatus;
use serde_json::Value;

use crate::{
    render_definition, state_machine_arn, template_facts, Emulator, FunctionEnv, Functions,
    ACCOUNT, REGION, STATE_MACHINE_NAME,
};

pub struct Pipeline {
    pub functions: Functions,
    /// The functions' settings (also set on the registered Lambda functions, as SAM does).
    pub function_env: FunctionEnv,
    pub emulator: Emulator,
    pub config: aws_config::SdkConfig,
    pub cfn: aws_sdk_cloudformation::Client,
    pub sm: aws_sdk_secretsmanager::Client,
    pub ssm: aws_sdk_ssm::Client,
    pub sfn: aws_sdk_sfn::Client,
    pub events: aws_sdk_eventbridge::Client,
}

/// A finished execution.
#[derive(Debug)]
pub struct Finished {
    pub arn: String,
    pub status: String,
    /// The summary: the output when it succeeded, the cause when it failed.
    pub summary: Value,
    pub raw_output: String,
}

/// A summary's row for one stack, or null.
pub fn row_of(summary: &Value, stack: &str) -> Value {
    summary["stacks"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["stack"] == stack).cloned())
        .unwrap_or(Value::Null)
}

/// A summary's row for one stack (panics, showing the summary, when there is none).
pub fn row<'a>(summary: &'a Value, stack: &str) -> &'a Value {
    summary["stacks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["stack"] == stack)
        .unwrap_or_else(|| panic!("no row for {stack}: {summary:#}"))
}

/// The bucket for the run files (RunsBucket in template.yaml).
pub const RUNS_BUCKET: &str = "rotatetoken-runs";
/// The alerts topic (AlertsTopic in template.yaml), and the queue subscribed to it here
/// so tests can read what operators would receive.
pub const ALERTS_TOPIC: &str = "rotatetoken-alerts";
const ALERTS_QUEUE: &str = "rotatetoken-alerts-inbox";

/// Step Functions' Retry waits in the suites, as a fraction of AWS's (emulator patch 52):
/// a retried task is retried as often and with the same input, a tenth as late. The
/// product must already cope with any wait down to zero (its Retry's `JitterStrategy` is
/// `FULL`); the suites spend their time on behaviour, not on backoff.
pub const RETRY_INTERVAL_SCALE: f64 = 0.1;

/// The state machine's Wait states in the suites (the start's stagger, a pause for a
/// change set being created or before another phase-two attempt), as a fraction of AWS's
/// (emulator patch 55): a fifth as long. The product decides from AWS's state at every
/// look, so it must already cope with any wait down to zero. Task time-outs keep AWS's
/// time: a lost event's wait is what the tests of lost events measure. Tests whose Wait's
/// length relative to their own actions is the behaviour (short coalescing windows, a
/// change set's pauses) set 1.
pub const WAIT_STATE_SCALE: f64 = 0.2;

pub fn alerts_topic_arn() -> String {
    format!("arn:aws:sns:{REGION}:{ACCOUNT}:{ALERTS_TOPIC}")
}

pub fn function_arn(binary: &str) -> String {
    format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{binary}")
}

impl Pipeline {
    pub async fn start(tune: impl FnOnce(FunctionEnv) -> FunctionEnv) -> Self {
        Self::start_prepared(|_| async { vec![] }, tune).await
    }

    /// [`Pipeline::start`] with AWS set up before the functions start (an organisation,
    /// say), `prepare` returning settings for their environment (its OU ids).
    pub async fn start_prepared<F, Fut>(
        prepare: F,
        tune: impl FnOnce(FunctionEnv) -> FunctionEnv,
    ) -> Self
    where
        F: FnOnce(aws_config::SdkConfig) -> Fut,
        Fut: std::future::Future<Output = Vec<(&'static str, String)>>,
    {
        let port = crate::free_port();
        let emulator = Emulator::start_with_bridge(port);
        emulator.control(
            serde_json::json!({"retry_interval_scale": RETRY_INTERVAL_SCALE,
            "wait_state_scale": WAIT_STATE_SCALE, "task_timeout_scale": 1.0}),
        );
        let mut env = FunctionEnv::for_emulator(&emulator)
            .set("RUNS_BUCKET", RUNS_BUCKET)
            .set("ALERTS_TOPIC_ARN", &alerts_topic_arn())
            // As template.yaml sets it: a look waits on its token, no Lambda held.
            .set("WAIT_FOR_STATUS_EVENTS", "true");
        for (name, value) in prepare(emulator.sdk_config().await).await {
            env = env.set(name, &value);
        }
        let function_env = tune(env);
        let functions = Functions::start(port, &function_env);
        let config = emulator.sdk_config().await;
        let p = Self {
            function_env,
            cfn: aws_sdk_cloudformation::Client::new(&config),
            sm: aws_sdk_secretsmanager::Client::new(&config),
            ssm: aws_sdk_ssm::Client::new(&config),
            sfn: aws_sdk_sfn::Client::new(&config),
            events: aws_sdk_eventbridge::Client::new(&config),
            config,
            emulator,
            functions,
        };
        p.deploy().await;
        p
    }

    /// Registers the functions, the state machine and the rules as template.yaml declares them.
    async fn deploy(&self) {
        let facts = template_facts();
        let lambda = aws_sdk_lambda::Client::new(&self.config);
        let iam = aws_sdk_iam::Client::new(&self.config);
        let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":["lambda.amazonaws.com","states.amazonaws.com"]},"Action":"sts:AssumeRole"}]}"#;
        let role = iam
            .create_role()
            .role_name("rotatetoken-local")
            .assume_role_policy_document(trust)
            .send()
            .await
            .unwrap()
            .role()
            .unwrap()
            .arn()
            .to_string();
        // What the harness created, by the reference template.yaml makes to it.
        let mut made: std::collections::BTreeMap<String, String> = Default::default();
        for (logical, f) in facts["functions"].as_object().unwrap() {
            let binary = f["binary"].as_str().unwrap();
            let timeout = f["timeout"].as_i64().unwrap_or(60) as i32;
            let memory_mb = f["memory_mb"].as_i64().unwrap_or(128) as i32;
            lambda
                .create_function()
                .function_name(binary)
                .runtime(aws_sdk_lambda::types::Runtime::Providedal2023)
                .handler("bootstrap")
                .role(&role)
                .timeout(timeout)
                .memory_size(memory_mb)
                .environment(
                    aws_sdk_lambda::types::Environment::builder()
                        .set_variables(Some(self.deployed_variables()))
                        .build(),
                )
                .code(
                    aws_sdk_lambda::types::FunctionCode::builder()
                        .zip_file(aws_sdk_lambda::primitives::Blob::new(empty_zip()))
                        .build(),
                )
                .send()
                .await
                .unwrap_or_else(|e| panic!("create function {binary}: {e:?}"));
            made.insert(format!("${{GetAtt:{logical}.Arn}}"), function_arn(binary));
        }
        aws_sdk_s3::Client::new(&self.config)
            .create_bucket()
            .bucket(RUNS_BUCKET)
            .send()
            .await
            .unwrap();
        // The template's buckets are the one runs bucket the harness made.
        for (logical, t) in facts["types"].as_object().unwrap() {
            if t == "AWS::S3::Bucket" {
                made.insert(format!("${{Ref:{logical}}}"), RUNS_BUCKET.to_string());
            }
        }
        // The topic is encrypted with a key of its own (AlertsKey in template.yaml).
        let (status, created) = crate::http::aws_json(
            self.emulator.port,
            "kms",
            "TrentService.CreateKey",
            r#"{"Description": "RotateToken alerts topic encryption"}"#,
        );
        assert_eq!(status, 200, "CreateKey: {created}");
        let created: Value = serde_json::from_str(&created).unwrap();
        let key = created["KeyMetadata"]["Arn"].as_str().unwrap().to_string();
        let sns = aws_sdk_sns::Client::new(&self.config);
        let topic = sns
            .create_topic()
            .name(ALERTS_TOPIC)
            .attributes("KmsMasterKeyId", key)
            .send()
            .await
            .unwrap();
        assert_eq!(topic.topic_arn(), Some(alerts_topic_arn().as_str()));
        // The template's topic is this one.
        for (logical, t) in facts["types"].as_object().unwrap() {
            if t == "AWS::SNS::Topic" {
                made.insert(format!("${{Ref:{logical}}}"), alerts_topic_arn());
            }
        }
        let sqs = aws_sdk_sqs::Client::new(&self.config);
        sqs.create_queue()
            .queue_name(ALERTS_QUEUE)
            .send()
            .await
            .unwrap();
        sns.subscribe()
            .topic_arn(alerts_topic_arn())
            .protocol("sqs")
            .endpoint(format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{ALERTS_QUEUE}"))
            .send()
            .await
            .unwrap();
        // The state machine's DefinitionSubstitutions, names and references as template.yaml
        // has them (tests/emulator/template_facts.py).
        let machine = facts["state_machines"]
            .as_object()
            .unwrap()
            .values()
            .next()
            .expect("template.yaml declares the state machine");
        let subs: Vec<(&str, String)> = machine["substitution_values"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(name, reference)| {
                let reference = reference.as_str().unwrap_or_default();
                let value = made.get(reference).unwrap_or_else(|| {
                    panic!("template.yaml substitutes {name} with {reference}, which the harness did not create")
                });
                (name.as_str(), value.clone())
            })
            .collect();
        let definition = render_definition(&subs);
        let created = self
            .sfn
            .create_state_machine()
            .name(STATE_MACHINE_NAME)
            .definition(definition)
            .role_arn(&role)
            .send()
            .await
            .unwrap();
        assert_eq!(created.state_machine_arn(), state_machine_arn());

        for rule in facts["rule_patterns"].as_array().unwrap() {
            let name = rule["name"].as_str().unwrap();
            let binary = facts["functions"][rule["function"].as_str().unwrap()]["binary"]
                .as_str()
                .unwrap();
            // `${Ref:RotationStateMachine}`: the one reference a rule pattern makes.
            let pattern = rule["pattern"]
                .to_string()
                .replace("${Ref:RotationStateMachine}", &state_machine_arn());
            assert!(
                !pattern.contains("${Ref:"),
                "unresolved reference in {pattern}"
            );
            self.events
                .put_rule()
                .name(name)
                .event_pattern(pattern)
                .send()
                .await
                .unwrap();
            self.events
                .put_targets()
                .rule(name)
                .targets(
                    aws_sdk_eventbridge::types::Target::builder()
                        .id("trigger")
                        .arn(function_arn(binary))
                        .build()
                        .unwrap(),
                )
                .send()
                .await
                .unwrap();
        }
    }

    /// What deploying target-role.yaml with `PipelineEventBusArn` does in `account` and
    /// `region`: its rule forwarding every stack operation's end to the pipeline's default
    /// bus (the pattern read from target-role.yaml); and the pipeline's bus policy as
    /// template.yaml gives it for this pipeline's targets (StackEndsFromTargetAccounts,
    /// StackEndsFromTargetOUs: tests/emulator/bus_policy.py), which the emulator judges
    /// (patch 51): an account the deploy does not admit has its forwarded ends refused.
    pub async fn forward_stack_ends_from(&self, account: &str, region: &str) {
        let facts = crate::template_facts_of("target-role.yaml");
        let rule = facts["other_rules"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == "ForwardStackOperationEnds")
            .expect("target-role.yaml declares ForwardStackOperationEnds");
        let pattern = rule["pattern"].to_string();
        assert!(!pattern.contains("${"), "unresolved reference in {pattern}");
        let bus = format!("arn:aws:events:{REGION}:{ACCOUNT}:event-bus/default");
        let deployed = self.deployed_variables();
        let parameters = serde_json::json!({
            "TargetAccountIds": deployed.get("TARGET_ACCOUNTS").cloned().unwrap_or_default(),
            "TargetOrganizationalUnitIds":
                deployed.get("TARGET_ORGANIZATIONAL_UNITS").cloned().unwrap_or_default(),
        });
        let policy = crate::bus_policy(&parameters);
        if !policy["Statement"].as_array().unwrap().is_empty() {
            self.events
                .put_permission()
                .policy(policy.to_string())
                .send()
                .await
                .unwrap();
        }
        let there =
            aws_sdk_eventbridge::Client::new(&self.emulator.sdk_config_in(account, region).await);
        there
            .put_rule()
            .name("ForwardStackOperationEnds")
            .event_pattern(pattern)
            .send()
            .await
            .unwrap();
        there
            .put_targets()
            .rule("ForwardStackOperationEnds")
            .targets(
                aws_sdk_eventbridge::types::Target::builder()
                    .id("rotatetoken-pipeline")
                    .arn(bus)
                    .role_arn(format!("arn:aws:iam::{account}:role/stack-ends-forwarding"))
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
    }

    /// The settings SAM would put in a function's environment: the variables the code
    /// reads (Lambda itself sets AWS_REGION; reserved, refused in Environment).
    fn deployed_variables(&self) -> std::collections::HashMap<String, String> {
        self.function_env
            .vars
            .iter()
            .filter(|(k, _)| {
                rotatetoken::config::TEMPLATE_VARIABLES.contains(&k.as_str()) && k != "AWS_REGION"
            })
            .cloned()
            .collect()
    }

    /// The first alert (subject, message) that `matches`, waiting up to `timeout` for it
    /// (alerts told by an asynchronous invocation arrive a little after what caused them).
    pub async fn wait_for_alert(
        &self,
        timeout: Duration,
        matches: impl Fn(&str, &str) -> bool,
    ) -> Option<(String, String)> {
        let start = Instant::now();
        loop {
            let found = self.alerts().await.into_iter().find(|(s, m)| matches(s, m));
            if found.is_some() || start.elapsed() > timeout {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Every (subject, message) published to the alerts topic so far.
    pub async fn alerts(&self) -> Vec<(String, String)> {
        let sqs = aws_sdk_sqs::Client::new(&self.config);
        let url = sqs
            .get_queue_url()
            .queue_name(ALERTS_QUEUE)
            .send()
            .await
            .unwrap()
            .queue_url()
            .unwrap()
            .to_string();
        let mut out = vec![];
        loop {
            let got = sqs
                .receive_message()
                .queue_url(&url)
                .max_number_of_messages(10)
                .send()
                .await
                .unwrap();
            if got.messages().is_empty() {
                return out;
            }
            for m in got.messages() {
                let envelope: Value = serde_json::from_str(m.body().unwrap_or("{}")).unwrap();
                out.push((
                    envelope["Subject"].as_str().unwrap_or_default().to_string(),
                    envelope["Message"].as_str().unwrap_or_default().to_string(),
                ));
                sqs.delete_message()
                    .queue_url(&url)
                    .receipt_handle(m.receipt_handle().unwrap())
                    .send()
                    .await
                    .unwrap();
            }
        }
    }

    /// Writes the operator's stop marker for a run, as `rotate-token stop` does.
    pub async fn request_stop(&self, execution_name: &str) -> bool {
        let key = rotatetoken::domain::model::RunFiles::new(RUNS_BUCKET, execution_name).stop_key();
        aws_sdk_s3::Client::new(&self.config)
            .put_object()
            .bucket(RUNS_BUCKET)
            .key(key)
            .body(
                serde_json::json!({"requested_ms": 0})
                    .to_string()
                    .into_bytes()
                    .into(),
            )
            .send()
            .await
            .is_ok()
    }

    /// A new value for the secret, and its CloudTrail event delivered: the name of the
    /// execution the trigger starts for it.
    pub async fn change_secret(&self, name: &str, arn: &str, value: &str) -> String {
        let version = crate::fixtures::put_secret(&self.sm, name, value).await;
        self.deliver(&crate::fixtures::sample_event(
            "put-secret-value.json",
            arn,
            &version,
        ))
        .await;
        rotatetoken::domain::trigger::execution_name(arn, &version)
    }

    /// Delivers an event the way EventBridge would receive it from CloudTrail.
    pub async fn deliver(&self, event: &Value) {
        let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
            .source(event["source"].as_str().unwrap())
            .detail_type(event["detail-type"].as_str().unwrap())
            .detail(event["detail"].to_string())
            .set_resources(event["resources"].as_array().map(|r| {
                r.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            }))
            // A redelivery keeps the time of the change it reports.
            .set_time(event["time"].as_str().and_then(|t| {
                aws_smithy_types::DateTime::from_str(
                    t,
                    aws_smithy_types::date_time::Format::DateTime,
                )
                .ok()
            }))
            .build();
        let out = self
            .events
            .put_events()
            .entries(entry)
            .send()
            .await
            .unwrap();
        assert_eq!(out.failed_entry_count(), 0);
    }

    /// Fires the reconciliation schedule (ReconcileRule in template.yaml) at `time`: the
    /// event EventBridge sends for a schedule rule ("Scheduled Event" from `aws.events`),
    /// handed to the trigger as the rule's target does (Lambda Invoke). Returns the
    /// trigger's answer and the execution name of `secret_arn`'s reconciliation run.
    pub async fn fire_schedule(&self, time: &str, secret_arn: &str) -> (Value, String) {
        let facts = template_facts();
        let trigger = facts["functions"]["TriggerFunction"]["binary"]
            .as_str()
            .unwrap();
        let event = serde_json::json!({
            "version": "0", "id": "5b0ac1f8-0d4f-4c4e-9e8b-reconcile", "detail-type": "Scheduled Event",
            "source": "aws.events", "account": ACCOUNT, "time": time, "region": REGION,
            "resources": [format!("arn:aws:events:{REGION}:{ACCOUNT}:rule/rotatetoken-ReconcileRule-1")],
            "detail": {}
        });
        let out = aws_sdk_lambda::Client::new(&self.config)
            .invoke()
            .function_name(trigger)
            .payload(aws_sdk_lambda::primitives::Blob::new(event.to_string()))
            .send()
            .await
            .unwrap();
        let answer: Value =
            serde_json::from_slice(out.payload().map(|b| b.as_ref()).unwrap_or(b"null"))
                .unwrap_or(Value::Null);
        assert!(
            out.function_error().is_none(),
            "the trigger failed: {answer}"
        );
        let time_ms = rotatetoken::domain::trigger::event_time_ms(&event)
            .unwrap()
            .unwrap();
        let name = rotatetoken::domain::trigger::reconcile_execution_name(secret_arn, time_ms);
        (answer, name)
    }

    pub async fn start_execution(&self, name: &str, input: &Value) -> String {
        self.sfn
            .start_execution()
            .state_machine_arn(state_machine_arn())
            .name(name)
            .input(input.to_string())
            .send()
            .await
            .unwrap()
            .execution_arn()
            .to_string()
    }

    /// Waits for the execution with this name to exist and finish.
    pub async fn wait_for(&self, name: &str, timeout: Duration) -> Finished {
        let arn = crate::execution_arn(name);
        let start = Instant::now();
        loop {
            if let Ok(d) = self
                .sfn
                .describe_execution()
                .execution_arn(&arn)
                .send()
                .await
            {
                if d.status() != &ExecutionStatus::Running {
                    let raw_output = d.output().unwrap_or_default().to_string();
                    let summary = match d.status() {
                        ExecutionStatus::Succeeded => {
                            serde_json::from_str(&raw_output).unwrap_or(Value::Null)
                        }
                        _ => serde_json::from_str(d.cause().unwrap_or_default())
                            .unwrap_or(Value::Null),
                    };
                    return Finished {
                        arn,
                        status: d.status().as_str().to_string(),
                        summary,
                        raw_output: format!("{raw_output}{}", d.cause().unwrap_or_default()),
                    };
                }
            }
            assert!(
                start.elapsed() < timeout,
                "execution {name} did not finish in {timeout:?}; logs:\n{}",
                self.functions.logs()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Every event of the execution's history, as JSON text (for leak checks and counts).
    pub async fn history(&self, execution_arn: &str) -> Vec<String> {
        let mut events = Vec::new();
        let mut token = None;
        loop {
            let out = self
                .sfn
                .get_execution_history()
                .execution_arn(execution_arn)
                .set_next_token(token)
                .send()
                .await
                .unwrap();
            events.extend(out.events().iter().map(|e| format!("{e:?}")));
            token = out.next_token().map(str::to_string);
            if token.is_none() {
                return events;
            }
        }
    }

    /// A JSON object the pipeline wrote to S3 (a run file, the full summary).
    pub async fn read_json(&self, bucket: &str, key: &str) -> Value {
        let body = aws_sdk_s3::Client::new(&self.config)
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("s3://{bucket}/{key}: {e:?}"))
            .body
            .collect()
            .await
            .unwrap()
            .into_bytes();
        serde_json::from_slice(&body).unwrap_or_else(|e| panic!("s3://{bucket}/{key}: {e}"))
    }

    /// How many storm-control locks (`locks/` in the runs bucket) are held.
    pub async fn locks_held(&self) -> usize {
        aws_sdk_s3::Client::new(&self.config)
            .list_objects_v2()
            .bucket(RUNS_BUCKET)
            .prefix("locks/")
            .send()
            .await
            .unwrap()
            .contents()
            .len()
    }

    pub async fn executions(&self) -> Vec<String> {
        self.sfn
            .list_executions()
            .state_machine_arn(state_machine_arn())
            .send()
            .await
            .unwrap()
            .executions()
            .iter()
            .map(|e| e.name().to_string())
            .collect()
    }
}

/// A valid, empty zip archive (moto stores the code; the bridge runs the real binary).
fn empty_zip() -> Vec<u8> {
    let mut v = vec![0x50, 0x4b, 0x05, 0x06];
    v.extend([0u8; 18]);
    v
}
