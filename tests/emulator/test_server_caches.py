"""The emulator's speed-only caches (server.cache_interpreter_parsers) keep moto's
behaviour: the Step Functions interpreter gets one client per region and service, built as
moto builds it, in every module that calls it; a JSONPath is parsed once and still finds
what it found.

Run: .venv/bin/python -m unittest discover -s tests/emulator -p 'test_*.py'
"""

from __future__ import annotations

import os
import unittest

from rotatetoken.server import cache_interpreter_parsers


class InterpreterCaches(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        # The port moto's own clients are built for (set by server.serve when serving); put
        # back afterwards, so the other suites of this process see their own environment.
        cls.port_before = os.environ.get("MOTO_PORT")
        os.environ["MOTO_PORT"] = "5999"
        cache_interpreter_parsers()

    @classmethod
    def tearDownClass(cls) -> None:
        if cls.port_before is None:
            os.environ.pop("MOTO_PORT", None)
        else:
            os.environ["MOTO_PORT"] = cls.port_before

    def test_every_interpreter_module_gets_one_client_per_region_and_service(self) -> None:
        import sys

        from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
        from moto.stepfunctions.parser.asl.utils import boto_client

        callers = [m for n, m in sys.modules.items() if n.startswith("moto.stepfunctions.parser") and hasattr(m, "boto_client_for")]
        self.assertGreater(len(callers), 3)
        self.assertEqual({m.boto_client_for for m in callers}, {boto_client.boto_client_for})
        first = lambda_eval_utils.boto_client_for(region="eu-west-1", service="lambda", state_credentials=None)
        self.assertIs(first, lambda_eval_utils.boto_client_for(region="eu-west-1", service="lambda", state_credentials={"RoleArn": "x"}))
        self.assertIsNot(first, lambda_eval_utils.boto_client_for(region="us-east-1", service="lambda", state_credentials=None))
        self.assertEqual(first.meta.endpoint_url, f"http://localhost:{os.environ['MOTO_PORT']}")
        self.assertEqual(first.meta.region_name, "eu-west-1")
        self.assertEqual(first.meta.config.retries["total_max_attempts"], 1)

    def test_a_path_is_parsed_once_and_still_finds_its_value(self) -> None:
        from moto.stepfunctions.parser.asl.utils import json_path

        self.assertIs(json_path.parse("$.a.b"), json_path.parse("$.a.b"))
        self.assertEqual(json_path.extract_json("$.a.b", {"a": {"b": 7}}), 7)
        self.assertEqual(json_path.extract_json("$.a[1]", {"a": [1, 2]}), 2)
        with self.assertRaises(json_path.NoSuchJsonPathError):
            json_path.extract_json("$.a.c", {"a": {"b": 7}})


if __name__ == "__main__":
    unittest.main()
