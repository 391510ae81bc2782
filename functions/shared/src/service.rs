//! One entry point per Lambda function: validate the input, call the domain through the
//! ports, shape the output. The `main`s only build clients and call these; the emulator
//! tests call them too, with the real adapters.

use serde_json::Value;
use tracing::{info, warn, Instrument};

use crate::domain::discovery::{self, DiscoverySettings};
use crate::domain::error::{from_step_input, InputError};
use crate::domain::in_place::RefreshMode;
use crate::domain::model::{
    DiscoveryOutput, ExecutionInput, FailedTarget, Outcome, Phase, RefreshTask, RunFiles,
    SecretRef, StackProgress, StackRef,
};
use crate::domain::notice;
use crate::domain::refresh::{self, RefreshSettings};
use crate::domain::report::{
    self, ChildExecution, MapResults, ReportInput, ResultManifest, S3Object, Summary,
};
use crate::domain::targets::{session_name, Target, TargetSettings};
use crate::handler::FunctionError;
use crate::ports::{
    AccountDirectory, AwsError, Clock, Notifier, RunStore, SecretDirectory, TargetAccess,
};
use crate::telemetry;

mod audit_use_case;
mod trigger_use_case;
pub use audit_use_case::{
    audit, current_version, AuditCounts, AuditReport, AuditRow, RECONCILE_CAUSE,
};
pub use trigger_use_case::{trigger, Trigger, TriggerReport};

/// The state machine wraps the execution input with the execution's name:
/// `{"execution": "<name>", "request": <input>}`; a bare input (a local invoke) also works.
pub async fn discover<A, O, S, D>(
    access: &A,
    org: &O,
    store: Option<&S>,
    secrets: &D,
    scope: &Scope,
    settings: &DiscoverySettings,
    input: Value,
) -> Result<DiscoveryOutput, FunctionError>
where
    A: TargetAccess + Sync,
    O: AccountDirectory + Sync,
    S: RunStore + Sync,
    D: SecretDirectory + Sync,
{
    let (execution, request, what) = match input {
        Value::Object(mut map) if map.contains_key("request") => {
            let execution = map
                .get("execution")
                .and_then(Value::as_str)
                .unwrap_or("manual")
                .to_string();
            (
                execution,
                map.remove("request").unwrap_or_default(),
                "input.request",
            )
        }
        other => ("manual".to_string(), other, "input"),
    };
    let span = tracing::info_span!("discover", execution = %execution);
    async move {
    let mut input: ExecutionInput = from_step_input(what, request)?;
    let parsed = SecretRef::from_arn(&input.secret.arn, input.secret.version_id.clone())
        .map_err(|e| InputError::new(format!("{what}.secret.arn"), e.problem))?;
    input.secret = parsed;
    let retried_before = crate::aws::retries::retried_calls();
    let (resolved, unlisted) = resolve_targets(org, scope).await;
    let targets = resolved.targets(&scope.own_region);
    let session = session_name(&execution);
    let reconcile = input.reconcile;
    let mut out = discovery::discover(access, &targets, input, settings, &session, secrets).await;
    out.failed_targets.extend(unlisted);
    if reconcile {
        // Boxed: nested in discovery's future, the audit's would exceed the compiler's
        // type-depth limit in the discover binary.
        Box::pin(audit_use_case::keep_only_stale(access, secrets, &resolved, &scope.own_region, &session, &mut out)).await?;
    }
    out.retried_calls = crate::aws::retries::retried_calls() - retried_before;
    for task in &mut out.selected {
        task.execution = Some(execution.clone());
    }
    info!(
        secret_arn = %out.secret.arn, execution = %execution, targets = out.targets, failed_targets = out.failed_targets.len(),
        scanned = out.scanned, selected = out.selected.len(), skipped = out.skipped.len(), dry_run = out.dry_run,
        mode = %out.mode, "discovery done"
    );
    for s in &out.skipped {
        warn!(account = %s.stack.account, region = %s.stack.region, stack = %s.stack.name, status = %s.status, reason = %s.reason, "stack skipped");
    }
    for t in &out.failed_targets {
        tracing::error!(account = %t.account, region = %t.region, reason = %t.reason, "target could not be searched");
    }
    match store {
        None => Ok(out),
        Some(store) => Ok(keep_lists_in_the_run_files(store, out, &execution).await?),
    }
    }
    .instrument(span)
    .await
}

