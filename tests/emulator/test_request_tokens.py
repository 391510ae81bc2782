"""Patch 41: ClientRequestToken as CloudFormation keeps it, through AWS's API (boto3).

Run: .venv/bin/python -m unittest discover -s tests/emulator -p 'test_*.py'
"""

from __future__ import annotations

import time
import unittest

import botocore.exceptions

from rotatetoken.testing import EmulatorTestCase

TEMPLATE = """
Parameters:
  RotateToken: {Type: String, Default: "true", AllowedValues: ["true", "false"]}
Conditions:
  On: !Equals [!Ref RotateToken, "true"]
Resources:
  Reader: {Type: AWS::SSM::Parameter, Condition: On, Properties: {Type: String, Value: v}}
"""


class RequestTokens(EmulatorTestCase):
    def setUp(self) -> None:
        self.emulator.reset()
        self.cfn = self.emulator.client("cloudformation")

    def settle(self, stack: str) -> str:
        for _ in range(100):
            status = self.cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"]
            if not status.endswith("_IN_PROGRESS"):
                return status
            time.sleep(0.05)
        self.fail(f"{stack} still in progress")

    def update(self, stack: str, value: str, token: str | None) -> None:
        kwargs = {"ClientRequestToken": token} if token else {}
        self.cfn.update_stack(StackName=stack, UsePreviousTemplate=True,
                              Parameters=[{"ParameterKey": "RotateToken", "ParameterValue": value}], **kwargs)

    def events_of(self, stack: str, token: str | None) -> list[dict]:
        events = self.cfn.describe_stack_events(StackName=stack)["StackEvents"]
        return [e for e in events if e.get("ClientRequestToken") == token]

    def test_every_event_of_an_operation_carries_its_token_and_only_its(self) -> None:
        self.cfn.create_stack(StackName="app", TemplateBody=TEMPLATE, ClientRequestToken="create-1")
        self.settle("app")
        self.update("app", "false", "rt-false-1")
        self.settle("app")
        ours = self.events_of("app", "rt-false-1")
        statuses = [e["ResourceStatus"] for e in ours if e["ResourceType"] == "AWS::CloudFormation::Stack"]
        self.assertIn("UPDATE_IN_PROGRESS", statuses)
        self.assertIn("UPDATE_COMPLETE", statuses)
        self.assertTrue(self.events_of("app", "create-1"), "the create's events keep the create's token")
        # Someone else's update, without a token: its events carry none.
        self.update("app", "true", None)
        self.settle("app")
        newest = self.cfn.describe_stack_events(StackName="app")["StackEvents"][0]
        self.assertIsNone(newest.get("ClientRequestToken"), newest)

    def test_an_update_that_rolled_back_ends_so_in_its_own_events_after_others_ran(self) -> None:
        # A failed update's last stack event is UPDATE_ROLLBACK_COMPLETE with its token, as
        # on AWS: a caller reads how its own update ended once other operations have run.
        self.cfn.create_stack(StackName="app", TemplateBody=TEMPLATE)
        self.settle("app")
        self.update("app", "false", "rt-false-1")
        self.settle("app")
        self.emulator.post("/moto-api/rotatetoken/config", {"fail_create": {"app": ["Reader"]}})
        self.update("app", "true", "rt-true-1")
        self.assertEqual(self.settle("app"), "UPDATE_ROLLBACK_COMPLETE")
        self.emulator.post("/moto-api/rotatetoken/config", {"fail_create": {}})
        self.update("app", "true", "rt-true-2")
        self.assertEqual(self.settle("app"), "UPDATE_COMPLETE")

        def stack_statuses(token: str) -> list[str]:
            return [e["ResourceStatus"] for e in self.events_of("app", token)
                    if e["ResourceType"] == "AWS::CloudFormation::Stack"]

        failed = stack_statuses("rt-true-1")
        self.assertEqual(failed[0], "UPDATE_ROLLBACK_COMPLETE", failed)
        self.assertIn("UPDATE_ROLLBACK_IN_PROGRESS", failed)
        # The resource that failed has its own event, with its reason, older than the
        # stack's rollback (newest first), as DescribeStackEvents lists them on AWS.
        own = self.events_of("app", "rt-true-1")
        kinds = [(e["LogicalResourceId"], e["ResourceStatus"]) for e in own]
        self.assertIn(("Reader", "CREATE_FAILED"), kinds)
        self.assertLess(kinds.index(("app", "UPDATE_ROLLBACK_IN_PROGRESS")), kinds.index(("Reader", "CREATE_FAILED")), kinds)
        reader = next(e for e in own if e["LogicalResourceId"] == "Reader")
        self.assertTrue(reader.get("ResourceStatusReason"), reader)
        self.assertEqual(reader["ResourceType"], "AWS::SSM::Parameter", reader)
        self.assertEqual(stack_statuses("rt-false-1")[0], "UPDATE_COMPLETE")
        self.assertEqual(stack_statuses("rt-true-2")[0], "UPDATE_COMPLETE")

    def test_a_token_used_before_on_the_stack_is_refused(self) -> None:
        self.cfn.create_stack(StackName="app", TemplateBody=TEMPLATE)
        self.settle("app")
        self.update("app", "false", "rt-false-1")
        self.settle("app")
        with self.assertRaises(botocore.exceptions.ClientError) as refused:
            self.update("app", "true", "rt-false-1")
        self.assertEqual(refused.exception.response["Error"]["Code"], "TokenAlreadyExistsException")
        self.assertEqual(self.cfn.describe_stacks(StackName="app")["Stacks"][0]["StackStatus"], "UPDATE_COMPLETE")

    def test_a_malformed_token_is_refused_and_changes_nothing(self) -> None:
        self.cfn.create_stack(StackName="app", TemplateBody=TEMPLATE)
        self.settle("app")
        for bad in ("_starts-badly", "has space", "x" * 129):
            with self.assertRaises(botocore.exceptions.ClientError) as refused:
                self.update("app", "false", bad)
            self.assertEqual(refused.exception.response["Error"]["Code"], "ValidationError")
        stack = self.cfn.describe_stacks(StackName="app")["Stacks"][0]
        self.assertEqual(stack["StackStatus"], "CREATE_COMPLETE")

    def test_a_refused_request_does_not_relabel_the_running_operation(self) -> None:
        self.emulator.post("/moto-api/rotatetoken/config", {"update_delay_seconds": 0.5})
        self.cfn.create_stack(StackName="app", TemplateBody=TEMPLATE)
        self.settle("app")
        self.update("app", "false", "rt-false-1")
        with self.assertRaises(botocore.exceptions.ClientError):
            self.update("app", "true", "someone-else")  # busy: refused
        self.settle("app")
        completed = [e for e in self.events_of("app", "rt-false-1") if e["ResourceStatus"] == "UPDATE_COMPLETE"]
        self.assertTrue(completed, "the running update's end carries its own token")


if __name__ == "__main__":
    unittest.main()
