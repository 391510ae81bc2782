//! The freshness audit: does each consumer hold the secret's current value? Told from
//! metadata only, never a value: the time the current version was created (Secrets
//! Manager) against the time CloudFormation last created or updated each resource that
//! re-reads the secret, or, in in-place mode, the version the stack is pinned to.
//!
//! Two-phase stacks: the guarded resources (the token's Condition) are the ones a refresh
//! recreates; one created or updated before the current version still holds an earlier
//! value. A stack at `false`, or missing a guarded resource, holds none at all.

use std::collections::HashMap;

use futures::{stream, StreamExt};
use serde::{Deserialize, Serialize};

use super::in_place::{pinned_version, RefreshMode};
use super::model::{StackRef, StackSnapshot};
use super::nested;
use super::targets::{Target, TargetSettings};
use crate::ports::{AwsError, StackDirectory, StackResource, StackUpdater, TargetAccess};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Freshness {
    /// Every resource that reads the secret was created or updated after the current
    /// version was created (in-place: pinned to the current version).
    Fresh,
    /// At least one still holds an earlier value.
    Stale,
    /// The resources that read the secret do not exist (the stack is at `false`, or one
    /// is gone): the stack holds no value at all.
    Missing,
    /// Could not be told (an AWS call failed, nothing reads the secret by the token's
    /// Condition): never taken for fresh.
    Unknown,
}

impl Freshness {
    pub fn as_str(self) -> &'static str {
        match self {
            Freshness::Fresh => "fresh",
            Freshness::Stale => "stale",
            Freshness::Missing => "missing",
            Freshness::Unknown => "unknown",
        }
    }
}

/// The secret's current version: its id and when it was created (epoch ms).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrentVersion {
    pub id: String,
    pub created_ms: u64,
}

/// One consumer, judged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Judgement {
    pub freshness: Freshness,
    /// Why, naming the resource and the times (or the pinned version).
    pub detail: String,
}

impl Judgement {
    fn new(freshness: Freshness, detail: impl Into<String>) -> Self {
        Self {
            freshness,
            detail: detail.into(),
        }
    }
}

/// An in-place stack is fresh exactly when it is pinned to the current version (a rolled
/// back update rolls the parameter back too).
pub fn judge_in_place(
    snapshot: &StackSnapshot,
    version_parameter: &str,
    current: &CurrentVersion,
) -> Judgement {
    match pinned_version(snapshot, version_parameter) {
        Some(v) if v == current.id => Judgement::new(
            Freshness::Fresh,
            format!("{version_parameter} is the current version {v}"),
        ),
        Some(v) => Judgement::new(
            Freshness::Stale,
            format!(
                "{version_parameter} pins version {v}, not the current version {}",
                current.id
            ),
        ),
        None => Judgement::new(
            Freshness::Stale,
            format!(
                "{version_parameter} names no version; the current version is {}",
                current.id
            ),
        ),
    }
}

/// A two-phase stack from its token's value, its guarded resources (`path/LogicalId` for
/// nested ones, as [`nested::guarded`] names them) and the resources found under those names.
pub fn judge_two_phase(
    token: &str,
    token_value: Option<&str>,
    guarded: &[String],
    found: &HashMap<String, StackResource>,
    current: &CurrentVersion,
) -> Judgement {
    if token_value == Some("false") {
        return Judgement::new(
            Freshness::Missing,
            format!("{token} is false: the guarded resources do not exist"),
        );
    }
    if guarded.is_empty() {
        return Judgement::new(
            Freshness::Unknown,
            format!("no resource has a Condition on {token}: nothing re-reads the secret"),
        );
    }
    let mut missing = Vec::new();
    let mut stale = Vec::new();
    for id in guarded {
        match found.get(id) {
            None => missing.push(id.clone()),
            Some(r) if r.status.ends_with("FAILED") => {
                stale.push(format!("{id} ({}) is {}", r.resource_type, r.status))
            }
            Some(r) if r.updated_ms < current.created_ms => stale.push(format!(
                "{id} ({}) was last updated {} before the current version was created",
                r.resource_type,
                elapsed(current.created_ms - r.updated_ms)
            )),
            Some(_) => {}
        }
    }
    if !missing.is_empty() {
        return Judgement::new(
            Freshness::Missing,
            format!("guarded resources missing: {}", missing.join(", ")),
        );
    }
    if !stale.is_empty() {
        return Judgement::new(Freshness::Stale, stale.join("; "));
    }
    Judgement::new(
        Freshness::Fresh,
        format!(
            "{} guarded resource(s) created or updated after version {} was created",
            guarded.len(),
            current.id
        ),
    )
}

/// How [`judged_since`] ends the detail of every consumer of a secret not rotated since the
/// moment (the STALE alert then says to rotate the secret, not to refresh its consumers).
pub const NOT_ROTATED_SINCE: &str = "the secret has not been rotated since";

