//! Finds the stacks a secret change must refresh, in every target, and reports every stack
//! with the token parameter that cannot be refreshed now, and every target that could not
//! be searched.

use std::collections::{HashMap, HashSet};

use futures::{stream, StreamExt, TryStreamExt};

use super::built_refs::{built_reference, Built, NOT_JUDGED};
use super::in_place::{self, RefreshMode, VersionsOnce};
use super::model::{
    DiscoveryOutput, ExecutionInput, FailedTarget, PlannedUpdate, RefreshTask, SecretRef,
    SkippedStack, StackSnapshot,
};
use super::nested::{self, Member};
use super::planning;
use super::selection::{
    mentions_secret, not_opted_in, not_refreshable_reason, parameters_mention_secret, SelectionMode,
};
use super::service_role::{borrows_pipeline_power, StacksWithoutServiceRole};
use super::targets::Target;
use crate::ports::{AwsError, SecretDirectory, StackDirectory, StackUpdater, TargetAccess};

#[derive(Debug, Clone, PartialEq)]
pub struct DiscoverySettings {
    pub parameter: String,
    /// The version parameter that chooses in-place mode (`RotateTokenVersion` by default).
    pub version_parameter: String,
    pub mode: SelectionMode,
    pub max_concurrency: u32,
    /// GetTemplate calls in flight at once per target (selection and the data-loss guard).
    pub template_concurrency: usize,
    /// Targets searched at once.
    pub target_concurrency: usize,
    /// `DiscoveryCallsPerSecond`: each CloudFormation API's calls a second in one account
    /// and region, for every run discovering there together ([`super::discovery_pace`]).
    pub calls_per_second: f64,
    /// Only stacks tagged `rotatetoken:opt-in=true` may be updated (`RequireOptInTag`).
    pub require_opt_in: bool,
    /// Stacks the pipeline may update without a service role (`StacksWithoutServiceRole`).
    pub without_service_role: StacksWithoutServiceRole,
    /// The deployment's secrets (`SecretNamePrefixes`): a run's input naming another is
    /// refused, however it was started. `None` where no deployment says (a test).
    pub secret_scope: Option<super::secret_scope::SecretScope>,
    /// Leave to a later run the stacks it refreshes anyway (`CoalesceWindowSeconds` > 0:
    /// [`super::coalesce`]).
    pub coalesce: bool,
    /// `ReconcileSince` (epoch ms): the scheduled audit judges freshness against it too.
    pub reconcile_since: super::reconcile::ReconcileSince,
}

/// What the checks before phase one say about a stack, as discovery sees them.
enum Before {
    /// Go, with the plan when a dry run previewed it.
    Go(Vec<PlannedUpdate>),
    Skip(String),
    /// Dry run: CloudFormation would refuse the `false` update.
    WouldFail(String),
}

/// The checks the refresh function makes right before phase one, on a refreshable stack
/// and the nested stacks its token reaches: CloudFormation would refuse the update (dry runs
/// only: a real run's refresh reports that as a failure), the data-loss guard, the stack
/// policy. An AWS call that fails here is never a skip (the stack would silently keep the
/// old value): a real run selects the stack, and the refresh function makes the same checks
/// again before phase one, where a failing call is a failure; a dry run says the checks
/// could not be made.
async fn guard_verdict<D: StackDirectory + StackUpdater + Sync>(
    directory: &D,
    snapshot: &StackSnapshot,
    body: Option<String>,
    members: Option<Vec<Member>>,
    parameter: &str,
    dry_run: bool,
) -> Result<Vec<PlannedUpdate>, Before> {
    let not_checked = |e: AwsError| match dry_run {
        true => Before::WouldFail(format!(
            "the checks before phase one could not be made: {e}"
        )),
        false => Before::Go(vec![]),
    };
    let body = match body {
        Some(body) => body,
        None => directory
            .template_body(&snapshot.stack)
            .await
            .map_err(not_checked)?,
    };
    let members = match members {
        Some(members) => members,
        None => nested::reached(directory, &snapshot.stack, &body, parameter)
            .await
            .map_err(not_checked)?,
    };
    if dry_run {
        if let Some(reason) = nested::refusal_reason(&body, parameter, &members) {
            return Err(Before::WouldFail(format!(
                "CloudFormation would refuse the update: {reason}"
            )));
        }
    }
    if let Some(reason) = nested::skip_reason(&body, parameter, &members, snapshot) {
        return Err(Before::Skip(reason));
    }
    match super::stack_policy::reason(directory, &snapshot.stack, &body, parameter).await {
        Ok(None) => {}
        Ok(Some(reason)) => return Err(Before::Skip(reason)),
        Err(e) => return Err(not_checked(e)),
    }
    if !dry_run {
        return Ok(vec![]);
    }
    // What CloudFormation would do, exactly: phase one previewed in a change set (and its
    // side changes judged as the refresh function judges them). Phase two cannot be
    // previewed before phase one has run: it undoes phase one. A stack left at `false`
    // needs only phase two, and that is previewed.
    let at_false = snapshot
        .parameter(parameter)
        .and_then(|p| p.value.as_deref())
        == Some("false");
    let phase = if at_false { "true" } else { "false" };
    let update = planning::plan_update(snapshot, parameter, phase).map_err(Before::Skip)?;
    let planned = directory.preview(&update).await.map_err(not_checked)?;
    let first = PlannedUpdate::from_changes(format!("{parameter}={phase}"), &planned);
    if at_false {
        return Ok(vec![first]);
    }
    let guarded = nested::token_conditioned(&body, parameter, &members);
    let tokens = nested::token_names(parameter, &members);
    if let Some(reason) = super::guard::replacement_reason(&planned, snapshot.allows_data_loss()) {
        return Err(Before::Skip(reason));
    }
    if let Some(reason) = planning::side_change_reason(&planned, &guarded, &tokens, snapshot) {
        return Err(Before::Skip(reason));
    }
    let second = first.undone(format!("{parameter}=true"));
    Ok(vec![first, second])
}

