"""(31) Secrets Manager: each secret version's own creation date; (59) a replica's partial ARN."""

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


@patch(
    59, service="Secrets Manager",
    behaviour="""A partial ARN (the ARN without its 6-character suffix) finds a replica secret as
      it finds a primary, in the replica's region: `DescribeSecret`, `GetSecretValue` and a
      `{{resolve:secretsmanager:<partial ARN>}}` dynamic reference, such as one a template
      builds with `Fn::Sub` from `${AWS::Region}`. moto stores a replica under its full ARN
      and looks a partial ARN up by name only: ResourceNotFoundException.""",
    source="""Secrets Manager user guide, "Replicate an AWS Secrets Manager secret to other AWS
      Regions" (a replica keeps the primary's name; its ARN differs only in the Region);
      Secrets Manager API reference, DescribeSecret/GetSecretValue `SecretId` ("You can
      specify a partial ARN too... A partial ARN match can work as long as it uniquely
      matches only one secret"); CloudFormation User Guide, "Using dynamic references".""",
)
def install_partial_arns_of_replicas() -> None:
    """(59) A replica secret is found by its partial ARN."""
    from moto.secretsmanager.models import SecretsStore

    def replica_by_partial_arn(store: Any, key: str) -> Any:
        if not key.startswith("arn:") or ":secret:" not in key:
            return None
        for secret in dict.values(store):
            arn = getattr(secret, "arn", "")
            if len(arn) == len(key) + 7 and arn.startswith(key) and arn[len(key)] == "-":
                return secret
        return None

    original_getitem = SecretsStore.__getitem__
    original_contains = SecretsStore.__contains__
    original_get = SecretsStore.get

    def getitem(self: Any, key: str) -> Any:
        try:
            return original_getitem(self, key)
        except KeyError:
            found = replica_by_partial_arn(self, key)
            if found is None:
                raise
            return found

    def contains(self: Any, key: str) -> bool:
        return original_contains(self, key) or replica_by_partial_arn(self, key) is not None

    def get(self: Any, key: str) -> Any:
        found = original_get(self, key)
        return found if found is not None else replica_by_partial_arn(self, key)

    SecretsStore.__getitem__ = getitem  # type: ignore[method-assign]
    SecretsStore.__contains__ = contains  # type: ignore[method-assign]
    SecretsStore.get = get  # type: ignore[method-assign]
