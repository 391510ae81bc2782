"""`make local-invoke`'s local AWS, seeded without Docker.

`scripts/local_invoke.py` needs Docker for `sam local invoke`, so a machine without it skips
the whole script, and CI once failed there alone: the template gained a state machine
substitution (the alerts topic) that the script's seed did not fill. This runs that seed
against the emulator on every machine: every substitution the template declares is filled
with something the seed created.

Run: .venv/bin/python -m unittest discover -s tests/emulator -p 'test_*.py'
"""

from __future__ import annotations

import json
import os
import re
import sys
import unittest

from rotatetoken.testing import Emulator

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import local_invoke  # noqa: E402
from template_facts import facts  # noqa: E402


class LocalInvokeSeed(unittest.TestCase):
    def test_the_seed_fills_every_substitution_with_what_it_created(self) -> None:
        emulator = Emulator()
        try:
            names = ("secretsmanager", "cloudformation", "s3", "sns", "stepfunctions", "lambda", "iam")
            aws = {name: emulator.client(name) for name in names}
            local_invoke.seed(aws, facts(os.path.join(ROOT, "template.yaml")))

            (machine,) = aws["stepfunctions"].list_state_machines()["stateMachines"]
            text = aws["stepfunctions"].describe_state_machine(stateMachineArn=machine["stateMachineArn"])["definition"]
            self.assertIsNone(re.search(r"\$\{[A-Za-z0-9_]+\}", text), "a substitution was left unfilled")
            definition = json.loads(text)
            functions = {f["FunctionArn"] for f in aws["lambda"].list_functions()["Functions"]}
            topics = {t["TopicArn"] for t in aws["sns"].list_topics()["Topics"]}
            buckets = {b["Name"] for b in aws["s3"].list_buckets()["Buckets"]}
            seen = {"lambda": 0, "sns": 0, "s3": 0}
            for state in _states(definition):
                params = state.get("Parameters") or {}
                if state.get("Resource") == "arn:aws:states:::lambda:invoke":
                    self.assertIn(params["FunctionName"], functions)
                    seen["lambda"] += 1
                if state.get("Resource") == "arn:aws:states:::sns:publish":
                    self.assertIn(params["TopicArn"], topics)
                    seen["sns"] += 1
                for key in ("Bucket",):
                    for found in _values_named(state, key):
                        self.assertIn(found, buckets)
                        seen["s3"] += 1
            self.assertTrue(all(seen.values()), f"the definition's resources were not all checked: {seen}")
        finally:
            emulator.stop()


def _states(definition: dict):
    for state in definition.get("States", {}).values():
        yield state
        for inner in ("Iterator", "ItemProcessor"):
            if inner in state:
                yield from _states(state[inner])
        for branch in state.get("Branches", []):
            yield from _states(branch)


def _values_named(node, key: str):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key and isinstance(v, str):
                yield v
            elif k not in ("Iterator", "ItemProcessor", "Branches"):
                yield from _values_named(v, key)
    elif isinstance(node, list):
        for v in node:
            yield from _values_named(v, key)


if __name__ == "__main__":
    unittest.main()
