"""A local Lambda service for the real Rust handlers, up to hundreds of concurrent
invocations: the suites' and the benchmarks' (tests/harness/functions.rs;
`RT_LAMBDA_HOST=cargo-lambda` runs them on `cargo lambda watch`, the README's path, which
tests/local_invoke.rs and tests/state_machine.rs's scenario keep).

Why not `cargo lambda watch`: in the 260- and 1,300-stack incident runs (2026-12-04) its
function instances sat idle while ~540 invocations waited on it for minutes, and in the
suites it spent about half a core in system calls of its own (docs/performance.md). This host does what Lambda does, and no more:
- Invoke API: `POST /2015-03-31/functions/<name>/invocations` answers the function's result,
  or HTTP 500 with its `{errorType, errorMessage}` as cargo lambda watch does (the emulator's
  bridge, patch 8, turns that into AWS's 200 + `X-Amz-Function-Error: Unhandled`).
- Execution environments: one process per concurrent invocation, reused when idle, a new one
  started only when no idle one waits ("Lambda execution environments": "Lambda scales by
  creating new execution environments when all existing ones are busy"), up to
  `--max-instances` per function (the account's concurrency, left to the caller).
- Runtime API, one endpoint per function (`AWS_LAMBDA_RUNTIME_API`): `GET
  /2018-06-01/runtime/invocation/next` (headers `Lambda-Runtime-Aws-Request-Id`,
  `Lambda-Runtime-Deadline-Ms` from the function's timeout that the bridge passes as
  `X-Rt-Timeout-Seconds`, `Lambda-Runtime-Invoked-Function-Arn`), `POST
  .../invocation/<id>/response`, `POST .../invocation/<id>/error`, `POST
  .../runtime/init/error` (AWS Lambda developer guide, "Using the Lambda runtime API for
  custom runtimes").
- An invocation still running at its deadline is answered `Sandbox.Timedout` and its
  environment is stopped, as Lambda stops a function at its time-out ("Configure Lambda
  function timeout"); the next invocation gets a new one.

Run: python tests/emulator/lambda_host.py --port P --bin-dir target/debug \
        --env-file F [--max-instances N] [--log FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

INVOKE_PREFIX = "/2015-03-31/functions/"
RUNTIME_PREFIX = "/2018-06-01/runtime/"
DEFAULT_TIMEOUT_SECONDS = 900.0  # Lambda's maximum


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # hundreds of invocations may arrive at once


class Invocation:
    def __init__(self, payload: bytes, timeout: float) -> None:
        self.id = str(uuid.uuid4())
        self.payload = payload
        self.deadline_ms = int((time.time() + timeout) * 1000)
        self.picked = threading.Event()
        self.done = threading.Event()
        self.ok = False
        self.body = b""


class Function:
    """One function: its Runtime API endpoint, its queue and its execution environments."""

    def __init__(self, host: "Host", name: str) -> None:
        self.host = host
        self.name = name
        self.queue: "queue.Queue[Invocation]" = queue.Queue()
        self.in_flight: dict[str, Invocation] = {}
        self.lock = threading.Lock()
        self.idle = 0  # environments blocked in /next
        self.booting: set[int] = set()  # environments started, not yet in their first /next
        self.serving: dict[int, Invocation] = {}  # the last invocation each environment took
        self.instances: list[subprocess.Popen[bytes]] = []
        self.server = Server(("127.0.0.1", 0), self.handler())
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def reap(self) -> None:
        """An environment whose process exited fails the invocation it held, as Lambda
        answers `Runtime.ExitError`, and is never counted spare again."""
        with self.lock:
            for number, proc in enumerate(self.instances):
                if proc.returncode is None and proc.poll() is not None:
                    self.booting.discard(number)
                    inv = self.serving.pop(number, None)
                    if inv is not None and not inv.done.is_set():
                        self.in_flight.pop(inv.id, None)
                        inv.body = json.dumps({
                            "errorType": "Runtime.ExitError",
                            "errorMessage": f"RequestId: {inv.id} Error: Runtime exited with "
                                            f"error: exit status {proc.returncode}"}).encode()
                        inv.done.set()
                    self.host.log(f"{self.name}: environment {number} exited ({proc.returncode})")

    def handler(self) -> type[BaseHTTPRequestHandler]:
        function = self

        class RuntimeApi(Quiet):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                instance, path = split_instance(self.path)
                if path != RUNTIME_PREFIX + "invocation/next" or instance is None:
                    return self.answer(404, b'{"errorMessage":"unknown path"}')
                with function.lock:
                    function.booting.discard(instance)
                    function.idle += 1
                inv = function.queue.get()
                with function.lock:
                    function.idle -= 1
                    function.in_flight[inv.id] = inv
                    function.serving[instance] = inv
                inv.picked.set()
                arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function.name}"
                self.answer(200, inv.payload, {
                    "Lambda-Runtime-Aws-Request-Id": inv.id,
                    "Lambda-Runtime-Deadline-Ms": str(inv.deadline_ms),
                    "Lambda-Runtime-Invoked-Function-Arn": arn,
                    "Lambda-Runtime-Trace-Id": f"Root=1-{uuid.uuid4().hex[:8]}-{uuid.uuid4().hex[:24]}",
                })

            def do_POST(self) -> None:  # noqa: N802
                body = self.read_body()
                _, path = split_instance(self.path)
                rest = path[len(RUNTIME_PREFIX):] if path.startswith(RUNTIME_PREFIX) else ""
                parts = rest.split("/")
                if parts[:2] == ["init", "error"]:
                    function.host.log(f"{function.name}: init error {body[:500]!r}")
                    return self.answer(202, b'{"status":"OK"}')
                if len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
                    with function.lock:
                        inv = function.in_flight.pop(parts[1], None)
                    if inv is None:
                        return self.answer(400, b'{"errorType":"InvalidRequestID"}')
                    inv.ok, inv.body = parts[2] == "response", body
                    inv.done.set()
                    return self.answer(202, b'{"status":"OK"}')
                self.answer(404, b'{"errorMessage":"unknown path"}')

        return RuntimeApi

    def invoke(self, payload: bytes, timeout: float) -> Invocation:
        inv = Invocation(payload, timeout)
        self.queue.put(inv)
        # A new environment only when every one is busy (neither idle in /next nor booting);
        # checked again while the invocation waits, as one counted idle may have just taken
        # another invocation.
        tick = 0.0
        while not inv.picked.wait(tick):
            tick = 0.1
            with self.lock:
                spare = self.idle + len(self.booting)
                if self.queue.qsize() > spare and len(self.instances) < self.host.max_instances:
                    self.start_instance()
        if not inv.done.wait(max(0.0, inv.deadline_ms / 1000 - time.time())):
            self.stop_serving(inv)
        return inv

    def stop_serving(self, inv: Invocation) -> None:
        """The environment running `inv` past its deadline is stopped (its answer would
        come too late); the reaper then finds it exited and counts it spare no more."""
        with self.lock:
            self.in_flight.pop(inv.id, None)
            number = next((n for n, held in self.serving.items() if held is inv), None)
            if number is not None:
                del self.serving[number]
                self.instances[number].kill()

    def start_instance(self) -> None:
        env = dict(self.host.env)
        number = len(self.instances)
        self.booting.add(number)
        env.update({
            # A base path names the environment (lambda_runtime_api_client keeps it).
            "AWS_LAMBDA_RUNTIME_API": f"http://127.0.0.1:{self.server.server_address[1]}/env/{number}",
            "AWS_LAMBDA_FUNCTION_NAME": self.name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
        })
        binary = os.path.join(self.host.bin_dir, self.name)
        self.instances.append(self.host.spawn([binary], env))
        self.host.log(f"{self.name}: environment {number} started")


def split_instance(path: str) -> tuple[int | None, str]:
    """`/env/<n>/2018-06-01/...` -> (n, `/2018-06-01/...`)."""
    parts = path.split("/", 3)
    if len(parts) == 4 and parts[1] == "env" and parts[2].isdigit():
        return int(parts[2]), "/" + parts[3]
    return None, path


def die_with_parent() -> None:
    """An environment ends with its host (the harness kills the host, never its children).
    Linux sends the signal when the *thread* that forked the child ends: Host.spawn forks
    from one long-lived thread, never from a request's."""
    import ctypes
    import signal

    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class Quiet(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the runtime client reuses its connection

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def read_body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def answer(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the caller gave up first (the bridge's own time-out): nothing to answer


class Host:
    def __init__(self, bin_dir: str, env: dict[str, str], max_instances: int, log_file: Any) -> None:
        self.bin_dir = bin_dir
        self.env = env
        self.max_instances = max_instances
        self.log_file = log_file
        self.functions: dict[str, Function] = {}
        self.lock = threading.Lock()

        self.spawns: "queue.Queue[tuple[list[str], dict[str, str], queue.Queue[Any]]]" = queue.Queue()
        threading.Thread(target=self.spawner, daemon=True).start()

    def spawner(self) -> None:
        while True:
            argv, env, answer = self.spawns.get()
            answer.put(subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                                        stdout=self.log_file, stderr=self.log_file,
                                        preexec_fn=die_with_parent))

    def spawn(self, argv: list[str], env: dict[str, str]) -> "subprocess.Popen[bytes]":
        answer: "queue.Queue[Any]" = queue.Queue()
        self.spawns.put((argv, env, answer))
        return answer.get()

    def log(self, line: str) -> None:
        self.log_file.write(f"[lambda-host] {line}\n".encode())
        self.log_file.flush()

    def function(self, name: str) -> Function | None:
        if not os.access(os.path.join(self.bin_dir, name), os.X_OK):
            return None
        with self.lock:
            if name not in self.functions:
                self.functions[name] = Function(self, name)
            return self.functions[name]

    def stop(self) -> None:
        for function in self.functions.values():
            for proc in function.instances:
                proc.kill()


def invoke_api(host: Host) -> type[BaseHTTPRequestHandler]:
    class InvokeApi(Quiet):
        def do_POST(self) -> None:  # noqa: N802
            body = self.read_body()
            path = self.path.split("?")[0]
            name = path[len(INVOKE_PREFIX):].split("/")[0] if path.startswith(INVOKE_PREFIX) else ""
            if not path.endswith("/invocations") or not name:
                return self.answer(404, b'{"errorMessage":"unknown path"}')
            function = host.function(name)
            if function is None:
                message = f"Function not found: {name}"
                return self.answer(404, json.dumps({"errorType": "ResourceNotFoundException",
                                                    "errorMessage": message}).encode())
            timeout = float(self.headers.get("X-Rt-Timeout-Seconds") or DEFAULT_TIMEOUT_SECONDS)
            inv = function.invoke(body or b"{}", timeout)
            if not inv.done.is_set():
                body = json.dumps({"errorType": "Sandbox.Timedout",
                                   "errorMessage": f"Task timed out after {timeout:.2f} seconds"})
                return self.answer(500, body.encode())
            self.answer(200 if inv.ok else 500, inv.body)

    return InvokeApi


def reaper(host: Host) -> None:
    while True:
        time.sleep(0.5)
        with host.lock:
            functions = list(host.functions.values())
        for function in functions:
            function.reap()


def read_env_file(path: str) -> dict[str, str]:
    env: dict[str, str] = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            key, sep, value = line.rstrip("\n").partition("=")
            if sep and key:
                env[key] = value
    return env


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--bin-dir", required=True)
    parser.add_argument("--env-file", required=True)
    parser.add_argument("--max-instances", type=int, default=1000)
    parser.add_argument("--log")
    args = parser.parse_args(argv)
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TZ", "RUST_LOG")}
    env.update(read_env_file(args.env_file))
    log_file = open(args.log, "ab") if args.log else sys.stderr.buffer  # noqa: SIM115
    host = Host(args.bin_dir, env, args.max_instances, log_file)
    server = Server(("127.0.0.1", args.port), invoke_api(host))
    threading.Thread(target=reaper, args=(host,), daemon=True).start()
    try:
        server.serve_forever()
    finally:
        host.stop()


if __name__ == "__main__":
    main()
