//! End to end through the state machine: what a run decides is read from the stack, not
//! from what a task or a template's usual shape suggests. A phase one that rolled back is
//! never `refreshed`, even after someone's deploy put the token back to `true`; and the
//! data-loss guard runs whatever the token holds, as long as it is not `"false"`; and a
//! retried task that says nothing began is not believed over the stack's events.

use std::time::Duration;

use rotatetoken_tests::fixtures::*;
use rotatetoken_tests::pipeline::{row, Pipeline};
use rotatetoken_tests::wait_until;
use serde_json::json;

/// Our `false` rolled back (phase one could not create the stack's maintenance page), and
/// the team's own deploy ran right after it, with previous values: the stack is
/// `UPDATE_COMPLETE` at `true`. The refresh function, looking again, sees `true`: only the
/// stack's events under our request token say phase one rolled back. Reported failed,
/// never refreshed, and nothing is updated again by the run.
#[tokio::test]
async fn a_phase_one_that_rolled_back_before_someones_deploy_is_failed_never_refreshed() {
    // Looks 4 s apart, and the rollback's end event is lost (the step waits out its
    // time-out): the rollback and the team's deploy both end between two looks. (With the
    // event delivered, the refresh would look at once and see the rollback itself.)
    let p = Pipeline::start(|env| {
        env.set("POLL_INTERVAL_SECONDS", "4")
            .set("STEP_BUDGET_SECONDS", "12")
    })
    .await;
    p.emulator.control(json!({"update_delay_seconds": 0.3,
        "stack_status_event_faults": {"lose": 1.0}}));
    let arn = create_secret(&p.sm, "prod/db-password", "v1").await;
    create_stack(
        &p.cfn,
        "orders-api",
        &standby_consumer_template("prod/db-password"),
        &[],
    )
    .await;
    p.emulator
        .control(json!({"fail_create": {"orders-api": ["MaintenancePage"]}}));
    let name = p.change_secret("prod/db-password", &arn, "v2").await;

    let rolled_back = wait_until(Duration::from_secs(90), || {
        p.emulator.updates().into_iter().find(|u| {
            u.stack == "orders-api" && u.token == "false" && u.result.contains("ROLLBACK_COMPLETE")
        })
    });
    assert!(
        rolled_back.is_some(),
        "phase one ran and rolled back: {:?}",
        p.emulator.updates()
    );
    // The team's deploy, as their pipeline runs it: a real change, every other value kept.
    update_with_previous_template(
        &p.cfn,
        "orders-api",
        &[("RotateToken", None), ("Environment", Some("staging"))],
    )
    .await
    .expect("the team's deploy is accepted after the rollback");

    let done = p.wait_for(&name, Duration::from_secs(120)).await;
    let r = row(&done.summary, "orders-api");
    assert_eq!(r["outcome"], "failed", "{:#}", done.summary);
    let reason = r["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("RotateToken=false ended in UPDATE_ROLLBACK_COMPLETE")
            && reason.contains("not refreshed"),
        "the reason says our phase one rolled back: {r}"
    );
    assert_eq!(
        r["critical"], false,
        "the stack is at true, its resources kept: {r}"
    );
    let tokens: Vec<String> = p
        .emulator
        .updates()
        .into_iter()
        .filter(|u| u.stack == "orders-api")
        .map(|u| format!("{}:{}", u.token, u.result))
        .collect();
    assert_eq!(
        tokens,
        vec!["false:UPDATE_ROLLBACK_COMPLETE", "true:UPDATE_COMPLETE"],
        "our rolled-back false, then the team's deploy: the run did not update again"
    );
}

/// A consumer whose condition is written the other way round, `!Not [!Equals [!Ref
/// RotateToken, "false"]]`, with a token that holds neither `true` nor `false`: its
/// guarded resources exist, a bucket among them. The guard judges it (before, it ran only
/// for a token of exactly `"true"`): skipped as unsafe with the bucket named, never
/// updated, the bucket kept.
#[tokio::test]
async fn a_not_false_condition_with_any_token_but_false_is_guarded() {
    let p = Pipeline::start(|env| env).await;
    p.emulator.control(json!({"update_delay_seconds": 0.3}));
    let arn = create_secret(&p.sm, "prod/db-password", "v1").await;
    let template = consumer_with_guarded_bucket("prod/db-password")
        .replace(
            "RotateToken: !Equals [!Ref RotateToken, \"true\"]",
            "RotateToken: !Not [!Equals [!Ref RotateToken, \"false\"]]",
        )
        .replace("    AllowedValues: [\"true\", \"false\"]\n", "");
    assert!(template.contains("!Not [!Equals") && !template.contains("AllowedValues"));
    create_stack(&p.cfn, "uploads", &template, &[("RotateToken", "enabled")]).await;
    let bucket = resources(&p.cfn, "uploads").await["Uploads"].clone();

    let name = p.change_secret("prod/db-password", &arn, "v2").await;
    let done = p.wait_for(&name, Duration::from_secs(120)).await;
    let r = row(&done.summary, "uploads");
    assert_eq!(r["outcome"], "skipped", "{:#}", done.summary);
    assert!(
        r["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("Uploads (AWS::S3::Bucket)"),
        "the guard names the bucket: {r}"
    );
    assert!(p.emulator.completed_token_updates("uploads").is_empty());
    assert_eq!(
        resources(&p.cfn, "uploads").await["Uploads"],
        bucket,
        "the bucket kept"
    );
}

/// The Map's Retry reruns a refresh task with its original input, which says nothing has
/// begun. Here the first invocation sent phase one and its answer was lost (it timed out
/// after its calls); an operator's stop was written meanwhile. The retry reads the stack's
/// events under our request token: phase one is ours, so the stop cannot skip the stack at
/// `false`. It is brought back to `true` and reported refreshed; phase one is not sent
/// again.
#[tokio::test]
async fn a_stop_during_a_lost_phase_one_never_leaves_the_stack_at_false() {
    // Each update outlasts the first invocation's budget: it hands back `waiting`, lost.
    let p = Pipeline::start(|env| {
        env.set("POLL_INTERVAL_SECONDS", "0.5")
            .set("STEP_BUDGET_SECONDS", "1")
    })
    .await;
    p.emulator.control(json!({"update_delay_seconds": 2.5}));
    let arn = create_secret(&p.sm, "prod/db-password", "v1").await;
    create_stack(
        &p.cfn,
        "orders-api",
        &consumer_template("prod/db-password"),
        &[],
    )
    .await;
    p.emulator
        .control(json!({"time_out_after_run": {"rotatetoken-refresh": 1}}));
    let name = p.change_secret("prod/db-password", &arn, "v2").await;

    let phase_one = wait_until(Duration::from_secs(90), || {
        p.emulator
            .updates()
            .into_iter()
            .find(|u| u.stack == "orders-api" && u.token == "false")
    });
    assert!(phase_one.is_some(), "phase one was sent");
    assert!(
        p.request_stop(&name).await,
        "the operator's stop is written"
    );

    let done = p.wait_for(&name, Duration::from_secs(120)).await;
    let config = p.emulator.control(json!({}));
    assert_eq!(
        config["time_out_after_run"]["rotatetoken-refresh"], 0,
        "the first invocation's answer was lost: {config}"
    );
    let r = row(&done.summary, "orders-api");
    assert_eq!(r["outcome"], "refreshed", "{:#}", done.summary);
    assert_eq!(
        p.emulator.completed_token_updates("orders-api"),
        vec!["false", "true"],
        "phase one not sent again; the stack back at true"
    );
}
