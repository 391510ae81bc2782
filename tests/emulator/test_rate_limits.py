"""Patch 42: API rate limits per account, region and API, through AWS's API (boto3).

Run: .venv/bin/python -m unittest discover -s tests/emulator -p 'test_*.py'
"""

from __future__ import annotations

import time
import unittest

import botocore.exceptions

from rotatetoken.testing import Emulator, EmulatorTestCase

CONFIG = "/moto-api/rotatetoken/config"


class RateLimits(EmulatorTestCase):
    def tearDown(self) -> None:
        self.emulator.post(CONFIG, {"rate_limits": {}, "throttled": 0})

    def calls(self, call, n: int) -> list[str]:
        """What each of n quick calls answered: "ok" or the error code."""
        out = []
        for _ in range(n):
            try:
                call()
                out.append("ok")
            except botocore.exceptions.ClientError as e:
                out.append(e.response["Error"]["Code"])
        return out

    def test_calls_beyond_an_apis_rate_are_throttled_as_aws_throttles_them(self) -> None:
        # Rates slow enough that a slow machine's calls cannot outrun them (CI once took
        # over a second between two calls and refilled a 1-a-second bucket).
        self.emulator.post(CONFIG, {"rate_limits": {"cloudformation": {"DescribeStacks": [0.05, 3]}}})
        cfn = self.emulator.client("cloudformation")
        answers = self.calls(lambda: cfn.describe_stacks(), 8)
        self.assertEqual(answers[:3], ["ok"] * 3, "the burst")
        self.assertIn("Throttling", answers[3:])
        # Another API of the service has no limit here.
        self.assertEqual(self.calls(lambda: cfn.list_stacks(), 5), ["ok"] * 5)
        # A bucket refills at its rate: one token a quarter second, empty after one call.
        self.emulator.post(CONFIG, {"rate_limits": {"cloudformation": {
            "DescribeStacks": [0.05, 3], "ListStacks": [4, 1]}}})
        self.calls(lambda: cfn.list_stacks(), 1)
        time.sleep(0.5)
        self.assertEqual(self.calls(lambda: cfn.list_stacks(), 1), ["ok"])
        _, config = self.emulator.post(CONFIG, {})
        self.assertGreaterEqual(config["throttled"], 1)

    def test_each_region_has_its_own_bucket_and_json_services_answer_in_json(self) -> None:
        self.emulator.post(CONFIG, {"rate_limits": {
            "cloudformation": {"*": [0.01, 1]}, "secretsmanager": {"ListSecrets": [0.01, 1]}}})
        import boto3
        from botocore.config import Config

        def client(service: str, region: str):
            return boto3.client(service, endpoint_url=self.emulator.url, region_name=region,
                                aws_access_key_id="testing", aws_secret_access_key="testing",
                                config=Config(retries={"max_attempts": 1, "mode": "standard"}))

        east, west = client("cloudformation", "us-east-1"), client("cloudformation", "eu-west-1")
        self.assertEqual(self.calls(lambda: east.describe_stacks(), 2), ["ok", "Throttling"])
        self.assertEqual(self.calls(lambda: west.describe_stacks(), 1), ["ok"], "another region")
        sm = client("secretsmanager", "us-east-1")
        self.assertEqual(self.calls(lambda: sm.list_secrets(), 2), ["ok", "ThrottlingException"])

    def test_a_limit_can_hold_one_region_only(self) -> None:
        self.emulator.post(CONFIG, {"rate_limits": {"cloudformation@eu-west-1": {"*": [0.01, 1]}}})
        import boto3
        from botocore.config import Config

        def client(region: str):
            return boto3.client("cloudformation", endpoint_url=self.emulator.url, region_name=region,
                                aws_access_key_id="testing", aws_secret_access_key="testing",
                                config=Config(retries={"max_attempts": 1, "mode": "standard"}))

        west, east = client("eu-west-1"), client("us-east-1")
        self.assertEqual(self.calls(lambda: west.describe_stacks(), 2), ["ok", "Throttling"])
        self.assertEqual(self.calls(lambda: east.describe_stacks(), 5), ["ok"] * 5, "another region: no limit")

    def test_off_when_configured_empty(self) -> None:
        self.emulator.post(CONFIG, {"rate_limits": {}})
        cfn = self.emulator.client("cloudformation")
        self.assertEqual(self.calls(lambda: cfn.describe_stacks(), 30), ["ok"] * 30)

    def test_on_unless_configured_at_the_rate_users_measure(self) -> None:
        # A fresh emulator, as the harness starts it: CloudFormation throttles past a burst
        # of 10 calls of one API, per account and region (5 a second after it).
        fresh = Emulator(rate_limits=True)
        try:
            import boto3
            from botocore.config import Config

            # One attempt each (the suites' clients retry once: botocore's max_attempts
            # counts retries).
            cfn = boto3.client("cloudformation", endpoint_url=fresh.url, region_name="us-east-1",
                               aws_access_key_id="testing", aws_secret_access_key="testing",
                               config=Config(retries={"total_max_attempts": 1, "mode": "standard"}))
            # 40 calls outrun 5 a second unless each takes over 0.15 s.
            answers = self.calls(lambda: cfn.describe_stacks(), 40)
            self.assertEqual(answers[:10], ["ok"] * 10)
            self.assertIn("Throttling", answers[10:])
            self.assertEqual(self.calls(lambda: cfn.list_stacks(), 3), ["ok"] * 3, "each API its own bucket")
        finally:
            fresh.stop()


if __name__ == "__main__":
    unittest.main()
