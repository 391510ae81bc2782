use super::*;

#[test]
fn stack_ref_from_arn() {
    let s = StackRef::from_stack_id(
        "arn:aws:cloudformation:eu-west-1:111111111111:stack/my-app/5f8c-11ee",
    )
    .unwrap();
    assert_eq!(s.account, "111111111111");
    assert_eq!(s.region, "eu-west-1");
    assert_eq!(s.name, "my-app");
}

#[test]
fn stack_ref_rejects_non_stack_arns() {
    for bad in [
        "my-app",
        "arn:aws:s3:::bucket",
        "arn:aws:cloudformation:eu-west-1:1:stackset/x:1",
        "arn:aws:cloudformation::1:stack/x/y",
    ] {
        assert!(StackRef::from_stack_id(bad).is_err(), "{bad}");
    }
}

#[test]
fn secret_name_is_the_arn_without_its_suffix() {
    let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-password-AbC123";
    assert_eq!(secret_name_from_arn(arn).unwrap(), "prod/db-password");
    let s = SecretRef::from_arn(arn, None).unwrap();
    assert_eq!(s.account(), "123456789012");
    assert_eq!(s.region(), "us-east-1");
}

#[test]
fn partial_secret_arns_are_refused() {
    let err = secret_name_from_arn("arn:aws:secretsmanager:us-east-1:1:secret:db").unwrap_err();
    assert_eq!(err.field, "secret.arn");
    assert!(secret_name_from_arn("db-password").is_err());
}

#[test]
fn refresh_task_round_trips_with_defaults() {
    let stack = StackRef::from_stack_id("arn:aws:cloudformation:us-east-1:1:stack/a/b").unwrap();
    let json = serde_json::json!({"stack": stack, "parameter": "RotateToken"});
    let task: RefreshTask = serde_json::from_value(json).unwrap();
    assert_eq!(task, RefreshTask::new(stack, "RotateToken"));
}

#[test]
fn only_replicas_in_sync_hold_the_secrets_value_and_a_replica_points_to_its_primary() {
    let replica = |region: &str, status: &str| Replica {
        region: region.into(),
        status: status.into(),
        message: format!("{status} here"),
    };
    let primary = Replication {
        primary_region: Some("us-east-1".into()),
        replicas: vec![
            replica("eu-west-1", "InSync"),
            // "Secret with this name already exists in this region": another secret there.
            replica("ap-south-1", "Failed"),
            replica("eu-central-1", "InProgress"),
        ],
    };
    let (regions, notes) = primary.regions_from("us-east-1");
    assert_eq!(regions, vec!["eu-west-1".to_string()]);
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert!(
        notes[0].contains("ap-south-1") && notes[0].contains("Failed"),
        "{notes:?}"
    );
    // DescribeSecret on a replica names its primary, and lists no replicas.
    let of_a_replica = Replication {
        primary_region: Some("us-east-1".into()),
        replicas: vec![],
    };
    let (regions, notes) = of_a_replica.regions_from("eu-west-1");
    assert_eq!(regions, vec!["us-east-1".to_string()]);
    assert!(
        notes[0].contains("replica of the secret in us-east-1"),
        "{notes:?}"
    );
    assert_eq!(
        Replication::default().regions_from("us-east-1"),
        (vec![], vec![])
    );
}
