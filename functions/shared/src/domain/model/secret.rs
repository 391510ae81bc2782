//! A secret's labelled versions, as Secrets Manager's metadata lists them.

use std::collections::BTreeMap;

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
