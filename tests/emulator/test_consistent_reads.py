"""Patch 53 through AWS's API: DescribeStacks never shows an update finished with the
parameters from before it (moto set UPDATE_COMPLETE before the new parameters; the fault
campaign saw a refresh take its own `false` for `true` in that gap).

Run: .venv/bin/python -m unittest discover -s tests/emulator -p 'test_*.py'
"""

from __future__ import annotations

import threading
import time

from rotatetoken.testing import EmulatorTestCase

TEMPLATE = """
Parameters:
  RotateToken: {Type: String, Default: "true", AllowedValues: ["true", "false"]}
Conditions:
  On: !Equals [!Ref RotateToken, "true"]
Resources:
  Kept: {Type: AWS::SSM::Parameter, Properties: {Type: String, Value: kept}}
  Guarded: {Type: AWS::SSM::Parameter, Condition: On, Properties: {Type: String, Value: guarded}}
"""
SECONDS = 8


class ConsistentReads(EmulatorTestCase):
    def test_no_read_shows_a_finished_update_with_the_parameters_from_before_it(self) -> None:
        cfn = self.emulator.client("cloudformation")
        # Every status change goes to EventBridge (patch 49) and on to a queue: the time the
        # update spends between its status and its parameters, where moto read half of it.
        sqs, events = self.emulator.client("sqs"), self.emulator.client("events")
        queue = sqs.create_queue(QueueName="status")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name="status", EventPattern='{"source": ["aws.cloudformation"]}')
        events.put_targets(Rule="status", Targets=[{"Id": "q", "Arn": arn}])
        cfn.create_stack(StackName="app", TemplateBody=TEMPLATE)
        # (when UpdateStack was sent, when it answered, the value it set)
        accepted: list[tuple[float, float, str]] = []
        reads: list[tuple[float, float, str, str]] = []
        stop = time.time() + SECONDS

        def read() -> None:
            client = self.emulator.client("cloudformation")
            while time.time() < stop:
                began = time.time()
                stack = client.describe_stacks(StackName="app")["Stacks"][0]
                value = {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}["RotateToken"]
                reads.append((began, time.time(), stack["StackStatus"], value))

        readers = [threading.Thread(target=read) for _ in range(3)]
        for r in readers:
            r.start()
        # Each update applies a moment after it is accepted, on a thread of its own, as
        # CloudFormation's run beside the API's answers; the next is sent once it is done.
        status, _ = self.emulator.post("/moto-api/rotatetoken/config", {"update_delay_seconds": 0.02})
        self.assertEqual(status, 200)
        value = "false"
        while time.time() < stop:
            sent = time.time()
            cfn.update_stack(StackName="app", UsePreviousTemplate=True,
                             Parameters=[{"ParameterKey": "RotateToken", "ParameterValue": value}])
            accepted.append((sent, time.time(), value))
            while cfn.describe_stacks(StackName="app")["Stacks"][0]["StackStatus"].endswith("IN_PROGRESS"):
                pass
            value = "true" if value == "false" else "false"
        for r in readers:
            r.join()
        torn = []
        for began, ended, status, seen in reads:
            # A read made wholly after one update was accepted and before the next was
            # sent that finds it finished shows that update's value.
            before = [a for a in accepted if a[1] <= began]
            after = [a for a in accepted if a[1] > began]
            if before and status == "UPDATE_COMPLETE" and (not after or ended < after[0][0]) \
                    and seen != before[-1][2]:
                torn.append((status, seen, before[-1][2]))
        self.assertGreater(len(accepted), 20, "enough updates to race with")
        self.assertEqual(torn, [], f"{len(torn)} of {len(reads)} reads showed an update finished with the old value")
