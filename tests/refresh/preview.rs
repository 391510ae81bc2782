//! Phase one's preview with the deployed pipeline's settings (`WAIT_FOR_STATUS_EVENTS`):
//! begun by one look and read by a later one (`domain::refresh::preview`), through the real
//! adapter against the local AWS's change sets, which take time to create (patch 56), go
//! OBSOLETE when their stack is updated and are one per name (patch 60), as AWS's do.

use super::*;
use rotatetoken::domain::model::WaitKind;

const EVENTS: RefreshSettings = RefreshSettings {
    poll_interval_ms: 100,
    max_wait_ms: 60_000,
    require_opt_in: false,
    without_service_role: rotatetoken::domain::service_role::StacksWithoutServiceRole::any(),
    wait_for_events: true,
    lane_places: 0,
};

/// A task as discovery writes it for `stack_id`: the run, and the stack's other parameters.
fn discovered(stack_id: &str) -> RefreshTask {
    let mut t = task(stack_id);
    t.execution = Some("run-preview".into());
    t.other_parameters = vec!["Environment".into()];
    t
}

async fn look(w: &World, t: RefreshTask) -> RefreshTask {
    // As the state machine does: a pause the refresh chose is waited out before the next
    // look (a fifth of it, as the suites' Wait states: any pause must be safe).
    if let Some(wait) = t.wait.as_ref().filter(|w| w.kind == WaitKind::Pause) {
        tokio::time::sleep(std::time::Duration::from_millis(wait.seconds * 200)).await;
    }
    run_with(w, t, 10_000, EVENTS).await
}

async fn change_sets(w: &World, stack: &str) -> Vec<(String, String)> {
    let out = w
        .cfn
        .list_change_sets()
        .stack_name(stack)
        .send()
        .await
        .unwrap();
    out.summaries()
        .iter()
        .map(|s| {
            (
                s.change_set_name().unwrap_or_default().to_string(),
                s.execution_status()
                    .map(|e| e.as_str().to_string())
                    .unwrap_or_default(),
            )
        })
        .collect()
}

fn paused(t: &RefreshTask) -> bool {
    t.outcome == Outcome::Waiting && t.wait.as_ref().is_some_and(|w| w.kind == WaitKind::Pause)
}

#[tokio::test]
async fn a_preview_made_before_a_deploy_is_made_again_and_the_refresh_reads_the_new_one() {
    let w = world().await;
    w.emulator
        .control(json!({"update_delay_seconds": 0.5, "change_set_seconds": 1.0}));
    create_secret(&w.sm, "prod/db", "v1").await;
    let id = create_stack(&w.cfn, "app", &consumer_template("prod/db"), &[]).await;

    let first = look(&w, discovered(&id)).await;
    assert!(paused(&first), "{first:?}");
    // Step Functions retries a look with its original input: the same change set, not two.
    let again = look(&w, discovered(&id)).await;
    assert!(paused(&again), "{again:?}");
    assert_eq!(change_sets(&w, "app").await.len(), 1);
    assert!(w.emulator.completed_token_updates("app").is_empty());

    // The customer deploys meanwhile: the change set now describes a stack that is gone.
    someones_deploy(&w, &id).await;
    for _ in 0..100 {
        if stack_status_and_token(&w.cfn, "app").await.0 == "UPDATE_COMPLETE" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let listed = change_sets(&w, "app").await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].1, "OBSOLETE", "{listed:?}");
    // The next look reads it, finds it obsolete, and begins another: still nothing changed.
    let mut t = look(&w, first).await;
    assert!(paused(&t), "{t:?}");
    let listed = change_sets(&w, "app").await;
    assert!(listed.len() == 1 && listed[0].1 != "OBSOLETE", "{listed:?}");
    assert_eq!(w.emulator.completed_token_updates("app"), vec!["true"]);
    for _ in 0..100 {
        t = look(&w, t).await;
        if t.update_started || t.outcome != Outcome::Waiting {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(t.update_started, "{t:?}");
    // The plan phase one was judged on is the new change set's, and that one is gone too.
    assert!(
        change_sets(&w, "app").await.is_empty(),
        "{:?}",
        change_sets(&w, "app").await
    );
    for _ in 0..100 {
        if t.outcome != Outcome::Waiting {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        t = look(&w, t).await;
    }
    assert_eq!(t.outcome, Outcome::Refreshed, "{t:?}");
    assert_eq!(
        w.emulator.completed_token_updates("app"),
        vec!["true", "false", "true"],
        "the customer's deploy, then our two phases"
    );
    let described = w
        .cfn
        .describe_stacks()
        .stack_name("app")
        .send()
        .await
        .unwrap();
    let env = described.stacks()[0]
        .parameters()
        .iter()
        .find(|p| p.parameter_key() == Some("Environment"))
        .and_then(|p| p.parameter_value());
    assert_eq!(env, Some("staging"), "the customer's deploy kept");
}

#[tokio::test]
async fn a_preview_no_look_will_read_is_deleted() {
    let w = world().await;
    create_secret(&w.sm, "prod/db", "v1").await;
    // Left at `false` by an earlier run: restored without phase one, so without its preview.
    let id = create_stack(
        &w.cfn,
        "app",
        &consumer_template("prod/db"),
        &[("RotateToken", "false")],
    )
    .await;
    let first = look(&w, discovered(&id)).await;
    assert!(paused(&first), "{first:?}");
    assert_eq!(change_sets(&w, "app").await.len(), 1);
    let second = look(&w, first).await;
    assert_eq!(second.phase, Phase::Enable, "{second:?}");
    assert!(
        change_sets(&w, "app").await.is_empty(),
        "{:?}",
        change_sets(&w, "app").await
    );
}
