"""Patches 48 and 52 through AWS's API: an execution stopped while its task's invocation is
under way ends ABORTED, even when that invocation then fails and the state has a Retry; one
stopped during a Retry's wait ends then; `retry_interval_scale` shortens the waits, never
the attempts.

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
    pause = PAUSE

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        type(self).calls += 1
        time.sleep(self.pause)
        body = json.dumps({"errorType": "Runtime.ExitError",
                           "errorMessage": "RequestId: x Error: Runtime exited with error: signal: killed"}).encode()
        self.send_response(500)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class FailingAtOnce(CrashingFunction):
    calls = 0
    pause = 0.0


class DroppedByTheHost(BaseHTTPRequestHandler):
    """A Lambda host whose environment dies mid-invocation: the connection closes unanswered."""
    calls = 0

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        type(self).calls += 1
        self.close_connection = True
        self.connection.shutdown(2)

    def log_message(self, *args: object) -> None:
        pass


def definition(interval: int, attempts: int) -> dict:
    return {
        "StartAt": "Work",
        "States": {"Work": {
            "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": "crashing", "Payload.$": "$"},
            "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": interval, "MaxAttempts": attempts,
                       "BackoffRate": 1}],
            "End": True,
        }},
    }


DEFINITION = definition(1, 3)


def machine_over(emulator: Emulator, definition: dict) -> tuple:
    """The Step Functions client, and a state machine calling the function `crashing`."""
    iam, lam, sfn = (emulator.client(s) for s in ("iam", "lambda", "stepfunctions"))
    role = iam.create_role(RoleName="r", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Principal": {"Service": "states.amazonaws.com"}}]}))["Role"]["Arn"]
    lam.create_function(FunctionName="crashing", Runtime="provided.al2023", Handler="bootstrap", Role=role,
                        Timeout=30, Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18})
    return sfn, sfn.create_state_machine(name="m", definition=json.dumps(definition), roleArn=role)["stateMachineArn"]


def ended(sfn: object, execution: str, within: float) -> tuple[str, float]:
    """The execution's status once it is no longer RUNNING (or at the deadline), and when."""
    start = time.time()
    while True:
        status = sfn.describe_execution(executionArn=execution)["status"]  # type: ignore[attr-defined]
        if status != "RUNNING" or time.time() - start > within:
            return status, time.time() - start
        time.sleep(0.05)


class StopWins(unittest.TestCase):
    def test_a_run_stopped_during_a_failing_invocation_ends_aborted_and_is_not_retried(self) -> None:
        bridge = ThreadingHTTPServer(("127.0.0.1", 0), CrashingFunction)
        threading.Thread(target=bridge.serve_forever, daemon=True).start()
        emulator = Emulator(lambda_bridge=f"http://127.0.0.1:{bridge.server_address[1]}")
        try:
            sfn, machine = machine_over(emulator, DEFINITION)
            execution = sfn.start_execution(stateMachineArn=machine, input="{}")["executionArn"]
            deadline = time.time() + 10
            while CrashingFunction.calls == 0 and time.time() < deadline:
                time.sleep(0.05)
            self.assertEqual(CrashingFunction.calls, 1, "the first invocation began")
            sfn.stop_execution(executionArn=execution, error="Operator", cause="stopped mid-invocation")
            ended(sfn, execution, within=PAUSE + 10)
            time.sleep(PAUSE + 1.5)  # room for a retry that must not come
            self.assertEqual(sfn.describe_execution(executionArn=execution)["status"], "ABORTED")
            self.assertEqual(CrashingFunction.calls, 1, "a stopped execution retries nothing")
        finally:
            emulator.stop()
            bridge.shutdown()
            bridge.server_close()


class RetryWaits(unittest.TestCase):
    def setUp(self) -> None:
        FailingAtOnce.calls = 0
        self.bridge = ThreadingHTTPServer(("127.0.0.1", 0), FailingAtOnce)
        threading.Thread(target=self.bridge.serve_forever, daemon=True).start()
        self.emulator = Emulator(lambda_bridge=f"http://127.0.0.1:{self.bridge.server_address[1]}")

    def tearDown(self) -> None:
        self.emulator.stop()
        self.bridge.shutdown()
        self.bridge.server_close()

    def test_a_run_stopped_during_a_retry_wait_ends_aborted_at_once(self) -> None:
        sfn, machine = machine_over(self.emulator, definition(60, 2))
        execution = sfn.start_execution(stateMachineArn=machine, input="{}")["executionArn"]
        deadline = time.time() + 10
        while FailingAtOnce.calls == 0 and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # the first attempt failed: the 60-second wait is under way
        sfn.stop_execution(executionArn=execution, error="Operator", cause="stopped during a retry wait")
        status, took = ended(sfn, execution, within=10)
        self.assertEqual(status, "ABORTED")
        self.assertLess(took, 5, "the stop ends the wait, not the wait's end")
        time.sleep(1)
        self.assertEqual(FailingAtOnce.calls, 1, "a stopped execution retries nothing")

    def test_a_scaled_retry_interval_shortens_the_waits_and_keeps_every_attempt(self) -> None:
        status, _ = self.emulator.post("/moto-api/rotatetoken/config", {"retry_interval_scale": 0.05})
        self.assertEqual(status, 200)
        sfn, machine = machine_over(self.emulator, definition(20, 2))
        execution = sfn.start_execution(stateMachineArn=machine, input="{}")["executionArn"]
        status, took = ended(sfn, execution, within=30)
        self.assertEqual(status, "FAILED")
        self.assertEqual(FailingAtOnce.calls, 3, "the first attempt and both retries")
        self.assertLess(took, 10, "two 20-second waits at 0.05 take about 2 seconds, not 40")


