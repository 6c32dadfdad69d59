"""Retention disposal: after its retention period a call's hot audio and transcript are deleted.

Kept: the call row, its evaluations, reviews, metrics and audit trail (the KPIs), and the archive
image, which holds the audio and the transcript JSON under WORM retention; retrieval by call ID then
reads the archive copy. A call is disposed only when all of these hold, checked in this order:

1. its retention period (the longest of ``hot_retention_days`` and its tenant's and queue's entries) has
   passed since it started;
2. it is on a verified archive image whose last fixity check did not fail, and its own bytes read
   back from the image match the archive entry's SHA-256 (read just before deleting);
3. it has no legal hold (``archive hold``) and its hot objects carry none;
4. none of its hot objects is inside WORM retention.

The database change (``disposed_at`` set, ``hot_present`` cleared, transcript rows and voice prints
deleted, one audit row) is one transaction with a guarded UPDATE; the objects are deleted after it commits, so a crash
in between leaves objects no row names (`callqc check` lists them as orphans), never a row that
points at nothing.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Session, col, select

from storage import audit
from storage.archive.tables import ArchiveEntry, ArchiveHold, ArchiveImage, ImageState
from storage.calls import Call
from storage.db import session as db_session
from storage.errors import Conflict
from storage.keys import validate_call_id
from storage.models import AuditAction, utcnow
from storage.objectstore import ObjectNotFound, ObjectStore, RetentionLocked
from storage.redactions import CallRedaction, TranscriptOriginal
from storage.retrieval import RecordingMissing
from storage.settings import Settings, get_settings
from storage.stores import get_store
from storage.transcripts import Transcript, TranscriptSegment
from storage.voices import delete_call_voices

log = logging.getLogger(__name__)
_BATCH = 500


class Verdict(StrEnum):
    disposed = "disposed"
    would_dispose = "would-dispose"  # dry run
    not_due = "not-due"  # retention period not over (asked for one call by ID)
    not_archived = "not-archived"  # no verified archive copy
    archive_damaged = "archive-damaged"  # the archive copy did not read back with its SHA-256
    legal_hold = "legal-hold"
    worm = "worm"  # a hot object is inside WORM retention


class NotDisposable(Conflict):
    """call cannot be disposed"""


@dataclass(frozen=True)
class Outcome:
    call_id: str
    verdict: Verdict
    detail: str = ""

    def line(self) -> str:
        return f"{self.verdict:<15} {self.call_id}" + (f" ({self.detail})" if self.detail else "")


def retention_days(call: Call, settings: Settings | None = None) -> int | None:
    """Days the call's hot copy is kept: the longest of the settings that name it (None: kept for good)."""
    s = settings or get_settings()
    found = [s.hot_retention_days, s.hot_retention_by_tenant.get(call.tenant)]
    if call.queue is not None:
        found.append(s.hot_retention_by_queue.get(call.queue))
    days = [d for d in found if d is not None]
    return max(days) if days else None


def dispose_due(
    *, actor: str, dry_run: bool = False, now: datetime | None = None, store: ObjectStore | None = None,
    limit: int | None = None,
) -> list[Outcome]:
    """Dispose of every call past its retention period (or, with ``dry_run``, say which would go)."""
    now = now or utcnow()
    store = store or get_store()
    out: list[Outcome] = []
    for call in _due(now):
        if limit is not None and len(out) >= limit:
            break
        out.append(_dispose(call, actor=actor, dry_run=dry_run, now=now, store=store))
    return out


def dispose_call(
    call_id: str, *, actor: str, dry_run: bool = False, now: datetime | None = None, store: ObjectStore | None = None,
) -> Outcome:
    """Dispose of one call now, if its period is over and it is safe; NotDisposable says why not."""
    cid = validate_call_id(call_id)
    now = now or utcnow()
    with db_session() as s:
        call = s.get(Call, cid)
    if call is None:
        raise RecordingMissing(f"no call {cid}")
    if call.disposed_at is not None:
        raise NotDisposable(f"{cid}: already disposed at {call.disposed_at:%Y-%m-%d %H:%M}")
    days = retention_days(call)
    if days is None or call.started_at > now - timedelta(days=days):
        raise NotDisposable(f"{cid}: {Verdict.not_due}, kept {days if days is not None else 'for good'} days")
    outcome = _dispose(call, actor=actor, dry_run=dry_run, now=now, store=store or get_store())
    if outcome.verdict not in (Verdict.disposed, Verdict.would_dispose):
        raise NotDisposable(outcome.line())
    return outcome


