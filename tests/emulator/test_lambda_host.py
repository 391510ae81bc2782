"""The suites' and benchmarks' local Lambda service (lambda_host.py) through its Invoke API, with a
tiny runtime in Python standing in for a function binary.

Run: .venv/bin/python -m unittest discover -s tests/emulator -p 'test_*.py'
"""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))

# A runtime that follows the Runtime API: sleeps `sleep` seconds, answers its environment's
# path and pid, errors when asked to, exits when asked to.
RUNTIME = """#!%s
import json, os, sys, time, urllib.request
api = os.environ["AWS_LAMBDA_RUNTIME_API"]
base = api if api.startswith("http") else "http://" + api
while True:
    with urllib.request.urlopen(base + "/2018-06-01/runtime/invocation/next") as resp:
        rid = resp.headers["Lambda-Runtime-Aws-Request-Id"]
        deadline = int(resp.headers["Lambda-Runtime-Deadline-Ms"])
        event = json.loads(resp.read())
    if event.get("exit"):
        sys.exit(3)
    time.sleep(event.get("sleep", 0))
    kind = "error" if event.get("fail") else "response"
    body = {"errorType": "Boom", "errorMessage": "asked to fail"} if event.get("fail") else {
        "env": api.rsplit("/", 1)[-1], "pid": os.getpid(), "deadline_ms": deadline,
        "setting": os.environ.get("SETTING")}
    req = urllib.request.Request(f"{base}/2018-06-01/runtime/invocation/{rid}/{kind}",
                                 data=json.dumps(body).encode(), method="POST")
    urllib.request.urlopen(req).read()
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LambdaHost(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.dir = tempfile.TemporaryDirectory()
        for name in ("echo", "solo", "slow"):
            binary = os.path.join(cls.dir.name, name)
            with open(binary, "w", encoding="utf-8") as handle:
                handle.write(RUNTIME % sys.executable)
            os.chmod(binary, os.stat(binary).st_mode | stat.S_IXUSR)
        env_file = os.path.join(cls.dir.name, "env")
        with open(env_file, "w", encoding="utf-8") as handle:
            handle.write("SETTING=a,b=c\n")
        cls.port = free_port()
        cls.proc = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "lambda_host.py"), "--port", str(cls.port),
             "--bin-dir", cls.dir.name, "--env-file", env_file, "--max-instances", "40",
             "--log", os.path.join(cls.dir.name, "log")])
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", cls.port), timeout=0.1).close()
                break
            except OSError:
                time.sleep(0.05)

    @classmethod
    def tearDownClass(cls) -> None:
        cls.proc.kill()
        cls.proc.wait()
        cls.dir.cleanup()

    def invoke(self, payload: dict, function: str = "echo", timeout: float = 30) -> tuple[int, dict]:
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/2015-03-31/functions/{function}/invocations",
            data=json.dumps(payload).encode(), method="POST",
            headers={"X-Rt-Timeout-Seconds": str(timeout)})
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read())

    def test_concurrent_invocations_run_at_once_in_as_many_environments(self) -> None:
        started = time.time()
        # Each sleeps long enough that all 30 are in flight at once even while the machine is
        # busy (make test runs this suite beside cargo build): an environment that is idle
        # again before the last invocation arrives is reused, as Lambda reuses it.
        with ThreadPoolExecutor(30) as pool:
            answers = list(pool.map(lambda _: self.invoke({"sleep": 5}), range(30)))
        elapsed = time.time() - started
        self.assertTrue(all(status == 200 for status, _ in answers), answers)
        self.assertEqual(len({body["pid"] for _, body in answers}), 30)
        self.assertLess(elapsed, 30, "30 invocations of 5 s each ran one after another")

    def test_an_idle_environment_is_reused_and_gets_the_settings_and_a_deadline(self) -> None:
        _, first = self.invoke({}, function="solo", timeout=30)
        _, second = self.invoke({}, function="solo", timeout=30)
        self.assertEqual(first["pid"], second["pid"])
        self.assertEqual(second["setting"], "a,b=c")
        self.assertAlmostEqual(second["deadline_ms"] / 1000, time.time() + 30, delta=5)

    def test_a_handler_error_is_an_http_500_with_its_type_and_message(self) -> None:
        status, body = self.invoke({"fail": True})
        self.assertEqual((status, body["errorType"]), (500, "Boom"))

    def test_an_environment_that_exits_fails_its_invocation_and_the_next_one_runs(self) -> None:
        status, body = self.invoke({"exit": True})
        self.assertEqual((status, body["errorType"]), (500, "Runtime.ExitError"))
        self.assertEqual(self.invoke({})[0], 200)

    def test_an_invocation_past_its_time_out_is_stopped_with_its_environment(self) -> None:
        status, body = self.invoke({"sleep": 30}, function="slow", timeout=1)
        self.assertEqual((status, body["errorType"]), (500, "Sandbox.Timedout"))
        status, body = self.invoke({}, function="slow")
        self.assertEqual((status, body["env"]), (200, "1"))
        time.sleep(1)  # the reaper looks every 0.5 s
        with open(os.path.join(self.dir.name, "log"), encoding="utf-8", errors="replace") as log:
            self.assertIn("slow: environment 0 exited (-9)", log.read(), "the timed-out environment ran on")

    def test_an_unknown_function_is_not_found(self) -> None:
        status, body = self.invoke({}, function="nope")
        self.assertEqual((status, body["errorType"]), (404, "ResourceNotFoundException"))


if __name__ == "__main__":
    unittest.main()