/// The judgement against a moment (`rotate-token audit --since`: when the incident was
/// contained): a consumer holds a value created before it when the secret's current
/// version is older, however recently its resources were recreated, since the secret was
/// not rotated after it. Otherwise the judgement against the current version stands (a
/// stale consumer holds a version older still). Missing and unknown stay as they are; each
/// says too that the secret was not rotated since.
pub fn judged_since(j: Judgement, current: &CurrentVersion, since_ms: Option<u64>) -> Judgement {
    match since_ms {
        Some(since) if current.created_ms < since && j.freshness == Freshness::Fresh => {
            Judgement::new(
                Freshness::Stale,
                format!(
                    "holds version {}, created {} before --since {}: {NOT_ROTATED_SINCE}",
                    current.id,
                    elapsed(since - current.created_ms),
                    super::utc::format_ms(since)
                ),
            )
        }
        Some(since) if current.created_ms < since => Judgement::new(
            j.freshness,
            format!(
                "{}; {NOT_ROTATED_SINCE} --since {}",
                j.detail,
                super::utc::format_ms(since)
            ),
        ),
        _ => j,
    }
}

fn elapsed(ms: u64) -> String {
    match ms / 1000 {
        s if s < 120 => format!("{}.{:03} s", s, ms % 1000),
        s if s < 7200 => format!("{} min", s / 60),
        s if s < 172_800 => format!("{} h", s / 3600),
        s => format!("{} days", s / 86_400),
    }
}

/// Reads what the judgement needs from CloudFormation: the stack, and for two-phase
/// stacks its template, the nested stacks its token reaches and their resources.
pub async fn judge<D: StackDirectory + StackUpdater + Sync>(
    directory: &D,
    stack: &StackRef,
    mode: RefreshMode,
    parameter: &str,
    current: &CurrentVersion,
) -> Result<Judgement, AwsError> {
    let Some(snapshot) = directory.describe(stack).await? else {
        return Ok(Judgement::new(
            Freshness::Missing,
            "the stack no longer exists",
        ));
    };
    if mode == RefreshMode::InPlace {
        return Ok(judge_in_place(&snapshot, parameter, current));
    }
    let body = directory.template_body(stack).await?;
    let members = nested::reached(directory, stack, &body, parameter).await?;
    let guarded = nested::guarded(&body, parameter, &members);
    let mut found = HashMap::new();
    let mut stacks: Vec<(String, &StackRef)> = vec![(String::new(), stack)];
    stacks.extend(members.iter().map(|m| (format!("{}/", m.path), &m.stack)));
    for (prefix, s) in stacks {
        if !guarded.iter().any(|g| {
            g.strip_prefix(&prefix)
                .is_some_and(|rest| !rest.contains('/'))
        }) {
            continue;
        }
        for r in directory.resources(s).await? {
            found.insert(format!("{prefix}{}", r.logical_id), r);
        }
    }
    let value = snapshot
        .parameter(parameter)
        .and_then(|p| p.value.as_deref());
    Ok(judge_two_phase(parameter, value, &guarded, &found, current))
}

/// Judges every consumer (stack, mode, the parameter its mode updates), in its target.
/// A stack whose evidence cannot be read is `Unknown`, with the error.
pub async fn judge_all<A: TargetAccess + Sync>(
    access: &A,
    targets: &TargetSettings,
    own_region: &str,
    session: &str,
    consumers: &[(StackRef, RefreshMode, String)],
    current: &CurrentVersion,
) -> Vec<Judgement> {
    // Each target opened once (one AssumeRole), then the stacks judged a few at a time:
    // one after the other, a reconciliation of a thousand consumers (three calls or more
    // each) would outlast the discover function's timeout.
    let mut opened: HashMap<Target, Result<A::Stacks, AwsError>> = HashMap::new();
    let mut placed = Vec::with_capacity(consumers.len());
    for (stack, _, _) in consumers {
        let target = targets.target_of(stack, own_region);
        if let Ok(target) = &target {
            if !opened.contains_key(target) {
                let directory = access.open(target, session).await;
                opened.insert(target.clone(), directory);
            }
        }
        placed.push(target);
    }
    let opened = &opened;
    stream::iter(consumers.iter().zip(placed))
        .map(|((stack, mode, parameter), target)| async move {
            let judged = match target.map(|t| &opened[&t]) {
                Err(e) => return Judgement::new(Freshness::Unknown, e.to_string()),
                Ok(Ok(directory)) => judge(directory, stack, *mode, parameter, current).await,
                Ok(Err(e)) => Err(e.clone()),
            };
            judged.unwrap_or_else(|e| {
                Judgement::new(Freshness::Unknown, format!("could not be told: {e}"))
            })
        })
        .buffered(JUDGED_AT_ONCE)
        .collect()
        .await
}

/// Stacks judged at once (as discovery reads templates, a few calls in flight per run).
const JUDGED_AT_ONCE: usize = 8;

#[cfg(test)]
mod tests {
    use super::*;

    fn current() -> CurrentVersion {
        CurrentVersion {
            id: "v2".into(),
            created_ms: 10_000,
        }
    }

