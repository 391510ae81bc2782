"""Patches 44 and 46 through AWS's API: an invocation killed right after a named call
(boto3 calling as the function would: its User-Agent app id names it), and S3 writes
refused.

Run: .venv/bin/python -m unittest discover -s tests/emulator -p 'test_*.py'
"""

from __future__ import annotations

import unittest

import boto3
import botocore.exceptions
from botocore.config import Config

from rotatetoken.testing import EmulatorTestCase

CONFIG = "/moto-api/rotatetoken/config"


class Faults(EmulatorTestCase):
    """Patch 44 (a killed invocation) and 46 (S3 writes refused)."""

    def tearDown(self) -> None:
        self.emulator.post(CONFIG, {"crash_after_call": {}, "deny_s3_writes": []})
        self.emulator.reset()

    def s3_of(self, function: str):
        return boto3.client("s3", endpoint_url=self.emulator.url, region_name="us-east-1",
                            aws_access_key_id="testing", aws_secret_access_key="testing",
                            config=Config(retries={"max_attempts": 1, "mode": "standard"},
                                          user_agent_appid=function))

    def test_the_named_call_takes_effect_and_nothing_after_it_does(self) -> None:
        self.emulator.client("s3").create_bucket(Bucket="runs")
        self.emulator.post(CONFIG, {"crash_after_call": {
            "rotatetoken-trigger": {"action": "s3:PutObject", "nth": 2, "times": 1}}})
        trigger = self.s3_of("rotatetoken-trigger")
        trigger.put_object(Bucket="runs", Key="one", Body=b"1")
        trigger.put_object(Bucket="runs", Key="two", Body=b"2")  # the 2nd: applied, then dead
        with self.assertRaises(botocore.exceptions.ClientError) as refused:
            trigger.put_object(Bucket="runs", Key="three", Body=b"3")
        self.assertEqual(refused.exception.response["ResponseMetadata"]["HTTPStatusCode"], 400)
        keys = [o["Key"] for o in self.emulator.client("s3").list_objects_v2(Bucket="runs")["Contents"]]
        self.assertEqual(keys, ["one", "two"], "the call after the crash never happened")
        # Another function is alive.
        self.s3_of("rotatetoken-report").put_object(Bucket="runs", Key="other", Body=b"x")


    def test_a_denied_write_is_refused_as_s3_refuses_it_and_writes_nothing(self) -> None:
        s3 = self.emulator.client("s3")
        s3.create_bucket(Bucket="runs")
        self.emulator.post(CONFIG, {"deny_s3_writes": ["map-results/*"]})
        with self.assertRaises(botocore.exceptions.ClientError) as refused:
            s3.put_object(Bucket="runs", Key="map-results/run/manifest.json", Body=b"{}")
        self.assertEqual(refused.exception.response["Error"]["Code"], "AccessDenied")
        self.assertEqual(refused.exception.response["ResponseMetadata"]["HTTPStatusCode"], 403)
        s3.put_object(Bucket="runs", Key="runs/x/items.json", Body=b"[]")
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket="runs")["Contents"]]
        self.assertEqual(keys, ["runs/x/items.json"])



class ListingWhileDeleting(unittest.TestCase):
    """Patch 54, on moto's key store itself: a listing under way when a key is deleted."""

    def test_a_key_deleted_during_a_listing_is_no_error(self) -> None:
        from moto.s3.utils import _VersionedKeyStore

        from rotatetoken.s3 import install_consistent_listing

        install_consistent_listing()
        store = _VersionedKeyStore()
        store["a"], store["b"], store["c"] = "A", "B", "C"
        listing = iter(store.items())
        self.assertEqual(next(listing), ("a", "A"))
        dict.pop(store, "b")  # another request deletes `b` while the listing is built
        self.assertEqual(list(listing), [("b", "B"), ("c", "C")])
        self.assertEqual(list(store.values()), ["A", "C"])


class PrefixListing(EmulatorTestCase):
    """Patch 61: a listing by prefix reads only the keys under it, and lists what the whole
    bucket's listing, filtered by the prefix, lists."""

    def tearDown(self) -> None:
        self.emulator.reset()

    def test_a_listing_by_prefix_lists_what_the_whole_listing_filtered_by_it_lists(self) -> None:
        s3 = self.emulator.client("s3")
        s3.create_bucket(Bucket="runs")
        for key in ["waits/a/1", "waits/a/2", "waits/b/1", "lanes/a", "waits/a/3", "waits"]:
            s3.put_object(Bucket="runs", Key=key, Body=b"1")
        s3.put_object(Bucket="runs", Key="waits/a/2", Body=b"2")  # a second version
        s3.delete_object(Bucket="runs", Key="waits/a/3")
        everything = [o["Key"] for o in s3.list_objects_v2(Bucket="runs")["Contents"]]
        for prefix in ["waits/", "waits/a/", "lanes/", "w"]:
            listed = [o["Key"] for o in s3.list_objects_v2(Bucket="runs", Prefix=prefix).get("Contents", [])]
            self.assertEqual(listed, [k for k in everything if k.startswith(prefix)], prefix)
        folders = s3.list_objects_v2(Bucket="runs", Prefix="waits/", Delimiter="/")
        self.assertEqual([p["Prefix"] for p in folders["CommonPrefixes"]], ["waits/a/", "waits/b/"])
        first = s3.list_objects_v2(Bucket="runs", Prefix="waits/", MaxKeys=2)
        rest = s3.list_objects_v2(Bucket="runs", Prefix="waits/", ContinuationToken=first["NextContinuationToken"])
        self.assertEqual([o["Key"] for o in first["Contents"] + rest["Contents"]],
                         ["waits/a/1", "waits/a/2", "waits/b/1"])

    def test_the_key_store_yields_only_the_keys_under_the_listings_prefix(self) -> None:
        from moto.s3.utils import _VersionedKeyStore

        from rotatetoken import s3 as patches

        patches.install_prefix_listing()
        store = _VersionedKeyStore()
        for n in range(1000):
            store[f"results/{n}"] = n
        store["waits/x"] = "X"
        patches._LISTING_PREFIX.prefix = "waits/"
        try:
            self.assertEqual(list(store.items()), [("waits/x", "X")])
        finally:
            patches._LISTING_PREFIX.prefix = None
        self.assertEqual(len(list(store.items())), 1001, "without a listing: every key")


if __name__ == "__main__":
    unittest.main()
