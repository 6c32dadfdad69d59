"""The job queue, in the database (the single source of truth for pipeline state).

``enqueue`` runs inside the caller's transaction, so a call and its first job are registered
together or not at all. Every other state change is ONE guarded ``UPDATE … WHERE … RETURNING``:
if the row is no longer in the state (or held by the worker) the caller believes, zero rows come
back and the caller gets an error instead of a silently overwritten job.

States: ``queued → running → done``; ``running → queued`` (retry after a back-off, or requeued
because the worker stopped heartbeating); ``running → dead`` (out of attempts or a permanent
error, the error kept); ``dead → queued`` by hand (:func:`retry_dead`).

Timestamps come from the workers' clocks (they must be NTP-synced; the stall timeout dwarfs any
sane skew). On PostgreSQL the claim locks with ``FOR UPDATE SKIP LOCKED`` so concurrent claimers
never wait on, or take, each other's row; on SQLite the claim runs in a ``BEGIN IMMEDIATE``
transaction, which serialises writers on the one file.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session

from storage.errors import Conflict
from storage.jobs import Job, JobKind, JobState
from storage.models import UTCDateTime, utcnow
from storage.settings import get_settings
from storage.wakeup import CHANNEL, announce

log = logging.getLogger(__name__)

jobs: sa.Table = Job.__table__  # type: ignore[attr-defined]

MAX_ERROR_CHARS = 2000


class LeaseLost(Conflict):
    """job lease lost (the job is no longer running under this worker)"""


class JobNotDead(Conflict):
    """job is not dead"""


@dataclass(frozen=True)
class ClaimedJob:
    """A job this worker now holds the lease on."""

    id: int
    kind: str
    call_id: str | None
    payload: dict[str, Any]
    attempts: int  # including this one
    max_attempts: int
    worker: str


@dataclass(frozen=True)
class DeadJob:
    id: int
    kind: str
    call_id: str | None
    attempts: int
    last_error: str | None
    finished_at: datetime | None


@dataclass
class QueueStats:
    """Queue depth by (state, kind), and the dead jobs with their errors (newest first)."""

    counts: dict[tuple[str, str], int] = field(default_factory=dict)
    dead: list[DeadJob] = field(default_factory=list)

    def total(self, state: JobState | str) -> int:
        return sum(n for (s, _k), n in self.counts.items() if s == str(state))


def enqueue(
    session: Session,
    kind: JobKind | str,
    *,
    call_id: str | None = None,
    payload: dict[str, Any] | None = None,
    delay_s: float = 0.0,
    max_attempts: int | None = None,
) -> int:
    """Add a queued job to ``session`` and return its id (the caller commits)."""
    job = Job(
        kind=str(kind),
        call_id=call_id,
        payload=payload or {},
        max_attempts=max_attempts or get_settings().job_max_attempts,
        run_after=utcnow() + timedelta(seconds=delay_s),
    )
    session.add(job)
    session.flush()
    assert job.id is not None
    if delay_s <= 0:
        announce(session)  # idle workers claim it at once (on commit) instead of at their next poll
    return job.id


@contextmanager
def _write_tx(engine: Engine) -> Iterator[Connection]:
    """A write transaction; on SQLite ``BEGIN IMMEDIATE`` so the write lock is taken up front."""
    with engine.connect() as conn:
        sqlite = engine.dialect.name == "sqlite"
        if sqlite:
            conn.info["immediate"] = True
        try:
            with conn.begin():
                yield conn
        finally:
            if sqlite:
                # info lives on the pooled DBAPI connection: don't leak IMMEDIATE to its next user
                conn.info.pop("immediate", None)


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= MAX_ERROR_CHARS else line[: MAX_ERROR_CHARS - 1] + "…"


def claim(engine: Engine, worker_id: str, *, kinds: Sequence[str]) -> ClaimedJob | None:
    """Take the oldest due queued job of ``kinds`` for ``worker_id``; ``None`` when there is none."""
    if not kinds:
        return None
    now = utcnow()
    pick = (
        sa.select(jobs.c.id)
        .where(jobs.c.state == JobState.queued.value, jobs.c.kind.in_(list(kinds)), jobs.c.run_after <= now)
        .order_by(jobs.c.run_after, jobs.c.id)
        .limit(1)
    )
    if engine.dialect.name == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    stmt = (
        sa.update(jobs)
        .where(jobs.c.id == pick.scalar_subquery(), jobs.c.state == JobState.queued.value)
        .values(
            state=JobState.running.value,
            attempts=jobs.c.attempts + 1,
            worker=worker_id,
            heartbeat_at=now,
            started_at=now,
            finished_at=None,
        )
        .returning(
            jobs.c.id, jobs.c.kind, jobs.c.call_id, jobs.c.payload, jobs.c.attempts, jobs.c.max_attempts
        )
    )
    with _write_tx(engine) as conn:
        row = conn.execute(stmt).first()
    if row is None:
        return None
    job = ClaimedJob(
        id=row.id,
        kind=row.kind,
        call_id=row.call_id,
        payload=dict(row.payload or {}),
        attempts=row.attempts,
        max_attempts=row.max_attempts,
        worker=worker_id,
    )
    log.info("claim: job %s (%s) attempt %s/%s by %s", job.id, job.kind, job.attempts, job.max_attempts,
             worker_id)
    return job


def _held(job_id: int, worker_id: str) -> sa.ColumnElement[bool]:
    return sa.and_(jobs.c.id == job_id, jobs.c.state == JobState.running.value, jobs.c.worker == worker_id)


def heartbeat(engine: Engine, job_id: int, worker_id: str) -> None:
    """Renew ``worker_id``'s lease on a running job; :class:`LeaseLost` if it no longer holds it."""
    stmt = sa.update(jobs).where(_held(job_id, worker_id)).values(heartbeat_at=utcnow()).returning(jobs.c.id)
    with _write_tx(engine) as conn:
        if conn.execute(stmt).first() is None:
            raise LeaseLost(f"job {job_id} for {worker_id}")


