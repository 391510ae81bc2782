//! Nested stacks: refreshed through their root, and what phase one would do inside them.

use super::*;

/// Nested stacks (issue 8, point 5): the root hands its token down, CloudFormation updates
/// the child in place with it, and the child's guarded resources re-read the secret. The
/// emulator runs `AWS::CloudFormation::Stack` as CloudFormation does (ParentId/RootId, the
/// child's stack id as physical id, in-place child updates, nested change sets).
#[tokio::test]
async fn a_nested_stack_is_refreshed_through_its_root() {
    let w = world().await;
    create_secret(&w.sm, "prod/db", "old-value").await;
    let config = w.emulator.sdk_config().await;
    let NestedConsumer { root_id, child } =
        create_nested_consumer(&config, "platform", &consumer_template("prod/db"), true).await;
    let described = w
        .cfn
        .describe_stacks()
        .stack_name(&child)
        .send()
        .await
        .unwrap();
    let child_stack = &described.stacks()[0];
    assert_eq!(child_stack.parent_id(), Some(root_id.as_str()));
    assert_eq!(child_stack.root_id(), Some(root_id.as_str()));
    let child_id = child_stack.stack_id().unwrap().to_string();
    assert_eq!(
        resources(&w.cfn, "platform").await["Database"],
        child_id,
        "a nested stack's physical id is its stack id"
    );
    let before = resources(&w.cfn, &child).await;
    put_secret(&w.sm, "prod/db", "new-value").await;

    let out = run(&w, task(&root_id), 60_000).await;

    assert_eq!(out.outcome, Outcome::Refreshed, "{out:?}");
    assert_eq!(
        w.emulator.completed_token_updates("platform"),
        vec!["false", "true"]
    );
    assert_eq!(
        w.emulator.completed_token_updates(&child),
        vec!["false", "true"],
        "the child went false and true with its root"
    );
    let after = resources(&w.cfn, &child).await;
    assert_ne!(after["DatabasePassword"], before["DatabasePassword"]);
    assert_eq!(
        after["Settings"], before["Settings"],
        "unguarded resource untouched"
    );
    assert_eq!(
        ssm_value(&w.ssm, &after["DatabasePassword"])
            .await
            .as_deref(),
        Some("new-value")
    );
    assert_eq!(
        resources(&w.cfn, "platform").await["Database"],
        child_id,
        "updated in place, never replaced"
    );
    for stack in ["platform", child.as_str()] {
        let left = w
            .cfn
            .list_change_sets()
            .stack_name(stack)
            .send()
            .await
            .unwrap();
        assert!(left.summaries().is_empty(), "no change set left on {stack}");
    }
}

#[tokio::test]
async fn a_data_holder_in_a_nested_stack_makes_its_root_unsafe() {
    let w = world().await;
    create_secret(&w.sm, "prod/db", "v1").await;
    let config = w.emulator.sdk_config().await;
    let root_id = create_nested_consumer(
        &config,
        "platform",
        &consumer_with_guarded_bucket("prod/db"),
        true,
    )
    .await
    .root_id;

    let out = run(&w, task(&root_id), 30_000).await;

    assert_eq!(out.outcome, Outcome::Skipped, "{out:?}");
    let reason = out.reason.unwrap();
    assert!(
        reason.starts_with(
            "unsafe: RotateToken=false would delete Database/Uploads (AWS::S3::Bucket)"
        ),
        "the data-loss guard, not only the preview, judged the child: {reason}"
    );
    assert!(w.emulator.updates().is_empty(), "nothing was updated");
}

/// A child's SSM-typed parameter that moved on would update its resources in phase one:
/// only the nested change set says so (the root's shows the nested stack modified by the
/// token alone). The root is skipped, naming the child's resource by its path.
#[tokio::test]
async fn what_phase_one_would_change_inside_a_nested_stack_is_previewed() {
    let w = world().await;
    create_secret(&w.sm, "prod/db", "v1").await;
    w.put_ami("ami-1").await;
    let config = w.emulator.sdk_config().await;
    let root_id = create_nested_consumer(
        &config,
        "platform",
        &consumer_with_ssm_typed_parameter("prod/db"),
        true,
    )
    .await
    .root_id;
    w.put_ami("ami-2").await;

    let out = run(&w, task(&root_id), 30_000).await;

    assert_eq!(out.outcome, Outcome::Skipped, "{out:?}");
    let reason = out.reason.unwrap();
    assert!(
        reason.contains("Database/Server (AWS::SSM::Parameter): Modify"),
        "{reason}"
    );
    assert!(reason.contains("caused by AmiId"), "{reason}");
    assert!(w.emulator.updates().is_empty(), "nothing was updated");
}

/// A guarded resource in a nested stack that CloudFormation fails to delete in cleanup:
/// only the child's own events say so. The root is reported failed naming it, never
/// refreshed, and still brought back to `true`.
#[tokio::test]
async fn a_cleanup_failure_inside_a_nested_stack_is_reported_failed() {
    let w = world().await;
    create_secret(&w.sm, "prod/db", "v1").await;
    let config = w.emulator.sdk_config().await;
    let NestedConsumer { root_id, child } =
        create_nested_consumer(&config, "platform", &consumer_template("prod/db"), true).await;
    w.emulator
        .control(json!({"fail_delete": {child.clone(): ["DatabasePassword"]}}));

    let out = run(&w, task(&root_id), 30_000).await;

    assert_eq!(out.outcome, Outcome::Failed, "{out:?}");
    let reason = out.reason.unwrap();
    assert!(reason.contains("Database/DatabasePassword ("), "{reason}");
    assert_eq!(
        w.emulator.completed_token_updates("platform"),
        vec!["false", "true"],
        "phase two still ran"
    );
}
