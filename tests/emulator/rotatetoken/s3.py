"""S3: (25) conditional writes check and write as one step."""

from __future__ import annotations

import threading
from typing import Any

from .registry import patch

S3_CONDITIONAL = threading.Lock()


@patch(
    25, service="S3",
    behaviour="""S3 conditional writes are atomic: PutObject with `If-None-Match: *` or `If-Match`,
      and DeleteObject with `If-Match`, check and write as one step ("Add preconditions to
      S3 operations with conditional requests" and "How to perform conditional deletes",
      Amazon S3 user guide: of concurrent conditional writes to one key, one succeeds and
      the others get 412 PreconditionFailed). moto checks, then writes, on a threaded
      server: two racing creates could both succeed.""",
    source="""Amazon S3 user guide, "Add preconditions to S3 operations with conditional requests"
      and "How to perform conditional deletes".""",
)
def install_conditional_writes() -> None:
    """(25) A conditional PutObject/DeleteObject checks and writes under one lock."""
    from moto.s3 import responses as s3_responses

    for name in ("put_object", "delete_object"):
        original = getattr(s3_responses.S3Response, name)

        def conditional(self: Any, _original: Any = original) -> Any:
            if self.headers.get("If-Match") or self.headers.get("If-None-Match"):
                with S3_CONDITIONAL:
                    return _original(self)
            return _original(self)

        setattr(s3_responses.S3Response, name, conditional)
