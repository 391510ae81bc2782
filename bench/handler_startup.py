"""Benchmark: how fast each handler is ready, and how much memory it holds, at cold start.

For each release binary: a mock Lambda Runtime API on loopback (the same HTTP contract as
AWS: the runtime polls GET /2018-06-01/runtime/invocation/next); "ready" is the time from
process spawn to that first /next request, after the handler built its SDK clients. Peak
RSS (VmHWM) is read from /proc while the handler waits on /next. Then one invocation is
served, so the RSS after real work is measured too.

Usage: python bench/handler_startup.py [--runs 30] [--target-dir target/release]
Figures are for this machine's CPU (x86_64); arm64 Lambda will differ.
"""

import argparse
import http.server
import json
import os
import socketserver
import statistics
import subprocess
import threading
import time

FUNCTIONS = {
    "rotatetoken-trigger": {"STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:rotatetoken"},
    "rotatetoken-discover": {"RUNS_BUCKET": "rotatetoken-runs"},
    "rotatetoken-refresh": {},
    "rotatetoken-report": {"RUNS_BUCKET": "rotatetoken-runs"},
}
EVENT = {
    "rotatetoken-report": "events/report.json",
}


class Runtime(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


def serve(first_next: threading.Event, event_body: bytes | None, done: threading.Event):
    state = {"served": False}

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            first_next.set()
            if event_body is not None and not state["served"]:
                state["served"] = True
                self.send_response(200)
                self.send_header("Lambda-Runtime-Aws-Request-Id", "req-1")
                self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 30000))
                self.send_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:x")
                self.send_header("Content-Length", str(len(event_body)))
                self.end_headers()
                self.wfile.write(event_body)
                return
            time.sleep(5)  # hold the runtime in /next, as Lambda does between invocations

        def do_POST(self):
            n = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(n)
            self.send_response(202)
            self.end_headers()
            done.set()

    return Handler


def vmhwm_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def one_run(binary: str, env_extra: dict, event: bytes | None) -> tuple[float, int, int]:
    first_next, done = threading.Event(), threading.Event()
    server = Runtime(("127.0.0.1", 0), serve(first_next, event, done))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {
        "PATH": os.environ["PATH"],
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{server.server_address[1]}",
        "AWS_LAMBDA_FUNCTION_NAME": binary, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST", "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_LAMBDA_LOG_FORMAT": "JSON",
        **env_extra,
    }
    start = time.perf_counter()
    proc = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first_next.wait(10)
    ready_ms = (time.perf_counter() - start) * 1000
    rss_ready = vmhwm_kib(proc.pid)
    if event is not None:
        done.wait(10)
        time.sleep(0.1)
    rss_after = vmhwm_kib(proc.pid)
    proc.kill()
    proc.wait()
    done.set()
    server.shutdown()
    return ready_ms, rss_ready, rss_after


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--target-dir", default="target/release")
    args = ap.parse_args()
    results = {}
    # The SDK's TLS stack loads the system's root certificates at client creation. This
    # Debian host keeps ~300 files in /etc/ssl/certs; provided.al2023 keeps only the bundle
    # files there. "bundle_only" measures that case by pointing at the bundle alone.
    variants = {"host": {}, "bundle_only": {"SSL_CERT_FILE": "/etc/ssl/certs/ca-certificates.crt", "SSL_CERT_DIR": "/nonexistent"}}
    for (variant, venv), (name, env) in [(v, f) for v in variants.items() for f in FUNCTIONS.items()]:
        binary = os.path.join(args.target_dir, name)
        event = open(EVENT[name], "rb").read() if name in EVENT else None
        runs = [one_run(binary, {**env, **venv}, event) for _ in range(args.runs)]
        ready = sorted(r[0] for r in runs)
        results[f"{name} ({variant})"] = {
            "ready_ms_median": round(statistics.median(ready), 2),
            "ready_ms_p95": round(ready[int(len(ready) * 0.95) - 1], 2),
            "peak_rss_mib_ready": round(max(r[1] for r in runs) / 1024, 1),
            "peak_rss_mib_after_invoke": round(max(r[2] for r in runs) / 1024, 1) if event else None,
            "binary_mib": round(os.path.getsize(binary) / 2**20, 1),
        }
    print(json.dumps({"runs": args.runs, "results": results}, indent=2))


if __name__ == "__main__":
    main()