/// The checks before an in-place update, for a dry run: the secret's current version, and
/// what the change set says the update would do.
async fn in_place_verdict<D: StackUpdater + Sync, S: SecretDirectory + Sync>(
    directory: &D,
    snapshot: &StackSnapshot,
    version_parameter: &str,
    versions: &VersionsOnce<'_, S>,
) -> Result<Vec<PlannedUpdate>, Before> {
    let versions = versions.get().await.as_ref().map_err(|e| {
        Before::WouldFail(format!(
            "the secret's versions could not be read, so the version to pin is unknown: {e}"
        ))
    })?;
    let current = versions.current().ok_or_else(|| {
        Before::WouldFail("the secret has no version labelled AWSCURRENT".to_string())
    })?;
    let update =
        planning::plan_update(snapshot, version_parameter, current).map_err(Before::Skip)?;
    let planned = directory.preview(&update).await.map_err(|e| {
        Before::WouldFail(format!(
            "the checks before the update could not be made: {e}"
        ))
    })?;
    if let Some(reason) = in_place::refusal(&planned, snapshot.allows_data_loss()) {
        return Err(Before::Skip(reason));
    }
    Ok(vec![PlannedUpdate::from_changes(
        format!("{version_parameter}={current}"),
        &planned,
    )])
}

/// One top-level stack with the token or version parameter, judged.
struct Judged {
    snapshot: StackSnapshot,
    mode: RefreshMode,
    consumer: bool,
    /// Dry run: what each update would do.
    plan: Vec<PlannedUpdate>,
    /// Why it is skipped, if it is.
    reason: Option<String>,
    /// Dry run: why CloudFormation would refuse its update.
    would_fail: Option<String>,
    /// The nested stacks its token reaches (stack ids).
    reached: Vec<String>,
}

/// What one target holds.
#[derive(Debug, Default)]
struct Findings {
    scanned: usize,
    not_consumers: usize,
    selected: Vec<RefreshTask>,
    skipped: Vec<SkippedStack>,
}

