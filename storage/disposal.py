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

Due calls are taken month by month. On PostgreSQL, when every call of a month not yet disposed is
past its period, the month's calls are all checked first; if none is refused, one transaction
disposes all of them (guarded UPDATE, which again refuses a call put under hold meanwhile), checks
that no call of the month is left undisposed, and detaches and drops the month's ``segments`` and
``transcripts`` partitions instead of deleting their rows one call at a time. Any refusal, any
change underneath, or a partition too busy to drop: the month falls back to the per-call deletes.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from itertools import groupby

import sqlalchemy as sa
from sqlmodel import Session, col, select

from storage import audit, partitions
from storage.archive.tables import ArchiveEntry, ArchiveHold, ArchiveImage, ImageState
from storage.calls import Call
from storage.db import session as db_session
from storage.errors import Conflict
from storage.keys import validate_call_id
from storage.models import AuditAction, utcnow
from storage.objectstore import ObjectNotFound, ObjectStore, RetentionLocked
from storage.partitions import Month
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
    return _days(call.tenant, call.queue, settings or get_settings())


def _days(tenant: str, queue: str | None, s: Settings) -> int | None:
    found = [s.hot_retention_days, s.hot_retention_by_tenant.get(tenant)]
    if queue is not None:
        found.append(s.hot_retention_by_queue.get(queue))
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
    whole_months = not dry_run and limit is None
    for month, calls in groupby(_due(now), key=lambda c: Month.of(c.started_at)):
        if whole_months and _whole_month_due(month, now):
            out.extend(_dispose_month(month, calls, actor=actor, now=now, store=store))
            continue
        for call in calls:
            if limit is not None and len(out) >= limit:
                return out
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
    return _commit(_Due(cid, call.started_at, keys, days), actor=actor, now=now, store=store)


@dataclass(frozen=True)
class _Due:
    """A call checked and found safe to dispose, with the hot objects to delete."""

    call_id: str
    started_at: datetime
    keys: list[str]
    days: int | None

    def outcome(self, extra: str = "") -> Outcome:
        return Outcome(self.call_id, Verdict.disposed, f"started {self.started_at:%Y-%m-%d}, kept {self.days} days"
                       + extra)


def _commit(due: _Due, *, actor: str, now: datetime, store: ObjectStore) -> Outcome:
    cid = due.call_id
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
        _audit(s, due, actor)
    _delete_objects(due, store)
    log.info("dispose: %s disposed by %s", cid, actor)
    return due.outcome()


def _audit(s: Session, due: _Due, actor: str, **extra: str) -> None:
    audit.record(s, actor, AuditAction.dispose, call_id=due.call_id, source="retention",
                 detail={"objects": due.keys, "retention_days": due.days, "started_at": due.started_at.isoformat(),
                         **extra})


def _delete_objects(due: _Due, store: ObjectStore) -> None:
    bucket = get_settings().bucket_recordings
    for key in due.keys:
        try:
            store.delete(bucket, key)
        except RetentionLocked as exc:  # locked after the check: the object stays, `callqc check` lists it
            log.warning("dispose: %s: %s", due.call_id, exc)


# --- month by month (PostgreSQL partitions) -------------------------------------------------------


class _MonthChanged(Conflict):
    """the month changed while it was being disposed"""


def _whole_month_due(month: Month, now: datetime) -> bool:
    """True when the month has a partition to drop and every call of it not yet disposed is past its period."""
    s = get_settings()
    with db_session() as ses:
        conn = ses.connection()
        if not any(partitions.has_month(conn, t, month) for t in partitions.DISPOSABLE):
            return False
        groups = ses.execute(
            sa.select(col(Call.tenant), col(Call.queue), sa.func.max(col(Call.started_at)))
            .where(col(Call.started_at) >= month.start, col(Call.started_at) < month.end,
                   col(Call.disposed_at).is_(None))
            .group_by(col(Call.tenant), col(Call.queue))).all()
    for tenant, queue, last in groups:
        days = _days(tenant, queue, s)
        if days is None or last > now - timedelta(days=days):
            return False
    return True


def _dispose_month(month: Month, calls: Iterable[Call], *, actor: str, now: datetime,
                   store: ObjectStore) -> list[Outcome]:
    """Check every due call of the month; all safe: dispose them together and drop the month's
    partitions; otherwise dispose the safe ones call by call."""
    out: list[Outcome] = []
    safe: list[_Due] = []
    for call in calls:
        with db_session() as s:
            refused = _refusal(s, call, store, now)
            keys = _hot_keys(s, call)
        if refused is not None:
            log.info("dispose: keeping %s", refused.line())
            out.append(refused)
        else:
            safe.append(_Due(call.call_id, call.started_at, keys, retention_days(call)))
    if not out and safe:
        try:
            dropped = _commit_month(month, safe, actor=actor, now=now)
        except (_MonthChanged, sa.exc.OperationalError) as exc:
            log.warning("dispose: month %s disposed call by call (%s)", month, exc)
        else:
            for due in safe:
                _delete_objects(due, store)
            log.info("dispose: month %s disposed by %s, partitions %s dropped", month, actor, ", ".join(dropped))
            return [due.outcome(", month partition dropped") for due in safe]
    for due in safe:
        try:
            out.append(_commit(due, actor=actor, now=now, store=store))
        except NotDisposable as exc:
            out.append(Outcome(due.call_id, Verdict.not_archived, str(exc)))
    return out


def _commit_month(month: Month, safe: list[_Due], *, actor: str, now: datetime) -> list[str]:
    """One transaction: every safe call disposed, none left in the month, its partitions dropped."""
    ids = [d.call_id for d in safe]
    held = sa.select(col(ArchiveHold.call_id)).where(col(ArchiveHold.call_id) == col(Call.call_id))
    with db_session(write=True) as s:
        done = 0
        for i in range(0, len(ids), _BATCH):
            done += len(s.execute(
                sa.update(Call)
                .where(col(Call.call_id).in_(ids[i:i + _BATCH]), col(Call.disposed_at).is_(None),
                       col(Call.archived_at).is_not(None), ~sa.exists(held))
                .values(disposed_at=now, hot_present=False, updated_at=now)
                .returning(col(Call.call_id))).all())
        if done != len(ids):
            raise _MonthChanged(f"{len(ids) - done} of {len(ids)} calls changed underneath")
        left = s.execute(sa.select(sa.func.count()).select_from(Call).where(
            col(Call.started_at) >= month.start, col(Call.started_at) < month.end,
            col(Call.disposed_at).is_(None))).scalar_one()
        if left:
            raise _MonthChanged(f"{left} calls of {month} are not disposed")
        for i in range(0, len(ids), _BATCH):
            s.execute(sa.delete(TranscriptOriginal).where(col(TranscriptOriginal.call_id).in_(ids[i:i + _BATCH])))
        conn = s.connection()
        dropped = [partitions.partition_name(t, month) for t in partitions.DISPOSABLE
                   if partitions.drop_month(conn, t, month)]
        for table in (TranscriptSegment, Transcript):  # rows of the month that sat in the default partition
            s.execute(sa.delete(table).where(col(table.call_started_at) >= month.start,
                                             col(table.call_started_at) < month.end))
        for due in safe:
            delete_call_voices(s, due.call_id)
            _audit(s, due, actor, partition=str(month))
    return dropped
