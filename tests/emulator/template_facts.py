"""Prints, as JSON, the facts of template.yaml that the tests must use rather than copy:
the EventBridge rule patterns, the state machine's DefinitionSubstitutions and
DefinitionUri, the deploy parameters' defaults, and each function's binary, timeout, memory size and environment variable names.

Usage: python tests/emulator/template_facts.py template.yaml
"""

import json
import sys

from cfnlint.decode import decode


def facts(path: str) -> dict:
    template, errors = decode(path)
    if errors:
        raise SystemExit(f"{path}: {errors}")
    resources = template["Resources"]
    out: dict = {"rule_patterns": [], "functions": {}, "state_machines": {},
                 "parameter_defaults": {name: p.get("Default") for name, p in (template.get("Parameters") or {}).items()},
                 "parameter_ranges": {name: [p.get("MinValue"), p.get("MaxValue")]
                                      for name, p in (template.get("Parameters") or {}).items() if "MaxValue" in p}}
    for logical, res in resources.items():
        props = res.get("Properties", {})
        if res["Type"] == "AWS::Serverless::Function":
            binary = res.get("Metadata", {}).get("BuildProperties", {}).get("Binary")
            env = (props.get("Environment") or {}).get("Variables", {})
            out["functions"][logical] = {
                "binary": binary,
                "timeout": props.get("Timeout"),
                "memory_mb": props.get("MemorySize") or template.get("Globals", {}).get("Function", {}).get("MemorySize", 128),
                "environment": sorted(env),
            }
            on_failure = ((props.get("EventInvokeConfig") or {}).get("DestinationConfig") or {}).get("OnFailure") or {}
            out["functions"][logical]["on_failure"] = _logical(on_failure.get("Destination"))
            for name, event in (props.get("Events") or {}).items():
                if event.get("Type") in ("EventBridgeRule", "CloudWatchEvent"):
                    dead_letter = (event["Properties"].get("DeadLetterConfig") or {}).get("Arn")
                    out["rule_patterns"].append({"name": name, "function": logical, "pattern": _refs_named(event["Properties"]["Pattern"]),
                                                 "dead_letter": _logical(dead_letter)})
        elif res["Type"] == "AWS::Serverless::StateMachine":
            out["state_machines"][logical] = {
                "definition_uri": props.get("DefinitionUri"),
                "substitutions": sorted((props.get("DefinitionSubstitutions") or {}).keys()),
                # Each substitution's value as `${Ref:X}` / `${GetAtt:X.Arn}`: the harness
                # fills in what it created for X, never a retyped name.
                "substitution_values": _refs_named(props.get("DefinitionSubstitutions") or {}),
            }
        elif res["Type"] == "AWS::Events::Rule":
            # Rules outside the functions' SAM events (the forwarded-events bus): their
            # targets, each with its dead-letter queue. Not created by the harness.
            out.setdefault("other_rules", []).append({
                "name": logical,
                "pattern": _refs_named(props.get("EventPattern")),
                "targets": [{"target": _logical(t.get("Arn")),
                             "dead_letter": _logical((t.get("DeadLetterConfig") or {}).get("Arn"))}
                            for t in props.get("Targets", [])],
            })
        elif res["Type"] == "AWS::CloudWatch::Alarm":
            threshold = props.get("Threshold")
            if isinstance(threshold, dict) and "Ref" in threshold:
                threshold = (template.get("Parameters", {}).get(threshold["Ref"]) or {}).get("Default")
            out.setdefault("alarms", []).append({
                "name": logical,
                "namespace": props.get("Namespace"),
                "metric": props.get("MetricName"),
                "threshold": threshold,
                "comparison": props.get("ComparisonOperator"),
                "watches": sorted({_logical(d.get("Value")) for d in props.get("Dimensions", []) if _logical(d.get("Value"))}),
                "actions": sorted({_logical(a) for a in props.get("AlarmActions", []) if _logical(a)}),
            })
        elif res["Type"] == "AWS::S3::Bucket":
            rules = ((props.get("LifecycleConfiguration") or {}).get("Rules")) or []
            out.setdefault("expiring_prefixes", {})[logical] = sorted(
                (r.get("Prefix") or (r.get("Filter") or {}).get("Prefix") or "")
                for r in rules if r.get("ExpirationInDays") is not None or r.get("ExpirationDate"))
        out.setdefault("types", {})[logical] = res["Type"]
    globals_env = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    out["global_environment"] = sorted(globals_env)
    return out


def _refs_named(value):
    """A pattern with each `!Ref X` as the string `${Ref:X}` (`!GetAtt X.Y` as
    `${GetAtt:X.Y}`), for the harness to fill in."""
    if isinstance(value, dict):
        if set(value) == {"Ref"}:
            return "${Ref:%s}" % value["Ref"]
        if set(value) == {"Fn::GetAtt"}:
            att = value["Fn::GetAtt"]
            return "${GetAtt:%s}" % (".".join(att) if isinstance(att, list) else att)
        return {k: _refs_named(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_refs_named(v) for v in value]
    return value


def _logical(ref) -> str | None:
    """The logical id a `!Ref X` / `!GetAtt X.Y` points at."""
    if isinstance(ref, dict):
        if "Ref" in ref:
            return ref["Ref"]
        att = ref.get("Fn::GetAtt")
        if att:
            return att[0] if isinstance(att, list) else str(att).split(".")[0]
    return None


if __name__ == "__main__":
    print(json.dumps(facts(sys.argv[1] if len(sys.argv) > 1 else "template.yaml"), default=str))
