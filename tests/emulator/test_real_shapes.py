"""The emulator's own behaviours for the stacks real tools deploy (patches 33-40,
rotatetoken/cloudformation/real_shapes.py), checked through AWS's API with boto3, as a
user's tool would call it. A 500 (botocore's unparsable response) fails a test: AWS
accepts these templates, or fails them cleanly.

Run: .venv/bin/python -m unittest discover -s tests/emulator -p 'test_*.py'
"""

from __future__ import annotations

import json
import os
import time
import unittest

from rotatetoken.testing import EmulatorTestCase

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "fixtures", "stacks")
BOOTSTRAP = "/cdk-bootstrap/hnb659fds/version"


def fixture(name: str) -> str:
    with open(os.path.join(FIXTURES, name)) as f:
        return f.read()


class RealShapes(EmulatorTestCase):
    def setUp(self) -> None:
        self.emulator.reset()
        self.cfn = self.emulator.client("cloudformation")
        self.sm = self.emulator.client("secretsmanager")
        self.ssm = self.emulator.client("ssm")
        self.sm.create_secret(Name="prod/db", SecretString=json.dumps({"username": "app", "password": "p1"}))
        self.ssm.put_parameter(Name=BOOTSTRAP, Value="21", Type="String")

    # helpers

    def settled(self, stack: str) -> dict:
        for _ in range(300):
            s = self.cfn.describe_stacks(StackName=stack)["Stacks"][0]
            if not s["StackStatus"].endswith("_IN_PROGRESS"):
                return s
            time.sleep(0.05)
        self.fail(f"{stack} still {s['StackStatus']}")

    def change_set(self, stack: str, kind: str, params: list, body: str | None = None, name: str = "cdk-deploy-change-set") -> dict:
        args = dict(StackName=stack, ChangeSetName=name, ChangeSetType=kind, Parameters=params,
                    Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"])
        if body is None:
            args["UsePreviousTemplate"] = True
        else:
            args["TemplateBody"] = body
        out = self.cfn.create_change_set(**args)
        # Created over seconds (patch 56), as on AWS: looked at until it is, as cdk waits.
        for _ in range(300):
            cs = self.cfn.describe_change_set(ChangeSetName=out["Id"])
            if cs["Status"] not in ("CREATE_PENDING", "CREATE_IN_PROGRESS"):
                return cs
            time.sleep(0.05)
        self.fail(f"change set {out['Id']} still being created")

    def cdk_deploy(self, stack: str, body: str) -> None:
        """`cdk deploy` (its default change-set method): a change set, executed; on a
        second deploy every parameter not overridden keeps its previous value."""
        try:
            self.cfn.describe_stacks(StackName=stack)
            kind, params = "UPDATE", [{"ParameterKey": "BootstrapVersion", "UsePreviousValue": True},
                                      {"ParameterKey": "RotateToken", "UsePreviousValue": True}]
        except self.cfn.exceptions.ClientError:
            kind, params = "CREATE", []
        cs = self.change_set(stack, kind, params, body)
        self.cfn.execute_change_set(ChangeSetName=cs["ChangeSetId"])
        self.assertTrue(self.settled(stack)["StackStatus"].endswith("_COMPLETE"))

    def params(self, stack: str) -> dict:
        return {p["ParameterKey"]: p for p in self.settled(stack)["Parameters"]}

    def events(self, stack: str) -> list[dict]:
        return self.cfn.describe_stack_events(StackName=stack)["StackEvents"]

    # (33) (34) (35)

    def test_a_cdk_stack_keeps_its_ssm_parameter_name_and_takes_updates_with_previous_values(self) -> None:
        body = fixture("cdk-default.template.json")
        self.cdk_deploy("Payments", body)
        p = self.params("Payments")["BootstrapVersion"]
        self.assertEqual((p["ParameterValue"], p["ResolvedValue"]), (BOOTSTRAP, "21"))
        self.cdk_deploy("Payments", body)  # a second deploy, as a team's CI does
        # The product's calls: a preview change set and an update, previous template and values.
        keep = [{"ParameterKey": "BootstrapVersion", "UsePreviousValue": True}]
        cs = self.change_set("Payments", "UPDATE", keep + [{"ParameterKey": "RotateToken", "ParameterValue": "false"}], name="rt-preview")
        actions = sorted((c["ResourceChange"]["LogicalResourceId"], c["ResourceChange"]["Action"]) for c in cs["Changes"])
        self.assertEqual(actions, [("ApiKeyParameterA1B2C3D4", "Remove")], "CDKMetadata is left alone")
        self.cfn.update_stack(StackName="Payments", UsePreviousTemplate=True, Capabilities=["CAPABILITY_IAM"],
                              Parameters=keep + [{"ParameterKey": "RotateToken", "ParameterValue": "false"}])
        self.assertEqual(self.settled("Payments")["StackStatus"], "UPDATE_COMPLETE")
        self.assertEqual(self.params("Payments")["BootstrapVersion"]["ParameterValue"], BOOTSTRAP)
        # Parameter Store moves on: the name is looked up again by the next update.
        self.ssm.put_parameter(Name=BOOTSTRAP, Value="22", Type="String", Overwrite=True)
        self.cfn.update_stack(StackName="Payments", UsePreviousTemplate=True, Capabilities=["CAPABILITY_IAM"],
                              Parameters=keep + [{"ParameterKey": "RotateToken", "ParameterValue": "true"}])
        self.assertEqual(self.params("Payments")["BootstrapVersion"]["ResolvedValue"], "22")
        logical = {r["LogicalResourceId"]: r for r in self.cfn.list_stack_resources(StackName="Payments")["StackResourceSummaries"]}
        self.assertIn("CDKMetadata", logical)
        self.assertIn("ApiKeyParameterA1B2C3D4", logical)

    def test_a_change_set_update_becomes_the_stacks_previous_values(self) -> None:
        self.cdk_deploy("Payments", fixture("cdk-default.template.json"))
        cs = self.change_set("Payments", "UPDATE", [{"ParameterKey": "BootstrapVersion", "UsePreviousValue": True},
                                                    {"ParameterKey": "RotateToken", "ParameterValue": "false"}], name="console")
        self.cfn.execute_change_set(ChangeSetName=cs["ChangeSetId"])
        self.settled("Payments")
        self.assertEqual(self.params("Payments")["RotateToken"]["ParameterValue"], "false")
        # Previous values are now the change set's: keeping them all changes nothing.
        again = self.change_set("Payments", "UPDATE", [{"ParameterKey": "BootstrapVersion", "UsePreviousValue": True},
                                                       {"ParameterKey": "RotateToken", "UsePreviousValue": True}], name="again")
        self.assertEqual((again["Status"], again.get("Changes", [])), ("FAILED", []))
        with self.assertRaises(self.cfn.exceptions.ClientError) as nothing:
            self.cfn.update_stack(StackName="Payments", UsePreviousTemplate=True, Capabilities=["CAPABILITY_IAM"],
                                  Parameters=[{"ParameterKey": "BootstrapVersion", "UsePreviousValue": True},
                                              {"ParameterKey": "RotateToken", "UsePreviousValue": True}])
        self.assertIn("No updates are to be performed", str(nothing.exception))

    # (64)

    def test_last_updated_time_appears_with_the_first_update_and_moves_with_each(self) -> None:
        self.cdk_deploy("Payments", fixture("cdk-default.template.json"))
        self.assertNotIn("LastUpdatedTime", self.settled("Payments"), "created, never updated")
        keep = [{"ParameterKey": "BootstrapVersion", "UsePreviousValue": True}]
        seen = []
        for value in ("false", "true"):
            self.cfn.update_stack(StackName="Payments", UsePreviousTemplate=True, Capabilities=["CAPABILITY_IAM"],
                                  Parameters=keep + [{"ParameterKey": "RotateToken", "ParameterValue": value}])
            seen.append(self.settled("Payments")["LastUpdatedTime"])
            time.sleep(0.01)
        # Through a change set, as `cdk deploy` and the console update.
        cs = self.change_set("Payments", "UPDATE", keep + [{"ParameterKey": "RotateToken", "ParameterValue": "false"}], name="console")
        self.cfn.execute_change_set(ChangeSetName=cs["ChangeSetId"])
        seen.append(self.settled("Payments")["LastUpdatedTime"])
        self.assertEqual(seen, sorted(seen))
        self.assertEqual(len(set(seen)), 3, seen)
        self.assertGreaterEqual(seen[0], self.settled("Payments")["CreationTime"])

    def test_noecho_and_list_parameters_show_as_aws_shows_them(self) -> None:
        body = json.dumps({
            "Parameters": {"Password": {"Type": "String", "NoEcho": True},
                           "Subnets": {"Type": "CommaDelimitedList", "Default": "a,b"}},
            "Resources": {"P": {"Type": "AWS::SSM::Parameter", "Properties": {"Type": "String", "Value": {"Fn::Join": ["-", {"Ref": "Subnets"}]}}}},
        })
        self.cfn.create_stack(StackName="s", TemplateBody=body, Parameters=[{"ParameterKey": "Password", "ParameterValue": "hunter2"}])
        p = self.params("s")
        self.assertEqual((p["Password"]["ParameterValue"], p["Subnets"]["ParameterValue"]), ("****", "a,b"))

    # (58)

    def test_an_update_without_a_role_keeps_the_stacks_service_role(self) -> None:
        role = "arn:aws:iam::123456789012:role/cdk-hnb659fds-cfn-exec-role-123456789012-us-east-1"
        body = json.dumps({
            "Parameters": {"RotateToken": {"Type": "String", "Default": "true"}},
            "Resources": {"P": {"Type": "AWS::SSM::Parameter", "Properties": {"Type": "String", "Value": "v"}}},
        })
        self.cfn.create_stack(StackName="r", TemplateBody=body, RoleARN=role)
        self.assertEqual(self.settled("r").get("RoleARN"), role)
        self.cfn.update_stack(StackName="r", UsePreviousTemplate=True,
                              Parameters=[{"ParameterKey": "RotateToken", "ParameterValue": "false"}])
        self.assertEqual(self.settled("r").get("RoleARN"), role, "UpdateStack without RoleARN")
        cs = self.change_set("r", "UPDATE", [{"ParameterKey": "RotateToken", "ParameterValue": "true"}], name="back")
        self.cfn.execute_change_set(ChangeSetName=cs["ChangeSetId"])
        self.assertEqual(self.settled("r").get("RoleARN"), role, "a change set without RoleARN")

    # (40)

    def test_keeping_a_defaulted_list_parameter_changes_nothing(self) -> None:
        self.cfn.create_stack(StackName="e", TemplateBody=fixture("console-every-parameter-type.yaml"))
        keep = [{"ParameterKey": p["ParameterKey"], "UsePreviousValue": True}
                for p in self.settled("e")["Parameters"] if p["ParameterKey"] != "RotateToken"]
        cs = self.change_set("e", "UPDATE", keep + [{"ParameterKey": "RotateToken", "ParameterValue": "false"}], name="keep")
        actions = [(c["ResourceChange"]["LogicalResourceId"], c["ResourceChange"]["Action"]) for c in cs["Changes"]]
        self.assertEqual(actions, [("Password", "Remove")])
        settings = self.cfn.describe_stack_resource(StackName="e", LogicalResourceId="Settings")["StackResourceDetail"]["PhysicalResourceId"]
        self.assertEqual(self.ssm.get_parameter(Name=settings)["Parameter"]["Value"],
                         "replicas=3;zone=us-east-1a;ports=80,443;subnets=subnet-0a1b2c3d,subnet-4e5f6a7b;bootstrap=21")

    # (36)

    def test_getatt_value_and_type_of_an_ssm_parameter(self) -> None:
        body = json.dumps({"Resources": {
            "Source": {"Type": "AWS::SSM::Parameter", "Properties": {"Type": "String", "Value": "v"}},
            "Copy": {"Type": "AWS::SSM::Parameter", "Properties": {"Type": "String", "Value": {"Fn::Sub": "${Source.Value}/${Source.Type}"}}}},
            "Outputs": {"Value": {"Value": {"Fn::GetAtt": ["Source", "Value"]}}}})
        self.cfn.create_stack(StackName="s", TemplateBody=body)
        s = self.settled("s")
        self.assertEqual(s["StackStatus"], "CREATE_COMPLETE")
        self.assertEqual(s["Outputs"][0]["OutputValue"], "v")
        copy = self.cfn.describe_stack_resource(StackName="s", LogicalResourceId="Copy")["StackResourceDetail"]["PhysicalResourceId"]
        self.assertEqual(self.ssm.get_parameter(Name=copy)["Parameter"]["Value"], "v/String")

    # (37)

    def test_a_lambda_function_with_inline_code_is_updated_in_place(self) -> None:
        body = fixture("console-inline-function.yaml")
        self.cfn.create_stack(StackName="fn", TemplateBody=body, Capabilities=["CAPABILITY_IAM"])
        self.assertEqual(self.settled("fn")["StackStatus"], "CREATE_COMPLETE")
        before = self.cfn.describe_stack_resource(StackName="fn", LogicalResourceId="Handler")["StackResourceDetail"]["PhysicalResourceId"]
        self.cfn.update_stack(StackName="fn", UsePreviousTemplate=True, Capabilities=["CAPABILITY_IAM"],
                              Parameters=[{"ParameterKey": "LogLevel", "ParameterValue": "debug"}])
        self.assertEqual(self.settled("fn")["StackStatus"], "UPDATE_COMPLETE")
        after = self.cfn.describe_stack_resource(StackName="fn", LogicalResourceId="Handler")["StackResourceDetail"]["PhysicalResourceId"]
        self.assertEqual(before, after)
        env = self.emulator.client("lambda").get_function_configuration(FunctionName=after)["Environment"]["Variables"]
        self.assertEqual(env["LOG_LEVEL"], "debug")

    # (38)

    def test_a_missing_parameter_is_refused_in_awss_words(self) -> None:
        body = json.dumps({"Parameters": {"Env": {"Type": "String"}},
                           "Resources": {"P": {"Type": "AWS::SSM::Parameter", "Properties": {"Type": "String", "Value": {"Ref": "Env"}}}}})
        with self.assertRaises(self.cfn.exceptions.ClientError) as refused:
            self.cfn.create_stack(StackName="s", TemplateBody=body)
        self.assertEqual(refused.exception.response["Error"]["Code"], "ValidationError")
        self.assertEqual(refused.exception.response["Error"]["Message"], "Parameters: [Env] must have values")

    # (39)

    def test_a_reference_to_a_missing_json_key_fails_the_create_and_rolls_back(self) -> None:
        body = json.dumps({"Resources": {"P": {"Type": "AWS::SSM::Parameter", "Properties": {
            "Type": "String", "Value": "{{resolve:secretsmanager:prod/db:SecretString:apiKey}}"}}}})
        self.cfn.create_stack(StackName="s", TemplateBody=body)
        self.assertEqual(self.settled("s")["StackStatus"], "ROLLBACK_COMPLETE")
        failed = [e for e in self.events("s") if e["ResourceStatus"] == "CREATE_FAILED"]
        self.assertEqual([(e["LogicalResourceId"], e["ResourceStatusReason"]) for e in failed],
                         [("P", "Could not find a value associated with JSONKey in SecretString")])

    def test_a_new_value_without_a_key_the_stack_reads_rolls_its_update_back_resources_as_before(self) -> None:
        self.cfn.create_stack(StackName="app", TemplateBody=fixture("console-two-keys.yaml"))
        self.assertEqual(self.settled("app")["StackStatus"], "CREATE_COMPLETE")
        self.cfn.update_stack(StackName="app", UsePreviousTemplate=True, Parameters=[{"ParameterKey": "RotateToken", "ParameterValue": "false"}])
        self.assertEqual(self.settled("app")["StackStatus"], "UPDATE_COMPLETE")
        self.sm.put_secret_value(SecretId="prod/db", SecretString=json.dumps({"password": "p2"}))  # `username` lost
        self.cfn.update_stack(StackName="app", UsePreviousTemplate=True, Parameters=[{"ParameterKey": "RotateToken", "ParameterValue": "true"}])
        s = self.settled("app")
        self.assertEqual(s["StackStatus"], "UPDATE_ROLLBACK_COMPLETE")
        self.assertEqual(self.params("app")["RotateToken"]["ParameterValue"], "false")
        reasons = {e["LogicalResourceId"]: e.get("ResourceStatusReason") for e in self.events("app") if e["ResourceStatus"] == "CREATE_FAILED"}
        self.assertEqual(reasons, {"DatabaseUser": "Could not find a value associated with JSONKey in SecretString"})
        live = {r["LogicalResourceId"] for r in self.cfn.list_stack_resources(StackName="app")["StackResourceSummaries"]}
        self.assertEqual(live, {"Marker"}, "rolled back: nothing created")
        # A corrected value: the same update now succeeds.
        self.sm.put_secret_value(SecretId="prod/db", SecretString=json.dumps({"username": "app", "password": "p3"}))
        self.cfn.update_stack(StackName="app", UsePreviousTemplate=True, Parameters=[{"ParameterKey": "RotateToken", "ParameterValue": "true"}])
        self.assertEqual(self.settled("app")["StackStatus"], "UPDATE_COMPLETE")

    # Every shape in tests/fixtures/stacks: created and updated as AWS accepts them.

    def test_every_stack_shape_deploys_and_updates_without_a_server_error(self) -> None:
        names = sorted(n for n in os.listdir(FIXTURES) if n.endswith((".json", ".yaml")))
        self.assertGreaterEqual(len(names), 5)
        for i, name in enumerate(names):
            with self.subTest(name):
                stack = f"shape{i}"
                body = fixture(name)
                self.cfn.create_stack(StackName=stack, TemplateBody=body, Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"])
                self.assertEqual(self.settled(stack)["StackStatus"], "CREATE_COMPLETE")
                keep = [{"ParameterKey": p["ParameterKey"], "UsePreviousValue": True}
                        for p in self.settled(stack)["Parameters"] if p["ParameterKey"] != "RotateToken"]
                for value in ("false", "true"):
                    self.cfn.update_stack(StackName=stack, UsePreviousTemplate=True, Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
                                          Parameters=keep + [{"ParameterKey": "RotateToken", "ParameterValue": value}])
                    self.assertEqual(self.settled(stack)["StackStatus"], "UPDATE_COMPLETE", value)


if __name__ == "__main__":
    unittest.main()
