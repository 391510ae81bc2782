//! Which secrets this deployment refreshes for (`SecretNamePrefixes`).

use super::error::InputError;

/// The secrets whose changes start a refresh (deploy parameter `SecretNamePrefixes`): name
/// prefixes (`prod/`), ARN prefixes (`arn:aws:secretsmanager:us-east-1:111111111111:secret:prod/`,
/// which also fix the account and region), or `*` for every secret. Prefixes rather than a
/// tag: every event names the secret, so the decision needs no call of its own (a tag would
/// need DescribeSecret per event, and a resource policy for secrets in source accounts),
/// and they match how Secrets Manager IAM policies are already scoped (`secret:prod/*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretScope {
    prefixes: Vec<String>,
}

impl SecretScope {
    /// Every secret: the classic, wide behaviour (`*`).
    pub fn every() -> Self {
        Self {
            prefixes: vec!["*".into()],
        }
    }

    /// A comma-separated list, as the template passes it. Empty is refused: a deployment
    /// says which secrets it refreshes for.
    pub fn parse(field: &str, raw: &str) -> Result<Self, InputError> {
        let prefixes: Vec<String> = raw
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect();
        if prefixes.is_empty() {
            return Err(InputError::new(
                field,
                "names no secret: give name or ARN prefixes (prod/), or * for every secret",
            ));
        }
        if let Some(bad) = prefixes
            .iter()
            .find(|p| p.starts_with("arn:") && !p.contains(":secretsmanager:"))
        {
            return Err(InputError::new(
                field,
                format!("`{bad}` is not a Secrets Manager ARN prefix"),
            ));
        }
        Ok(Self { prefixes })
    }

    /// The prefixes, as the deploy parameter lists them.
    pub fn describe(&self) -> String {
        self.prefixes.join(",")
    }

    pub fn admits(&self, secret: &super::model::SecretRef) -> bool {
        self.prefixes.iter().any(|p| {
            p == "*"
                || (p.starts_with("arn:") && secret.arn.starts_with(p.as_str()))
                || (!p.starts_with("arn:") && secret.name.starts_with(p.as_str()))
        })
    }

    pub fn prefixes(&self) -> &[String] {
        &self.prefixes
    }
}

#[cfg(test)]
mod scope_tests {
    use super::*;
    use crate::domain::model::SecretRef;

    fn secret(arn: &str) -> SecretRef {
        SecretRef::from_arn(arn, None).unwrap()
    }

    #[test]
    fn only_secrets_named_by_a_prefix_start_a_refresh() {
        let prod = secret("arn:aws:secretsmanager:us-east-1:111111111111:secret:prod/db-AbCdEf");
        let sandbox = secret("arn:aws:secretsmanager:us-east-1:222222222222:secret:prod/db-XyZ123");
        let other = secret("arn:aws:secretsmanager:us-east-1:111111111111:secret:dev/db-AbCdEf");
        let by_name = SecretScope::parse("f", "prod/, shared/").unwrap();
        assert!(by_name.admits(&prod) && by_name.admits(&sandbox));
        assert!(!by_name.admits(&other));
        let by_arn = SecretScope::parse(
            "f",
            "arn:aws:secretsmanager:us-east-1:111111111111:secret:prod/",
        )
        .unwrap();
        assert!(by_arn.admits(&prod));
        assert!(!by_arn.admits(&sandbox), "another account's same name");
        assert!(SecretScope::parse("f", "*").unwrap().admits(&other));
    }

    #[test]
    fn a_scope_that_names_nothing_is_refused_by_field() {
        for raw in ["", " , ", "arn:aws:s3:::bucket/"] {
            let e = SecretScope::parse("SECRET_NAME_PREFIXES", raw).unwrap_err();
            assert_eq!(e.field, "SECRET_NAME_PREFIXES", "{raw}");
        }
    }
}