def finish(engine: Engine, job_id: int, worker_id: str) -> None:
    """Mark a running job done; :class:`LeaseLost` if ``worker_id`` no longer holds it."""
    now = utcnow()
    stmt = (
        sa.update(jobs)
        .where(_held(job_id, worker_id))
        .values(state=JobState.done.value, finished_at=now, heartbeat_at=now)
        .returning(jobs.c.id)
    )
    with _write_tx(engine) as conn:
        if conn.execute(stmt).first() is None:
            raise LeaseLost(f"job {job_id} for {worker_id}")
    log.info("finish: job %s done by %s", job_id, worker_id)


def hand_back(engine: Engine, job_id: int, worker_id: str) -> None:
    """Return a running job to the queue at once, its attempt not counted (a draining worker ran out of
    time; the job did nothing wrong). :class:`LeaseLost` if ``worker_id`` no longer holds it."""
    now = utcnow()
    stmt = (
        sa.update(jobs)
        .where(_held(job_id, worker_id))
        .values(state=JobState.queued.value, attempts=jobs.c.attempts - 1, run_after=now, heartbeat_at=now,
                last_error=f"handed back by {worker_id} (stopping)")
        .returning(jobs.c.id)
    )
    with _write_tx(engine) as conn:
        if conn.execute(stmt).first() is None:
            raise LeaseLost(f"job {job_id} for {worker_id}")
        if conn.dialect.name == "postgresql":  # wake an idle worker elsewhere to take it now
            conn.execute(sa.text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})
    log.warning("hand_back: job %s handed back by %s", job_id, worker_id)


def backoff_s(attempts: int) -> float:
    """Delay before the retry that follows attempt number ``attempts`` (1-based), with ±5 % jitter."""
    s = get_settings()
    delay = min(s.job_backoff_s * 2 ** max(attempts - 1, 0), s.job_backoff_max_s)
    return delay * random.uniform(0.95, 1.05)


