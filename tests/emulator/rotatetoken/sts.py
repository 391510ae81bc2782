"""(11) STS: AssumeRole refused as a target's trust policy would; the session policies it
was given recorded for (24) (request_log.py enforces them)."""

from __future__ import annotations

import json
from typing import Any

from .registry import patch
from .state import ASSUME_LOG, ASSUMED_ROLES, CONTROL, LOCK, SESSION_POLICIES


@patch(
    11, service="STS",
    behaviour="""AssumeRole is refused (AccessDenied) for listed accounts or a wrong external ID.""",
    source="""The target role's trust policy as IAM evaluates it (target-role.yaml: the account and
     the sts:ExternalId condition); measured: moto lets every AssumeRole through.""",
)
def install_assume_role_refusals() -> None:
    """(11) AssumeRole can be refused as AWS does when the target's trust policy does not
    allow the caller (`deny_assume_role`: account ids) or the external ID does not match
    (`external_id`). moto lets every AssumeRole through."""
    from moto.sts import models as sts_models
    from moto.sts.exceptions import STSClientError

    original = sts_models.STSBackend.assume_role

    def assume_role(self: Any, region_name: str, role_session_name: str, role_arn: str, policy: str, duration: int, external_id: str) -> Any:
        account = role_arn.split(":")[4] if role_arn.count(":") >= 5 else ""
        ASSUME_LOG.append({"role_arn": role_arn, "session": role_session_name, "external_id": external_id,
                           "session_policy": bool(policy)})
        expected = CONTROL.get("external_id")
        if account in CONTROL.get("deny_assume_role", []) or (expected and external_id != expected):
            raise STSClientError(
                "AccessDenied",
                f"User: arn:aws:sts::123456789012:assumed-role/rotatetoken is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
            )
        role = original(self, region_name, role_session_name, role_arn, policy, duration, external_id)
        with LOCK:
            ASSUMED_ROLES[role.access_key_id] = role_arn.rsplit("/", 1)[-1]
        if policy:
            with LOCK:
                SESSION_POLICIES[role.access_key_id] = (json.loads(policy), f"arn:aws:sts::{account}:assumed-role/{role_arn.rsplit('/', 1)[-1]}/{role_session_name}")
        return role

    sts_models.STSBackend.assume_role = assume_role