/// `secrets`: the secret's labelled versions are read from it at most once per run, when an
/// in-place stack is previewed or warned about.
pub async fn discover<A: TargetAccess + Sync, S: SecretDirectory + Sync>(
    access: &A,
    targets: &[Target],
    input: ExecutionInput,
    settings: &DiscoverySettings,
    session: &str,
    secrets: &S,
) -> DiscoveryOutput {
    let versions = &VersionsOnce::new(secrets, &input.secret.arn);
    let secret = &input.secret;
    let dry_run = input.dry_run;
    let mut per_target: Vec<(Target, Result<Findings, AwsError>)> =
        stream::iter(targets.iter().cloned())
            .map(|target| async move {
                let found = async {
                    let stacks = access.open(&target, session).await?;
                    let run = Run {
                        secret,
                        settings,
                        session,
                        dry_run,
                        versions,
                    };
                    search(&stacks, &target, &run).await
                }
                .await;
                (target, found)
            })
            .buffer_unordered(settings.target_concurrency.max(1))
            .collect()
            .await;
    per_target.sort_by(|a, b| a.0.cmp(&b.0));

    let mut out = DiscoveryOutput {
        secret: input.secret.clone(),
        cause: input.cause,
        dry_run: input.dry_run,
        parameter: settings.parameter.clone(),
        mode: settings.mode.as_str().to_string(),
        max_concurrency: settings.max_concurrency,
        scanned: 0,
        not_consumers: 0,
        selected: vec![],
        skipped: vec![],
        targets: targets.len(),
        failed_targets: vec![],
        run: None,
        selected_count: 0,
        skipped_count: 0,
        retried_calls: 0,
    };
    for (target, found) in per_target {
        match found {
            Ok(f) => {
                out.scanned += f.scanned;
                out.not_consumers += f.not_consumers;
                out.selected.extend(f.selected);
                out.skipped.extend(f.skipped);
            }
            Err(e) => out.failed_targets.push(FailedTarget {
                account: target.account.clone().unwrap_or_else(|| "self".into()),
                region: target.region.clone(),
                reason: e.to_string(),
            }),
        }
    }
    out.selected.sort_by(|a, b| a.stack.cmp(&b.stack));
    // Every account-region's lane starts at once (the Map starts its items in order), and
    // the Map keeps as many children as the lanes have places, twice over: a stack waiting
    // for a place holds no Lambda, and a slow lane's waiting stacks must not take every
    // child from the others (super::lanes).
    super::lanes::schedule(&mut out, settings.max_concurrency);
    out.selected_count = out.selected.len();
    out.skipped_count = out.skipped.len();
    out
}

/// What every target of one run is searched with.
struct Run<'a, S> {
    secret: &'a SecretRef,
    settings: &'a DiscoverySettings,
    session: &'a str,
    dry_run: bool,
    versions: &'a VersionsOnce<'a, S>,
}

