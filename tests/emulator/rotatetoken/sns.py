"""SNS: (28) publishing to a KMS-encrypted topic uses the key, with the caller's credentials."""

from __future__ import annotations

from typing import Any

from .registry import patch
from .request_log import log_implied_call


@patch(
    28, service="SNS",
    behaviour="""SNS Publish to a topic encrypted with a KMS key (KmsMasterKeyId) uses the key with
      the publisher's credentials: the publisher needs kms:GenerateDataKey* and kms:Decrypt
      on it ("Encryption at rest" and "Enable compatibility between event sources from AWS
      services and encrypted topics", SNS developer guide). Logged as implied calls (14);
      a key that does not exist or is disabled refuses the publish (KMSNotFound,
      KMSDisabled, as the Publish API reference lists). moto ignores the key.""",
    source="""SNS developer guide, "Encryption at rest" and "Enable compatibility between event
      sources from AWS services and encrypted topics"; SNS API reference, Publish (errors).""",
)
def install_encrypted_publish() -> None:
    """(28) Publishing to a KMS-encrypted topic uses the key with the caller's credentials."""
    from moto.kms.models import kms_backends
    from moto.sns import responses as sns_responses
    from moto.sns.exceptions import SNSException
    from moto.sns.models import sns_backends

    class KMSNotFound(SNSException):
        code = "KMSNotFound"

    class KMSDisabled(SNSException):
        code = "KMSDisabled"

    original = sns_responses.SNSResponse.publish

    def publish(self: Any) -> Any:
        arn = self._get_param("TopicArn") or self._get_param("TargetArn")
        topic = sns_backends[self.current_account][self.region].topics.get(arn) if arn else None
        key_id = getattr(topic, "kms_master_key_id", "") if topic else ""
        if key_id:
            kms = kms_backends[self.current_account][self.region]
            try:
                key = kms.describe_key(key_id)
            except Exception:
                raise KMSNotFound(f"Invalid keyId {key_id}")
            if not getattr(key, "enabled", True):
                raise KMSDisabled(f"{key_id} is disabled")
            log_implied_call(self, "kms:GenerateDataKey")
            log_implied_call(self, "kms:Decrypt")
        return original(self)

    sns_responses.SNSResponse.publish = publish