def fail(engine: Engine, job_id: int, worker_id: str, *, error: str, permanent: bool = False) -> JobState:
    """Record a failed attempt: back to ``queued`` after a back-off, or ``dead`` (error kept).

    Returns the new state; :class:`LeaseLost` if ``worker_id`` no longer holds the job.
    """
    error = _one_line(error) or "failed"
    with _write_tx(engine) as conn:
        # Only the lease holder moves a running job, so attempts read here is stable; the guard
        # re-checks it anyway.
        row = conn.execute(
            sa.select(jobs.c.attempts, jobs.c.max_attempts).where(_held(job_id, worker_id))
        ).first()
        if row is None:
            raise LeaseLost(f"job {job_id} for {worker_id}")
        now = utcnow()
        if permanent or row.attempts >= row.max_attempts:
            values: dict[str, Any] = dict(state=JobState.dead.value, finished_at=now, last_error=error)
        else:
            values = dict(state=JobState.queued.value, last_error=error,
                          run_after=now + timedelta(seconds=backoff_s(row.attempts)))
        stmt = (
            sa.update(jobs)
            .where(_held(job_id, worker_id), jobs.c.attempts == row.attempts)
            .values(**values)
            .returning(jobs.c.state, jobs.c.run_after)
        )
        new = conn.execute(stmt).first()
        if new is None:
            raise LeaseLost(f"job {job_id} for {worker_id}")
    state = JobState(new.state)
    if state is JobState.dead:
        log.warning("fail: job %s dead after %s attempt(s): %s", job_id, row.attempts, error)
    else:
        log.info("fail: job %s attempt %s failed, retry after %s: %s", job_id, row.attempts,
                 new.run_after.isoformat(timespec="seconds"), error)
    return state


def requeue_stalled(engine: Engine) -> int:
    """Requeue running jobs whose worker stopped heartbeating (``dead`` if out of attempts).

    The stalled run already counted as an attempt when it was claimed. Returns how many moved.
    """
    now = utcnow()
    cutoff = now - timedelta(seconds=get_settings().job_stall_s)
    out_of_attempts = jobs.c.attempts >= jobs.c.max_attempts
    stmt = (
        sa.update(jobs)
        .where(jobs.c.state == JobState.running.value, jobs.c.heartbeat_at < cutoff)
        .values(
            state=sa.case((out_of_attempts, JobState.dead.value), else_=JobState.queued.value),
            finished_at=sa.case((out_of_attempts, sa.literal(now, UTCDateTime())), else_=None),
            run_after=now,
            last_error=sa.literal("stalled: worker ") + sa.func.coalesce(jobs.c.worker, "?")
            + sa.literal(" stopped heartbeating"),
        )
        .returning(jobs.c.id, jobs.c.state, jobs.c.worker)
    )
    with _write_tx(engine) as conn:
        rows = conn.execute(stmt).all()
    for r in rows:
        log.warning("requeue_stalled: job %s of worker %s stalled → %s", r.id, r.worker, r.state)
    return len(rows)


def retry_dead(engine: Engine, job_id: int) -> None:
    """Give a dead job a fresh set of attempts (its last error stays until it succeeds or fails again)."""
    stmt = (
        sa.update(jobs)
        .where(jobs.c.id == job_id, jobs.c.state == JobState.dead.value)
        .values(state=JobState.queued.value, attempts=0, run_after=utcnow(), finished_at=None)
        .returning(jobs.c.id)
    )
    with _write_tx(engine) as conn:
        if conn.execute(stmt).first() is None:
            raise JobNotDead(f"job {job_id}")
    log.info("retry_dead: job %s queued again", job_id)


def has_work(engine: Engine, *, kinds: Sequence[str]) -> bool:
    """Whether any job of ``kinds`` is due now or running (what a burst worker waits for)."""
    if not kinds:
        return False
    stmt = sa.select(jobs.c.id).where(
        jobs.c.kind.in_(list(kinds)),
        sa.or_(
            jobs.c.state == JobState.running.value,
            sa.and_(jobs.c.state == JobState.queued.value, jobs.c.run_after <= utcnow()),
        ),
    ).limit(1)
    with engine.connect() as conn:
        return conn.execute(stmt).first() is not None


def stats(engine: Engine, *, dead_limit: int = 50) -> QueueStats:
    """Counts by state and kind, and the newest ``dead_limit`` dead jobs with their errors."""
    out = QueueStats()
    with engine.connect() as conn:
        for state, kind, n in conn.execute(
            sa.select(jobs.c.state, jobs.c.kind, sa.func.count()).group_by(jobs.c.state, jobs.c.kind)
        ):
            out.counts[(state, kind)] = n
        dead = conn.execute(
            sa.select(jobs.c.id, jobs.c.kind, jobs.c.call_id, jobs.c.attempts, jobs.c.last_error,
                      jobs.c.finished_at)
            .where(jobs.c.state == JobState.dead.value)
            .order_by(jobs.c.id.desc())
            .limit(dead_limit)
        )
        out.dead = [DeadJob(r.id, r.kind, r.call_id, r.attempts, r.last_error, r.finished_at) for r in dead]
    return out
