"""The ``ObjectStore`` protocol every backend implements and its errors (the factory: storage/stores.py).

Two backends: :class:`storage.local_store.LocalStore` (a folder; the embedded default) and
:class:`storage.s3_store.S3Store` (the ``minio`` client; MinIO, Ceph RGW, AWS). One contract test
suite (tests/test_objectstore_contract.py) runs against both.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

from storage.errors import CallqcError, Forbidden, NotFound

CHUNK = 1024 * 1024


class ObjectNotFound(NotFound):
    """object not found"""


class ChecksumMismatch(CallqcError):
    """SHA-256 mismatch"""


class RetentionLocked(Forbidden):
    """object is under retention or legal hold"""


class RetentionMode(StrEnum):
    GOVERNANCE = "GOVERNANCE"
    COMPLIANCE = "COMPLIANCE"


@dataclass(frozen=True)
class ObjectInfo:
    bucket: str
    key: str
    size: int
    sha256: str | None = None
    version_id: str | None = None
    last_modified: datetime | None = None


@dataclass(frozen=True)
class Retention:
    mode: RetentionMode
    until: datetime


@runtime_checkable
class ObjectStore(Protocol):
    """Where audio, archive images and model files live. Keys are built by storage.keys."""

    def ensure_bucket(self, bucket: str, *, object_lock: bool = False) -> None:
        """Create the bucket if missing (with Object Lock when asked)."""

    def put_stream(
        self, bucket: str, key: str, stream: BinaryIO, *, length: int = -1, sha256: str | None = None,
        content_type: str = "application/octet-stream",
    ) -> ObjectInfo:
        """Store ``stream``; if ``sha256`` is given and differs, store nothing and raise ChecksumMismatch."""

    def put_file(self, bucket: str, key: str, path: Path, *, sha256: str | None = None) -> ObjectInfo:
        """Store a local file (multipart on S3 for large files)."""

    def stat(self, bucket: str, key: str) -> ObjectInfo:
        """Size, SHA-256 (as recorded at upload) and version; ObjectNotFound if absent."""

    def get_range(self, bucket: str, key: str, *, offset: int = 0, length: int | None = None) -> bytes:
        """Exactly ``length`` bytes from ``offset`` (to the end when ``length`` is None)."""

    def iter_chunks(
        self, bucket: str, key: str, *, offset: int = 0, length: int | None = None
    ) -> Iterator[bytes]:
        """Stream an object (or a range of it) without holding it whole in memory."""

    def delete(self, bucket: str, key: str, *, version_id: str | None = None) -> None:
        """Delete; RetentionLocked if retention or a legal hold forbids it."""

    def list(self, bucket: str, prefix: str = "") -> Iterator[ObjectInfo]:
        """Objects under ``prefix``, in key order."""

    def presigned_get(self, bucket: str, key: str, *, ttl_s: int | None = None) -> str:
        """A URL a player can fetch for a short time (``file://`` on the local store)."""

    def set_retention(
        self, bucket: str, key: str, *, mode: RetentionMode, until: datetime, version_id: str | None = None
    ) -> None:
        """WORM retention until ``until``."""

    def get_retention(self, bucket: str, key: str, *, version_id: str | None = None) -> Retention | None:
        """The object's retention, if any."""

    def set_legal_hold(self, bucket: str, key: str, on: bool, *, version_id: str | None = None) -> None:
        """Turn a legal hold on or off."""

    def get_legal_hold(self, bucket: str, key: str, *, version_id: str | None = None) -> bool:
        """Whether a legal hold is on."""


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def sha256_of(store: ObjectStore, bucket: str, key: str) -> str:
    """Recompute an object's SHA-256 by reading it (fixity checks; not the recorded value)."""
    h = hashlib.sha256()
    for chunk in store.iter_chunks(bucket, key):
        h.update(chunk)
    return h.hexdigest()
