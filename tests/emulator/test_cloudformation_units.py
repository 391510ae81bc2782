"""The CloudFormation patches' own logic, function by function, without moto running: what
a fragment refers to, which parameters a property reads, what capabilities a template
needs, which changes replace a resource, what an update did.

Run: .venv/bin/python -m unittest discover -s tests/emulator -p 'test_*.py'
"""

from __future__ import annotations

import unittest

from rotatetoken.cloudformation.change_sets import parameters_used
from rotatetoken.cloudformation.common import references
from rotatetoken.cloudformation.nested import nested_value
from rotatetoken.cloudformation.policies import InsufficientCapabilities, check_capabilities, required_capabilities
from rotatetoken.cloudformation.replacement import replacing_properties
from rotatetoken.cloudformation.transforms import template_transforms
from rotatetoken.cloudformation.updates import update_delay, what_changed
from rotatetoken.state import CONTROL


class References(unittest.TestCase):
    def test_only_the_branch_its_condition_selects(self) -> None:
        fragment = {"Value": {"Fn::If": ["On", {"Ref": "A"}, {"Fn::GetAtt": ["B", "Arn"]}]},
                    "Name": {"Fn::Sub": ["${C}-${x}", {"x": {"Ref": "D"}}]}, "DependsOn": ["E"]}
        self.assertEqual(references(fragment, {"On": True}), {"A", "C", "D", "E"})
        self.assertEqual(references(fragment, {"On": False}), {"B", "C", "D", "E"})

    def test_parameters_behind_a_changed_condition_count(self) -> None:
        conditions = {"On": {"Fn::Equals": [{"Ref": "Token"}, "true"]}}
        value = {"Fn::If": ["On", {"Fn::Sub": "${Prefix}/x"}, "off"]}
        self.assertEqual(parameters_used(value, conditions, set()), {"Prefix"})
        self.assertEqual(parameters_used(value, conditions, {"On"}), {"Prefix", "Token"})


class Capabilities(unittest.TestCase):
    ROLE = {"Resources": {"R": {"Type": "AWS::IAM::Role", "Properties": {}}}}
    NAMED = {"Resources": {"R": {"Type": "AWS::IAM::Role", "Properties": {"RoleName": "n"}}}}

    def test_what_a_template_requires(self) -> None:
        self.assertEqual(required_capabilities({}, self.ROLE, False), ["CAPABILITY_IAM"])
        self.assertEqual(required_capabilities({}, self.NAMED, False), ["CAPABILITY_NAMED_IAM"])
        sam = {"Transform": "AWS::Serverless-2016-10-31"}
        self.assertEqual(required_capabilities(sam, self.ROLE, False), ["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"])
        self.assertEqual(required_capabilities(sam, self.ROLE, True), ["CAPABILITY_IAM"], "a change set needs no AUTO_EXPAND")

    def test_named_iam_covers_iam_and_the_refusal_names_what_is_missing(self) -> None:
        check_capabilities({}, self.ROLE, ["CAPABILITY_NAMED_IAM"], False)
        with self.assertRaisesRegex(InsufficientCapabilities, r"^Requires capabilities : \[CAPABILITY_NAMED_IAM\]$"):
            check_capabilities({}, self.NAMED, ["CAPABILITY_IAM"], False)

    def test_transforms_top_level_and_inline(self) -> None:
        template = {"Transform": ["AWS::Serverless-2016-10-31"],
                    "Resources": {"X": {"Fn::Transform": {"Name": "AWS::Include", "Parameters": {}}}}}
        self.assertEqual(template_transforms(template), ["AWS::Serverless-2016-10-31", "AWS::Include"])


class Updates(unittest.TestCase):
    def test_a_create_only_property_replaces_the_resource(self) -> None:
        old = {"MasterUsername": "admin", "MasterUserPassword": "p1"}
        self.assertEqual(replacing_properties("AWS::RDS::DBInstance", "us-east-1", old, dict(old, MasterUserPassword="p2")), [])
        self.assertEqual(replacing_properties("AWS::RDS::DBInstance", "us-east-1", old, dict(old, MasterUsername="root")),
                         ["MasterUsername"])
        self.assertEqual(replacing_properties("Custom::Thing", "us-east-1", {"A": 1}, {"A": 2}), [], "no schema: in place")

    def test_what_an_update_did(self) -> None:
        before = {"Kept": "k", "Gone": "g", "Swapped": "s1", "Changed": "c"}
        after = {"Kept": "k", "New": "n", "Swapped": "s2", "Changed": "c"}
        self.assertEqual(what_changed(before, after, [("Changed", "Modify"), ("Swapped", "Replace")]), {
            "deleted": [{"logical": "Gone", "physical": "g"}],
            "created": [{"logical": "New", "physical": "n"}],
            "modified": [{"logical": "Changed", "physical": "c"}],
            "replaced": [{"logical": "Swapped", "physical": "s2", "was": "s1"}],
        })

    def test_a_nested_stacks_parameter_as_the_parent_would_pass_it(self) -> None:
        params = {"Token": "false", "Subnets": ["a", "b"]}
        self.assertEqual(nested_value({"Ref": "Token"}, params, {}), "false")
        self.assertEqual(nested_value({"Ref": "Subnets"}, params, {}), "a,b")
        self.assertEqual(nested_value({"Fn::If": ["On", "x", {"Fn::Sub": "${Token}!"}]}, params, {"On": False}), "false!")
        self.assertIsNone(nested_value({"Fn::GetAtt": ["R", "Arn"]}, params, {}), "a resource attribute: kept as before")


