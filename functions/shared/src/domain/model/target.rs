//! One account and region the pipeline works in.

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
