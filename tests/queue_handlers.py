"""Job handlers used by the queue tests; each records what it did in the ``queue_marks`` table."""

from __future__ import annotations

import os
import time

import sqlalchemy as sa

from storage.db import get_engine
from storage.jobs import JobContext, PermanentError

meta = sa.MetaData()
marks = sa.Table(
    "queue_marks",
    meta,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("job_id", sa.Integer, nullable=False),
    sa.Column("phase", sa.String(16), nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("worker", sa.String(128), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
)


def create_marks(engine: sa.Engine) -> None:
    meta.create_all(engine)


def _mark(ctx: JobContext, phase: str) -> None:
    with get_engine().begin() as conn:
        conn.execute(sa.insert(marks).values(job_id=ctx.job_id, phase=phase, attempt=ctx.attempt,
                                             worker=ctx.worker_id, pid=os.getpid()))


def append_marker(ctx: JobContext) -> None:
    """Succeeds, leaving one ``done`` mark per execution."""
    _mark(ctx, "done")


def sleep_then_mark(ctx: JobContext) -> None:
    """Sleeps ``payload['sleep_s']`` (longer than the stall timeout in the heartbeat test), then marks."""
    time.sleep(float(ctx.payload["sleep_s"]))
    _mark(ctx, "done")


def always_fails(ctx: JobContext) -> None:
    raise RuntimeError(f"boom on attempt {ctx.attempt}\nsecond line")


def permanent_failure(ctx: JobContext) -> None:
    raise PermanentError(f"job {ctx.job_id}: audio unreadable")


def hang_first_attempt(ctx: JobContext) -> None:
    """First attempt marks ``started`` and hangs until the test kills the worker; later ones finish."""
    if ctx.attempt == 1:
        _mark(ctx, "started")
        while True:
            time.sleep(0.1)
    _mark(ctx, "done")


def lose_lease(ctx: JobContext) -> None:
    """Has the job stolen by a worker called "thief" mid-run, then returns once the heartbeat noticed."""
    from datetime import timedelta

    from storage import queue
    from storage.models import utcnow

    engine = get_engine()
    with engine.begin() as conn:
        conn.execute(sa.update(queue.jobs).where(queue.jobs.c.id == ctx.job_id)
                     .values(heartbeat_at=utcnow() - timedelta(hours=1)))
    queue.requeue_stalled(engine)
    assert queue.claim(engine, "thief", kinds=[ctx.kind]) is not None
    if ctx.lease_lost.wait(timeout=30):
        _mark(ctx, "noticed")


def mark_around_sleep(ctx: JobContext) -> None:
    """Marks ``start``, sleeps ``payload['sleep_s']``, marks ``done``: shows which jobs ran at the same time."""
    _mark(ctx, "start")
    time.sleep(float(ctx.payload["sleep_s"]))
    _mark(ctx, "done")


def hang_until_handed_back(ctx: JobContext) -> None:
    """The job's first run marks ``started`` and runs until its lease is taken away (a draining worker
    handed it back); any later run marks ``done`` at once."""
    m = marks
    with get_engine().connect() as conn:
        seen = conn.execute(sa.select(sa.func.count()).where(m.c.job_id == ctx.job_id)).scalar_one()
    if seen:
        _mark(ctx, "done")
        return
    _mark(ctx, "started")
    ctx.lease_lost.wait(timeout=120)


def start_then_sleep(ctx: JobContext) -> None:
    """Marks ``started``, sleeps ``payload['sleep_s']``, marks ``done``: a job a drain lets finish."""
    _mark(ctx, "started")
    time.sleep(float(ctx.payload["sleep_s"]))
    _mark(ctx, "done")
