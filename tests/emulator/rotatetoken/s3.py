"""S3: (25) conditional writes check and write as one step; (46) writes refused; (54) a
listing never fails on a key deleted while it is built; (61) a listing by prefix reads only
the keys under it."""

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


@patch(
    54, service="S3",
    behaviour="""A listing (ListObjectsV2, ListObjects) answers while other requests write and delete
      keys of the bucket: moto's key store copies the bucket's keys, then reads each one
      again by name, and a key deleted in between made the listing answer HTTP 500
      (KeyError; 20 of them in a 1,300-stack fleet benchmark, where waits and lane places
      come and go). The listing now reads the copy it made: a key deleted meanwhile is
      listed or not, never an error.""",
    source="""Amazon S3 user guide, "Amazon S3 data consistency model": strong read-after-write
      consistency for LIST, with no error for concurrent writes; moto 5.2.5,
      s3/utils.py _VersionedKeyStore._iteritems.""",
)
def install_consistent_listing() -> None:
    """(54) The key store iterates its own snapshot (keys with their versions) only."""
    from moto.s3.utils import _VersionedKeyStore

    def _iteritems(self: Any) -> Any:
        for key, versions in self._self_iterable().items():
            if versions:
                yield key, versions[-1]

    def _itervalues(self: Any) -> Any:
        for versions in self._self_iterable().values():
            if versions:
                yield versions[-1]

    def _iterlists(self: Any) -> Any:
        yield from self._self_iterable().items()

    _VersionedKeyStore._iteritems = _iteritems
    _VersionedKeyStore.items = _VersionedKeyStore.iteritems = _iteritems
    _VersionedKeyStore._itervalues = _itervalues
    _VersionedKeyStore.values = _VersionedKeyStore.itervalues = _itervalues
    _VersionedKeyStore._iterlists = _iterlists
    _VersionedKeyStore.lists = _VersionedKeyStore.iterlists = _iterlists


# The prefix of the listing this thread is building (patch 61): moto's key store is asked
# for all its items, and patch 54's snapshot then reads only the keys under it.
_LISTING_PREFIX = threading.local()


@patch(
    61, service="S3",
    behaviour="""A listing by prefix (ListObjectsV2, ListObjects with `Prefix`) reads the bucket's key
      names alone and only the matching keys' versions: moto's list_objects read every key of
      the bucket, with its versions, for each listing, and a bucket of a fleet run's waits, lanes and
      results made that the largest part of the local AWS's CPU (17% of the emulator's
      samples with py-spy, 1,300 stacks, 2026-12-06), which slowed every other answer on
      the same process. What is listed is unchanged: the same keys, in the same order, a key
      deleted meanwhile listed or not, never an error (patch 54).""",
    source="""Amazon S3 API reference, ListObjectsV2: `Prefix` "limits the response to keys that
      begin with the specified prefix"; moto 5.2.5, s3/models.py S3Backend.list_objects.""",
)
def install_prefix_listing() -> None:
    """(61) While a listing with a prefix is built, the key store yields only the keys
    that begin with it (a snapshot of the key names, each read again: patch 54's rule)."""
    from moto.s3.models import S3Backend
    from moto.s3.utils import _VersionedKeyStore

    everything = _VersionedKeyStore._iteritems

    def _iteritems(self: Any) -> Any:
        prefix = getattr(_LISTING_PREFIX, "prefix", None)
        if not prefix:
            yield from everything(self)
            return
        # One C-level copy of the names (atomic under the GIL), then the matching ones read.
        for key in [k for k in list(dict.keys(self)) if k.startswith(prefix)]:
            versions = dict.get(self, key)
            if versions:
                yield key, versions[-1]

    _VersionedKeyStore._iteritems = _iteritems
    _VersionedKeyStore.items = _VersionedKeyStore.iteritems = _iteritems

    original = S3Backend.list_objects

    def list_objects(self: Any, bucket: Any, prefix: Any, *args: Any, **kwargs: Any) -> Any:
        before = getattr(_LISTING_PREFIX, "prefix", None)
        _LISTING_PREFIX.prefix = prefix
        try:
            return original(self, bucket, prefix, *args, **kwargs)
        finally:
            _LISTING_PREFIX.prefix = before

    S3Backend.list_objects = list_objects
