"""Patch 14 through AWS's API: the request log keeps every request of the product's
functions once, and marks the authorisations AWS checks without a request of their own
(`implied`), so what the policies must grant (tests/iam.rs) and what AWS bills (the
benchmarks) are told apart.

Run: .venv/bin/python -m unittest discover -s tests/emulator -p 'test_*.py'
"""

from __future__ import annotations

from typing import Any

from rotatetoken.testing import EmulatorTestCase


class RequestLog(EmulatorTestCase):
    def refresh_s3(self) -> Any:
        import boto3
        from botocore.config import Config

        # The product's clients name their function in the User-Agent (app id).
        return boto3.client(
            "s3", endpoint_url=self.emulator.url, region_name="us-east-1",
            aws_access_key_id="testing", aws_secret_access_key="testing",
            config=Config(retries={"max_attempts": 1, "mode": "standard"},
                          user_agent_appid="rotatetoken-refresh"),
        )

    def test_a_missing_key_is_one_request_and_an_implied_list_authorisation(self) -> None:
        self.emulator.reset()
        self.emulator.client("s3").create_bucket(Bucket="runs")
        s3 = self.refresh_s3()
        s3.put_object(Bucket="runs", Key="a.json", Body=b"{}")
        s3.get_object(Bucket="runs", Key="a.json")
        with self.assertRaises(s3.exceptions.NoSuchKey):
            s3.get_object(Bucket="runs", Key="missing.json")
        status, log = self.emulator.post("/moto-api/rotatetoken/calls", {})
        self.assertEqual(status, 200)
        ours = [(c["action"], bool(c.get("implied"))) for c in log if c["function"] == "rotatetoken-refresh"]
        self.assertEqual(ours, [
            ("s3:PutObject", False),
            ("s3:GetObject", False),
            ("s3:GetObject", False),
            ("s3:ListBucket", True),
        ])


if __name__ == "__main__":
    import unittest

    unittest.main()