    fn resource(id: &str, status: &str, updated_ms: u64) -> (String, StackResource) {
        (
            id.to_string(),
            StackResource {
                logical_id: id.rsplit('/').next().unwrap().to_string(),
                resource_type: "AWS::SSM::Parameter".into(),
                status: status.into(),
                updated_ms,
            },
        )
    }

    #[test]
    fn since_a_moment_a_consumer_of_a_secret_not_rotated_after_it_is_stale() {
        let fresh = Judgement::new(Freshness::Fresh, "recreated after v2");
        // v2 was created at 10 s: after a moment at 5 s, fresh stays fresh.
        assert_eq!(judged_since(fresh.clone(), &current(), Some(5_000)), fresh);
        assert_eq!(judged_since(fresh.clone(), &current(), None), fresh);
        // Before a moment at 70 s, v2 is a value from before it, however fresh.
        let after = judged_since(fresh, &current(), Some(70_000));
        assert_eq!(after.freshness, Freshness::Stale);
        assert!(after.detail.contains("60.000 s"), "{}", after.detail);
        assert!(
            after.detail.contains("not been rotated since"),
            "{}",
            after.detail
        );
        // Missing and unknown say more than "stale" would: kept, and each says too that the
        // secret was not rotated since (the STALE alert then says to rotate it).
        for kept in [Freshness::Missing, Freshness::Unknown, Freshness::Stale] {
            let j = Judgement::new(kept, "as found");
            let judged = judged_since(j, &current(), Some(70_000));
            assert_eq!(judged.freshness, kept);
            assert!(
                judged.detail.starts_with("as found; ")
                    && judged.detail.contains(NOT_ROTATED_SINCE),
                "{}",
                judged.detail
            );
        }
        // Rotated after the moment: nothing added.
        let stale = Judgement::new(Freshness::Stale, "as found");
        assert_eq!(judged_since(stale.clone(), &current(), Some(5_000)), stale);
    }

    #[test]
    fn guarded_resources_recreated_after_the_version_are_fresh() {
        let found = HashMap::from([
            resource("Db", "CREATE_COMPLETE", 10_500),
            resource("App/Cfg", "CREATE_COMPLETE", 11_000),
        ]);
        let j = judge_two_phase(
            "RotateToken",
            Some("true"),
            &["Db".into(), "App/Cfg".into()],
            &found,
            &current(),
        );
        assert_eq!(j.freshness, Freshness::Fresh, "{}", j.detail);
    }

    #[test]
    fn one_guarded_resource_older_than_the_version_makes_the_stack_stale_and_is_named() {
        let found = HashMap::from([
            resource("Db", "CREATE_COMPLETE", 10_500),
            resource("App/Cfg", "UPDATE_COMPLETE", 9_000),
        ]);
        let j = judge_two_phase(
            "RotateToken",
            Some("true"),
            &["Db".into(), "App/Cfg".into()],
            &found,
            &current(),
        );
        assert_eq!(j.freshness, Freshness::Stale);
        assert!(
            j.detail.contains("App/Cfg") && j.detail.contains("1.000 s before"),
            "{}",
            j.detail
        );
    }

    #[test]
    fn a_stack_at_false_or_without_a_guarded_resource_holds_nothing() {
        let found = HashMap::from([resource("Db", "CREATE_COMPLETE", 10_500)]);
        let at_false = judge_two_phase(
            "RotateToken",
            Some("false"),
            &["Db".into()],
            &found,
            &current(),
        );
        assert_eq!(at_false.freshness, Freshness::Missing);
        let gone = judge_two_phase(
            "RotateToken",
            Some("true"),
            &["Db".into(), "Cache".into()],
            &found,
            &current(),
        );
        assert_eq!(gone.freshness, Freshness::Missing);
        assert!(gone.detail.contains("Cache"), "{}", gone.detail);
    }

    #[test]
    fn a_failed_resource_or_nothing_guarded_is_never_fresh() {
        let found = HashMap::from([resource("Db", "UPDATE_FAILED", 10_500)]);
        let failed = judge_two_phase(
            "RotateToken",
            Some("true"),
            &["Db".into()],
            &found,
            &current(),
        );
        assert_eq!(failed.freshness, Freshness::Stale);
        let nothing = judge_two_phase("RotateToken", Some("true"), &[], &found, &current());
        assert_eq!(nothing.freshness, Freshness::Unknown);
    }

    #[test]
    fn an_in_place_stack_is_fresh_only_when_pinned_to_the_current_version() {
        let pinned = |v: &str| {
            StackSnapshot::for_test(
                "arn:aws:cloudformation:eu-west-1:111111111111:stack/app/1",
                &[("RotateTokenVersion", v)],
            )
        };
        let fresh = judge_in_place(&pinned("v2"), "RotateTokenVersion", &current());
        assert_eq!(fresh.freshness, Freshness::Fresh);
        let stale = judge_in_place(&pinned("v1"), "RotateTokenVersion", &current());
        assert_eq!(stale.freshness, Freshness::Stale);
        assert!(stale.detail.contains("v1") && stale.detail.contains("v2"));
    }
}
