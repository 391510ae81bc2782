"""Patch 63: AWS's latency on each of the product's calls, through AWS's API (boto3).

Run: .venv/bin/python -m unittest discover -s tests/emulator -p 'test_*.py'
"""

from __future__ import annotations

import threading
import time
import unittest
from typing import Any

from rotatetoken.testing import EmulatorTestCase

CONFIG = "/moto-api/rotatetoken/config"


class CallLatency(EmulatorTestCase):
    def tearDown(self) -> None:
        self.emulator.post(CONFIG, {"call_latency": {}})

    def product(self, service: str) -> Any:
        import boto3
        from botocore.config import Config

        # The product's clients name their function in the User-Agent (app id).
        return boto3.client(
            service, endpoint_url=self.emulator.url, region_name="us-east-1",
            aws_access_key_id="testing", aws_secret_access_key="testing",
            config=Config(retries={"max_attempts": 1, "mode": "standard"},
                          user_agent_appid="rotatetoken-refresh"),
        )

    @staticmethod
    def seconds(call: Any) -> float:
        began = time.monotonic()
        call()
        return time.monotonic() - began

    def test_a_product_call_is_answered_no_sooner_than_its_services_latency_times_the_scale(self) -> None:
        self.emulator.post(CONFIG, {"call_latency": {"cloudformation": 0.3, "*": 0.1, "scale": 2}})
        cfn, s3 = self.product("cloudformation"), self.product("s3")
        self.assertGreaterEqual(self.seconds(cfn.describe_stacks), 0.6, "0.3 s, slowed twice")
        self.assertGreaterEqual(self.seconds(s3.list_buckets), 0.2, "another service: '*'")
        # The harness's own calls (no app id) keep their pace.
        self.assertLess(self.seconds(self.emulator.client("cloudformation").describe_stacks), 0.5)

    def test_calls_waiting_out_their_latency_do_not_hold_up_each_other(self) -> None:
        self.emulator.post(CONFIG, {"call_latency": {"cloudformation": 1.0}})
        clients = [self.product("cloudformation") for _ in range(4)]
        began = time.monotonic()
        threads = [threading.Thread(target=c.describe_stacks) for c in clients]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        took = time.monotonic() - began
        self.assertGreaterEqual(took, 1.0)
        self.assertLess(took, 2.5, "four calls of 1 s each, waited out side by side")

    def test_a_latency_that_is_not_seconds_is_refused_naming_it(self) -> None:
        status, answer = self.emulator.post(CONFIG, {"call_latency": {"s3": "fast"}})
        self.assertEqual(status, 400, answer)
        self.assertIn("call_latency['s3']", str(answer))
        self.assertLess(self.seconds(self.product("s3").list_buckets), 0.5, "nothing was applied")

    def test_the_local_aws_own_work_counts_within_the_latency_not_on_top_of_it(self) -> None:
        from rotatetoken.faults import latency_left

        self.assertAlmostEqual(latency_left(0.55, 0.2), 0.35, msg="the rest of the round trip")
        self.assertEqual(latency_left(0.25, 0.4), 0.0, "a call moto took longer over: not slowed further")
        self.assertEqual(latency_left(0.0, 0.01), 0.0, "off")
        # Through the API: moto handles the call first, and the answer waits out the rest.
        # A write's effect is there for others before its own answer comes.
        s3 = self.product("s3")
        s3.create_bucket(Bucket="latency-floor")
        self.emulator.post(CONFIG, {"call_latency": {"s3": 3.0}})
        writer = threading.Thread(target=lambda: s3.put_object(Bucket="latency-floor", Key="k", Body=b"x"))
        began = time.monotonic()
        writer.start()
        time.sleep(1.0)
        seen = self.emulator.client("s3").list_objects_v2(Bucket="latency-floor").get("KeyCount", 0)
        writer.join()
        self.assertEqual(seen, 1, "handled at once, answered when its latency is out")
        self.assertGreaterEqual(time.monotonic() - began, 3.0)

    def test_off_unless_configured(self) -> None:
        self.assertLess(self.seconds(self.product("cloudformation").describe_stacks), 0.5)


if __name__ == "__main__":
    unittest.main()
