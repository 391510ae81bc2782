"""Prints, as JSON, the IAM actions each RotateToken function is granted by template.yaml,
and those the target role of target-role.yaml grants, for one set of deploy parameters:
conditions are evaluated and `Fn::If` branches chosen as CloudFormation would.

Usage: python tests/emulator/iam_policies.py template.yaml target-role.yaml '{"SelectionMode": "all"}'
Output: {"functions": {"rotatetoken-refresh": ["cloudformation:DescribeStacks", ...]},
         "target_roles": {"RotateTokenTarget": [...], "RotateTokenTargetReader": [...]}}
"""

import json
import re
import sys
from typing import Any

from cfnlint.decode import decode

NO_VALUE = object()


class Evaluator:
    def __init__(self, template: dict, params: dict[str, Any]):
        self.template = template
        self.params = {}
        for name, spec in (template.get("Parameters") or {}).items():
            value = params.get(name, spec.get("Default", ""))
            if spec.get("Type") == "CommaDelimitedList" and isinstance(value, str):
                value = [v for v in value.split(",")] if value else [""]
            self.params[name] = value
        self.conditions: dict[str, bool] = {}

    def condition(self, name: str) -> bool:
        if name not in self.conditions:
            self.conditions[name] = bool(self.value(self.template["Conditions"][name]))
        return self.conditions[name]

    def value(self, node: Any) -> Any:
        """Resolves the intrinsics that policies and conditions here use."""
        if isinstance(node, list):
            return [v for v in (self.value(n) for n in node) if v is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, arg), = node.items()
            if key == "Ref":
                return NO_VALUE if arg == "AWS::NoValue" else self.params.get(arg, f"<{arg}>")
            if key == "Condition":
                return self.condition(arg)
            if key == "Fn::If":
                name, yes, no = arg
                return self.value(yes if self.condition(name) else no)
            if key == "Fn::Equals":
                a, b = (self.value(x) for x in arg)
                return a == b
            if key == "Fn::Not":
                return not self.value(arg[0])
            if key == "Fn::Or":
                return any(self.value(x) for x in arg)
            if key == "Fn::And":
                return all(self.value(x) for x in arg)
            if key == "Fn::Join":
                sep, items = arg
                items = self.value(items)
                return sep.join(str(i) for i in (items if isinstance(items, list) else [items]))
            if key == "Fn::Sub" and isinstance(arg, str):
                # Parameters only (a role's name); anything else stays a placeholder.
                return re.sub(r"\$\{([^}]+)\}", lambda m: str(self.params.get(m.group(1), f"<{m.group(1)}>")), arg)
            if key.startswith("Fn::"):
                return f"<{key}>"  # GetAtt, Split...: resources, not actions
        return {k: v for k, v in ((k, self.value(v)) for k, v in node.items()) if v is not NO_VALUE}


def actions_of(statements: Any) -> set[str]:
    out: set[str] = set()
    for st in statements if isinstance(statements, list) else [statements]:
        if not isinstance(st, dict) or st.get("Effect") != "Allow":
            continue
        action = st.get("Action", [])
        out.update([action] if isinstance(action, str) else action)
    return out


def pipeline_roles(role_template: dict) -> list[dict]:
    """The roles of target-role.yaml that the pipeline assumes: not those a service assumes
    (the stack-ends forwarding role is EventBridge's, ForwardStackOperationEnds)."""
    out = []
    for res in role_template["Resources"].values():
        if res["Type"] != "AWS::IAM::Role":
            continue
        trust = res["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        trust = trust if isinstance(trust, list) else [trust]
        if any("Service" in (st.get("Principal") or {}) for st in trust):
            continue
        out.append(res)
    return out


def grants(template_path: str, role_path: str, params: dict[str, Any]) -> dict:
    template, errors = decode(template_path)
    if errors:
        raise SystemExit(f"{template_path}: {errors}")
    ev = Evaluator(template, params)
    functions = {}
    for logical, res in template["Resources"].items():
        if res["Type"] != "AWS::Serverless::Function":
            continue
        binary = res["Metadata"]["BuildProperties"]["Binary"]
        actions: set[str] = set()
        for policy in ev.value(res["Properties"].get("Policies", [])):
            if isinstance(policy, dict) and "Statement" in policy:
                actions |= actions_of(policy["Statement"])
        functions[binary] = sorted(actions)

    role, errors = decode(role_path)
    if errors:
        raise SystemExit(f"{role_path}: {errors}")
    rev = Evaluator(role, params)
    # Each role the pipeline assumes, by name (the request log names a session's role).
    target_roles: dict[str, list[str]] = {}
    for res in pipeline_roles(role):
        role_actions: set[str] = set()
        for policy in rev.value(res["Properties"].get("Policies", [])):
            role_actions |= actions_of(policy["PolicyDocument"]["Statement"])
        target_roles[str(rev.value(res["Properties"]["RoleName"]))] = sorted(role_actions)
    return {"functions": functions, "target_roles": target_roles}


if __name__ == "__main__":
    print(json.dumps(grants(sys.argv[1], sys.argv[2], json.loads(sys.argv[3] if len(sys.argv) > 3 else "{}"))))
