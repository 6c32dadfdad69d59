"""One retrieval path for every recording, hot or archived: `callqc retrieve` and the review app use it.

A call is read from its hot object when there is one, else from its archive image with one ranged
GET of exactly its bytes (offset and length from the manifest). Whatever the source, the bytes are
checked against the SHA-256 recorded at ingest before anyone gets them, and every retrieval writes
an audit row. A hot copy that is missing or damaged falls back to the archive copy.
Access rules (an agent sees only own calls) are the caller's: see storage.access.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import logging
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TypeVar

from sqlmodel import Session, col, select

from storage import audit
from storage.archive.tables import ArchiveEntry, ArchiveImage, ImageState
from storage.calls import Call
from storage.db import session as db_session
from storage.errors import CallqcError, Forbidden, InvalidInput, NotFound
from storage.keys import validate_call_id
from storage.models import AuditAction
from storage.objectstore import ChecksumMismatch, ObjectNotFound, ObjectStore
from storage.redactions import CallRedaction
from storage.settings import get_settings
from storage.stores import get_store

log = logging.getLogger(__name__)
T = TypeVar("T")


class RecordingMissing(NotFound):
    """recording not found"""


class RecordingSource(StrEnum):
    hot = "hot"
    archive = "archive"


class AudioVariant(StrEnum):
    original = "original"  # the recording as ingested (people with the `pii` permission)
    redacted = "redacted"  # personal data cut out (everyone else); the original when nothing was found


class NotYetRedacted(Forbidden):
    """recording not yet checked for personal data (run `callqc redact CALL`)"""


class OriginalNotKept(NotFound):
    """the original recording is not kept (archive holds the redacted copy only)"""


@dataclass(frozen=True)
class Location:
    source: RecordingSource
    bucket: str
    key: str
    offset: int
    length: int


@dataclass(frozen=True)
class Recording:
    call_id: str
    filename: str  # <call-id>.<ext>, safe to use as a download name
    sha256: str
    size: int
    source: RecordingSource
    data: bytes = b""  # empty when the recording was written to a file
    variant: AudioVariant = AudioVariant.original


def open_recording(
    call_id: str,
    *,
    actor: str,
    source: str | None,
    action: AuditAction = AuditAction.retrieve,
    store: ObjectStore | None = None,
    variant: AudioVariant = AudioVariant.original,
) -> Recording:
    """The call's audio (original or redacted) in memory, SHA-256 checked and audited."""

    def consume(chunks: Iterable[bytes], expected: str) -> bytes:
        data = b"".join(chunks)
        _check(hashlib.sha256(data).hexdigest(), expected, call_id=call_id)
        return data

    rec, data = _retrieve(call_id, consume, actor=actor, source=source, action=action, store=store, variant=variant)
    return Recording(rec.call_id, rec.filename, rec.sha256, len(data), rec.source, data, rec.variant)


def save_recording(
    call_id: str,
    dest: Path,
    *,
    actor: str,
    source: str | None,
    action: AuditAction = AuditAction.download,
    store: ObjectStore | None = None,
    variant: AudioVariant = AudioVariant.original,
) -> Recording:
    """Stream the call's audio to ``dest``; the file appears only once its SHA-256 has matched."""
    dest = Path(dest)

    def consume(chunks: Iterable[bytes], expected: str) -> int:
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
        try:
            h, size = hashlib.sha256(), 0
            with os.fdopen(fd, "wb") as out:
                for chunk in chunks:
                    h.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
            _check(h.hexdigest(), expected, call_id=call_id)
            os.replace(tmp, dest)
            return size
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    rec, _ = _retrieve(call_id, consume, actor=actor, source=source, action=action, store=store, variant=variant)
    return rec


