//! A refresh retried with its original input continues what its first invocation began.

use super::*;

/// The Map's `Retry` reruns a refresh with its original input: here the first invocation's
/// phase one was accepted (and finished) before it died, an operator's stop was written
/// since, and the retry says nothing has begun. The stack's own events (our request token)
/// say otherwise: the stack is brought back to `true`, never skipped at `false`.
#[tokio::test]
async fn a_retry_after_phase_one_finishes_the_stack_even_after_a_stop() {
    use rotatetoken::aws::s3::S3RunStore;
    use rotatetoken::domain::model::RunFiles;
    use rotatetoken::ports::RunStore;

    let w = world().await;
    create_secret(&w.sm, "prod/db", "v1").await;
    let id = create_stack(&w.cfn, "app", &consumer_template("prod/db"), &[]).await;
    // Each update takes longer than the first invocation's budget.
    w.emulator.control(json!({"update_delay_seconds": 1.5}));
    let config = w.emulator.sdk_config().await;
    aws_sdk_s3::Client::new(&config)
        .create_bucket()
        .bucket("runs")
        .send()
        .await
        .unwrap();
    let files = S3RunStore::new(&config, "runs".to_string());
    let mut original = task(&id);
    original.execution = Some("run-1".into());
    let input = serde_json::to_value(&original).unwrap();
    // The run selected the stack, as discover records it.
    let run = RunFiles::new("runs", "run-1");
    files
        .put(
            &run.selected_key(&id),
            serde_json::to_vec(&original).unwrap(),
        )
        .await
        .unwrap();
    let invoke = |input: serde_json::Value| {
        let (w, files) = (&w, &files);
        async move {
            service::refresh(
                Some(files),
                &w.access,
                &NoOrganization,
                &w.secrets,
                &SystemClock,
                &SdkRetries,
                SETTINGS,
                &w.scope,
                input,
                SystemClock.now_ms() + 1_000,
            )
            .await
        }
    };
    // The first invocation: phase one accepted; its answer is lost (time-out, crash).
    let first = invoke(input.clone()).await.unwrap();
    assert_eq!(first.phase, Phase::Disable);
    assert!(first.update_started);
    let mut at_false = false;
    for _ in 0..100 {
        let (status, token) = stack_status_and_token(&w.cfn, "app").await;
        at_false = status == "UPDATE_COMPLETE" && token.as_deref() == Some("false");
        if at_false {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(at_false, "phase one completed");
    files
        .put(&RunFiles::new("runs", "run-1").stop_key(), b"{}".to_vec())
        .await
        .unwrap();
    // The retry, with the original input.
    let mut out = invoke(input).await.unwrap();
    for _ in 0..100 {
        if out.outcome != Outcome::Waiting {
            break;
        }
        out = invoke(serde_json::to_value(&out).unwrap()).await.unwrap();
    }
    assert_eq!(out.outcome, Outcome::Refreshed, "{out:?}");
    assert_eq!(
        w.emulator.completed_token_updates("app"),
        vec!["false", "true"],
        "phase one not sent again, phase two sent"
    );
}
