//! A tiny blocking HTTP/1.1 client for loopback control calls (emulator control endpoints,
//! the local Lambda's Invoke API), so tests need no HTTP client crate.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// POSTs `body` as JSON; returns the status code and the response body.
pub fn post(port: u16, path: &str, body: &str) -> (u16, String) {
    send(port, path, body, "Content-Type: application/json\r\n")
}

/// One call of an AWS JSON-protocol API (`X-Amz-Target`) on the emulator, for harness
/// set-up with a service the tests have no SDK client for (KMS). The emulator reads the
/// service and region from the credential scope and checks no signature.
pub fn aws_json(port: u16, service: &str, target: &str, body: &str) -> (u16, String) {
    let headers = format!(
        "Content-Type: application/x-amz-json-1.1\r\nX-Amz-Target: {target}\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=testing/20261122/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=0\r\n"
    );
    send(port, "/", body, &headers)
}

fn send(port: u16, path: &str, body: &str, headers: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(300)))
        .unwrap();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(rest)
    } else {
        rest.to_string()
    };
    (status, body)
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}
