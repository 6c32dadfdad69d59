"""Ingest one recording: probe, store the original bytes, register the call and its first job.

Order, and what a crash at each point leaves behind:

1. validate the call ID and metadata, probe the audio: nothing written yet;
2. under a per-call-ID lock, look the call up: registered with the same SHA-256 → "exists" (nothing
   written), with other audio → :class:`~storage.errors.Conflict` (nothing written, the registered object
   untouched);
3. stream the bytes to ``recordings/YYYY/MM/DD/<id>.<ext>``, then read them back and compare SHA-256:
   a crash here leaves at most an unregistered object, which the retry reuses (same hash) or replaces;
4. one transaction inserts the ``Call`` row, its ``transcribe`` job and the audit row: a crash before
   the commit leaves nothing registered, after it a complete call.

The lock (a PostgreSQL advisory lock, or a file lock next to the SQLite file) makes steps 2-4 atomic
for one call ID, so two senders racing with different audio under the same ID can't overwrite each
other's object: the loser gets the conflict before it writes a byte.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
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

from recorder.metadata import CallMeta, channel_map_for
from recorder.probe import AudioInfo, probe
from storage import audit, queue
from storage.calls import Call, CallStatus, Direction
from storage.db import get_engine, is_sqlite, session
from storage.errors import Conflict, InvalidInput
from storage.jobs import JobKind
from storage.keys import InvalidCallId, recording_key, validate_call_id
from storage.models import AuditAction
from storage.objectstore import CHUNK, ChecksumMismatch, ObjectNotFound, ObjectStore, sha256_file, sha256_of
from storage.settings import get_settings
from storage.stores import get_store

log = logging.getLogger(__name__)
_LOCK_STRIPES = 64


class CallExists(Conflict):
    """call ID already registered with different audio"""


class TooLarge(InvalidInput):
    """recording too large"""


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
    name = name or path.name
    meta = meta or CallMeta()
    settings = get_settings()
    call_id = _call_id(meta, name)
    size = path.stat().st_size
    if size > settings.max_upload_bytes:
        raise TooLarge(f"{name}: {size} bytes, at most {settings.max_upload_bytes}")
    info = probe(path, max_duration_s=settings.max_duration_s, name=name)
    sha = sha256_file(path)
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
        meta=meta.meta,
        audio_key=recording_key(call_id, started, info.ext),
        size_bytes=size,
        sha256=sha,
        status=CallStatus.recorded,
    )
    engine = engine or get_engine()
    with _call_lock(engine, call_id):
        existing = _existing(engine, call_id, sha, name)
        if existing is not None:
            return existing
        store = store or get_store()
        _store_verified(store, settings.bucket_recordings, call.audio_key, path, sha)
        return _register(engine, call, info, name=name, actor=actor, source=source)


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
        row = s.get(Call, call_id)
        if row is None:
            return None
        if row.sha256 != sha:
            raise CallExists(f"{call_id} (registered sha256 {row.sha256[:12]}…, {name} has {sha[:12]}…)")
        log.info("ingest: %s already registered with the same audio", call_id)
        return IngestResult(call_id, False, sha, row.audio_key)


def _store_verified(store: ObjectStore, bucket: str, key: str, path: Path, sha: str) -> None:
    """Put the bytes at ``key`` unless an identical unregistered copy is there, then re-read and compare."""
    try:
        present = store.stat(bucket, key).sha256 == sha
    except ObjectNotFound:
        present = False
    if present:
        log.info("ingest: reusing stored copy %s/%s from an earlier attempt", bucket, key)
    else:
        store.put_file(bucket, key, path, sha256=sha)
    actual = sha256_of(store, bucket, key)
    if actual != sha:
        raise ChecksumMismatch(f"{bucket}/{key}: stored copy has {actual}, expected {sha}")


def _register(
    engine: Engine, call: Call, info: AudioInfo, *, name: str, actor: str, source: str | None
) -> IngestResult:
    try:
        with session(engine) as s:
            s.add(call)
            s.flush()  # the row exists before its job's foreign key points at it
            job_id = queue.enqueue(s, JobKind.transcribe, call_id=call.call_id)
            audit.record(
                s,
                actor,
                AuditAction.ingest,
                call_id=call.call_id,
                source=source,
                detail={
                    "file": name[:200],
                    "sha256": call.sha256,
                    "size": call.size_bytes,
                    "key": call.audio_key,
                },
            )
    except sa.exc.IntegrityError:
        # Only reachable if the lock was bypassed (another host on a shared SQLite file): decide again.
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


@contextlib.contextmanager
def _call_lock(engine: Engine, call_id: str) -> Iterator[None]:
    """Hold an exclusive lock for ``call_id`` across processes; released by the OS if we die."""
    digest = hashlib.sha256(b"callqc-ingest:" + call_id.encode()).digest()
    if is_sqlite(engine):
        db_path = engine.url.database
        if not db_path or db_path == ":memory:":
            yield
            return
        folder = Path(db_path).resolve().parent / "locks"
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / f"ingest-{digest[0] % _LOCK_STRIPES:02d}.lock").open("a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
        return
    key = int.from_bytes(digest[:8], "big", signed=True)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": key})
        try:
            yield
        finally:
            conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
