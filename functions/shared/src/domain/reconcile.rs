//! The scheduled reconciliation's own settings: what it does with stale consumers
//! (`ReconcileAction`) and, after an incident, the moment it judges against
//! (`ReconcileSince`). The trigger's configuration, never its input.

use super::error::InputError;

/// What the scheduled reconciliation does with stale consumers (`ReconcileAction`, the
/// trigger's own configuration, never its input).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReconcileAction {
    /// A dry run that lists the stale consumers and alerts (the default: it changes nothing).
    #[default]
    Alert,
    /// A run that refreshes only the stale consumers.
    Refresh,
}

/// `ReconcileSince` as deployed (`RECONCILE_SINCE`; absent or empty: none): after an
/// incident, the moment the leak was contained. The scheduled audit then counts a consumer
/// fresh only if it holds a value created after it, and only alerts on a secret not rotated
/// since (its consumers would re-read the exposed value). Parsed where the reconciliation
/// uses it, so that a bad value fails the scheduled audit, naming the variable, and never
/// a change's run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReconcileSince(pub Option<String>);

impl ReconcileSince {
    pub fn moment(&self) -> Result<Option<u64>, InputError> {
        match self.0.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v) => super::utc::parse_instant(v).map(Some).ok_or_else(|| {
                InputError::new(
                    "RECONCILE_SINCE",
                    format!(
                        "`{v}` is not a moment in UTC: give YYYY-MM-DDThh:mmZ (e.g. \
                         2026-01-04T10:00Z) or YYYY-MM-DDThh:mm:ssZ"
                    ),
                )
            }),
        }
    }
}

impl ReconcileAction {
    /// Whether a secret's reconciliation only alerts (a dry run): always with `Alert`; with
    /// `Refresh`, when the secret's current value was created before `since` (or when it
    /// is not known): its consumers would re-read the exposed value, so they are named,
    /// not refreshed (`ReconcileSince`, the incident's `audit --since` on the schedule).
    pub fn alert_only(self, since_ms: Option<u64>, current_created_ms: Option<u64>) -> bool {
        match (self, since_ms) {
            (Self::Alert, _) => true,
            (Self::Refresh, None) => false,
            (Self::Refresh, Some(since)) => current_created_ms.is_none_or(|c| c < since),
        }
    }
}

impl std::str::FromStr for ReconcileAction {
    type Err = InputError;
    fn from_str(s: &str) -> Result<Self, InputError> {
        match s {
            "alert" => Ok(Self::Alert),
            "refresh" => Ok(Self::Refresh),
            other => Err(InputError::new(
                "RECONCILE_ACTION",
                format!("`{other}` is not one of: alert, refresh"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_secret_not_rotated_since_the_moment_is_only_alerted_on_whatever_the_action() {
        use super::ReconcileAction::{Alert, Refresh};
        assert!(Alert.alert_only(None, Some(5)));
        assert!(!Refresh.alert_only(None, Some(5)));
        assert!(
            !Refresh.alert_only(Some(5), Some(5)),
            "rotated at the moment"
        );
        assert!(Refresh.alert_only(Some(5), Some(4)), "rotated before it");
        assert!(Refresh.alert_only(Some(5), None), "not known: the safe way");
        let since = |v: &str| super::ReconcileSince(Some(v.into())).moment();
        assert_eq!(super::ReconcileSince(None).moment(), Ok(None));
        assert_eq!(since(" "), Ok(None));
        assert!(since("2026-01-04T10:00Z").unwrap().is_some());
        let bad = since("2026-02-30T10:00Z").unwrap_err().to_string();
        assert!(
            bad.contains("RECONCILE_SINCE") && bad.contains("2026-02-30"),
            "{bad}"
        );
    }
}
