"""Patch 56 (rotatetoken/cloudformation/change_sets.py): an UPDATE change set takes time
to create, as on AWS; checked through AWS's API with boto3.

Run: .venv/bin/python -m unittest discover -s tests/emulator -p 'test_*.py'
"""

from __future__ import annotations

import time
import unittest

from rotatetoken.state import CONTROL
from rotatetoken.testing import EmulatorTestCase

TEMPLATE = """
Parameters:
  RotateToken:
    Type: String
    Default: "true"
    AllowedValues: ["true", "false"]
Conditions:
  RotateToken: !Equals [!Ref RotateToken, "true"]
Resources:
  Guarded:
    Type: AWS::SSM::Parameter
    Condition: RotateToken
    Properties:
      Type: String
      Value: guarded
"""


class ChangeSetCreationTime(EmulatorTestCase):
    def setUp(self) -> None:
        self.emulator.reset()
        self.cfn = self.emulator.client("cloudformation")
        self.cfn.create_stack(StackName="app", TemplateBody=TEMPLATE)
        for _ in range(100):
            if not self.cfn.describe_stacks(StackName="app")["Stacks"][0]["StackStatus"].endswith("_IN_PROGRESS"):
                break
            time.sleep(0.05)

    def tearDown(self) -> None:
        self.emulator.post("/moto-api/rotatetoken/config", {"change_set_seconds": CONTROL["change_set_seconds"]})

    def preview(self, token: str) -> str:
        return self.cfn.create_change_set(
            StackName="app", ChangeSetName=f"preview-{token}", ChangeSetType="UPDATE", UsePreviousTemplate=True,
            Parameters=[{"ParameterKey": "RotateToken", "ParameterValue": token}],
        )["Id"]

    def test_a_change_set_is_in_progress_without_changes_until_its_time_has_passed(self) -> None:
        # 3 s: the first look comes well within it even while cargo builds beside this suite.
        self.emulator.post("/moto-api/rotatetoken/config", {"change_set_seconds": 3.0})
        cs = self.preview("false")
        early = self.cfn.describe_change_set(ChangeSetName=cs)
        self.assertEqual((early["Status"], early["ExecutionStatus"]), ("CREATE_IN_PROGRESS", "UNAVAILABLE"))
        self.assertEqual(early.get("Changes", []), [])
        time.sleep(3.1)
        done = self.cfn.describe_change_set(ChangeSetName=cs)
        self.assertEqual((done["Status"], done["ExecutionStatus"]), ("CREATE_COMPLETE", "AVAILABLE"))
        self.assertEqual([c["ResourceChange"]["Action"] for c in done["Changes"]], ["Remove"])

    def test_a_change_set_being_created_cannot_be_deleted_or_executed(self) -> None:
        self.emulator.post("/moto-api/rotatetoken/config", {"change_set_seconds": 1.0})
        cs = self.preview("false")
        for call in (lambda: self.cfn.delete_change_set(ChangeSetName=cs),
                     lambda: self.cfn.execute_change_set(ChangeSetName=cs)):
            with self.assertRaises(self.cfn.exceptions.ClientError) as refused:
                call()
            self.assertEqual(refused.exception.response["Error"]["Code"], "InvalidChangeSetStatus")
            self.assertEqual(refused.exception.response["ResponseMetadata"]["HTTPStatusCode"], 400)
        time.sleep(1.1)
        self.cfn.delete_change_set(ChangeSetName=cs)

    def test_a_change_set_that_changes_nothing_fails_only_once_it_is_created(self) -> None:
        self.emulator.post("/moto-api/rotatetoken/config", {"change_set_seconds": 1.0})
        cs = self.preview("true")
        self.assertEqual(self.cfn.describe_change_set(ChangeSetName=cs)["Status"], "CREATE_IN_PROGRESS")
        listed = self.cfn.list_change_sets(StackName="app")["Summaries"]
        self.assertEqual([s["Status"] for s in listed], ["CREATE_IN_PROGRESS"])
        time.sleep(1.1)
        out = self.cfn.describe_change_set(ChangeSetName=cs)
        self.assertEqual((out["Status"], out["ExecutionStatus"]), ("FAILED", "UNAVAILABLE"))
        self.assertIn("didn't contain changes", out["StatusReason"])
        self.cfn.delete_change_set(ChangeSetName=cs)


if __name__ == "__main__":
    unittest.main()
