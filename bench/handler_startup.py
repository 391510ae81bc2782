"""Benchmark: how fast each handler is ready, and how much memory it holds, at cold start.

For each release binary: a mock Lambda Runtime API on loopback (the same HTTP contract as
AWS: the runtime polls GET /2018-06-01/runtime/invocation/next); "ready" is the time from
process spawn to that first /next request, after the handler built its SDK clients. Peak
RSS (VmHWM) is read from /proc while the handler waits on /next. Then one invocation is
served, so the RSS after real work is measured too.

"First response with AWS" (discover, refresh): the same cold start, then one invocation
whose work calls AWS (the emulator over HTTP: discover lists the stacks, refresh describes
its stack), timed from process spawn to the handler's response: the cold start a
caller actually waits for, TLS trust store and first connection included.

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
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from local_aws import ROOT, start_emulator  # noqa: E402

FUNCTIONS = {
    "rotatetoken-trigger": {"STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:rotatetoken",
                            "SECRET_NAME_PREFIXES": "prod/"},
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
    state = {"served": False, "response": None}

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
            body = self.rfile.read(n)
            state["response"] = (self.path.rsplit("/", 1)[-1], body)
            self.send_response(202)
            self.end_headers()
            done.set()

    Handler.state = state
    return Handler


def vmhwm_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def one_run(binary: str, env_extra: dict, event: bytes | None) -> tuple[float, int, int, float | None]:
    first_next, done = threading.Event(), threading.Event()
    handler = serve(first_next, event, done)
    server = Runtime(("127.0.0.1", 0), handler)
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
    proc = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if not first_next.wait(10):
        proc.kill()
        raise SystemExit(f"{binary} never asked for an invocation: {proc.communicate()[1].decode()[-500:]}")
    ready_ms = (time.perf_counter() - start) * 1000
    rss_ready = vmhwm_kib(proc.pid)
    responded_ms = None
    if event is not None:
        done.wait(30)
        responded_ms = (time.perf_counter() - start) * 1000
        time.sleep(0.1)
    rss_after = vmhwm_kib(proc.pid)
    response = handler.state["response"]
    if event is not None and env_extra.get("AWS_ENDPOINT_URL") and (response is None or response[0] != "response"):
        raise SystemExit(f"{binary}: the invocation did not succeed: {response}")
    proc.kill()
    proc.wait()
    done.set()
    server.shutdown()
    return ready_ms, rss_ready, rss_after, responded_ms


TEMPLATE_WITHOUT_TOKEN = "Resources:\n  Q: {Type: 'AWS::SQS::Queue'}\n"
TEMPLATE = """Parameters:
  RotateToken: {Type: String, Default: "true", AllowedValues: ["true", "false"]}
Conditions:
  RotateToken: !Equals [!Ref RotateToken, "true"]
Resources:
  Guarded: {Type: "AWS::CloudFormation::WaitConditionHandle", Condition: RotateToken}
"""


def aws_events(endpoint: str) -> dict[str, bytes]:
    """Seeds the emulator (ten stacks, five consumers, and one stack the refresh finds
    without its parameter, so it answers after describing it) and returns, per function,
    an event whose work calls AWS."""
    import boto3

    cfn = boto3.client("cloudformation", endpoint_url=endpoint, region_name="us-east-1",
                       aws_access_key_id="x", aws_secret_access_key="x")
    for i in range(10):
        cfn.create_stack(StackName=f"app-{i}", TemplateBody=TEMPLATE if i % 2 else TEMPLATE_WITHOUT_TOKEN)
    stack_id = cfn.describe_stacks(StackName="app-0")["Stacks"][0]["StackId"]
    refresh = {"stack": {"account": "123456789012", "region": "us-east-1", "name": "app-0", "id": stack_id},
               "parameter": "RotateToken", "phase": "disable"}
    return {
        "rotatetoken-discover": open(os.path.join(ROOT, "events/discover.json"), "rb").read(),
        "rotatetoken-refresh": json.dumps(refresh).encode(),
    }


def summarise(binary: str, runs: list, event: bytes | None) -> dict:
    ready = sorted(r[0] for r in runs)
    out = {
        "ready_ms_median": round(statistics.median(ready), 2),
        "ready_ms_p95": round(ready[int(len(ready) * 0.95) - 1], 2),
        "peak_rss_mib_ready": round(max(r[1] for r in runs) / 1024, 1),
        "peak_rss_mib_after_invoke": round(max(r[2] for r in runs) / 1024, 1) if event else None,
        "binary_mib": round(os.path.getsize(binary) / 2**20, 1),
    }
    if event is not None:
        responded = sorted(r[3] for r in runs)
        out["first_response_ms_median"] = round(statistics.median(responded), 2)
        out["first_response_ms_p95"] = round(responded[int(len(responded) * 0.95) - 1], 2)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--target-dir", default="target/release")
    args = ap.parse_args()
    results = {}
    # "host": this machine as a function sees it (no SSL_CERT_* set): the functions trust
    # the system's CA bundle file alone (functions/shared/src/aws/tls.rs).
    # "sdk_default_loader": SSL_CERT_FILE and SSL_CERT_DIR set to this Debian host's
    # bundle and directory, which the functions honour with the SDK's own loader (the
    # bundle plus the ~300 files of /etc/ssl/certs). Either way the roots are parsed at
    # the first request, once, not for every SDK client at start-up (tls.rs).
    variants = {
        "host": {},
        "sdk_default_loader": {"SSL_CERT_FILE": "/etc/ssl/certs/ca-certificates.crt", "SSL_CERT_DIR": "/etc/ssl/certs"},
    }
    for (variant, venv), (name, env) in [(v, f) for v in variants.items() for f in FUNCTIONS.items()]:
        binary = os.path.join(args.target_dir, name)
        event = open(EVENT[name], "rb").read() if name in EVENT else None
        runs = [one_run(binary, {**env, **venv}, event) for _ in range(args.runs)]
        results[f"{name} ({variant})"] = summarise(binary, runs, event)
    emulator, endpoint = start_emulator()
    try:
        for name, event in aws_events(endpoint).items():
            binary = os.path.join(args.target_dir, name)
            # No runs bucket: discover answers with its selection inline.
            env = {k: v for k, v in FUNCTIONS[name].items() if k != "RUNS_BUCKET"}
            env["AWS_ENDPOINT_URL"] = endpoint
            runs = [one_run(binary, env, event) for _ in range(args.runs)]
            results[f"{name} (first call to AWS)"] = summarise(binary, runs, event)
    finally:
        emulator.kill()
    print(json.dumps({"runs": args.runs, "results": results}, indent=2))


if __name__ == "__main__":
    main()
