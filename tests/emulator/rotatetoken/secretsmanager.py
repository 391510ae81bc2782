"""(31) Secrets Manager: each secret version's own creation date."""

from __future__ import annotations

import json
import time
from typing import Any

from .registry import patch


@patch(
    31, service="Secrets Manager",
    behaviour="""ListSecretVersionIds gives each version's own CreatedDate (SecretVersionsListEntry,
      "The date and time this version of the secret was created", Secrets Manager API
      reference), to the millisecond. moto: the time of the ListSecretVersionIds call.""",
    source="""Secrets Manager API reference, SecretVersionsListEntry.CreatedDate.""",
)
def install_secret_version_dates() -> None:
    """(31) Each secret version's own creation time, to the millisecond, in ListSecretVersionIds."""
    from moto.secretsmanager.models import SecretsManagerBackend

    created: dict[str, float] = {}  # version id -> epoch seconds

    def stamping(name: str) -> None:
        original = getattr(SecretsManagerBackend, name)

        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            out = original(self, *args, **kwargs)
            now = time.time()
            for secret in list(self.secrets.values()):
                for version_id in getattr(secret, "versions", {}) or {}:
                    created.setdefault(version_id, now)
            return out

        setattr(SecretsManagerBackend, name, wrapper)

    for name in ("create_secret", "put_secret_value", "update_secret", "rotate_secret"):
        stamping(name)

    original_list = SecretsManagerBackend.list_secret_version_ids

    def list_secret_version_ids(self: Any, secret_id: str, *args: Any, **kwargs: Any) -> str:
        answer = json.loads(original_list(self, secret_id, *args, **kwargs))
        secret = self.secrets[secret_id]
        for v in answer.get("Versions", []):
            at = created.get(v["VersionId"])
            if at is None:
                at = secret.versions[v["VersionId"]].get("createdate", time.time())
            v["CreatedDate"] = round(at, 3)
            v.pop("LastAccessedDate", None)  # never accessed: the pipeline reads no value
        return json.dumps(answer)

    SecretsManagerBackend.list_secret_version_ids = list_secret_version_ids
