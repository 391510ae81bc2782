//! Tracing, set up once per function. Honours the Lambda advanced logging controls:
//! `AWS_LAMBDA_LOG_FORMAT=JSON` gives one JSON object per line, `AWS_LAMBDA_LOG_LEVEL`
//! (or `RUST_LOG`) sets the level. Nothing logged here ever carries a secret value: the
//! functions never read one.

use tracing_subscriber::EnvFilter;

pub fn init() {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".to_string())
        .to_lowercase();
    // Quiet the SDK's own chatter unless asked for it explicitly through RUST_LOG.
    let filter = EnvFilter::try_new(if level.contains('=') {
        level.clone()
    } else {
        format!("{level},aws_smithy_runtime=warn,aws_config=warn,hyper=warn")
    })
    .unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .without_time(); // CloudWatch stamps each line
    let _ = if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init()
    } else {
        builder.with_ansi(false).try_init()
    };
}
