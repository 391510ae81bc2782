//! Which secrets this deployment refreshes for (`SecretNamePrefixes`).

use super::error::InputError;

/// The secrets whose changes start a refresh (deploy parameter `SecretNamePrefixes`): name
/// prefixes (`prod/`), ARN prefixes (`arn:aws:secretsmanager:us-east-1:111111111111:secret:prod/`,
/// which also fix the account and region), or `*` for every secret. Prefixes rather than a
/// tag: every event names the secret, so the decision needs no call of its own (a tag would
/// need DescribeSecret per event, and a resource policy for secrets in source accounts),
/// and they match how Secrets Manager IAM policies are already scoped (`secret:prod/*`).
///
/// A name prefix admits no secret of a source account (`SourceAccountIds`): names are
/// chosen by each account, so `prod/` would let a source account start runs (in `all`
/// mode, fleet-wide ones) by creating a secret named `prod/anything`. A source account's
/// secrets are admitted by an ARN prefix, which names the account, or by `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretScope {
    prefixes: Vec<String>,
    source_accounts: Vec<String>,
}

impl SecretScope {
    /// Every secret: the classic, wide behaviour (`*`).
    pub fn every() -> Self {
        Self {
            prefixes: vec!["*".into()],
            source_accounts: Vec::new(),
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
        Ok(Self {
            prefixes,
            source_accounts: Vec::new(),
        })
    }

    /// The accounts whose events are forwarded here (`SourceAccountIds`): their secrets are
    /// admitted only by an ARN prefix or `*`.
    pub fn with_source_accounts(mut self, accounts: impl IntoIterator<Item = String>) -> Self {
        self.source_accounts = accounts
            .into_iter()
            .map(|a| a.trim().to_string())
            .filter(|a| !a.is_empty())
            .collect();
        self
    }

    /// The prefixes, as the deploy parameter lists them.
    pub fn describe(&self) -> String {
        self.prefixes.join(",")
    }

    /// Why `secret` is not admitted: the prefixes and, for a source account's secret, the
    /// rule that a name prefix does not admit it.
    pub fn why_not(&self, secret: &super::model::SecretRef) -> String {
        let prefixes = self.describe();
        if self
            .source_accounts
            .iter()
            .any(|a| a.as_str() == secret.account())
        {
            format!(
                "SecretNamePrefixes: {prefixes}; a name prefix admits no secret of the source \
                 account {}, whose secrets need an ARN prefix naming it",
                secret.account()
            )
        } else {
            format!("SecretNamePrefixes: {prefixes}")
        }
    }

    pub fn admits(&self, secret: &super::model::SecretRef) -> bool {
        let by_name = !self
            .source_accounts
            .iter()
            .any(|a| a.as_str() == secret.account());
        self.prefixes.iter().any(|p| {
            p == "*"
                || (p.starts_with("arn:") && secret.arn.starts_with(p.as_str()))
                || (by_name && !p.starts_with("arn:") && secret.name.starts_with(p.as_str()))
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
    fn a_source_accounts_secret_is_admitted_by_an_arn_prefix_never_by_its_name() {
        let own = secret("arn:aws:secretsmanager:us-east-1:111111111111:secret:prod/db-AbCdEf");
        let source = secret("arn:aws:secretsmanager:us-east-1:333333333333:secret:prod/db-XyZ123");
        let by_name = SecretScope::parse("f", "prod/")
            .unwrap()
            .with_source_accounts(["333333333333".to_string()]);
        assert!(by_name.admits(&own));
        assert!(
            !by_name.admits(&source),
            "a source account names its secrets as it likes"
        );
        assert!(by_name
            .why_not(&source)
            .contains("source account 333333333333"));
        assert!(!by_name.why_not(&own).contains("source"));
        let by_arn = SecretScope::parse(
            "f",
            "prod/,arn:aws:secretsmanager:us-east-1:333333333333:secret:prod/",
        )
        .unwrap()
        .with_source_accounts(["333333333333".to_string()]);
        assert!(by_arn.admits(&source) && by_arn.admits(&own));
        let every = SecretScope::parse("f", "*")
            .unwrap()
            .with_source_accounts(["333333333333".to_string()]);
        assert!(every.admits(&source), "`*` is every secret, by choice");
    }

    #[test]
    fn a_scope_that_names_nothing_is_refused_by_field() {
        for raw in ["", " , ", "arn:aws:s3:::bucket/"] {
            let e = SecretScope::parse("SECRET_NAME_PREFIXES", raw).unwrap_err();
            assert_eq!(e.field, "SECRET_NAME_PREFIXES", "{raw}");
        }
    }
}
