//! The names of runs: one per change, so at-least-once delivery never starts two; and the
//! names of reruns, reconciliations and hand-started runs, which must never collide with it.

use sha2::{Digest, Sha256};

/// The reconciliation run of one secret for one firing of the schedule: the same name for
/// every delivery of that firing.
pub fn reconcile_execution_name(secret_arn: &str, time_ms: u64) -> String {
    named(
        secret_arn,
        &format!("reconcile\n{secret_arn}\n{}", time_ms / 1000),
    )
}

/// A run started by hand (`rotate-token start`): the trigger's name for this version when
/// that name is free, else one that cannot collide with any delivery of the change (a dry
/// run's name never takes the change's own, which would make its event a duplicate).
pub fn manual_execution_name(
    secret_arn: &str,
    version_id: &str,
    dry_run: bool,
    taken: bool,
    time_ms: u64,
) -> String {
    match (dry_run, taken) {
        (false, false) => execution_name(secret_arn, version_id),
        (false, true) => rerun_execution_name(secret_arn, version_id, time_ms),
        (true, _) => named(
            secret_arn,
            &format!("dry-run\n{secret_arn}\n{version_id}\n{time_ms}"),
        ),
    }
}

/// The name of a run for a version that became current again after an earlier run for it
/// ended (`AWSCURRENT` moved back to it): Step Functions refuses a closed execution's name
/// for 90 days whatever the input ("StartExecution": "ExecutionAlreadyExists ... for 90
/// days"), so this change gets a name of its own, stable across redeliveries of its event.
pub fn rerun_execution_name(secret_arn: &str, version_id: &str, time_ms: u64) -> String {
    named(
        secret_arn,
        &format!("{secret_arn}\n{version_id}\n{}", time_ms / 1000),
    )
}

/// A Step Functions execution name that is the same for every delivery of the same secret
/// version, so at-least-once delivery cannot start two runs for one change. Names are at
/// most 80 characters of `[A-Za-z0-9_-]`.
pub fn execution_name(secret_arn: &str, version_id: &str) -> String {
    named(secret_arn, &format!("{secret_arn}\n{version_id}"))
}

/// `rt-<readable secret name>-<hash of key>`, at most 80 characters of `[A-Za-z0-9_-]`.
fn named(secret_arn: &str, key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    let hash: String = digest.iter().take(12).map(|b| format!("{b:02x}")).collect();
    let name =
        super::model::secret_name_from_arn(secret_arn).unwrap_or_else(|_| secret_arn.to_string());
    let readable: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .take(80 - 1 - hash.len() - 3)
        .collect();
    format!("rt-{readable}-{hash}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf";

    #[test]
    fn a_rerun_has_its_own_stable_name() {
        let first = execution_name(ARN, "v1");
        let rerun = rerun_execution_name(ARN, "v1", 1_795_252_502_000);
        assert_ne!(first, rerun);
        assert_eq!(
            rerun,
            rerun_execution_name(ARN, "v1", 1_795_252_502_999),
            "same second"
        );
        assert_ne!(rerun, rerun_execution_name(ARN, "v1", 1_795_252_999_000));
        assert!(
            rerun.starts_with("rt-prod-db-") && rerun.len() <= 80,
            "{rerun}"
        );
    }

    #[test]
    fn a_manual_dry_run_never_takes_the_name_the_changes_event_will_use() {
        let own = execution_name(ARN, "v1");
        assert_eq!(manual_execution_name(ARN, "v1", false, false, 5), own);
        assert_ne!(manual_execution_name(ARN, "v1", false, true, 5), own);
        assert_ne!(manual_execution_name(ARN, "v1", true, false, 5), own);
        assert!(manual_execution_name(ARN, "v1", true, false, 5).len() <= 80);
    }

    #[test]
    fn execution_names_are_stable_and_valid() {
        let a = execution_name(ARN, "v1");
        assert_eq!(a, execution_name(ARN, "v1"));
        assert_ne!(a, execution_name(ARN, "v2"));
        assert!(a.len() <= 80);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        let long = format!(
            "arn:aws:secretsmanager:us-east-1:1:secret:{}-AbCdEf",
            "x/".repeat(200)
        );
        assert!(execution_name(&long, "v").len() <= 80);
    }
}
