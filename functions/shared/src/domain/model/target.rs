//! One account and region the pipeline works in, and the deployment's targets as
//! configured (their behaviour: `domain::targets`).

use serde::{Deserialize, Serialize};

/// One account and region to work in. `account: None` is the pipeline's own account,
/// reached with its own credentials.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Target {
    pub account: Option<String>,
    pub region: String,
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}/{}",
            self.account.as_deref().unwrap_or("self"),
            self.region
        )
    }
}

/// The deployment's targets, from its configuration (never from an input).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TargetSettings {
    pub accounts: Vec<String>,
    /// Roots or OUs whose active accounts are targets too, listed at run time.
    pub organizational_units: Vec<String>,
    pub regions: Vec<String>,
    /// The role assumed in each target account to update stacks (its reader:
    /// [`TargetSettings::reader_role_name`]).
    pub role_name: String,
    pub external_id: Option<String>,
}

/// The reader role's name is the target role's with this suffix (target-role.yaml,
/// `ReaderRole`): the role discovery assumes, which cannot update a stack.
pub const READER_ROLE_SUFFIX: &str = "Reader";

impl TargetSettings {
    /// The role discovery (and an operator's plan or audit) assumes in each target: it lists,
    /// reads and previews, and IAM refuses it every update (target-role.yaml).
    pub fn reader_role_name(&self) -> String {
        format!("{}{READER_ROLE_SUFFIX}", self.role_name)
    }
}