async fn search<D: StackDirectory + StackUpdater + Sync, S: SecretDirectory + Sync>(
    directory: &D,
    target: &Target,
    run: &Run<'_, S>,
) -> Result<Findings, AwsError> {
    let (secret, settings, session) = (run.secret, run.settings, run.session);
    let stacks = directory.list_stacks().await?;
    let scanned = stacks.len();
    let token = settings.parameter.as_str();
    // Only stacks that really live in this target (a misconfigured role must not widen
    // the blast radius).
    let in_target: Vec<StackSnapshot> = stacks
        .into_iter()
        .filter(|s| {
            target
                .account
                .as_ref()
                .is_none_or(|a| *a == s.stack.account)
                && s.stack.region == target.region
        })
        .collect();
    let by_id: HashMap<&str, &StackSnapshot> =
        in_target.iter().map(|s| (s.stack.id.as_str(), s)).collect();
    // A nested stack is only ever updated through its root (resource reference,
    // AWS::CloudFormation::Stack): candidates are top-level stacks with the token.
    let mut nested_under: HashMap<&str, Vec<&StackSnapshot>> = HashMap::new();
    for s in in_target.iter().filter(|s| s.parent_id.is_some()) {
        let root = s
            .root_id
            .as_deref()
            .or(s.parent_id.as_deref())
            .unwrap_or_default();
        nested_under.entry(root).or_default().push(s);
    }
    let version = settings.version_parameter.as_str();
    let candidates: Vec<(&StackSnapshot, RefreshMode)> = in_target
        .iter()
        .filter(|s| s.parent_id.is_none())
        .filter_map(|s| Some((s, in_place::mode_of(s, token, version)?)))
        .collect();
    // Each run reads its candidates in an order of its own (drawn from its session name),
    // so that runs discovering together read different templates first and find the
    // others' kept (`service::discovery_pace`); the findings keep the listing's order.
    let mut order: Vec<usize> = (0..candidates.len()).collect();
    order.sort_by_cached_key(|i| {
        super::discovery_pace::run_order(session, &candidates[*i].0.stack.id)
    });
    let mut judged: Vec<(usize, Judged)> =
        stream::iter(order.into_iter().map(|i| (i, candidates[i])))
            .map(|(i, (snapshot, mode))| {
                let by_id = &by_id;
                let below = nested_under
                    .get(snapshot.stack.id.as_str())
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                async move {
                    let judged = match mode {
                        RefreshMode::TwoPhase => {
                            judge(directory, snapshot, below, by_id, run).await
                        }
                        RefreshMode::InPlace => judge_in_place(directory, snapshot, run).await,
                    };
                    judged.map(|j| (i, j))
                }
            })
            .buffered(settings.template_concurrency.max(1))
            .try_collect()
            .await?;
    judged.sort_by_key(|(i, _)| *i);
    let judged: Vec<Judged> = judged.into_iter().map(|(_, j)| j).collect();
    let reached: HashSet<&str> = judged
        .iter()
        .flat_map(|j| j.reached.iter().map(String::as_str))
        .collect();
    let mut found = Findings {
        scanned,
        ..Default::default()
    };
    for j in &judged {
        if !j.consumer {
            continue;
        }
        match &j.reason {
            None => {
                let snapshot = &j.snapshot;
                let parameter = match j.mode {
                    RefreshMode::TwoPhase => token,
                    RefreshMode::InPlace => version,
                };
                let mut task = RefreshTask::new(snapshot.stack.clone(), parameter.to_string());
                task.session = Some(session.to_string());
                task.other_parameters = snapshot.other_parameter_keys(parameter);
                task.reason = j.would_fail.clone();
                task.mode = j.mode;
                task.plan = j.plan.clone();
                task.secret_arn = Some(secret.arn.clone());
                task.secret_replica_regions = secret.replica_regions.clone();
                found.selected.push(task)
            }
            Some(reason) => {
                // A skipped in-place stack keeps its pin: said when that pin may break (not
                // for one not judged: its pin may be another secret's).
                let warning = match j.mode {
                    _ if reason.starts_with(NOT_JUDGED) => None,
                    RefreshMode::InPlace => match run.versions.get().await {
                        Ok(versions) => in_place::stale_pin_warning(&j.snapshot, version, versions),
                        Err(_) => None,
                    },
                    RefreshMode::TwoPhase => None,
                };
                found.skipped.push(SkippedStack {
                    stack: j.snapshot.stack.clone(),
                    status: j.snapshot.status.clone(),
                    reason: match warning {
                        Some(w) => format!("{reason}. {w}"),
                        None => reason.clone(),
                    },
                    mode: j.mode,
                })
            }
        }
    }
    // Nested stacks with the token that no root's token reaches can never be refreshed:
    // reported, never silently left holding the old value.
    for (root_id, below) in &nested_under {
        for n in below {
            if n.parameter(token).is_none() || reached.contains(n.stack.id.as_str()) {
                continue;
            }
            let consumer = match settings.mode {
                SelectionMode::All => true,
                SelectionMode::Referencing => {
                    let secret = secret.as_seen_from(&n.stack);
                    parameters_mention_secret(n, &secret)
                        || mentions_secret(&directory.template_body(&n.stack).await?, &secret)
                }
            };
            if consumer {
                found.skipped.push(SkippedStack {
                    stack: n.stack.clone(),
                    status: n.status.clone(),
                    reason: unreachable_reason(n, by_id.get(root_id).copied(), token),
                    mode: RefreshMode::TwoPhase,
                });
            }
        }
    }
    found.not_consumers =
        scanned.saturating_sub(found.selected.len() + found.skipped.len() + reached.len());
    Ok(found)
}