class WaitStateScale(unittest.TestCase):
    def test_a_scaled_wait_state_takes_that_many_times_its_seconds_and_a_stop_still_ends_it(self) -> None:
        emulator = Emulator()
        try:
            status, _ = emulator.post("/moto-api/rotatetoken/config", {"wait_state_scale": 3})
            self.assertEqual(status, 200)
            iam, sfn = emulator.client("iam"), emulator.client("stepfunctions")
            role = iam.create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
            waiting = {"StartAt": "W", "States": {"W": {"Type": "Wait", "SecondsPath": "$.s", "End": True}}}
            machine = sfn.create_state_machine(name="w", definition=json.dumps(waiting), roleArn=role)["stateMachineArn"]
            execution = sfn.start_execution(stateMachineArn=machine, input='{"s": 1}')["executionArn"]
            status, took = ended(sfn, execution, within=20)
            self.assertEqual(status, "SUCCEEDED")
            self.assertGreater(took, 2.5, "one second, three times over")
            execution = sfn.start_execution(stateMachineArn=machine, input='{"s": 60}')["executionArn"]
            time.sleep(0.5)
            sfn.stop_execution(executionArn=execution)
            status, took = ended(sfn, execution, within=10)
            self.assertEqual(status, "ABORTED")
            self.assertLess(took, 5)
        finally:
            emulator.stop()


class TaskTimeoutScale(unittest.TestCase):
    def test_a_scaled_task_time_out_comes_that_many_times_later_and_closes_its_token(self) -> None:
        emulator = Emulator()
        try:
            status, _ = emulator.post("/moto-api/rotatetoken/config", {"wait_state_scale": 3})
            self.assertEqual(status, 200)
            # A callback task whose token nobody sends back: it ends only by its time-out,
            # caught, and the execution goes on (a Wait) as the product's steps do.
            queue = emulator.client("sqs").create_queue(QueueName="nobody")["QueueUrl"]
            waiting = {"StartAt": "T", "States": {
                "T": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                      "Parameters": {"QueueUrl": queue, "MessageBody": {"token.$": "$$.Task.Token"}},
                      "TimeoutSecondsPath": "$.s", "Catch": [{"ErrorEquals": ["States.Timeout"], "Next": "After"}],
                      "End": True},
                "After": {"Type": "Wait", "Seconds": 20, "End": True}}}
            sfn, machine = machine_over(emulator, waiting)
            start = time.time()
            execution = sfn.start_execution(stateMachineArn=machine, input='{"s": 1}')["executionArn"]
            timed_out = None
            while timed_out is None and time.time() - start < 20:
                events = sfn.get_execution_history(executionArn=execution)["events"]
                timed_out = next((e for e in events if e["type"] == "TaskTimedOut"), None)
                time.sleep(0.05)
            self.assertIsNotNone(timed_out, "the task times out")
            self.assertGreater(time.time() - start, 2.5, "one second, three times over")
            # Its token is closed while the execution goes on: a late SendTaskSuccess is
            # told so, as AWS tells it (moto answered 200).
            body = json.loads(emulator.client("sqs").receive_message(QueueUrl=queue)["Messages"][0]["Body"])
            with self.assertRaises(sfn.exceptions.TaskTimedOut):
                sfn.send_task_success(taskToken=body["token"], output="{}")
            sfn.stop_execution(executionArn=execution)
        finally:
            emulator.stop()


class DroppedInvocations(unittest.TestCase):
    def test_an_invocation_the_host_drops_is_a_runtime_exit_error_that_a_retry_names(self) -> None:
        bridge = ThreadingHTTPServer(("127.0.0.1", 0), DroppedByTheHost)
        threading.Thread(target=bridge.serve_forever, daemon=True).start()
        emulator = Emulator(lambda_bridge=f"http://127.0.0.1:{bridge.server_address[1]}")
        try:
            only_exit_errors = definition(1, 1)
            only_exit_errors["States"]["Work"]["Retry"][0]["ErrorEquals"] = ["Runtime.ExitError"]
            sfn, machine = machine_over(emulator, only_exit_errors)
            execution = sfn.start_execution(stateMachineArn=machine, input="{}")["executionArn"]
            status, _ = ended(sfn, execution, within=20)
            self.assertEqual(status, "FAILED")
            self.assertEqual(DroppedByTheHost.calls, 2, "retried once, as Runtime.ExitError")
            failed = [e for e in sfn.get_execution_history(executionArn=execution)["events"]
                      if e["type"] == "ExecutionFailed"]
            self.assertEqual(failed[0]["executionFailedEventDetails"]["error"], "Runtime.ExitError")
        finally:
            emulator.stop()
            bridge.shutdown()
            bridge.server_close()


if __name__ == "__main__":
    unittest.main()
