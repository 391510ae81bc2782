"""Patch 51's bus policy judgement (events._allows): an account admitted by name; accounts
admitted by their place in the organisation (Principal "*", aws:PrincipalOrgPaths), as
template.yaml's StackEndsFromTargetOUs admits the target OUs, and only through a rule
target that names a role; anyone else refused.

Run: .venv/bin/python -m unittest discover -s tests/emulator -p 'test_*.py'
"""

from __future__ import annotations

import json
import unittest

import boto3
from moto import mock_aws

from rotatetoken.events import _allows, _org_path

BUS = "arn:aws:events:us-east-1:123456789012:event-bus/default"
EVENT = {"source": "aws.cloudformation", "detail-type": "CloudFormation Stack Status Change"}
EVENT_KEYS = {"ForAllValues:StringEquals": {"events:source": "aws.cloudformation"},
              "StringEquals": {"events:detail-type": "CloudFormation Stack Status Change"}}


def policy(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def for_units(*paths: str) -> dict:
    return {"Effect": "Allow", "Principal": "*", "Action": "events:PutEvents", "Resource": BUS,
            "Condition": dict(EVENT_KEYS, **{"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": list(paths)}})}


@mock_aws
class BusPolicy(unittest.TestCase):
    def setUp(self) -> None:
        org = boto3.client("organizations", region_name="us-east-1")
        self.org_id = org.create_organization(FeatureSet="ALL")["Organization"]["Id"]
        self.root = org.list_roots()["Roots"][0]["Id"]
        self.workloads = org.create_organizational_unit(ParentId=self.root, Name="workloads")["OrganizationalUnit"]["Id"]
        self.prod = org.create_organizational_unit(ParentId=self.workloads, Name="prod")["OrganizationalUnit"]["Id"]

        def account(name: str, parent: str | None) -> str:
            made = org.create_account(AccountName=name, Email=f"{name}@example.com")["CreateAccountStatus"]["AccountId"]
            if parent:
                org.move_account(AccountId=made, SourceParentId=self.root, DestinationParentId=parent)
            return made

        self.in_prod = account("prod-app", self.prod)
        self.at_root = account("sandbox", None)

    def test_an_accounts_path_is_its_organisation_root_and_units(self) -> None:
        self.assertEqual(_org_path(self.in_prod), f"{self.org_id}/{self.root}/{self.workloads}/{self.prod}/")
        self.assertEqual(_org_path(self.at_root), f"{self.org_id}/{self.root}/")
        self.assertIsNone(_org_path("999999999999"))

    def test_a_unit_admits_the_accounts_beneath_it_and_no_other(self) -> None:
        admits_workloads = policy(for_units(f"*/{self.workloads}/*"))
        self.assertTrue(_allows(admits_workloads, self.in_prod, EVENT, through_role=True))
        self.assertFalse(_allows(admits_workloads, self.at_root, EVENT, through_role=True))
        self.assertFalse(_allows(admits_workloads, "999999999999", EVENT, through_role=True), "outside the organisation")
        self.assertFalse(_allows(admits_workloads, self.in_prod, dict(EVENT, source="attacker.app"), through_role=True))
        # An organisation's grant needs the sender's rule target to name a role.
        self.assertFalse(_allows(admits_workloads, self.in_prod, EVENT, through_role=False))
        # The root admits every account of the organisation, and only of it.
        admits_root = policy(for_units(f"*/{self.root}/*"))
        self.assertTrue(_allows(admits_root, self.at_root, EVENT, through_role=True))
        self.assertFalse(_allows(admits_root, "999999999999", EVENT, through_role=True))

    def test_an_account_named_is_admitted_without_an_organisation(self) -> None:
        named = policy({"Effect": "Allow", "Principal": {"AWS": "999999999999"}, "Action": "events:PutEvents",
                        "Resource": BUS, "Condition": EVENT_KEYS})
        self.assertTrue(_allows(named, "999999999999", EVENT))
        self.assertFalse(_allows(named, self.in_prod, EVENT))


if __name__ == "__main__":
    unittest.main()
