"""The control endpoints (rotatetoken/control.py): a key the emulator does not know is
refused (HTTP 400, the key named) and changes nothing, so a misspelt key fails the test
that sent it instead of silently leaving the emulator as it was.

Run: .venv/bin/python -m unittest discover -s tests/emulator -p 'test_*.py'
"""

from __future__ import annotations

import glob
import os
import re
import unittest

from rotatetoken.state import CONTROL, KNOWN_CONFIG_KEYS
from rotatetoken.testing import EmulatorTestCase

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CONFIG = "/moto-api/rotatetoken/config"


class Config(EmulatorTestCase):
    def config(self) -> dict:
        status, config = self.emulator.post(CONFIG, {})
        self.assertEqual(status, 200)
        return config

    def test_a_misspelt_config_key_is_refused_by_name_and_changes_nothing(self) -> None:
        before = self.config()
        status, answer = self.emulator.post(CONFIG, {"update_delay_second": 1.0})
        self.assertEqual(status, 400)
        self.assertTrue(answer["error"].startswith("unknown config key 'update_delay_second'; known keys: "), answer)
        self.assertIn("update_delay_seconds", answer["error"])
        self.assertEqual(self.config(), before)

    def test_every_key_is_checked_before_any_is_applied(self) -> None:
        before = self.config()
        status, answer = self.emulator.post(CONFIG, {"update_delay_seconds": 7.0, "fail_craete": {"app": ["X"]}})
        self.assertEqual(status, 400)
        self.assertIn("'fail_craete'", answer["error"])
        self.assertEqual(self.config(), before, "the known key was not applied either")

    def test_known_keys_are_applied_and_the_whole_config_answered(self) -> None:
        status, config = self.emulator.post(CONFIG, {"drop_status_events": True, "abort_children": ["a"]})
        self.assertEqual(status, 200)
        self.assertEqual((config["drop_status_events"], config["abort_children"]), (True, ["a"]))
        self.assertIn("instance", config)
        status, config = self.emulator.post(CONFIG, {"drop_status_events": False, "abort_children": []})
        self.assertEqual(status, 200)

    def test_a_body_that_is_not_an_object_is_refused(self) -> None:
        for body in (b"[1]", b"{not json"):
            with self.subTest(body):
                status, answer = self.emulator.post(CONFIG, body)
                self.assertEqual(status, 400)
                self.assertTrue(answer["error"].startswith("config: "), answer)

    def test_stack_status_names_missing_and_unknown_keys(self) -> None:
        status, answer = self.emulator.post("/moto-api/rotatetoken/stack-status", {"stack": "app"})
        self.assertEqual((status, answer), (400, {"error": "stack-status: missing required key 'status'"}))
        status, answer = self.emulator.post("/moto-api/rotatetoken/stack-status", {"stack": "app", "staus": "X"})
        self.assertEqual(status, 400)
        self.assertTrue(answer["error"].startswith("unknown stack-status key 'staus'; known keys: "), answer)

    def test_the_logs_take_no_keys(self) -> None:
        self.assertEqual(self.emulator.post("/moto-api/rotatetoken/updates", {}), (200, []))
        status, answer = self.emulator.post("/moto-api/rotatetoken/updates", {"stack": "app"})
        self.assertEqual((status, answer["error"]), (400, "unknown updates key 'stack'; known keys: none"))


class KnownKeys(unittest.TestCase):
    """The declared keys cover every key read and every key sent."""

    def test_every_key_the_patches_read_is_known(self) -> None:
        read = set()
        for path in glob.glob(os.path.join(HERE, "rotatetoken", "**", "*.py"), recursive=True):
            with open(path) as f:
                read |= set(re.findall(r"""CONTROL(?:\.get\(|\[)\s*["']([a-z_]+)["']""", f.read()))
        self.assertGreaterEqual(len(read), 9)
        self.assertEqual(read - set(KNOWN_CONFIG_KEYS) - {"instance"}, set())

    def test_every_key_the_suites_benchmarks_and_scripts_post_is_known(self) -> None:
        sent = set()
        for pattern in ("tests/*.rs", "tests/harness/*.rs", "bench/*.rs", "scripts/*.rs"):
            for path in glob.glob(os.path.join(ROOT, pattern)):
                with open(path) as f:
                    sent |= control_keys(f.read())
        self.assertGreaterEqual(len(sent), 8, sent)
        self.assertEqual(sent - set(KNOWN_CONFIG_KEYS), {"update_delay_second"},
                         "only the Rust test of a misspelt key (tests/emulator.rs) sends an unknown key")

    def test_every_key_the_emulator_starts_with_is_known(self) -> None:
        self.assertEqual(set(CONTROL) - set(KNOWN_CONFIG_KEYS), set())


def control_keys(text: str) -> set[str]:
    """The top-level keys of every `.control(json!({...}))` in Rust source."""
    keys = set()
    for m in re.finditer(r"\.control\(\s*json!\(\s*\{", text):
        depth, i, in_string, start = 1, m.end(), False, None
        while depth and i < len(text):
            c = text[i]
            if in_string:
                if c == "\\":
                    i += 1
                elif c == '"':
                    in_string = False
                    if depth == 1 and re.match(r"\s*:", text[i + 1:]):
                        keys.add(text[start:i])
            elif c == '"':
                in_string, start = True, i + 1
            elif c in "{[":
                depth += 1
            elif c in "}]":
                depth -= 1
            i += 1
    return keys


if __name__ == "__main__":
    unittest.main()
