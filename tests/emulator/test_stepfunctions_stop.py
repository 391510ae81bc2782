"""Patch 48 through AWS's API: an execution stopped while its task's invocation is under way
ends ABORTED, even when that invocation then fails and the state has a Retry.

The Lambda bridge is a stand-in HTTP server here: it answers each invocation after a pause,
as a crashed function (Runtime.ExitError), the way the fault campaign's seed 8 saw it.

Run: .venv/bin/python -m unittest discover -s tests/emulator -p 'test_*.py'
"""

from __future__ import annotations

import json
import threading
import time
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from rotatetoken.testing import Emulator

PAUSE = 1.5  # seconds each invocation takes before it fails


class CrashingFunction(BaseHTTPRequestHandler):
    calls = 0

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        type(self).calls += 1
        time.sleep(PAUSE)
        body = json.dumps({"errorType": "Runtime.ExitError",
                           "errorMessage": "RequestId: x Error: Runtime exited with error: signal: killed"}).encode()
        self.send_response(500)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


DEFINITION = {
    "StartAt": "Work",
    "States": {"Work": {
        "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": "crashing", "Payload.$": "$"},
        "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "MaxAttempts": 3, "BackoffRate": 1}],
        "End": True,
    }},
}


class StopWins(unittest.TestCase):
    def test_a_run_stopped_during_a_failing_invocation_ends_aborted_and_is_not_retried(self) -> None:
        bridge = ThreadingHTTPServer(("127.0.0.1", 0), CrashingFunction)
        threading.Thread(target=bridge.serve_forever, daemon=True).start()
        emulator = Emulator(lambda_bridge=f"http://127.0.0.1:{bridge.server_address[1]}")
        try:
            iam, lam, sfn = (emulator.client(s) for s in ("iam", "lambda", "stepfunctions"))
            role = iam.create_role(RoleName="r", AssumeRolePolicyDocument=json.dumps({
                "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                        "Principal": {"Service": "states.amazonaws.com"}}]}))["Role"]["Arn"]
            lam.create_function(FunctionName="crashing", Runtime="provided.al2023", Handler="bootstrap", Role=role,
                                Timeout=30, Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18})
            machine = sfn.create_state_machine(name="m", definition=json.dumps(DEFINITION), roleArn=role)["stateMachineArn"]
            execution = sfn.start_execution(stateMachineArn=machine, input="{}")["executionArn"]
            deadline = time.time() + 10
            while CrashingFunction.calls == 0 and time.time() < deadline:
                time.sleep(0.05)
            self.assertEqual(CrashingFunction.calls, 1, "the first invocation began")
            sfn.stop_execution(executionArn=execution, error="Operator", cause="stopped mid-invocation")
            deadline = time.time() + PAUSE + 10
            while True:
                status = sfn.describe_execution(executionArn=execution)["status"]
                if status != "RUNNING" or time.time() > deadline:
                    break
                time.sleep(0.1)
            time.sleep(PAUSE + 1.5)  # room for a retry that must not come
            self.assertEqual(sfn.describe_execution(executionArn=execution)["status"], "ABORTED")
            self.assertEqual(CrashingFunction.calls, 1, "a stopped execution retries nothing")
        finally:
            emulator.stop()
            bridge.shutdown()
            bridge.server_close()


if __name__ == "__main__":
    unittest.main()
