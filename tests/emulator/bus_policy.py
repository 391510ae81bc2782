"""Prints, as JSON, the resource policy template.yaml gives the pipeline's default event
bus for one set of deploy parameters: every AWS::Events::EventBusPolicy whose condition
holds, each statement with its StatementId as Sid, resolved as a deploy of stack
`rotatetoken` in 123456789012/us-east-1 would resolve it. The harness puts it on the
emulator's bus, so what admits a target account's forwarded stack ends is the template's.

Usage: python tests/emulator/bus_policy.py template.yaml '{"TargetOrganizationalUnitIds": "ou-ab12-11111111"}'
Output: {"Version": "2012-10-17", "Statement": [...]}
"""

import json
import sys
from typing import Any

from cfnlint.decode import decode

from iam_review import Concrete


class Resolver(Concrete):
    """Concrete, with Fn::Split (the OU paths of a condition are split from one string)."""

    def value(self, node: Any) -> Any:
        if isinstance(node, dict) and len(node) == 1 and "Fn::Split" in node:
            sep, text = node["Fn::Split"]
            return str(self.value(text)).split(sep)
        return super().value(node)


def bus_policy(template_path: str, params: dict[str, Any]) -> dict:
    template, _ = decode(template_path)
    ev = Resolver(template, params)
    statements = []
    for resource in (template.get("Resources") or {}).values():
        if resource.get("Type") != "AWS::Events::EventBusPolicy":
            continue
        if "Condition" in resource and not ev.condition(resource["Condition"]):
            continue
        props = ev.value(resource.get("Properties") or {})
        for st in props["Statement"] if isinstance(props["Statement"], list) else [props["Statement"]]:
            statements.append(dict(st, Sid=props["StatementId"]))
    return {"Version": "2012-10-17", "Statement": statements}


if __name__ == "__main__":
    print(json.dumps(bus_policy(sys.argv[1], json.loads(sys.argv[2] if len(sys.argv) > 2 else "{}"))))