/// Is this top-level stack a consumer of the secret, and may it be refreshed? Reads the
/// templates of the nested stacks its token reaches when it has any.
async fn judge<D: StackDirectory + StackUpdater + Sync, S: SecretDirectory + Sync>(
    directory: &D,
    snapshot: &StackSnapshot,
    below: &[&StackSnapshot],
    by_id: &HashMap<&str, &StackSnapshot>,
    run: &Run<'_, S>,
) -> Result<Judged, AwsError> {
    let (secret, settings, dry_run) = (run.secret, run.settings, run.dry_run);
    let token = settings.parameter.as_str();
    let walk = match settings.mode {
        SelectionMode::Referencing => !below.is_empty(),
        SelectionMode::All => below.iter().any(|n| n.parameter(token).is_some()),
    };
    let mut body = None;
    let mut members = None;
    if walk {
        let root_body = directory.template_body(&snapshot.stack).await?;
        members = Some(nested::reached(directory, &snapshot.stack, &root_body, token).await?);
        body = Some(root_body);
    }
    let reached: Vec<String> = members
        .iter()
        .flatten()
        .map(|m| m.stack.id.clone())
        .collect();
    // Nested stacks live in their root's account and region: one view of the secret.
    let secret = &secret.as_seen_from(&snapshot.stack);
    // A reference the template builds (Fn::Sub, Fn::Join) that cannot be resolved here.
    let mut not_judged = None;
    let consumer = match settings.mode {
        SelectionMode::All => true,
        SelectionMode::Referencing => {
            parameters_mention_secret(snapshot, secret)
                || members.iter().flatten().any(|m| {
                    mentions_secret(&m.body, secret)
                        || by_id.get(m.stack.id.as_str()).is_some_and(|n| {
                            parameters_mention_secret(n, secret)
                                || built(&m.body, n, secret) == Built::Mentions
                        })
                })
                || {
                    if body.is_none() {
                        body = Some(directory.template_body(&snapshot.stack).await?);
                    }
                    body.as_deref().is_some_and(|b| mentions_secret(b, secret))
                }
                || match body.as_deref().map(|b| built(b, snapshot, secret)) {
                    Some(Built::Mentions) => true,
                    Some(Built::CannotJudge(why)) => {
                        not_judged = Some(why);
                        true
                    }
                    _ => false,
                }
        }
    };
    let refusal = not_judged
        .or_else(|| not_refreshable_reason(snapshot))
        .or_else(|| not_opted_in(snapshot, settings.require_opt_in, token));
    let borrowed = borrows_pipeline_power(snapshot, &settings.without_service_role);
    let before = match (refusal, borrowed) {
        (Some(reason), _) => Before::Skip(reason),
        // The refresh function refuses it (failed): a dry run says so, and a real run hands
        // it to the refresh unjudged, so that both report the same verdict.
        (None, Some(reason)) if consumer && dry_run => Before::WouldFail(reason),
        (None, Some(_)) if consumer => Before::Go(vec![]),
        // The refresh function judges every stack right before phase one. Discovery judges
        // too when it already holds the template (referencing mode, nested stacks), and in
        // a dry run, which must report the same verdicts and runs no refresh.
        (None, _) if consumer && (body.is_some() || dry_run) => {
            match guard_verdict(directory, snapshot, body, members, token, dry_run).await {
                Ok(plan) => Before::Go(plan),
                Err(before) => before,
            }
        }
        (None, _) => Before::Go(vec![]),
    };
    Ok(judged(
        snapshot,
        RefreshMode::TwoPhase,
        consumer,
        before,
        reached,
    ))
}

fn judged(
    snapshot: &StackSnapshot,
    mode: RefreshMode,
    consumer: bool,
    before: Before,
    reached: Vec<String>,
) -> Judged {
    let (reason, would_fail, plan) = match before {
        Before::Go(plan) => (None, None, plan),
        Before::Skip(reason) => (Some(reason), None, vec![]),
        Before::WouldFail(reason) => (None, Some(reason), vec![]),
    };
    Judged {
        snapshot: snapshot.clone(),
        mode,
        consumer,
        plan,
        reason,
        would_fail,
        reached,
    }
}

/// What the references `body` builds (Fn::Sub, Fn::Join) say about the secret; a template
/// that does not parse builds none that could be judged here (its text was searched).
fn built(body: &str, snapshot: &StackSnapshot, secret: &SecretRef) -> Built {
    // Parsed only where it can build one (most templates cannot: no parse for them).
    if !body.contains("secretsmanager") || !(body.contains("Sub") || body.contains("Join")) {
        return Built::Nothing;
    }
    match super::guard::parse_template(body) {
        Ok(template) => built_reference(&template, snapshot, secret),
        Err(_) => Built::Nothing,
    }
}