class ParseCache(unittest.TestCase):
    """Patch 62: a body parsed once, each caller given its own copy, a bad body refused
    every time."""

    def test_a_body_is_parsed_once_and_each_caller_gets_its_own_template(self) -> None:
        from rotatetoken.cloudformation import transforms

        calls = []
        absent = object()
        saved = getattr(transforms._moto, "parse_template", absent)

        def parse(body):
            calls.append(body)
            return transforms.json.loads(body)

        transforms._moto.parse_template = parse
        try:
            transforms.install_parse_cache()
            body = '{"Resources": {"R": {"Type": "AWS::SNS::Topic"}}}'
            first = transforms._moto.parse_template(body)
            first["Resources"]["R"]["Type"] = "changed by its caller"
            second = transforms._moto.parse_template(body)
            self.assertEqual(second, {"Resources": {"R": {"Type": "AWS::SNS::Topic"}}})
            self.assertEqual(len(calls), 1, "parsed once")
            for _ in range(2):
                with self.assertRaises(ValueError):
                    transforms._moto.parse_template("{not json")
            self.assertEqual(len(calls), 3, "a body that does not parse is tried each time")
        finally:
            if saved is absent:
                del transforms._moto.parse_template
            else:
                transforms._moto.parse_template = saved

    def test_a_yaml_body_copied_from_the_cache_is_what_moto_parses_afresh(self) -> None:
        from moto.cloudformation.models import Stack

        from rotatetoken.cloudformation import transforms

        absent = object()
        saved = getattr(transforms._moto, "parse_template", absent)
        transforms._moto.parse_template = Stack.parse_template
        body = (
            "AWSTemplateFormatVersion: 2010-09-09\n"
            "Conditions:\n  On: !Equals [!Ref RotateToken, 'true']\n"
            "Resources:\n  A:\n    Type: AWS::SNS::Topic\n    Properties: &props\n"
            "      DisplayName: !GetAtt B.Name\n"
            "  B:\n    Type: AWS::SNS::Topic\n    Properties: *props\n"
        )
        try:
            transforms.install_parse_cache()
            for _ in range(2):
                got = transforms._moto.parse_template(body)
                self.assertEqual(got, Stack.parse_template(body))
                resources = got["Resources"]
                self.assertIs(resources["A"]["Properties"], resources["B"]["Properties"],
                              "an alias still shares its anchor's object within one template")
                resources["A"]["Properties"]["DisplayName"] = "changed by its caller"
        finally:
            if saved is absent:
                del transforms._moto.parse_template
            else:
                transforms._moto.parse_template = saved


if __name__ == "__main__":
    unittest.main()


class UpdateTimes(unittest.TestCase):
    def tearDown(self) -> None:
        CONTROL.pop("update_delay_distribution", None)

    def test_each_stack_has_its_own_long_tailed_time_the_same_for_both_phases(self) -> None:
        CONTROL["update_delay_distribution"] = {"median": 45, "sigma": 0.6, "min": 20, "max": 240,
                                                "scale": 0.5, "seed": 3}
        ids = [f"arn:aws:cloudformation:us-east-1:1:stack/s{i}/x" for i in range(2000)]
        times = sorted(update_delay(i) for i in ids)
        self.assertEqual([update_delay(i) for i in ids[:5]], [update_delay(i) for i in ids[:5]])
        self.assertGreaterEqual(times[0], 10.0)
        self.assertLessEqual(times[-1], 120.0)
        self.assertAlmostEqual(times[len(times) // 2], 22.5, delta=2.0)
        self.assertGreater(times[int(len(times) * 0.99)], 2.5 * times[len(times) // 2])

    def test_without_a_distribution_the_fixed_delay_applies(self) -> None:
        self.assertEqual(update_delay("any"), float(CONTROL["update_delay_seconds"]))
