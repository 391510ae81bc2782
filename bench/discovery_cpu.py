"""Benchmark: CPU spent by discovery in the Rust function vs the same work in Python/boto3.

Both sides walk every stack of the same emulator (DescribeStacks, 50 a page), keep the
stacks with the RotateToken parameter, and sort out the ones that cannot be updated. CPU is
the client process's own user+system time (the emulator's is not counted), measured over
repeated runs after start-up (Python: after importing boto3 and building the client; Rust:
after the handler reported ready), and also including start-up.

Usage: python bench/discovery_cpu.py [--stacks 1300] [--runs 5] [--target-dir target/release]
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from handler_startup import Runtime  # noqa: E402
from local_aws import ROOT, start_emulator  # noqa: E402

TEMPLATE = """Parameters:
  RotateToken: {Type: String, Default: "true", AllowedValues: ["true", "false"]}
  Environment: {Type: String, Default: prod}
Conditions:
  RotateToken: !Equals [!Ref RotateToken, "true"]
Resources:
  Guarded:
    Type: AWS::SSM::Parameter
    Condition: RotateToken
    Properties: {Type: String, Value: !Sub "db-${Environment}"}
"""
PLAIN = "Resources:\n  Q: {Type: 'AWS::SQS::Queue'}\n"
UPDATABLE = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "IMPORT_COMPLETE", "IMPORT_ROLLBACK_COMPLETE"}


def cpu_of(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def python_discovery(cfn) -> set[str]:
    selected = set()
    for page in cfn.get_paginator("describe_stacks").paginate():
        for stack in page["Stacks"]:
            params = {p["ParameterKey"] for p in stack.get("Parameters", [])}
            if "RotateToken" in params and stack["StackStatus"] in UPDATABLE and "ParentId" not in stack:
                selected.add(stack["StackName"])
    return selected


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stacks", type=int, default=1300)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--target-dir", default=os.path.join(ROOT, "target/release"))
    args = ap.parse_args()

    emulator, endpoint = start_emulator()
    try:
        t0 = resource.getrusage(resource.RUSAGE_SELF)
        start_wall = time.perf_counter()
        import boto3
        cfn = boto3.client("cloudformation", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
        for i in range(args.stacks):
            cfn.create_stack(StackName=f"s{i:05d}", TemplateBody=TEMPLATE if i % 2 == 0 else PLAIN)
        python_selected = python_discovery(cfn)
        expected = len(python_selected)

        # Python: the same selection, measured after import and client creation.
        import_cpu = None
        r0 = resource.getrusage(resource.RUSAGE_SELF)
        for _ in range(args.runs):
            assert python_discovery(cfn) == python_selected
        r1 = resource.getrusage(resource.RUSAGE_SELF)
        py_cpu = (r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime) / args.runs
        # Start-up cost of Python+boto3 (import + client) in a fresh interpreter.
        code = ("import resource,boto3;c=boto3.client('cloudformation',endpoint_url='%s',region_name='us-east-1',"
                "aws_access_key_id='x',aws_secret_access_key='x');r=resource.getrusage(resource.RUSAGE_SELF);"
                "print(r.ru_utime+r.ru_stime)") % endpoint
        import_cpu = float(subprocess.check_output([sys.executable, "-c", code]).decode())

        # Rust: the real discover function, release build, behind a mock Runtime API.
        event = json.dumps({"secret": {"arn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf"}}).encode()
        import http.server

        ready, served, results = threading.Event(), {"n": 0}, []
        done = threading.Event()

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                if served["n"] >= args.runs + 1:
                    done.set()
                    time.sleep(5)
                    return
                if served["n"] == 0:
                    ready.set()
                    ready_cpu.append(cpu_of(proc.pid))
                served["n"] += 1
                self.send_response(200)
                self.send_header("Lambda-Runtime-Aws-Request-Id", f"r{served['n']}")
                self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 300000))
                self.send_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:d")
                self.send_header("Content-Length", str(len(event)))
                self.end_headers()
                self.wfile.write(event)

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                results.append(json.loads(body))
                self.send_response(202)
                self.end_headers()

        ready_cpu: list[float] = []
        server = Runtime(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        env = {"PATH": os.environ["PATH"], "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{server.server_address[1]}",
               "AWS_ENDPOINT_URL": endpoint, "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "x",
               "AWS_SECRET_ACCESS_KEY": "x", "AWS_LAMBDA_LOG_LEVEL": "WARN",
               # The reference selects every updatable root stack with the parameter.
               "SELECTION_MODE": "all",
               "AWS_LAMBDA_FUNCTION_NAME": "discover", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256", "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST"}
        proc = subprocess.Popen([os.path.join(args.target_dir, "rotatetoken-discover")], env=env,
                                stdout=subprocess.DEVNULL, stderr=sys.stderr)
        done.wait(120)
        total_cpu = cpu_of(proc.pid)
        proc.kill()
        server.shutdown()
        # The first invocation warms connections; count the following `runs` like Python's.
        # The same work: the Rust function selected exactly the stacks boto3 did, every time.
        rust_selected = [{t["stack"]["name"] for t in r.get("selected", [])} for r in results]
        assert len(rust_selected) == args.runs + 1, f"{len(rust_selected)} Rust results"
        for names in rust_selected:
            assert names == python_selected, f"Rust selected {len(names)}, boto3 {len(python_selected)}: {sorted(names ^ python_selected)[:5]}"
        per_run_rust = (total_cpu - ready_cpu[0]) / (args.runs + 1)
        print(json.dumps({
            "stacks": args.stacks, "selected": expected, "runs": args.runs,
            "same_selection_as_boto3": True,
            "python_boto3_cpu_s_per_discovery": round(py_cpu, 4),
            "python_boto3_startup_cpu_s": round(import_cpu, 4),
            "rust_cpu_s_per_discovery": round(per_run_rust, 4),
            "rust_startup_cpu_s": round(ready_cpu[0], 4),
            "ratio_discovery": round(py_cpu / per_run_rust, 1) if per_run_rust else None,
            "ratio_including_startup": round((py_cpu + import_cpu) / (per_run_rust + ready_cpu[0]), 1),
            "note": "Rust per-discovery CPU is averaged over runs+1 invocations (first included); clock tick resolution 10 ms",
        }, indent=2))
    finally:
        emulator.kill()


if __name__ == "__main__":
    main()
