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

/// CloudWatch metrics through the embedded metric format: one JSON line on stdout, which
/// Lambda's log pipeline turns into metrics in the `RotateToken` namespace (no API call,
/// no extra permission). `metrics`: (name, value, unit).
pub fn emit_metrics(metrics: &[(&str, f64, &str)]) {
    println!("{}", emf_line(metrics, now_ms()));
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

fn emf_line(metrics: &[(&str, f64, &str)], timestamp_ms: u64) -> String {
    let mut doc = serde_json::json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": "RotateToken",
                "Dimensions": [[]],
                "Metrics": metrics.iter().map(|(name, _, unit)| serde_json::json!({"Name": name, "Unit": unit})).collect::<Vec<_>>(),
            }],
        },
    });
    for (name, value, _) in metrics {
        doc[*name] = serde_json::json!(value);
    }
    doc.to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn metrics_are_in_the_embedded_metric_format() {
        let line = super::emf_line(&[("StacksCritical", 2.0, "Count")], 1_700_000_000_000);
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["StacksCritical"], 2.0);
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Namespace"],
            "RotateToken"
        );
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"],
            "StacksCritical"
        );
        assert_eq!(v["_aws"]["Timestamp"], 1_700_000_000_000u64);
    }
}
