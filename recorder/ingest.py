"""Ingest one recording: probe, store the original bytes, register the call and its first job.

Order, and what a crash at each point leaves behind:

1. validate the call ID and metadata, probe the audio: nothing written yet;
2. look the call up (a short read): registered with the same SHA-256 → "exists" (nothing written), with
   other audio → :class:`CallExists` (nothing written, the registered object untouched);
3. stream the bytes to this attempt's own key ``recordings/YYYY/MM/DD/<id>~<tag>.<ext>``, then read
   them back and compare SHA-256. No database connection is held meanwhile: an upload may take
   minutes, and a pool of connections held by uploads leaves none to register with;
4. one transaction takes the call ID's lock (``pg_advisory_xact_lock`` on PostgreSQL; on SQLite
   ``BEGIN IMMEDIATE`` takes the database's write lock), looks the call up again, and inserts the
   ``Call`` row, its ``transcribe`` job and the audit row. The lock ends with the transaction.

When step 4 finds the call registered meanwhile (a racing sender won), or fails, this attempt's
object is deleted again: its key is its own, so that never touches another sender's object. A
database that is down or has no free connection is :class:`~storage.db.DatabaseUnavailable`
(HTTP 503, retry later). Only a process killed between steps 3 and 4 leaves an unregistered object.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import secrets
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from recorder.metadata import CallMeta, channel_map_for, check_meta, safe_text
from recorder.probe import AudioInfo, probe
from storage import audit, queue
from storage.calls import Call, CallStatus, Direction
from storage.db import get_engine, is_sqlite, session, unavailable
from storage.errors import Conflict, InvalidInput
from storage.jobs import JobKind
from storage.keys import InvalidCallId, recording_key, validate_call_id
from storage.models import AuditAction
from storage.objectstore import CHUNK, ChecksumMismatch, ObjectStore, sha256_file, sha256_of
from storage.settings import get_settings
from storage.stores import get_store

log = logging.getLogger(__name__)


class CallExists(Conflict):
    """call ID already registered with different audio"""


class TooLarge(InvalidInput):
    """recording too large"""


class TooShort(InvalidInput):
    """recording too short"""


SOURCE_MAX = 256  # the audit row's source column
ACTOR_MAX = 128  # ... and its actor column


@dataclass(frozen=True)
class IngestResult:
    call_id: str
    created: bool  # False: already registered with the same audio (idempotent retry)
    sha256: str
    audio_key: str


def ingest_file(
    path: Path,
    meta: CallMeta | None = None,
    *,
    name: str | None = None,
    actor: str = "cli",
    source: str | None = None,
    store: ObjectStore | None = None,
    engine: Engine | None = None,
) -> IngestResult:
    """Ingest the recording at ``path``. ``name`` (default the file's name) is used for messages and
    as the call ID when ``meta`` has none."""
    path = Path(path)
    raw_name = name or path.name
    name = safe_text(raw_name)
    meta = check_meta(meta or CallMeta())
    settings = get_settings()
    call_id = _call_id(meta, raw_name)
    size = path.stat().st_size
    if size > settings.max_upload_bytes:
        raise TooLarge(f"{name}: {size} bytes, at most {settings.max_upload_bytes}")
    info = probe(path, max_duration_s=settings.max_duration_s, name=name)
    if info.duration_s < settings.min_duration_s:
        raise TooShort(f"{name}: {info.duration_s:.3f} s, at least {settings.min_duration_s:g} s")
    sha = sha256_file(path)
    extra = dict(meta.meta or {})
    if info.raw is not None:
        # A headerless file can't be recognised from its bytes: the transcriber opens it as told here.
        extra["audio_format"] = info.raw.hint()
    if info.salvaged is not None:
        extra["salvaged"] = {"reason": info.salvaged, "decoded_s": info.duration_s}
    started = meta.started_at or datetime.fromtimestamp(path.stat().st_mtime, UTC)
    call = Call(
        call_id=call_id,
        tenant=meta.tenant or "default",
        agent_id=meta.agent_id,
        team=meta.team,
        queue=meta.queue,
        direction=meta.direction or Direction.unknown,
        caller=meta.caller,
        callee=meta.callee,
        started_at=started,
        ended_at=meta.ended_at or started + timedelta(seconds=info.duration_s),
        duration_s=info.duration_s,
        codec=info.codec,
        sample_rate=info.sample_rate,
        channels=info.channels,
        channel_map=channel_map_for(info.channels, meta.channel_map),
        meta=extra or meta.meta,
        audio_key=recording_key(call_id, started, info.ext, attempt=secrets.token_hex(4)),
        size_bytes=size,
        sha256=sha,
        status=CallStatus.recorded,
    )
    engine = engine or get_engine()
    with _database():
        existing = _existing(engine, call_id, sha, name)
    if existing is not None:
        return existing
    store = store or get_store()
    bucket = settings.bucket_recordings
    _store_verified(store, bucket, call.audio_key, path, sha)
    source = safe_text(source, SOURCE_MAX) if source is not None else None
    actor = safe_text(actor, ACTOR_MAX)  # "cli:<login name>": the environment's text, not ours
    outcome = _Registration()
    try:
        with _database():
            result = _register(engine, call, info, name=name, actor=actor, source=source, outcome=outcome)
    except BaseException:
        if outcome.committing:
            registered = _registered_after_error(engine, call)
            if registered:
                return IngestResult(call.call_id, True, call.sha256, call.audio_key)
            if registered is None:
                raise  # cannot tell: never delete the object of a call that may be registered
        _discard(store, bucket, call.audio_key)
        raise
    if result.audio_key != call.audio_key:  # a racing sender registered first: ours is not needed
        _discard(store, bucket, call.audio_key)
    return result


def ingest_stream(
    stream: BinaryIO,
    meta: CallMeta | None = None,
    *,
    name: str,
    actor: str = "cli",
    source: str | None = None,
    store: ObjectStore | None = None,
    engine: Engine | None = None,
) -> IngestResult:
    """Ingest a recording read from ``stream``: spooled to a temporary file (never held in memory)."""
    with spooled(stream, name=name) as tmp:
        return ingest_file(tmp, meta, name=name, actor=actor, source=source, store=store, engine=engine)


@contextlib.contextmanager
def spool_file() -> Iterator[Path]:
    """A temporary file path under ``<data_dir>/tmp`` (same disk as the data), removed afterwards."""
    tmp_root = get_settings().data_dir / "tmp"
    tmp_root.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(dir=tmp_root, prefix="ingest-"))
    try:
        yield folder / "upload"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def sweep_stale_spool(*, older_than_s: float = 86400.0) -> int:
    """Remove upload folders a killed process left in ``<data_dir>/tmp``; returns how many.

    Only folders untouched for ``older_than_s`` go: another process on this host may be mid-upload.
    """
    tmp_root = get_settings().data_dir / "tmp"
    if not tmp_root.is_dir():
        return 0
    cutoff = time.time() - older_than_s
    removed = 0
    for folder in tmp_root.glob("ingest-*"):
        with contextlib.suppress(FileNotFoundError):
            if folder.is_dir() and max(p.stat().st_mtime for p in (folder, *folder.iterdir())) < cutoff:
                shutil.rmtree(folder, ignore_errors=True)
                removed += 1
    if removed:
        log.info("sweep: removed %s stale upload folder(s) from %s", removed, tmp_root)
    return removed


@contextlib.contextmanager
def spooled(stream: BinaryIO, *, name: str) -> Iterator[Path]:
    """Copy ``stream`` to a temporary file, refusing it past ``max_upload_bytes``."""
    limit = get_settings().max_upload_bytes
    with spool_file() as tmp:
        written = 0
        with tmp.open("wb") as out:
            for chunk in iter(lambda: stream.read(CHUNK), b""):
                written += len(chunk)
                if written > limit:
                    raise TooLarge(f"{name}: more than {limit} bytes")
                out.write(chunk)
        yield tmp


def _call_id(meta: CallMeta, name: str) -> str:
    if meta.call_id is not None:
        return validate_call_id(meta.call_id)
    stem = Path(name).stem
    try:
        return validate_call_id(stem)
    except InvalidCallId as exc:
        raise InvalidCallId(f"{exc.detail} (taken from the file name; give the call ID explicitly)") from None


def _existing(engine: Engine, call_id: str, sha: str, name: str) -> IngestResult | None:
    with session(engine) as s:
        return _decide(s.get(Call, call_id), sha, name)


def _decide(row: Call | None, sha: str, name: str) -> IngestResult | None:
    """None if the call is not registered; the existing record if with the same audio; else CallExists."""
    if row is None:
        return None
    if row.sha256 != sha:
        raise CallExists(f"{row.call_id} (registered sha256 {row.sha256[:12]}…, {name} has {sha[:12]}…)")
    log.info("ingest: %s already registered with the same audio", row.call_id)
    return IngestResult(row.call_id, False, sha, row.audio_key)


def _store_verified(store: ObjectStore, bucket: str, key: str, path: Path, sha: str) -> None:
    """Put the bytes at ``key`` (this attempt's own), then re-read them and compare."""
    store.put_file(bucket, key, path, sha256=sha)
    try:
        actual = sha256_of(store, bucket, key)
    except BaseException:
        _discard(store, bucket, key)
        raise
    if actual != sha:
        _discard(store, bucket, key)
        raise ChecksumMismatch(f"{bucket}/{key}: stored copy has {actual}, expected {sha}")


@dataclass
class _Registration:
    committing: bool = False  # the rows were written; an error now may come after the commit took


def _register(
    engine: Engine,
    call: Call,
    info: AudioInfo,
    *,
    name: str,
    actor: str,
    source: str | None,
    outcome: _Registration,
) -> IngestResult:
    try:
        with session(engine, write=True) as s:
            _lock_call_id(s, engine, call.call_id)
            existing = _decide(s.get(Call, call.call_id), call.sha256, name)
            if existing is not None:
                return existing
            s.add(call)
            s.flush()  # the row exists before its job's foreign key points at it
            job_id = queue.enqueue(s, JobKind.transcribe, call_id=call.call_id)
            audit.record(
                s,
                actor,
                AuditAction.ingest,
                call_id=call.call_id,
                source=source,
                detail={"file": name, "sha256": call.sha256, "size": call.size_bytes, "key": call.audio_key},
            )
            s.flush()
            outcome.committing = True
    except sa.exc.IntegrityError:
        # Only reachable if the lock was bypassed (another host on a shared SQLite file): decide again.
        outcome.committing = False
        existing = _existing(engine, call.call_id, call.sha256, name)
        if existing is None:
            raise
        return existing
    log.info(
        "ingest: %s registered (%s, %.1f s, %s ch, job %s)",
        call.call_id,
        info.codec,
        info.duration_s,
        info.channels,
        job_id,
    )
    return IngestResult(call.call_id, True, call.sha256, call.audio_key)


def _lock_call_id(s: Session, engine: Engine, call_id: str) -> None:
    """Serialise registrations of one call ID until the transaction ends (SQLite: BEGIN IMMEDIATE did)."""
    if is_sqlite(engine):
        return
    digest = hashlib.sha256(b"callqc-ingest:" + call_id.encode()).digest()
    s.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": int.from_bytes(digest[:8], "big", signed=True)})


def _registered_after_error(engine: Engine, call: Call) -> bool | None:
    """After an error during COMMIT: did the commit take? None when the database cannot tell us."""
    try:
        with session(engine) as s:
            row = s.get(Call, call.call_id)
    except Exception:  # noqa: BLE001 - any failure here means "cannot tell"
        log.error("ingest: %s: cannot tell whether it was registered; object %s kept", call.call_id, call.audio_key)
        return None
    return row is not None and row.audio_key == call.audio_key


@contextlib.contextmanager
def _database() -> Iterator[None]:
    """Database errors that pass (down, busy) as DatabaseUnavailable; others unchanged."""
    try:
        yield
    except sa.exc.SQLAlchemyError as exc:
        mapped = unavailable(exc)
        if mapped is None:
            raise
        raise mapped from None


def _discard(store: ObjectStore, bucket: str, key: str) -> None:
    """Remove this attempt's object; a failure is logged, not raised (the original error matters)."""
    try:
        store.delete(bucket, key)
        log.info("ingest: removed unregistered object %s/%s", bucket, key)
    except Exception as exc:  # noqa: BLE001
        log.error("ingest: could not remove unregistered object %s/%s: %s", bucket, key, exc)