def _due(now: datetime) -> Iterator[Call]:
    """Calls not yet disposed whose own retention period is over, oldest first, in batches."""
    s = get_settings()
    periods = [d for d in (s.hot_retention_days, *s.hot_retention_by_tenant.values(),
                           *s.hot_retention_by_queue.values()) if d is not None]
    if not periods:
        return
    cutoff = now - timedelta(days=min(periods))
    after: tuple[datetime, str] | None = None
    while True:
        stmt = select(Call).where(col(Call.disposed_at).is_(None), col(Call.started_at) < cutoff)
        if after is not None:
            stmt = stmt.where(sa.tuple_(col(Call.started_at), col(Call.call_id)) > sa.tuple_(*after))
        with db_session() as ses:
            batch = list(ses.exec(stmt.order_by(col(Call.started_at), col(Call.call_id)).limit(_BATCH)))
        if not batch:
            return
        for call in batch:
            days = retention_days(call, s)
            if days is not None and call.started_at <= now - timedelta(days=days):
                yield call
        after = (batch[-1].started_at, batch[-1].call_id)


def _hot_keys(s: Session, call: Call) -> list[str]:
    keys = [call.audio_key] if call.hot_present else []
    red = s.get(CallRedaction, call.call_id)
    if red is not None and red.audio_key is not None:
        keys.append(red.audio_key)
    return keys


def _refusal(s: Session, call: Call, store: ObjectStore, now: datetime) -> Outcome | None:
    cid = call.call_id
    row = s.exec(
        select(ArchiveEntry, ArchiveImage)
        .join(ArchiveImage, col(ArchiveImage.id) == col(ArchiveEntry.image_id))
        .where(ArchiveEntry.call_id == cid)
    ).first()
    if row is None or call.archived_at is None or row[1].state != ImageState.verified or row[0].offset is None:
        return Outcome(cid, Verdict.not_archived, "no verified archive image holds it")
    entry, image = row
    offset = entry.offset
    assert offset is not None  # refused above: an entry without an offset was never built
    if image.fixity_ok is False:
        return Outcome(cid, Verdict.archive_damaged, f"image {image.object_key}: {image.fixity_error}")
    if s.get(ArchiveHold, cid) is not None:
        return Outcome(cid, Verdict.legal_hold, "archive hold")
    bucket = get_settings().bucket_recordings
    for key in _hot_keys(s, call):
        try:
            if store.get_legal_hold(bucket, key):
                return Outcome(cid, Verdict.legal_hold, f"on {key}")
            ret = store.get_retention(bucket, key)
        except ObjectNotFound:
            continue
        if ret is not None and ret.until > now:
            return Outcome(cid, Verdict.worm, f"{key} retained until {ret.until:%Y-%m-%d}")
    h = hashlib.sha256()
    try:
        for chunk in store.iter_chunks(get_settings().bucket_archive, image.object_key, offset=offset,
                                       length=entry.length):
            h.update(chunk)
    except ObjectNotFound:
        return Outcome(cid, Verdict.archive_damaged, f"image {image.object_key} is missing")
    if h.hexdigest() != entry.sha256:
        return Outcome(cid, Verdict.archive_damaged, f"its bytes in {image.object_key} do not match")
    return None


def _dispose(call: Call, *, actor: str, dry_run: bool, now: datetime, store: ObjectStore) -> Outcome:
    cid = call.call_id
    with db_session() as s:
        refused = _refusal(s, call, store, now)
        keys = _hot_keys(s, call)
    if refused is not None:
        log.info("dispose: keeping %s", refused.line())
        return refused
    days = retention_days(call)
    if dry_run:
        return Outcome(cid, Verdict.would_dispose, f"started {call.started_at:%Y-%m-%d}, kept {days} days")
    with db_session(write=True) as s:
        done = s.execute(
            sa.update(Call)
            .where(col(Call.call_id) == cid, col(Call.disposed_at).is_(None), col(Call.archived_at).is_not(None))
            .values(disposed_at=now, hot_present=False, updated_at=now)
            .returning(col(Call.call_id))
        ).first()
        if done is None:
            raise NotDisposable(f"{cid}: changed underneath (disposed or un-archived meanwhile)")
        for table in (TranscriptSegment, TranscriptOriginal, Transcript):
            s.execute(sa.delete(table).where(col(table.call_id) == cid))
        delete_call_voices(s, cid)
        audit.record(s, actor, AuditAction.dispose, call_id=cid, source="retention",
                     detail={"objects": keys, "retention_days": days, "started_at": call.started_at.isoformat()})
    bucket = get_settings().bucket_recordings
    for key in keys:
        try:
            store.delete(bucket, key)
        except RetentionLocked as exc:  # locked after the check: the object stays, `callqc check` lists it
            log.warning("dispose: %s: %s", cid, exc)
    log.info("dispose: %s disposed by %s", cid, actor)
    return Outcome(cid, Verdict.disposed, f"started {call.started_at:%Y-%m-%d}, kept {days} days")
