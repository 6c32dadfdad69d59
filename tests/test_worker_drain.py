"""A worker told to stop (SIGTERM) drains: a job that finishes within `worker_drain_s` is recorded done;
one that does not is handed back to the queue at once, its attempt not counted, and the next worker
completes it. PostgreSQL, real worker processes."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from storage import queue
from storage.jobs import Job
from tests.test_queue_stress import ROOT, _env, _marks, _states, pg_engine  # noqa: F401  (fixture)

pytestmark = pytest.mark.integration

HANDLERS = {"hang": "tests.queue_handlers:hang_until_handed_back", "nap": "tests.queue_handlers:start_then_sleep"}


def _launch(concurrency: int, *, burst: bool) -> str:
    return ("import sys; from callqc.pool import run_workers; "
            f"sys.exit(run_workers({concurrency}, kinds=['hang', 'nap'], burst={burst}, handlers={HANDLERS!r}))")


def _enqueue(engine: sa.Engine, kind: str, payload: dict[str, object] | None = None) -> int:
    with engine.begin() as conn:
        return int(conn.execute(sa.insert(queue.jobs).values(**Job(kind=kind, payload=payload or {})
                                                             .model_dump(exclude={"id"})).returning(queue.jobs.c.id))
                   .scalar_one())


def _run_until_started_then_term(engine: sa.Engine, env: dict[str, str], concurrency: int) -> int:
    """Start workers, SIGTERM them (the parent) once a job has started, return their exit code."""
    proc = subprocess.Popen([sys.executable, "-c", _launch(concurrency, burst=False)], env=env, cwd=ROOT)
    try:
        end = time.monotonic() + 60
        while not _marks(engine, "started"):
            assert proc.poll() is None and time.monotonic() < end, "no worker started the job"
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        return proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.parametrize("concurrency", [1, 2])
def test_a_job_longer_than_the_drain_is_handed_back_and_run_by_the_next_worker(
    pg_engine: sa.Engine, data_dir: Path, concurrency: int  # noqa: F811
) -> None:
    """SIGTERM mid-job with a 1 s drain: the worker exits 0, the job is queued again with its attempt
    given back and says why; a new worker then completes it once."""
    job = _enqueue(pg_engine, "hang")
    env = {**_env(pg_engine.url.render_as_string(hide_password=False), data_dir), "CALLQC_WORKER_DRAIN_S": "1",
           "CALLQC_JOB_STALL_S": "600", "CALLQC_JOB_HEARTBEAT_S": "1"}  # stall recovery must not be what saves it
    assert _run_until_started_then_term(pg_engine, env, concurrency) == 0
    with pg_engine.connect() as conn:
        row = conn.execute(sa.select(queue.jobs).where(queue.jobs.c.id == job)).one()
    assert (row.state, row.attempts) == ("queued", 0)
    assert row.last_error.startswith("handed back by ") and row.last_error.endswith("(stopping)")
    code = subprocess.run([sys.executable, "-c", _launch(concurrency, burst=True)], env=env, cwd=ROOT,
                          timeout=120).returncode
    assert code == 0
    assert _states(pg_engine) == {"done": 1}
    assert _marks(pg_engine, "done") == [job]


def test_a_job_that_finishes_within_the_drain_is_recorded_done(
    pg_engine: sa.Engine, data_dir: Path  # noqa: F811
) -> None:
    """SIGTERM mid-job with a long drain: the job runs to its end and is done after one attempt."""
    job = _enqueue(pg_engine, "nap", {"sleep_s": 1.0})
    env = {**_env(pg_engine.url.render_as_string(hide_password=False), data_dir), "CALLQC_WORKER_DRAIN_S": "120"}
    assert _run_until_started_then_term(pg_engine, env, 2) == 0
    with pg_engine.connect() as conn:
        row = conn.execute(sa.select(queue.jobs).where(queue.jobs.c.id == job)).one()
    assert (row.state, row.attempts) == ("done", 1)
    assert _marks(pg_engine, "done") == [job]


def test_hand_back_needs_the_lease(pg_engine: sa.Engine) -> None:  # noqa: F811
    """Only the worker holding a running job may hand it back."""
    job = _enqueue(pg_engine, "nap", {"sleep_s": 0})
    claimed = queue.claim(pg_engine, "w1", kinds=["nap"])
    assert claimed is not None and claimed.id == job
    with pytest.raises(queue.LeaseLost):
        queue.hand_back(pg_engine, job, "w2")
    queue.hand_back(pg_engine, job, "w1")
    with pytest.raises(queue.LeaseLost):
        queue.hand_back(pg_engine, job, "w1")
