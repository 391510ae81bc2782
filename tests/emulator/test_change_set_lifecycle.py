"""Patch 60 (rotatetoken/cloudformation/change_set_lifecycle.py): a change set is made
OBSOLETE when its stack's update begins, the others are deleted when one is executed, and
a stack has one change set by a name; checked through AWS's API with boto3.

Run: .venv/bin/python -m unittest discover -s tests/emulator -p 'test_*.py'
"""

from __future__ import annotations

import threading
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

CHILD = """
Parameters:
  RotateToken:
    Type: String
Conditions:
  RotateToken: !Equals [!Ref RotateToken, "true"]
Resources:
  ChildGuarded:
    Type: AWS::SSM::Parameter
    Condition: RotateToken
    Properties:
      Type: String
      Value: child
"""

PARENT = """
Parameters:
  RotateToken:
    Type: String
    Default: "true"
Resources:
  Child:
    Type: AWS::CloudFormation::Stack
    Properties:
      TemplateURL: https://s3.amazonaws.com/templates/child.yaml
      Parameters:
        RotateToken: !Ref RotateToken
"""


class ChangeSetLifecycle(EmulatorTestCase):
    def setUp(self) -> None:
        self.emulator.reset()
        self.cfn = self.emulator.client("cloudformation")
        self.cfn.create_stack(StackName="app", TemplateBody=TEMPLATE)
        self.settled("app")

    def tearDown(self) -> None:
        self.emulator.post("/moto-api/rotatetoken/config", {"change_set_seconds": CONTROL["change_set_seconds"]})

    def settled(self, stack: str) -> dict:
        for _ in range(200):
            s = self.cfn.describe_stacks(StackName=stack)["Stacks"][0]
            if not s["StackStatus"].endswith("_IN_PROGRESS"):
                return s
            time.sleep(0.05)
        self.fail(f"{stack} still {s['StackStatus']}")

    def preview(self, name: str, token: str = "false", stack: str = "app", **extra: object) -> str:
        return self.cfn.create_change_set(
            StackName=stack, ChangeSetName=name, ChangeSetType="UPDATE", UsePreviousTemplate=True,
            Parameters=[{"ParameterKey": "RotateToken", "ParameterValue": token}], **extra,
        )["Id"]

    def created(self, cs: str) -> dict:
        """The change set once created (patch 56), looked at as deploy tools wait."""
        for _ in range(200):
            out = self.cfn.describe_change_set(ChangeSetName=cs)
            if out["Status"] not in ("CREATE_PENDING", "CREATE_IN_PROGRESS"):
                return out
            time.sleep(0.05)
        self.fail(f"change set {cs} still being created")

    def update(self, stack: str = "app", token: str = "false") -> None:
        self.cfn.update_stack(StackName=stack, UsePreviousTemplate=True,
                              Parameters=[{"ParameterKey": "RotateToken", "ParameterValue": token}])

    def refused(self, call: object) -> dict:
        with self.assertRaises(self.cfn.exceptions.ClientError) as refused:
            call()  # type: ignore[operator]
        return refused.exception.response

    # (a) OBSOLETE

    def test_an_update_of_the_stack_makes_its_change_set_obsolete_and_unexecutable(self) -> None:
        cs = self.preview("preview")
        self.assertEqual(self.created(cs)["ExecutionStatus"], "AVAILABLE")
        self.update()
        self.assertEqual(self.settled("app")["StackStatus"], "UPDATE_COMPLETE")
        out = self.cfn.describe_change_set(ChangeSetName=cs)
        self.assertEqual((out["Status"], out["ExecutionStatus"]), ("CREATE_COMPLETE", "OBSOLETE"))
        self.assertEqual([c["ResourceChange"]["Action"] for c in out["Changes"]], ["Remove"], "its Changes stay")
        listed = self.cfn.list_change_sets(StackName="app")["Summaries"]
        self.assertEqual([(s["ChangeSetName"], s["ExecutionStatus"]) for s in listed], [("preview", "OBSOLETE")])
        answer = self.refused(lambda: self.cfn.execute_change_set(ChangeSetName=cs))
        self.assertEqual(answer["Error"]["Code"], "InvalidChangeSetStatus")
        self.assertEqual(answer["ResponseMetadata"]["HTTPStatusCode"], 400)
        self.assertEqual(self.cfn.describe_stacks(StackName="app")["Stacks"][0]["StackStatus"], "UPDATE_COMPLETE",
                         "nothing executed")
        self.cfn.delete_change_set(ChangeSetName=cs)  # an OBSOLETE change set may be deleted
        self.assertEqual(self.cfn.list_change_sets(StackName="app")["Summaries"], [])

    def test_a_change_set_still_being_created_when_the_update_begins_ends_obsolete(self) -> None:
        self.emulator.post("/moto-api/rotatetoken/config", {"change_set_seconds": 1.0})
        cs = self.preview("preview")
        self.assertEqual(self.cfn.describe_change_set(ChangeSetName=cs)["Status"], "CREATE_IN_PROGRESS")
        self.update()
        out = self.created(cs)
        self.assertEqual((out["Status"], out["ExecutionStatus"]), ("CREATE_COMPLETE", "OBSOLETE"))
        answer = self.refused(lambda: self.cfn.execute_change_set(ChangeSetName=cs))
        self.assertEqual(answer["Error"]["Code"], "InvalidChangeSetStatus")

    def test_a_failed_change_set_stays_failed_when_the_stack_is_updated(self) -> None:
        cs = self.preview("nothing", token="true")  # the stack's own value: changes nothing
        self.assertEqual(self.created(cs)["Status"], "FAILED")
        self.update()
        out = self.cfn.describe_change_set(ChangeSetName=cs)
        self.assertEqual((out["Status"], out["ExecutionStatus"]), ("FAILED", "UNAVAILABLE"))

    # (b) a change set made after the update

    def test_a_change_set_created_after_the_update_is_available_and_executes(self) -> None:
        old = self.preview("before")
        self.created(old)
        self.update()
        self.settled("app")
        new = self.preview("after", token="true")
        out = self.created(new)
        self.assertEqual((out["Status"], out["ExecutionStatus"]), ("CREATE_COMPLETE", "AVAILABLE"))
        self.assertEqual([c["ResourceChange"]["Action"] for c in out["Changes"]], ["Add"], "against the updated stack")
        self.cfn.execute_change_set(ChangeSetName=new)
        self.assertEqual(self.settled("app")["StackStatus"], "UPDATE_COMPLETE")

    # (c) one change set per name

    def test_a_second_change_set_of_one_name_is_refused(self) -> None:
        first = self.preview("preview")
        answer = self.refused(lambda: self.preview("preview"))
        self.assertEqual(answer["Error"]["Code"], "AlreadyExistsException")
        self.assertEqual(answer["ResponseMetadata"]["HTTPStatusCode"], 400)
        self.assertEqual(answer["Error"]["Message"],
                         "ChangeSet preview cannot be created due to a mismatch with existing attribute ClientToken")
        other = self.refused(lambda: self.preview("preview", token="true"))
        self.assertIn("existing attribute Parameters", other["Error"]["Message"])
        body = self.refused(lambda: self.cfn.create_change_set(
            StackName="app", ChangeSetName="preview", ChangeSetType="UPDATE", TemplateBody=TEMPLATE + "\n"))
        self.assertIn("existing attribute Template", body["Error"]["Message"])
        listed = self.cfn.list_change_sets(StackName="app")["Summaries"]
        self.assertEqual([s["ChangeSetId"] for s in listed], [first], "the first is left as it was")
        self.created(first)
        self.cfn.delete_change_set(ChangeSetName=first)
        self.preview("preview")  # the name is free once its change set is deleted

    def test_of_calls_racing_for_one_name_one_makes_the_change_set(self) -> None:
        clients = [self.emulator.client("cloudformation") for _ in range(6)]
        outcomes: list[str] = []

        def create(cfn: object) -> None:
            try:
                outcomes.append(cfn.create_change_set(  # type: ignore[attr-defined]
                    StackName="app", ChangeSetName="preview", ChangeSetType="UPDATE", UsePreviousTemplate=True,
                    Parameters=[{"ParameterKey": "RotateToken", "ParameterValue": "false"}])["Id"])
            except self.cfn.exceptions.ClientError as err:
                outcomes.append(err.response["Error"]["Code"])

        threads = [threading.Thread(target=create, args=(c,)) for c in clients]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        made = [o for o in outcomes if o.startswith("arn:")]
        self.assertEqual(len(made), 1, outcomes)
        self.assertEqual(sorted(set(outcomes) - set(made)), ["AlreadyExistsException"])
        self.assertEqual([s["ChangeSetId"] for s in self.cfn.list_change_sets(StackName="app")["Summaries"]], made)

    def test_the_same_request_repeated_with_its_client_token_is_answered_with_the_same_change_set(self) -> None:
        first = self.preview("preview", ClientToken="preview-1")
        self.assertEqual(self.preview("preview", ClientToken="preview-1"), first)
        answer = self.refused(lambda: self.preview("preview", ClientToken="preview-2"))
        self.assertIn("existing attribute ClientToken", answer["Error"]["Message"])
        self.assertEqual(len(self.cfn.list_change_sets(StackName="app")["Summaries"]), 1)

    def test_a_name_is_free_again_once_its_change_set_was_executed(self) -> None:
        first = self.preview("deploy")
        self.created(first)
        self.cfn.execute_change_set(ChangeSetName=first)
        self.settled("app")
        second = self.preview("deploy", token="true")
        self.assertNotEqual(second, first)
        self.assertEqual(self.created(second)["ExecutionStatus"], "AVAILABLE")
        # Looked up by name, the name is the new change set's.
        self.assertEqual(self.cfn.describe_change_set(ChangeSetName="deploy")["ChangeSetId"], second)

    # (d) executing one deletes the others

    def test_executing_a_change_set_deletes_the_stacks_other_change_sets(self) -> None:
        self.emulator.post("/moto-api/rotatetoken/config", {"change_set_seconds": 0.2})
        keep = self.preview("keep")
        other = self.preview("other", token="true")
        self.created(keep)
        self.emulator.post("/moto-api/rotatetoken/config", {"change_set_seconds": 5.0})
        creating = self.preview("creating")  # still being created when the other executes
        self.cfn.execute_change_set(ChangeSetName=keep)
        self.assertEqual(self.settled("app")["StackStatus"], "UPDATE_COMPLETE")
        for gone in (other, creating):
            with self.subTest(gone):
                self.refused(lambda: self.cfn.describe_change_set(ChangeSetName=gone))
        listed = self.cfn.list_change_sets(StackName="app")["Summaries"]
        self.assertEqual([(s["ChangeSetId"], s["ExecutionStatus"]) for s in listed], [(keep, "EXECUTE_COMPLETE")])

    # nested stacks (patch 22)

    def nested_stack(self) -> str:
        s3 = self.emulator.client("s3")
        s3.create_bucket(Bucket="templates")
        s3.put_object(Bucket="templates", Key="child.yaml", Body=CHILD.encode())
        self.cfn.create_stack(StackName="platform", TemplateBody=PARENT)
        self.settled("platform")
        child = self.cfn.describe_stack_resource(StackName="platform", LogicalResourceId="Child")
        return child["StackResourceDetail"]["PhysicalResourceId"]

    def nested_of(self, root: str) -> str:
        change = self.created(root)["Changes"][0]["ResourceChange"]
        self.assertEqual(change["ResourceType"], "AWS::CloudFormation::Stack")
        return change["ChangeSetId"]

    def test_an_update_of_the_root_makes_the_nested_change_sets_obsolete_too(self) -> None:
        child = self.nested_stack()
        root = self.preview("preview", stack="platform", IncludeNestedStacks=True)
        nested = self.nested_of(root)
        own = self.preview("own", stack=child)  # the child stack's own change set
        self.created(own)
        self.update("platform")
        self.settled("platform")
        for cs in (root, nested, own):
            with self.subTest(cs):
                self.assertEqual(self.cfn.describe_change_set(ChangeSetName=cs)["ExecutionStatus"], "OBSOLETE")

    def test_an_executed_root_takes_its_nested_change_sets_with_it(self) -> None:
        child = self.nested_stack()
        root = self.preview("preview", stack="platform", IncludeNestedStacks=True)
        nested = self.nested_of(root)
        own = self.preview("own", stack=child)
        self.created(own)
        self.cfn.execute_change_set(ChangeSetName=root)
        self.settled("platform")
        self.assertEqual(self.cfn.describe_change_set(ChangeSetName=root)["ExecutionStatus"], "EXECUTE_COMPLETE")
        self.assertEqual(self.cfn.describe_change_set(ChangeSetName=nested)["ExecutionStatus"], "EXECUTE_COMPLETE",
                         "executed with its root, never obsolete")
        # Its nested change set executed on the child stack: the child's others are deleted.
        self.refused(lambda: self.cfn.describe_change_set(ChangeSetName=own))

    # What a reader of a change set made earlier (the refresh's next look) gets back.

    def test_a_change_set_that_does_not_exist_is_change_set_not_found_404(self) -> None:
        answer = self.refused(lambda: self.cfn.describe_change_set(StackName="app", ChangeSetName="never-made"))
        self.assertEqual(answer["Error"]["Code"], "ChangeSetNotFound")
        self.assertEqual(answer["ResponseMetadata"]["HTTPStatusCode"], 404)
        self.assertIn("never-made", answer["Error"]["Message"])
        cs = self.preview("made-then-deleted")
        self.created(cs)
        self.cfn.delete_change_set(ChangeSetName=cs)
        answer = self.refused(lambda: self.cfn.describe_change_set(StackName="app", ChangeSetName="made-then-deleted"))
        self.assertEqual(answer["Error"]["Code"], "ChangeSetNotFound")

    def test_a_change_set_says_which_parameters_it_was_made_with(self) -> None:
        out = self.created(self.preview("with-parameters"))
        self.assertEqual([p["ParameterKey"] for p in out.get("Parameters", [])], ["RotateToken"], out)
        # One kept with UsePreviousValue is listed too, with the stack's value.
        two = TEMPLATE.replace("Conditions:", "  Env:\n    Type: String\nConditions:", 1)
        self.cfn.create_stack(StackName="two", TemplateBody=two,
                              Parameters=[{"ParameterKey": "Env", "ParameterValue": "prod"}])
        self.settled("two")
        cs = self.cfn.create_change_set(
            StackName="two", ChangeSetName="kept", ChangeSetType="UPDATE", UsePreviousTemplate=True,
            Parameters=[{"ParameterKey": "RotateToken", "ParameterValue": "false"},
                        {"ParameterKey": "Env", "UsePreviousValue": True}],
        )["Id"]
        out = self.created(cs)
        self.assertEqual(sorted(p["ParameterKey"] for p in out.get("Parameters", [])), ["Env", "RotateToken"], out)


if __name__ == "__main__":
    unittest.main()
