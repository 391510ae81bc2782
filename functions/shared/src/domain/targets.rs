//! Where stacks are looked for: the deployment's target accounts and regions. With no
//! accounts configured, the pipeline works in its own account with its own credentials;
//! otherwise it assumes the target role in every target, its own account included.

use super::error::InputError;
use super::model::StackRef;
pub use super::model::{Target, TargetSettings};

impl TargetSettings {
    /// No accounts and no OUs named: the pipeline works in its own account only.
    fn own_account_only(&self) -> bool {
        self.accounts.is_empty() && self.organizational_units.is_empty()
    }

    /// These settings with the accounts found in the OUs added to the named ones.
    pub fn with_accounts(&self, found: impl IntoIterator<Item = String>) -> Self {
        let mut out = self.clone();
        for a in found {
            if !out.accounts.contains(&a) {
                out.accounts.push(a);
            }
        }
        out
    }

    /// Every (account, region) pair; the pipeline's own region when none is listed.
    pub fn targets(&self, own_region: &str) -> Vec<Target> {
        let regions = if self.regions.is_empty() {
            vec![own_region.to_string()]
        } else {
            self.regions.clone()
        };
        let accounts: Vec<Option<String>> = if self.own_account_only() {
            vec![None]
        } else {
            self.accounts.iter().cloned().map(Some).collect()
        };
        let mut out = Vec::new();
        for account in &accounts {
            for region in &regions {
                out.push(Target {
                    account: account.clone(),
                    region: region.clone(),
                });
            }
        }
        out
    }

    /// The target a stack belongs to, or why the pipeline must not touch it.
    pub fn target_of(&self, stack: &StackRef, own_region: &str) -> Result<Target, InputError> {
        let regions_ok = if self.regions.is_empty() {
            stack.region == own_region
        } else {
            self.regions.contains(&stack.region)
        };
        if !regions_ok {
            return Err(InputError::new(
                "input.stack.region",
                format!("`{}` is not a target region", stack.region),
            ));
        }
        if self.own_account_only() {
            return Ok(Target {
                account: None,
                region: stack.region.clone(),
            });
        }
        if !self.accounts.contains(&stack.account) {
            return Err(InputError::new(
                "input.stack.account",
                format!("`{}` is not a target account", stack.account),
            ));
        }
        Ok(Target {
            account: Some(stack.account.clone()),
            region: stack.region.clone(),
        })
    }
}

/// Comma-separated 12-digit account ids; `field` names the setting in errors.
pub fn parse_accounts(field: &str, raw: &str) -> Result<Vec<String>, InputError> {
    let mut out = Vec::new();
    for a in raw.split(',').map(str::trim).filter(|a| !a.is_empty()) {
        if a.len() != 12 || !a.chars().all(|c| c.is_ascii_digit()) {
            return Err(InputError::new(
                field,
                format!("`{a}` is not a 12-digit AWS account id"),
            ));
        }
        if !out.iter().any(|x| x == a) {
            out.push(a.to_string());
        }
    }
    Ok(out)
}

/// Comma-separated organisation roots (`r-...`) and organisational units (`ou-...`).
pub fn parse_organizational_units(field: &str, raw: &str) -> Result<Vec<String>, InputError> {
    let id_part = |p: &str, min: usize| {
        (min..=32).contains(&p.len())
            && p.chars()
                .all(|c| c.is_ascii_digit() || c.is_ascii_lowercase())
    };
    let mut out = Vec::new();
    for id in raw.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let parts: Vec<&str> = id.split('-').collect();
        let ok = match parts.as_slice() {
            ["r", root] => id_part(root, 4),
            ["ou", root, ou] => id_part(root, 4) && id_part(ou, 8),
            _ => false,
        };
        if !ok {
            return Err(InputError::new(
                field,
                format!("`{id}` is not an organisation root (r-...) or OU id (ou-...-...)"),
            ));
        }
        if !out.iter().any(|x| x == id) {
            out.push(id.to_string());
        }
    }
    Ok(out)
}

/// Comma-separated region names such as `eu-west-1`.
pub fn parse_regions(field: &str, raw: &str) -> Result<Vec<String>, InputError> {
    let mut out = Vec::new();
    for r in raw.split(',').map(str::trim).filter(|r| !r.is_empty()) {
        let parts: Vec<&str> = r.split('-').collect();
        let ok = parts.len() >= 3
            && parts[..parts.len() - 1]
                .iter()
                .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase()))
            && parts[parts.len() - 1].chars().all(|c| c.is_ascii_digit())
            && !parts[parts.len() - 1].is_empty();
        if !ok {
            return Err(InputError::new(
                field,
                format!("`{r}` is not an AWS region name"),
            ));
        }
        if !out.iter().any(|x| x == r) {
            out.push(r.to_string());
        }
    }
    Ok(out)
}

