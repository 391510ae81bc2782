"""(2) Dynamic references, resolved whenever moto builds a resource's properties; (39)'s
failure when the JSON key a reference names is not in the secret."""

from __future__ import annotations

import json
import re
from types import SimpleNamespace
from typing import Any

from ..registry import patch

DYNAMIC_REF = re.compile(r"\{\{resolve:(secretsmanager|ssm):([^}]+)\}\}")
JSON_KEY_MISSING = "Could not find a value associated with JSONKey in SecretString"
_moto = SimpleNamespace()  # moto's own functions, as found at install


class ResourceFailed(Exception):
    """A resource CloudFormation could not create or update, with the reason it gives in
    the resource's *_FAILED event. The stack operation fails and rolls back."""

    def __init__(self, reason: str, logical_id: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.logical_id = logical_id


def resolve_dynamic_refs(value: Any, account: str, region: str) -> Any:
    if isinstance(value, dict):
        return {k: resolve_dynamic_refs(v, account, region) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_dynamic_refs(v, account, region) for v in value]
    if isinstance(value, str) and "{{resolve:" in value:
        return DYNAMIC_REF.sub(lambda m: resolve_one(m.group(1), m.group(2), account, region), value)
    return value


def resolve_one(service: str, body: str, account: str, region: str) -> str:
    if service == "ssm":
        from moto.ssm.models import ssm_backends

        name = body.split(":")[0]
        return ssm_backends[account][region].get_parameter(name).value
    from moto.secretsmanager.models import secretsmanager_backends

    # secret-id[:SecretString[:json-key[:version-stage[:version-id]]]]; an ARN id has colons.
    parts = body.split(":")
    if body.startswith("arn:"):
        secret_id, rest = ":".join(parts[:7]), parts[7:]
        region = parts[3] or region
        account = parts[4] or account
    else:
        secret_id, rest = parts[0], parts[1:]
    rest += [""] * (4 - len(rest))
    _, json_key, stage, version = rest[:4]
    if stage and version:
        raise ValueError(f"dynamic reference to {secret_id} names both a version stage ({stage}) and a version id ({version}): specify one")
    backend = secretsmanager_backends[account][region]
    secret = backend.get_secret_value(secret_id=secret_id, version_id=version or None, version_stage=stage or None)
    text = secret.get("SecretString") if isinstance(secret, dict) else None
    if text is None:
        raise ValueError(f"secret {secret_id} has no SecretString")
    if json_key:
        return check_json_key(text, json_key)
    return text


def check_json_key(text: str, json_key: str) -> str:
    """The value of `json_key` in a secret's JSON text, as CloudFormation reads it."""
    try:
        data = json.loads(text)
    except ValueError:
        raise ResourceFailed(JSON_KEY_MISSING)
    if not isinstance(data, dict) or json_key not in data:
        raise ResourceFailed(JSON_KEY_MISSING)
    value = data[json_key]
    return value if isinstance(value, str) else json.dumps(value)


def parse_resource(resource_json: Any, resources_map: Any) -> Any:
    parsed = _moto.parse_resource(resource_json, resources_map)
    if not parsed:
        return parsed
    resource_class, cleaned, resource_type = parsed
    cleaned = resolve_dynamic_refs(cleaned, resources_map._account_id, resources_map._region_name)
    return resource_class, cleaned, resource_type


@patch(
    2, service="CloudFormation",
    behaviour="""`{{resolve:secretsmanager:...}}` and `{{resolve:ssm:...}}` dynamic references are
     resolved when a resource is created or updated (moto stores the literal text), a
     pinned `version-id` to that version's value and an empty one to AWSCURRENT; a
     reference naming both a version-stage and a version-id is refused ("Get an AWS
     Secrets Manager secret in an AWS CloudFormation resource", Secrets Manager user guide:
     `secret-id:SecretString:json-key:version-stage:version-id`, "If you specify
     version-id, then don't specify version-stage"); a version id the secret does not have
     fails the update (ResourceNotFoundException), which rolls back.""",
    source="""Secrets Manager user guide, "Get an AWS Secrets Manager secret in an AWS
     CloudFormation resource"; CloudFormation User Guide, "Using dynamic references".""",
)
def install_dynamic_references() -> None:
    from moto.cloudformation import parsing

    _moto.parse_resource = parsing.parse_resource
    parsing.parse_resource = parse_resource
