//! The secret a run is about, and its labelled versions as Secrets Manager's metadata
//! lists them. Never a value.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::StackRef;
use crate::domain::error::InputError;

/// The secret whose new value must reach its consumers. Never holds the value itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretRef {
    pub arn: String,
    /// Derived from the ARN; an input may leave it out.
    #[serde(default)]
    pub name: String,
    /// The version that became current; absent for a run started by hand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    /// The regions Secrets Manager replicates the secret to (DescribeSecret
    /// `ReplicationStatus`), as discovery read them. A replica keeps the primary's name and
    /// its ARN differs only in the region ("Replicate an AWS Secrets Manager secret to other
    /// AWS Regions", Secrets Manager user guide), and it holds the same value: a stack
    /// reading the replica consumes this secret.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replica_regions: Vec<String>,
}

impl SecretRef {
    /// Secrets Manager ARNs end in `secret:<name>-<6 random characters>`; the name is what a
    /// template's `{{resolve:secretsmanager:<name>...}}` usually mentions.
    pub fn from_arn(arn: &str, version_id: Option<String>) -> Result<Self, InputError> {
        Ok(Self {
            arn: arn.to_string(),
            name: secret_name_from_arn(arn)?,
            version_id,
            replica_regions: Vec::new(),
        })
    }

    pub fn account(&self) -> &str {
        self.arn.split(':').nth(4).unwrap_or_default()
    }

    pub fn region(&self) -> &str {
        self.arn.split(':').nth(3).unwrap_or_default()
    }

    /// The ARN without the random suffix (`...:secret:prod/db`): dynamic references and
    /// SDK calls accept it.
    pub fn partial_arn(&self) -> Option<String> {
        partial(&self.arn)
    }

    /// The secret's ARN and its replicas' (the same ARN in each replica region).
    pub fn arns(&self) -> Vec<String> {
        let region = format!(":{}:", self.region());
        let mut arns = vec![self.arn.clone()];
        arns.extend(
            self.replica_regions
                .iter()
                .filter(|r| !r.is_empty())
                .map(|r| self.arn.replacen(&region, &format!(":{r}:"), 1)),
        );
        arns
    }

    /// The ARNs without their random suffix, as [`Self::arns`] lists them.
    pub fn partial_arns(&self) -> Vec<String> {
        self.arns().iter().filter_map(|a| partial(a)).collect()
    }

    /// The secret as a stack may name it. A bare name resolves in the stack's own account
    /// and region, so it means this secret only in the secret's own account and in its
    /// region or a replica's: elsewhere the same name is another secret (a sandbox's
    /// `prod/db` is not production's), and only an ARN counts.
    pub fn as_seen_from(&self, stack: &StackRef) -> SecretRef {
        let here = stack.region == self.region() || self.replica_regions.contains(&stack.region);
        if stack.account == self.account() && here {
            return self.clone();
        }
        SecretRef {
            name: String::new(),
            ..self.clone()
        }
    }
}

fn partial(arn: &str) -> Option<String> {
    let cut = arn.len().checked_sub(7)?;
    (arn.is_char_boundary(cut) && arn[cut..].starts_with('-')).then(|| arn[..cut].to_string())
}

pub fn is_secret_arn(s: &str) -> bool {
    s.starts_with("arn:") && s.split(':').nth(2) == Some("secretsmanager")
}

pub fn secret_name_from_arn(arn: &str) -> Result<String, InputError> {
    let bad = |why: &str| InputError::new("secret.arn", format!("`{arn}` {why}"));
    if !is_secret_arn(arn) {
        return Err(bad("is not a Secrets Manager ARN"));
    }
    let parts: Vec<&str> = arn.splitn(7, ':').collect();
    if parts.len() != 7 || parts[5] != "secret" {
        return Err(bad("is not a Secrets Manager secret ARN"));
    }
    let full = parts[6];
    // A complete ARN carries a 6-character random suffix after a hyphen.
    match full.rsplit_once('-') {
        Some((name, suffix))
            if suffix.len() == 6
                && suffix.chars().all(|c| c.is_ascii_alphanumeric())
                && !name.is_empty() =>
        {
            Ok(name.to_string())
        }
        _ => Err(bad(
            "has no 6-character suffix (a partial ARN); use the complete ARN",
        )),
    }
}

/// Where a secret is replicated, as DescribeSecret says (`PrimaryRegion`,
/// `ReplicationStatus`): metadata, never a value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Replication {
    /// Set on a replica: the region of the secret it replicates. (On the primary, either
    /// absent or its own region.)
    pub primary_region: Option<String>,
    pub replicas: Vec<Replica>,
}

/// One replica of a primary secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replica {
    pub region: String,
    /// `InSync`, `InProgress` or `Failed` (ReplicationStatusType).
    pub status: String,
    pub message: String,
}

impl Replication {
    /// The other regions where this secret's value is, as seen from `region` (the ARN's):
    /// a primary's replicas in sync; for a replica, its primary's region (the other
    /// replicas are listed only by the primary, which may be out of reach). With a note for
    /// each region left out, and why.
    pub fn regions_from(&self, region: &str) -> (Vec<String>, Vec<String>) {
        if let Some(primary) = self.primary_region.as_deref().filter(|p| *p != region) {
            return (
                vec![primary.to_string()],
                vec![format!(
                    "this is a replica of the secret in {primary}: that region's consumers are \
                     searched too, those of its other replicas only by a run of the primary"
                )],
            );
        }
        let mut regions: Vec<String> = Vec::new();
        let mut notes = Vec::new();
        for r in self.replicas.iter().filter(|r| r.region != region) {
            if r.in_sync() {
                regions.push(r.region.clone());
            } else {
                notes.push(format!(
                    "the replica in {} is {} ({}): that region's stacks are not taken for its \
                     consumers",
                    r.region, r.status, r.message
                ));
            }
        }
        regions.sort();
        regions.dedup();
        (regions, notes)
    }
}

impl Replica {
    /// Only a replica in sync holds the secret's value. A failed one may not exist at all
    /// ("Secret with this name already exists in this region": that region's secret of the
    /// same name is another one), and one in progress has not got the value yet.
    pub fn in_sync(&self) -> bool {
        self.status == "InSync"
    }
}

/// A secret's versions that carry staging labels (DescribeSecret `VersionIdsToStages`:
/// metadata, never a value). A version without a label is deprecated: Secrets Manager
/// may delete it (DescribeSecret API reference, `VersionIdsToStages`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretVersions {
    pub stages: BTreeMap<String, Vec<String>>,
}

impl SecretVersions {
    /// The version labelled `AWSCURRENT`.
    pub fn current(&self) -> Option<&str> {
        self.stages
            .iter()
            .find(|(_, labels)| labels.iter().any(|l| l == "AWSCURRENT"))
            .map(|(id, _)| id.as_str())
    }

    pub fn is_labelled(&self, version: &str) -> bool {
        self.stages.get(version).is_some_and(|l| !l.is_empty())
    }
}
