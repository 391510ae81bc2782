"""S3: (25) conditional writes check and write as one step; (46) writes refused."""

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


DENIED_XML = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
    "<Message>Access Denied</Message><RequestId>{request_id}</RequestId>"
    "<HostId>{request_id}</HostId></Error>"
)


@patch(
    46, service="S3",
    behaviour="""config {"deny_s3_writes": ["map-results/*", "runs/*/summary.json"]}: a PutObject
      whose key matches one of these patterns (fnmatch) is refused with S3's 403
      AccessDenied, whoever writes it (a function, or Step Functions' ResultWriter), and
      nothing is written.""",
    source="""Amazon S3 API reference, "Error responses": AccessDenied, HTTP 403, the answer to a
      write a bucket policy, an SCP or a KMS key policy does not allow (a tightened
      policy, a disabled key); Step Functions developer guide, "Handling errors":
      States.ResultWriterFailed when a Distributed Map cannot write its results.""",
)
def install_denied_writes() -> None:
    """(46) PutObject refused for the configured keys, before moto writes anything."""
    import fnmatch
    import uuid

    from moto.s3 import responses as s3_responses

    from .state import CONTROL

    original = s3_responses.S3Response.put_object

    def put_object(self: Any) -> Any:
        patterns = CONTROL.get("deny_s3_writes") or []
        key = self.parse_key_name()
        if any(fnmatch.fnmatchcase(key, p) for p in patterns):
            return 403, {"Content-Type": "application/xml"}, DENIED_XML.format(request_id=uuid.uuid4().hex)
        return original(self)

    s3_responses.S3Response.put_object = put_object