/// The state machine's path: the selected list goes to S3 for the Distributed Map's
/// ItemReader and the full discovery for the report; the state carries only pointers and
/// counts, whatever the number of stacks (the 256 KiB payload limit).
async fn keep_lists_in_the_run_files<S: RunStore + Sync>(
    store: &S,
    mut out: DiscoveryOutput,
    execution: &str,
) -> Result<DiscoveryOutput, FunctionError> {
    let run = RunFiles::new(store.bucket(), execution);
    let items = serde_json::to_vec(&out.selected)
        .map_err(|e| InputError::new("selected", e.to_string()))?;
    store.put(&run.items_key, items).await?;
    out.run = Some(run.clone());
    let full = serde_json::to_vec(&out).map_err(|e| InputError::new("discovery", e.to_string()))?;
    store.put(&run.discovery_key, full).await?;
    out.selected.clear();
    out.skipped.clear();
    Ok(out)
}

/// Where and on what the functions may act, from their own configuration (never from
/// their input): the configured targets, the region they run in, the token parameter.
#[derive(Debug, Clone)]
pub struct Scope {
    pub targets: TargetSettings,
    pub own_region: String,
    /// The token parameter's name (deploy parameter `TokenParameterName`).
    pub parameter: String,
    /// The version parameter's name (deploy parameter `VersionParameterName`).
    pub version_parameter: String,
}

impl Scope {
    /// The parameter a stack's refresh mode updates: the token, or the version parameter.
    pub fn parameter_for(&self, mode: RefreshMode) -> &str {
        match mode {
            RefreshMode::TwoPhase => &self.parameter,
            RefreshMode::InPlace => &self.version_parameter,
        }
    }
}

/// This run's targets: the named accounts plus the active accounts in the named OUs,
/// listed now (accounts join and leave OUs between runs). An OU that cannot be listed is
/// reported as a failed target, for every region; the rest proceed.
pub async fn resolve_targets<O: AccountDirectory + Sync>(
    org: &O,
    scope: &Scope,
) -> (TargetSettings, Vec<FailedTarget>) {
    let mut found = Vec::new();
    let mut failed = Vec::new();
    for ou in &scope.targets.organizational_units {
        match org.active_accounts(ou).await {
            Ok(accounts) => {
                info!(organizational_unit = %ou, accounts = accounts.len(), "organisational unit listed");
                found.extend(accounts);
            }
            Err(e) => failed.push(FailedTarget {
                account: ou.clone(),
                region: "all".into(),
                reason: e.to_string(),
            }),
        }
    }
    (scope.targets.with_accounts(found), failed)
}