def locate(
    session: Session, call_id: str, variant: AudioVariant = AudioVariant.original
) -> tuple[str, str, list[Location]]:
    """(expected SHA-256, file name, places to read from in order of preference) of the call's
    original audio or of its redacted copy (the original itself when redaction found nothing)."""
    cid = validate_call_id(call_id)
    settings = get_settings()
    call = session.get(Call, cid)
    row = session.exec(
        select(ArchiveEntry, ArchiveImage)
        .join(ArchiveImage, col(ArchiveImage.id) == col(ArchiveEntry.image_id))
        .where(ArchiveEntry.call_id == cid)
    ).first()
    if call is None and row is None:
        raise RecordingMissing(f"no call {cid}")
    archived: Location | None = None
    if row is not None:
        entry, image = row
        if image.state in (ImageState.stored, ImageState.verified) and entry.offset is not None:
            archived = Location(RecordingSource.archive, settings.bucket_archive, image.object_key, entry.offset,
                                entry.length)
    redaction = session.get(CallRedaction, cid)
    if variant == AudioVariant.redacted:
        if redaction is None or (redaction.audio_key is None and redaction.hits > 0):
            raise NotYetRedacted(cid)  # never checked, or its redacted copy was never made
        if redaction.audio_key is not None:
            copies: list[Location] = []
            if call is not None and call.disposed_at is None:
                copies.append(Location(RecordingSource.hot, settings.bucket_recordings, redaction.audio_key, 0,
                                       redaction.audio_size or 0))
            if archived is not None and row is not None and row[0].audio == "redacted":
                copies.append(archived)
            return redaction.audio_sha256 or "", f"{cid}.redacted.wav", copies
        # nothing was cut: the original is what everyone hears
    places: list[Location] = []
    if call is not None and call.hot_present:
        places.append(
            Location(RecordingSource.hot, settings.bucket_recordings, call.audio_key, 0, call.size_bytes)
        )
    if archived is not None and row is not None and row[0].audio in ("original", "clean"):
        places.append(archived)
    elif archived is not None and not places and variant == AudioVariant.original:
        raise OriginalNotKept(cid)
    expected = call.sha256 if call is not None else row[0].sha256  # type: ignore[index]
    key = call.audio_key if call is not None else row[0].path  # type: ignore[index]
    ext = key.rpartition("/")[2].rpartition(".")[2] or "bin"
    return expected, f"{cid}.{ext}", places


def _retrieve(
    call_id: str,
    consume: Callable[[Iterable[bytes], str], T],
    *,
    actor: str,
    source: str | None,
    action: AuditAction,
    store: ObjectStore | None,
    variant: AudioVariant = AudioVariant.original,
) -> tuple[Recording, T]:
    with db_session() as s:
        expected, filename, places = locate(s, call_id, variant)
    if not places:
        raise RecordingMissing(f"call {call_id} has no hot copy and no stored archive image")
    store = store or get_store()
    last: CallqcError | None = None
    for place in places:
        try:
            # one ranged GET: iter_chunks streams a single request for [offset, offset + length)
            result = consume(
                store.iter_chunks(place.bucket, place.key, offset=place.offset, length=place.length), expected
            )
        except (ObjectNotFound, ChecksumMismatch) as exc:
            log.warning("retrieve: %s from %s failed: %s", call_id, place.source, exc)
            last = exc
            continue
        with db_session() as s:
            audit.record(
                s,
                actor,
                action,
                call_id=call_id,
                source=source,
                detail={
                    "from": str(place.source),
                    "key": place.key,
                    "offset": place.offset,
                    "length": place.length,
                    "sha256": expected,
                    "audio": str(variant),
                },
            )
        log.info("retrieve: %s from %s for %s", call_id, place.source, actor)
        return Recording(call_id, filename, expected, place.length, place.source, variant=variant), result
    assert last is not None
    raise last


def _check(got: str, expected: str, *, call_id: str) -> None:
    if got != expected:
        raise ChecksumMismatch(f"call {call_id}: read {got}, recorded {expected}")



@dataclass(frozen=True)
class Span:
    """Part of a recording, for HTTP Range answers: where it is read from and its bytes as they come."""

    call_id: str
    filename: str
    size: int  # of the whole recording
    start: int
    length: int
    source: RecordingSource
    chunks: Iterator[bytes]


class InvalidRange(InvalidInput):
    """requested range not satisfiable"""

    def __init__(self, message: str = "", *, size: int = 0) -> None:
        super().__init__(message)
        self.size = size


def read_span(
    call_id: str, wanted: Callable[[int], tuple[int, int]], *, store: ObjectStore | None = None
) -> Span:
    """The part ``wanted(size) → (start, length)`` of a call's audio, hot or archived, one ranged GET.

    A part cannot be checked against the whole file's SHA-256 (the full read of open_recording does
    that); the archive entry's offset and length keep an archived call's span inside its own bytes.
    The caller audits. ``wanted`` raises InvalidRange for a range the size cannot satisfy.
    """
    with db_session() as s:
        _expected, filename, places = locate(s, call_id)
    if not places:
        raise RecordingMissing(f"call {call_id} has no hot copy and no stored archive image")
    store = store or get_store()
    last: CallqcError | None = None
    for place in places:
        start, length = wanted(place.length)
        if start < 0 or length <= 0 or start + length > place.length:
            raise InvalidRange(f"bytes {start}+{length} of {place.length}", size=place.length)
        chunks = store.iter_chunks(place.bucket, place.key, offset=place.offset + start, length=length)
        try:
            first = next(chunks, b"")  # a missing hot object shows here: fall back to the archive
        except ObjectNotFound as exc:
            log.warning("read_span: %s from %s failed: %s", call_id, place.source, exc)
            last = exc
            continue
        return Span(call_id, filename, place.length, start, length, place.source, itertools.chain([first], chunks))
    assert last is not None
    raise last
