//! What the benchmarks share: list prices, percentiles, rounding, the functions' peak RSS.
// Each benchmark uses some of these: what one leaves unused is not dead.
#![allow(dead_code)]

use std::collections::BTreeMap;

/// A consuming stack: `RotateToken` and one resource under its Condition.
pub const CONSUMER_TEMPLATE: &str = r#"Parameters:
  RotateToken: {Type: String, Default: "true", AllowedValues: ["true", "false"]}
Conditions:
  RotateToken: !Equals [!Ref RotateToken, "true"]
Resources:
  Guarded:
    Type: AWS::SSM::Parameter
    Condition: RotateToken
    Properties: {Type: String, Value: guarded}
  Always:
    Type: AWS::SSM::Parameter
    Properties: {Type: String, Value: stable}
"#;

/// Public list prices, us-east-1, as published on 2026-11-23 (aws.amazon.com/step-functions/pricing,
/// aws.amazon.com/lambda/pricing, aws.amazon.com/s3/pricing): Standard workflows per state
/// transition; Lambda per request and per GB-second on arm64 (the template's
/// architecture); S3 Standard requests (PUT, COPY, POST, LIST per 1,000; GET and the
/// other reads per 1,000; DELETE free).
pub const PRICES: Prices = Prices {
    date: "2026-11-23",
    per_transition: 0.025 / 1_000.0,
    per_request: 0.20 / 1_000_000.0,
    per_gb_second_arm64: 0.000_013_333_4,
    per_s3_write_or_list: 0.005 / 1_000.0,
    per_s3_read: 0.0004 / 1_000.0,
};
pub struct Prices {
    pub date: &'static str,
    pub per_transition: f64,
    pub per_request: f64,
    pub per_gb_second_arm64: f64,
    pub per_s3_write_or_list: f64,
    pub per_s3_read: f64,
}

impl Prices {
    /// What one S3 API call (its IAM action, `s3:PutObject`) costs.
    pub fn s3_call(&self, action: &str) -> f64 {
        match action.strip_prefix("s3:") {
            Some(a) if a.starts_with("Delete") => 0.0,
            Some(a) if a.starts_with("Put") || a.starts_with("List") || a.starts_with("Copy") => {
                self.per_s3_write_or_list
            }
            Some(_) => self.per_s3_read,
            None => 0.0,
        }
    }
}

pub fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

pub fn percentile(mut v: Vec<f64>, p: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1]
}

pub fn epoch_seconds() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

pub fn round(x: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (x * f).round() / f
}

/// Peak RSS (MiB) of every running instance of each function, by binary name: the
/// processes running this pipeline's build (`target/<profile>/rotatetoken-*`).
pub fn peak_rss_by_function() -> BTreeMap<String, f64> {
    let built = rotatetoken_tests::target_dir().join(rotatetoken_tests::functions_profile());
    let mut peaks = BTreeMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return peaks;
    };
    for entry in dir.flatten() {
        let Ok(exe) = std::fs::read_link(entry.path().join("exe")) else {
            continue;
        };
        let name = exe
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        if !name.starts_with("rotatetoken-") || exe.parent() != Some(built.as_path()) {
            continue;
        }
        let status = std::fs::read_to_string(entry.path().join("status")).unwrap_or_default();
        let kib = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
            .unwrap_or(0.0);
        let peak = peaks.entry(name).or_insert(0.0f64);
        *peak = peak.max(round(kib / 1024.0, 1));
    }
    peaks
}

/// The emulator's raw logs (`target/bench-<name>-{calls,updates,invocations}.json`), for a
/// closer look; not part of any table.
pub fn keep_raw_logs(port: u16, name: &str) {
    for log in ["calls", "updates", "invocations"] {
        let (_, text) =
            rotatetoken_tests::http::post(port, &format!("/moto-api/rotatetoken/{log}"), "{}");
        let path = rotatetoken_tests::target_dir().join(format!("bench-{name}-{log}.json"));
        let _ = std::fs::write(path, text);
    }
}