/// The target a stack belongs to, or why the pipeline must not touch it. An account not
/// named outright may still be in one of the named OUs: those are listed only then.
async fn target_of<O: AccountDirectory + Sync>(
    org: &O,
    scope: &Scope,
    stack: &StackRef,
) -> Result<Target, FunctionError> {
    match scope.targets.target_of(stack, &scope.own_region) {
        Ok(target) => Ok(target),
        Err(e)
            if e.field == "input.stack.account"
                && !scope.targets.organizational_units.is_empty() =>
        {
            let (resolved, failed) = resolve_targets(org, scope).await;
            match resolved.target_of(stack, &scope.own_region) {
                Ok(target) => Ok(target),
                Err(e) => match failed.into_iter().next() {
                    // Unsure whether the account is a target: say why, touch nothing.
                    Some(f) => Err(AwsError {
                        operation: "ListAccountsForParent",
                        code: None,
                        message: format!("{}: {}", f.account, f.reason),
                    }
                    .into()),
                    None => Err(e.into()),
                },
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// No run files (a local invoke): no operator stop, no progress for watchers.
pub const NO_STOPS: Option<&crate::aws::s3::S3RunStore> = None;

/// Why a stack is not refreshed after `rotate-token stop`.
pub const STOPPED_BY_OPERATOR: &str = "stopped by operator";

// The function's five ports, its settings and scope, the input and its time budget: one
// call site (functions/refresh/src/main.rs) builds it; a struct would only rename them.
#[allow(clippy::too_many_arguments)]
pub async fn refresh<R, A, O, S, C>(
    files: Option<&R>,
    access: &A,
    org: &O,
    secrets: &S,
    clock: &C,
    settings: RefreshSettings,
    scope: &Scope,
    input: Value,
    budget_until_ms: u64,
) -> Result<RefreshTask, FunctionError>
where
    R: RunStore + Sync,
    A: TargetAccess + Sync,
    O: AccountDirectory + Sync,
    S: SecretDirectory + Sync,
    C: Clock + Sync,
{
    let task: RefreshTask = from_step_input("input", input)?;
    let parsed = StackRef::from_stack_id(&task.stack.id)
        .map_err(|e| InputError::new("input.stack.id", e.problem))?;
    if parsed.account != task.stack.account || parsed.region != task.stack.region {
        return Err(InputError::new(
            "input.stack",
            "account and region do not match the stack id",
        )
        .into());
    }
    // Inputs are not authority: the parameter this function sets and the session it acts
    // under come from its own configuration. A task that says otherwise (someone who can
    // invoke the function or write the run files) is refused before any AWS call.
    let configured = scope.parameter_for(task.mode);
    let what = match task.mode {
        RefreshMode::TwoPhase => "token",
        RefreshMode::InPlace => "version",
    };
    if task.parameter != configured {
        return Err(InputError::new(
            "input.parameter",
            format!(
                "`{}` is not this deployment's {what} parameter `{configured}`",
                task.parameter
            ),
        )
        .into());
    }
    // Every line about this stack names the execution (its full name, written into the task
    // by discover from `$$.Execution.Name`), the account, the region and the stack.
    let execution = task
        .execution
        .clone()
        .unwrap_or_else(|| "manual".to_string());
    let session = session_name(&execution);
    if let Some(given) = task.session.as_deref().filter(|g| *g != session) {
        return Err(InputError::new(
            "input.session",
            format!(
                "`{given}` is not the pipeline's session for execution `{execution}` (`{session}`)"
            ),
        )
        .into());
    }
    // A safe stop (`rotate-token stop`): a stack whose refresh has not begun is not begun;
    // one between phases always finishes (it must never be left at `false`). The marker
    // is read from this function's own bucket; naming another execution can only make a
    // task do less.
    let not_begun = !task.update_started && task.phase == Phase::Disable;
    if let (true, Some(files)) = (not_begun, files) {
        let marker = RunFiles::new(files.bucket(), &execution).stop_key();
        if files.exists(&marker).await? {
            let mut out = task;
            out.outcome = Outcome::Skipped;
            out.reason = Some(STOPPED_BY_OPERATOR.to_string());
            info!(execution = %execution, stack = %out.stack.name, "stopped by operator before its refresh began");
            tell_progress(files, &execution, &out, clock.now_ms()).await;
            return Ok(out);
        }
    }
    // Never act outside the deployment's targets, whatever the input says.
    let target = target_of(org, scope, &parsed).await?;
    let span = tracing::info_span!("refresh", execution = %execution, account = %parsed.account, region = %parsed.region, stack = %parsed.name);
    let retried_before = crate::aws::retries::retried_calls();
    let stacks = access
        .open(&target, &session)
        .instrument(span.clone())
        .await?;
    let reach = refresh::Reach {
        updater: &stacks,
        secrets,
        clock,
    };
    let mut out = refresh::advance(reach, settings, task, budget_until_ms)
        .instrument(span.clone())
        .await
        .map_err(|i| match i.changed {
            true => FunctionError::AwsAfterChange(i.error),
            false => FunctionError::Aws(i.error),
        })?;
    out.retried_calls += crate::aws::retries::retried_calls() - retried_before;
    if let Some(files) = files {
        tell_progress(files, &execution, &out, clock.now_ms())
            .instrument(span.clone())
            .await;
    }
    let _guard = span.enter();
    match out.outcome {
        Outcome::Waiting => {
            info!(phase = out.phase.token_value(), status = ?out.status, "still updating; handing back to the state machine")
        }
        Outcome::Refreshed => {
            info!("stack refreshed");
            if let (Some(start), Some(enable)) = (out.started_ms, out.enable_started_ms) {
                let now = clock.now_ms();
                telemetry::emit_metrics(&[
                    (
                        "PhaseOneSeconds",
                        enable.saturating_sub(start) as f64 / 1000.0,
                        "Seconds",
                    ),
                    (
                        "PhaseTwoSeconds",
                        now.saturating_sub(enable) as f64 / 1000.0,
                        "Seconds",
                    ),
                ]);
            }
        }
        Outcome::Failed if out.critical => {
            tracing::error!(reason = ?out.reason, status = ?out.status, "CRITICAL: stack left without its guarded resources")
        }
        _ => {
            warn!(outcome = ?out.outcome, reason = ?out.reason, status = ?out.status, "stack not refreshed")
        }
    }
    Ok(out)
}

/// Leaves the stack's progress for `rotate-token watch`. Best effort: a progress file that
/// cannot be written costs the watcher a live line, never the stack its refresh.
async fn tell_progress<R: RunStore + Sync>(
    files: &R,
    execution: &str,
    task: &RefreshTask,
    at_ms: u64,
) {
    let key = RunFiles::new(files.bucket(), execution).progress_key(&task.stack.id);
    let body = serde_json::to_vec(&StackProgress::of(task, at_ms)).unwrap_or_default();
    if let Err(e) = files.put(&key, body).await {
        warn!(error = %e, "could not write the stack's progress for watchers");
    }
}

pub async fn report<S: RunStore + Sync, N: Notifier + Sync>(
    store: Option<&S>,
    notifier: &N,
    input: Value,
) -> Result<Summary, FunctionError> {
    let raw: ReportInput = from_step_input("input", input)?;
    let execution = raw
        .discovery
        .run
        .as_ref()
        .and_then(|r| r.prefix.strip_prefix("runs/"))
        .unwrap_or("manual")
        .to_string();
    let span = tracing::info_span!("report", execution = %execution);
    summarise_and_tell(store, notifier, raw)
        .instrument(span)
        .await
}

async fn summarise_and_tell<S: RunStore + Sync, N: Notifier + Sync>(
    store: Option<&S>,
    notifier: &N,
    raw: ReportInput,
) -> Result<Summary, FunctionError> {
    let mut discovery = raw.discovery;
    let run = discovery.run.clone();
    if let (Some(run), Some(store)) = (&run, store) {
        let body = store.get(&run.bucket, &run.discovery_key).await?;
        discovery = serde_json::from_slice(&body)
            .map_err(|e| InputError::new("run.discovery_key", e.to_string()))?;
    }
    let results = match (raw.results, store) {
        (None, _) => None,
        (Some(MapResults::Inline(tasks)), _) => Some(tasks),
        (Some(MapResults::Written { details }), Some(store)) => {
            Some(read_map_results(store, &details).await?)
        }
        (Some(MapResults::Written { .. }), None) => {
            return Err(InputError::new(
                "input.results",
                "written to S3 but RUNS_BUCKET is not set",
            )
            .into())
        }
    };
    let mut summary = report::summarise(discovery, results);
    if let (Some(run), Some(store)) = (&run, store) {
        let full =
            serde_json::to_vec(&summary).map_err(|e| InputError::new("summary", e.to_string()))?;
        store.put(&run.summary_key(), full).await?;
        summary = report::compact(
            summary,
            format!("s3://{}/{}", run.bucket, run.summary_key()),
        );
    }
    // Tell the operators. A failed publish must not cost the run its summary: it is
    // recorded in the summary (and logged) instead, so nothing is hidden.
    for n in notice::notices(&summary) {
        if let Err(e) = notifier.publish(&n.subject, &n.message).await {
            tracing::error!(error = %e, subject = %n.subject, "could not publish the notice");
            summary.notice_error.get_or_insert_with(|| e.to_string());
        }
    }
    if summary.run_failed {
        summary.failure_cause = Some(report::failure_cause(&summary));
    }
    let c = &summary.counts;
    if !summary.dry_run {
        telemetry::emit_metrics(&[
            ("StacksRefreshed", c.refreshed as f64, "Count"),
            ("StacksSkipped", c.skipped as f64, "Count"),
            ("StacksFailed", c.failed as f64, "Count"),
            ("StacksCritical", c.critical as f64, "Count"),
            ("TargetsFailed", c.failed_targets as f64, "Count"),
            ("CallsRetried", c.retried_calls as f64, "Count"),
        ]);
    }
    info!(
        secret_arn = %summary.secret.arn, dry_run = summary.dry_run, selected = c.selected, refreshed = c.refreshed,
        would_refresh = c.would_refresh, skipped = c.skipped, failed = c.failed, critical = c.critical, "run summary"
    );
    Ok(summary)
}

/// Reads a Distributed Map's ResultWriter output: the manifest, then every result file.
async fn read_map_results<S: RunStore + Sync>(
    store: &S,
    manifest: &S3Object,
) -> Result<Vec<RefreshTask>, FunctionError> {
    let body = store.get(&manifest.bucket, &manifest.key).await?;
    let manifest: ResultManifest = serde_json::from_slice(&body)
        .map_err(|e| InputError::new("results.ResultWriterDetails", e.to_string()))?;
    let mut tasks = Vec::new();
    let files = manifest.files;
    for file in files
        .succeeded
        .iter()
        .chain(&files.failed)
        .chain(&files.pending)
    {
        let body = store.get(&manifest.bucket, &file.key).await?;
        let children: Vec<ChildExecution> = serde_json::from_slice(&body)
            .map_err(|e| InputError::new(format!("results file {}", file.key), e.to_string()))?;
        tasks.extend(children.into_iter().filter_map(ChildExecution::into_task));
    }
    Ok(tasks)
}

/// Fuzzing the step inputs: whatever JSON the state machine (or a person with `cargo lambda
/// invoke`) hands a function, it answers with a value or an error naming the field; it
/// never panics. Arbitrary JSON, and near-valid inputs with one field replaced.
#[cfg(test)]
mod fuzz {
    use super::*;
    use crate::domain::model::StackSnapshot;
    use crate::domain::refresh::UpdatePlan;
    use crate::ports::{NoNotifier, NoOrganization, StackDirectory, StackUpdater, UpdateStart};
    use proptest::prelude::*;
    use serde_json::json;

    /// Every AWS call fails: the fuzz is about the input, and nothing may be changed.
    struct Unreachable;
    impl SecretDirectory for Unreachable {
        async fn secret_arn(&self, _: &str) -> Result<String, AwsError> {
            Err(unreachable_error())
        }
        async fn versions(
            &self,
            _: &str,
        ) -> Result<crate::domain::in_place::SecretVersions, AwsError> {
            Err(unreachable_error())
        }
        async fn secret_arns(&self) -> Result<Vec<String>, AwsError> {
            Err(unreachable_error())
        }
        async fn version_created(&self, _: &str, _: &str) -> Result<Option<u64>, AwsError> {
            Err(unreachable_error())
        }
    }
    impl StackDirectory for Unreachable {
        async fn list_stacks(&self) -> Result<Vec<StackSnapshot>, AwsError> {
            Err(unreachable_error())
        }
        async fn template_body(&self, _: &StackRef) -> Result<String, AwsError> {
            Err(unreachable_error())
        }
        async fn stack_policy(&self, _: &StackRef) -> Result<Option<String>, AwsError> {
            Err(unreachable_error())
        }
        async fn nested_stacks(
            &self,
            _: &StackRef,
        ) -> Result<Vec<crate::ports::NestedStack>, AwsError> {
            Err(unreachable_error())
        }
        async fn resources(
            &self,
            _: &StackRef,
        ) -> Result<Vec<crate::ports::StackResource>, AwsError> {
            Err(unreachable_error())
        }
    }
    impl StackUpdater for Unreachable {
        async fn describe(&self, _: &StackRef) -> Result<Option<StackSnapshot>, AwsError> {
            Err(unreachable_error())
        }
        async fn update(&self, _: &UpdatePlan) -> Result<UpdateStart, AwsError> {
            Err(unreachable_error())
        }
        async fn failed_resources(
            &self,
            _: &StackRef,
        ) -> Result<Vec<crate::domain::model::FailedResource>, AwsError> {
            Err(unreachable_error())
        }
        async fn preview(
            &self,
            _: &UpdatePlan,
        ) -> Result<Vec<crate::domain::model::PlannedChange>, AwsError> {
            Err(unreachable_error())
        }
    }
    impl TargetAccess for Unreachable {
        type Stacks = Unreachable;
        async fn open(&self, _: &Target, _: &str) -> Result<Unreachable, AwsError> {
            Ok(Unreachable)
        }
    }
    /// A run store where every call fails (shared with the other tests here).
    pub(super) struct NoStore;
    impl RunStore for NoStore {
        fn bucket(&self) -> &str {
            "b"
        }
        async fn put(&self, _: &str, _: Vec<u8>) -> Result<(), AwsError> {
            Err(unreachable_error())
        }
        async fn get(&self, _: &str, _: &str) -> Result<Vec<u8>, AwsError> {
            Err(unreachable_error())
        }
        async fn exists(&self, _: &str) -> Result<bool, AwsError> {
            Err(unreachable_error())
        }
    }
    fn unreachable_error() -> AwsError {
        AwsError {
            operation: "Fuzz",
            code: None,
            message: "no AWS here".into(),
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
            let settings = RefreshSettings { poll_interval_ms: 1, max_wait_ms: 10, require_opt_in: false };
            let _ = futures::executor::block_on(refresh(
                NO_STOPS,
                &Unreachable, &NoOrganization, &Unreachable, &crate::ports::SystemClock, settings, &scope(), input, 0,
            ));
        }

        /// Inputs are not authority: whatever the rest of the task says, another token
        /// parameter or a session that is not the pipeline's is refused by field, before any
        /// AWS call (every call here would fail with an AWS error instead).
        #[test]
        fn a_task_naming_another_parameter_or_session_is_refused_before_any_call(
            parameter in "[A-Za-z]{1,12}", session in "[a-z-]{1,20}",
        ) {
            let settings = RefreshSettings { poll_interval_ms: 1, max_wait_ms: 10, require_opt_in: false };
            let task = |parameter: &str, session: Option<&str>| json!({
                "stack": {"account": "123456789012", "region": "us-east-1", "name": "app",
                          "id": "arn:aws:cloudformation:us-east-1:123456789012:stack/app/1"},
                "parameter": parameter, "session": session, "execution": "run-1",
            });
            let refused = |input: Value| match futures::executor::block_on(refresh(
                NO_STOPS,
                &Unreachable, &NoOrganization, &Unreachable, &crate::ports::SystemClock, settings, &scope(), input, 0,
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
            let settings = DiscoverySettings {
                parameter: "RotateToken".into(),
                version_parameter: "RotateTokenVersion".into(),
                mode: crate::domain::selection::SelectionMode::All,
                max_concurrency: 1,
                template_concurrency: 1,
                target_concurrency: 1,
                require_opt_in: false,
            };
            let _ = futures::executor::block_on(discover(
                &Unreachable, &NoOrganization, Some(&NoStore), &Unreachable, &scope(), &settings, input,
            ));
        }

        #[test]
        fn no_report_input_panics(input in any_json()) {
            let _ = futures::executor::block_on(report(Some(&NoStore), &NoNotifier, input));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct BrokenTopic;
    impl Notifier for BrokenTopic {
        async fn publish(&self, _: &str, _: &str) -> Result<(), AwsError> {
            Err(AwsError {
                operation: "Publish",
                code: Some("NotFound".into()),
                message: "Topic does not exist".into(),
            })
        }
    }

    #[test]
    fn a_failed_publish_is_recorded_in_the_summary_not_lost() {
        let input = json!({
            "secret": {"arn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf", "name": "prod/db"},
            "cause": "PutSecretValue", "dry_run": true, "parameter": "RotateToken", "mode": "all",
            "max_concurrency": 5, "scanned": 0, "not_consumers": 0, "selected": [], "skipped": [],
            "targets": 1, "failed_targets": []
        });
        let summary =
            futures::executor::block_on(report(None::<&super::fuzz::NoStore>, &BrokenTopic, input))
                .unwrap();
        let error = summary
            .notice_error
            .expect("the failed publish is in the summary");
        assert!(
            error.contains("Publish") && error.contains("NotFound"),
            "{error}"
        );
    }
}