/// An in-place stack. A version id belongs to one secret, so whatever the selection mode,
/// only a stack whose template or parameters mention the changed secret is a consumer.
async fn judge_in_place<D: StackDirectory + StackUpdater + Sync, S: SecretDirectory + Sync>(
    directory: &D,
    snapshot: &StackSnapshot,
    run: &Run<'_, S>,
) -> Result<Judged, AwsError> {
    let version = run.settings.version_parameter.as_str();
    let secret = &run.secret.as_seen_from(&snapshot.stack);
    let mut not_judged = None;
    let consumer = parameters_mention_secret(snapshot, secret) || {
        let body = directory.template_body(&snapshot.stack).await?;
        mentions_secret(&body, secret)
            || match built(&body, snapshot, secret) {
                Built::Mentions => true,
                Built::CannotJudge(why) => {
                    not_judged = Some(why);
                    true
                }
                Built::Nothing => false,
            }
    };
    let refusal = not_judged
        .or_else(|| not_refreshable_reason(snapshot))
        .or_else(|| not_opted_in(snapshot, run.settings.require_opt_in, version));
    let borrowed = borrows_pipeline_power(snapshot, &run.settings.without_service_role);
    let before = match (refusal, borrowed) {
        (Some(reason), _) => Before::Skip(reason),
        (None, Some(reason)) if consumer && run.dry_run => Before::WouldFail(reason),
        (None, _) if consumer && run.dry_run => {
            match in_place_verdict(directory, snapshot, version, run.versions).await {
                Ok(plan) => Before::Go(plan),
                Err(before) => before,
            }
        }
        (None, _) => Before::Go(vec![]),
    };
    Ok(judged(
        snapshot,
        RefreshMode::InPlace,
        consumer,
        before,
        vec![],
    ))
}

/// Why a nested stack with the token parameter cannot be refreshed: CloudFormation updates
/// it only through its root, and the root's token does not reach it.
fn unreachable_reason(nested: &StackSnapshot, root: Option<&StackSnapshot>, token: &str) -> String {
    let root_name = root
        .map(|r| r.stack.name.clone())
        .or_else(|| nested.root_id.clone())
        .unwrap_or_default();
    match root {
        Some(r) if r.parameter(token).is_some() => format!(
            "unreachable: a nested stack of {root_name}, whose {token} is not passed down to it; \
             CloudFormation updates a nested stack only through its root: pass it down \
             (Parameters: {token}: !Ref {token}) at each level"
        ),
        _ => format!(
            "unreachable: a nested stack of {root_name}, which has no {token} parameter; \
             CloudFormation updates a nested stack only through its root: add {token} to the \
             root and pass it down (Parameters: {token}: !Ref {token})"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::{FakeStack, NoSecrets};

    #[test]
    fn an_aws_error_during_the_checks_is_never_reported_as_a_skip() {
        let secret = SecretRef::from_arn(
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf",
            None,
        )
        .unwrap();
        let target = Target {
            account: None,
            region: "us-east-1".into(),
        };
        // One consumer whose stack policy cannot be read (throttled for good, say).
        let mut stack = FakeStack::new("UPDATE_COMPLETE", "true");
        stack.policy_unreadable = true;
        stack.snapshot = std::sync::Mutex::new(StackSnapshot::for_test(
            "arn:aws:cloudformation:us-east-1:123456789012:stack/app/1",
            &[("RotateToken", "true")],
        ));
        stack.template = "Conditions:\n  On: !Equals [!Ref RotateToken, 'true']\nResources:\n  R: {Type: AWS::SSM::Parameter, Condition: On}\n";
        for mode in [SelectionMode::All, SelectionMode::Referencing] {
            let settings = DiscoverySettings {
                parameter: "RotateToken".into(),
                version_parameter: "RotateTokenVersion".into(),
                mode,
                max_concurrency: 1,
                template_concurrency: 1,
                target_concurrency: 1,
                calls_per_second: crate::domain::discovery_pace::DEFAULT_CALLS_PER_SECOND,
                require_opt_in: false,
                // A stack without a service role: allowed, the checks are what is tested.
                without_service_role: StacksWithoutServiceRole::any(),
                secret_scope: None,
                coalesce: false,
                reconcile_since: Default::default(),
            };
            let secret = &SecretRef {
                // The name matches nothing in the template: referencing mode reads it.
                name: "R".into(),
                ..secret.clone()
            };
            for dry_run in [false, true] {
                let run = Run {
                    secret,
                    settings: &settings,
                    session: "s",
                    dry_run,
                    versions: &VersionsOnce::new(&NoSecrets, "arn"),
                };
                let found = futures::executor::block_on(search(&stack, &target, &run)).unwrap();
                assert!(found.skipped.is_empty(), "{mode:?} {dry_run}: {found:?}");
                assert_eq!(found.selected.len(), 1, "{mode:?} {dry_run}");
                let reason = found.selected[0].reason.clone();
                if dry_run {
                    assert!(
                        reason.as_deref().is_some_and(|r| r.contains("Throttling")),
                        "a dry run says the checks could not be made: {reason:?}"
                    );
                } else {
                    assert_eq!(reason, None, "the refresh function judges it again");
                }
            }
        }
    }
}
