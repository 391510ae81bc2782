"""An emulator process for the package's own Python suites (tests/emulator/test_*.py):
started through the launcher, as the harness starts it, on a free port."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import unittest
import urllib.error
import urllib.request
from typing import Any

LAUNCHER = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "rotatetoken_emulator.py")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Emulator:
    """One emulator process for the suite; state reset between tests."""

    def __init__(self, lambda_bridge: str | None = None, rate_limits: bool = False) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(os.path.join(os.environ.get("TMPDIR", "/tmp"), f"emulator-selftest-{self.port}.log"), "w")
        self.proc = subprocess.Popen(
            [sys.executable, LAUNCHER, "--port", str(self.port)]
            + (["--lambda-bridge", lambda_bridge] if lambda_bridge else []),
            stdout=self.log, stderr=subprocess.STDOUT,
        )
        deadline = time.time() + 60
        while True:
            try:
                urllib.request.urlopen(self.url + "/moto-api/rotatetoken/config", timeout=1)
                break
            except Exception:
                if time.time() > deadline or self.proc.poll() is not None:
                    raise RuntimeError(f"the emulator did not start (log: {self.log.name})")
                time.sleep(0.1)
        if not rate_limits:
            # Each mechanism is tested alone: CloudFormation's rate limits (on by default,
            # as on AWS: patch 42) only where a test asks for them (test_rate_limits.py).
            self.post("/moto-api/rotatetoken/config", {"rate_limits": {}})

    def client(self, service: str) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(
            service, endpoint_url=self.url, region_name="us-east-1",
            aws_access_key_id="testing", aws_secret_access_key="testing",
            # One attempt: a 500 must fail the test, not be retried into a pass.
            config=Config(retries={"max_attempts": 1, "mode": "standard"}),
        )

    def reset(self) -> None:
        urllib.request.urlopen(urllib.request.Request(self.url + "/moto-api/reset", method="POST"))

    def post(self, path: str, body: Any) -> tuple[int, Any]:
        """POST `body` (JSON) to a control endpoint: (HTTP status, the JSON answer)."""
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"null")

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()
        self.log.close()


class EmulatorTestCase(unittest.TestCase):
    """A test class sharing one emulator (`cls.emulator`) among its tests: started before
    the first, stopped after the last; each test resets what it changed."""

    emulator: Emulator

    @classmethod
    def setUpClass(cls) -> None:
        cls.emulator = Emulator()

    @classmethod
    def tearDownClass(cls) -> None:
        cls.emulator.stop()