/// An STS session name (2–64 of `[\w+=,.@-]`: AssumeRole API reference, `RoleSessionName`)
/// that identifies the execution in the target account's CloudTrail. A long execution name
/// keeps its beginning and its end (an execution name ends in the change's hash), joined
/// by `.`: cut at 64, two runs of one long-named secret would look alike.
pub fn session_name(execution: &str) -> String {
    let cleaned: String = execution
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "+=,.@-_".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    const PREFIX: &str = "rotatetoken-";
    const TAIL: usize = 28;
    let room = 64 - PREFIX.len();
    if cleaned.len() <= room {
        return format!("{PREFIX}{cleaned}");
    }
    // ASCII only (mapped above): byte and char positions agree.
    let head = &cleaned[..room - TAIL - 1];
    let tail = &cleaned[cleaned.len() - TAIL..];
    format!("{PREFIX}{head}.{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_the_cross_product() {
        let s = TargetSettings {
            accounts: parse_accounts("A", "111111111111, 222222222222,111111111111").unwrap(),
            regions: parse_regions("R", "eu-west-1,us-east-1").unwrap(),
            role_name: "r".into(),
            ..Default::default()
        };
        assert_eq!(s.targets("us-east-1").len(), 4);
        assert_eq!(
            TargetSettings::default().targets("eu-central-1"),
            vec![Target {
                account: None,
                region: "eu-central-1".into()
            }]
        );
    }

    #[test]
    fn stacks_outside_the_targets_are_refused() {
        let s = TargetSettings {
            accounts: vec!["111111111111".into()],
            regions: vec!["eu-west-1".into()],
            ..Default::default()
        };
        let stack = |a: &str, r: &str| StackRef {
            account: a.into(),
            region: r.into(),
            name: "n".into(),
            id: "i".into(),
        };
        assert!(s
            .target_of(&stack("111111111111", "eu-west-1"), "us-east-1")
            .is_ok());
        assert_eq!(
            s.target_of(&stack("999999999999", "eu-west-1"), "us-east-1")
                .unwrap_err()
                .field,
            "input.stack.account"
        );
        assert_eq!(
            s.target_of(&stack("111111111111", "us-east-1"), "us-east-1")
                .unwrap_err()
                .field,
            "input.stack.region"
        );
        let local = TargetSettings::default();
        assert_eq!(
            local
                .target_of(&stack("1", "us-east-1"), "us-east-1")
                .unwrap()
                .account,
            None
        );
        assert!(local
            .target_of(&stack("1", "eu-west-1"), "us-east-1")
            .is_err());
    }

    #[test]
    fn bad_settings_name_the_variable() {
        assert_eq!(
            parse_accounts("TARGET_ACCOUNTS", "12345")
                .unwrap_err()
                .field,
            "TARGET_ACCOUNTS"
        );
        assert_eq!(
            parse_regions("TARGET_REGIONS", "eu_west_1")
                .unwrap_err()
                .field,
            "TARGET_REGIONS"
        );
        assert_eq!(
            parse_regions("TARGET_REGIONS", "us-gov-west-1").unwrap(),
            vec!["us-gov-west-1"]
        );
    }

    #[test]
    fn organisational_units_add_accounts_and_never_mean_the_own_account() {
        let ous = TargetSettings {
            organizational_units: parse_organizational_units("OU", "ou-ab12-cdef3456").unwrap(),
            regions: vec!["eu-west-1".into()],
            ..Default::default()
        };
        // An OU that holds no active account targets nothing, not the pipeline's account.
        assert!(ous.targets("eu-west-1").is_empty());
        let stack = StackRef {
            account: "111111111111".into(),
            region: "eu-west-1".into(),
            name: "n".into(),
            id: "i".into(),
        };
        assert!(ous.target_of(&stack, "eu-west-1").is_err());
        let found = ous.with_accounts(["111111111111".to_string()]);
        assert_eq!(found.targets("eu-west-1").len(), 1);
        assert!(found.target_of(&stack, "eu-west-1").is_ok());
        for bad in ["ou-ab12", "r-AB12", "111111111111", "ou-ab12-cd"] {
            assert_eq!(
                parse_organizational_units("TARGET_ORGANIZATIONAL_UNITS", bad)
                    .unwrap_err()
                    .field,
                "TARGET_ORGANIZATIONAL_UNITS",
                "{bad}"
            );
        }
        assert_eq!(
            parse_organizational_units("X", "r-ab12, ou-ab12-cdef3456").unwrap(),
            vec!["r-ab12", "ou-ab12-cdef3456"]
        );
    }

    #[test]
    fn session_names_are_valid() {
        let n = session_name(&"x:y/z".repeat(40));
        assert!(n.len() <= 64 && n.starts_with("rotatetoken-x-y-z"));
    }

    #[test]
    fn two_runs_of_a_long_named_secret_have_different_session_names() {
        let run = |hash: &str| {
            format!(
                "rt-{}-{hash}",
                "payments/production/database-master".repeat(2)
            )
        };
        let a = session_name(&run("1f2e3d4c5b6a7980a1b2c3d4"));
        let b = session_name(&run("99aa88bb77cc66dd55ee44ff"));
        assert_ne!(a, b, "the hash survives the cut");
        assert_eq!(a.len(), 64);
        assert!(
            a.starts_with("rotatetoken-rt-payments-production")
                && a.ends_with("1f2e3d4c5b6a7980a1b2c3d4"),
            "{a}"
        );
        assert_eq!(session_name("rt-short-abc"), "rotatetoken-rt-short-abc");
    }
}
