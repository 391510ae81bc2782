"""Patch 59: a replica secret found by its partial ARN, through AWS's API (boto3).

Run: .venv/bin/python -m unittest discover -s tests/emulator -p 'test_*.py'
"""

from __future__ import annotations

import unittest

import botocore.exceptions

from rotatetoken.testing import EmulatorTestCase


class PartialArnsOfReplicas(EmulatorTestCase):
    def setUp(self) -> None:
        self.emulator.reset()

    def test_a_replicas_partial_arn_finds_it_in_its_region_and_a_wrong_name_still_fails(self) -> None:
        primary = self.emulator.client("secretsmanager")
        arn = primary.create_secret(Name="prod/db", SecretString="v1",
                                    AddReplicaRegions=[{"Region": "eu-west-1"}])["ARN"]
        import boto3
        replica = boto3.client("secretsmanager", endpoint_url=self.emulator.url, region_name="eu-west-1",
                               aws_access_key_id="testing", aws_secret_access_key="testing")
        replica_arn = arn.replace(":us-east-1:", ":eu-west-1:")
        partial = replica_arn[:-7]
        self.assertEqual(replica.describe_secret(SecretId=partial)["ARN"], replica_arn)
        self.assertEqual(replica.get_secret_value(SecretId=partial)["SecretString"], "v1")
        # The primary's partial ARN still finds it (moto's own path), and a partial ARN of a
        # name no secret has is refused as AWS refuses it.
        self.assertEqual(primary.describe_secret(SecretId=arn[:-7])["ARN"], arn)
        with self.assertRaises(botocore.exceptions.ClientError) as refused:
            replica.describe_secret(SecretId=partial + "x")
        self.assertEqual(refused.exception.response["Error"]["Code"], "ResourceNotFoundException")


if __name__ == "__main__":
    unittest.main()
