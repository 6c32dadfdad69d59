"""The database job queue and the worker loop, on SQLite and real PostgreSQL."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa
import typer
from typer.testing import CliRunner

from callqc.cli import work as work_cli
from callqc.pool import run_workers
from storage import db as dbmod
from storage import queue
from storage.errors import InvalidInput
from storage.jobs import JobState
from storage.models import utcnow
from storage.settings import reset_settings
from tests import queue_handlers

TEST_HANDLERS = {
    "mark": "tests.queue_handlers:append_marker",
    "slow": "tests.queue_handlers:sleep_then_mark",
    "flaky": "tests.queue_handlers:always_fails",
    "broken": "tests.queue_handlers:permanent_failure",
    "later": "tests.no_such_handler_module:handle",
    "stolen": "tests.queue_handlers:lose_lease",
    "around": "tests.queue_handlers:mark_around_sleep",
}


def _enqueue(kind: str, n: int = 1, **kw: object) -> list[int]:
    with dbmod.session() as s:
        return [queue.enqueue(s, kind, **kw) for _ in range(n)]  # type: ignore[arg-type]


def _job(job_id: int) -> sa.Row:
    with dbmod.get_engine().connect() as conn:
        return conn.execute(sa.select(queue.jobs).where(queue.jobs.c.id == job_id)).one()


def _set(job_id: int, **values: object) -> None:
    """Move a job's clock fields by hand (stands in for time passing)."""
    with dbmod.get_engine().begin() as conn:
        conn.execute(sa.update(queue.jobs).where(queue.jobs.c.id == job_id).values(**values))


@pytest.fixture
def marks(db_url: str) -> Iterator[None]:
    """The handlers' ``queue_marks`` table, dropped afterwards: the schema test shares the database."""
    engine = dbmod.get_engine()
    queue_handlers.create_marks(engine)
    yield
    queue_handlers.meta.drop_all(engine)


def _settings(monkeypatch: pytest.MonkeyPatch, **env: object) -> None:
    for name, value in env.items():
        monkeypatch.setenv(f"CALLQC_{name.upper()}", str(value))
    reset_settings()


def test_enqueue_claim_finish_marks_job_done(db_url: str) -> None:
    """A queued job is claimed once with its payload and ends done."""
    (job_id,) = _enqueue("mark", payload={"x": 1})
    engine = dbmod.get_engine()
    job = queue.claim(engine, "w1", kinds=["mark"])
    assert job is not None and job.id == job_id
    assert (job.payload, job.attempts, job.worker) == ({"x": 1}, 1, "w1")
    assert _job(job_id).state == JobState.running
    queue.finish(engine, job_id, "w1")
    row = _job(job_id)
    assert row.state == JobState.done and row.finished_at is not None
    assert queue.claim(engine, "w1", kinds=["mark"]) is None


def test_claim_skips_other_kinds_and_future_jobs(db_url: str) -> None:
    """Claim only takes due jobs of the asked kinds."""
    _enqueue("other")
    _enqueue("mark", delay_s=3600)
    assert queue.claim(dbmod.get_engine(), "w1", kinds=["mark"]) is None


def test_concurrent_claims_never_share_a_job(db_url: str) -> None:
    """Threads racing to claim get disjoint jobs that together cover the queue."""
    ids = set(_enqueue("mark", 30))
    engine = dbmod.get_engine()
    got: list[int] = []
    lock = threading.Lock()

    def drain(n: int) -> None:
        while (job := queue.claim(engine, f"w{n}", kinds=["mark"])) is not None:
            with lock:
                got.append(job.id)

    threads = [threading.Thread(target=drain, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == sorted(ids)


def test_failures_retry_with_backoff_then_die_keeping_the_error(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each failure requeues after a doubling delay; the last one leaves the job dead with its error."""
    _settings(monkeypatch, job_backoff_s=100, job_backoff_max_s=250)
    (job_id,) = _enqueue("flaky", max_attempts=3)
    engine = dbmod.get_engine()
    delays = []
    for attempt in (1, 2):
        job = queue.claim(engine, "w1", kinds=["flaky"])
        assert job is not None and job.attempts == attempt
        before = utcnow()
        assert queue.fail(engine, job_id, "w1", error=f"boom {attempt}\ntraceback") == JobState.queued
        row = _job(job_id)
        assert row.last_error == f"boom {attempt} traceback"
        delays.append((row.run_after - before).total_seconds())
        assert queue.claim(engine, "w1", kinds=["flaky"]) is None  # not due yet
        _set(job_id, run_after=utcnow())
    assert 95 <= delays[0] <= 106 and 190 <= delays[1] <= 251  # 100 s, then 200 s (±5 % jitter)
    assert queue.claim(engine, "w1", kinds=["flaky"]) is not None
    assert queue.fail(engine, job_id, "w1", error="boom 3") == JobState.dead
    row = _job(job_id)
    assert (row.state, row.attempts, row.last_error) == (JobState.dead, 3, "boom 3")
    dead = queue.stats(engine).dead
    assert [(d.id, d.last_error) for d in dead] == [(job_id, "boom 3")]


def test_backoff_is_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    """The retry delay doubles per attempt but never passes job_backoff_max_s (plus jitter)."""
    _settings(monkeypatch, job_backoff_s=5, job_backoff_max_s=60)
    assert 4.75 <= queue.backoff_s(1) <= 5.25
    assert 9.5 <= queue.backoff_s(2) <= 10.5
    assert 57 <= queue.backoff_s(10) <= 63


def test_permanent_failure_goes_dead_at_once(db_url: str) -> None:
    """A permanent failure skips the remaining attempts."""
    (job_id,) = _enqueue("broken", max_attempts=5)
    engine = dbmod.get_engine()
    assert queue.claim(engine, "w1", kinds=["broken"]) is not None
    assert queue.fail(engine, job_id, "w1", error="bad audio", permanent=True) == JobState.dead
    assert (_job(job_id).attempts, _job(job_id).last_error) == (1, "bad audio")


def test_transition_on_a_job_someone_else_moved_raises(db_url: str) -> None:
    """Once a stalled job is requeued and re-claimed, its old worker can neither beat, finish nor fail it."""
    (job_id,) = _enqueue("mark")
    engine = dbmod.get_engine()
    assert queue.claim(engine, "old", kinds=["mark"]) is not None
    _set(job_id, heartbeat_at=utcnow() - timedelta(hours=1))
    assert queue.requeue_stalled(engine) == 1
    assert queue.claim(engine, "new", kinds=["mark"]) is not None
    for move in (
        lambda: queue.heartbeat(engine, job_id, "old"),
        lambda: queue.finish(engine, job_id, "old"),
        lambda: queue.fail(engine, job_id, "old", error="late"),
    ):
        with pytest.raises(queue.LeaseLost):
            move()
    queue.finish(engine, job_id, "new")
    with pytest.raises(queue.LeaseLost):
        queue.finish(engine, job_id, "new")  # already done
    with pytest.raises(queue.JobNotDead):
        queue.retry_dead(engine, job_id)
    row = _job(job_id)
    assert (row.state, row.worker, row.attempts) == (JobState.done, "new", 2)


def test_heartbeat_keeps_lease_while_stalled_job_is_requeued(db_url: str) -> None:
    """Only the job whose heartbeat is older than job_stall_s goes back to the queue."""
    live, stalled = _enqueue("mark", 2)
    engine = dbmod.get_engine()
    for w in ("live", "gone"):
        assert queue.claim(engine, w, kinds=["mark"]) is not None
    old = utcnow() - timedelta(hours=1)
    _set(live, heartbeat_at=old)
    _set(stalled, heartbeat_at=old)
    queue.heartbeat(engine, live, "live")
    assert queue.requeue_stalled(engine) == 1
    assert _job(live).state == JobState.running
    row = _job(stalled)
    assert (row.state, row.last_error) == (JobState.queued, "stalled: worker gone stopped heartbeating")


def test_stalled_job_out_of_attempts_goes_dead(db_url: str) -> None:
    """A stall counts as an attempt: on the last attempt the job dies with the stall as its error."""
    (job_id,) = _enqueue("mark", max_attempts=1)
    engine = dbmod.get_engine()
    assert queue.claim(engine, "gone", kinds=["mark"]) is not None
    _set(job_id, heartbeat_at=utcnow() - timedelta(hours=1))
    assert queue.requeue_stalled(engine) == 1
    assert _job(job_id).state == JobState.dead
    queue.retry_dead(engine, job_id)
    row = _job(job_id)
    assert (row.state, row.attempts) == (JobState.queued, 0)


def test_burst_worker_drains_queue_and_leaves_unhandled_kinds_queued(
    db_url: str, marks: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A burst worker runs every job once, retries and kills failures, and leaves kinds without a handler."""
    _settings(monkeypatch, job_backoff_s=0, worker_poll_s=0.05)
    ok = _enqueue("mark", 12)
    (flaky,) = _enqueue("flaky", max_attempts=2)
    (broken,) = _enqueue("broken", max_attempts=4)
    (later,) = _enqueue("later")
    assert run_workers(1, kinds=["mark", "flaky", "broken", "later"], burst=True, handlers=TEST_HANDLERS) == 0
    with dbmod.get_engine().connect() as conn:
        marked = conn.execute(sa.select(queue_handlers.marks.c.job_id)).scalars().all()
    assert sorted(marked) == sorted(ok)
    assert all(_job(j).state == JobState.done for j in ok)
    assert (_job(flaky).state, _job(flaky).attempts) == (JobState.dead, 2)
    assert _job(flaky).last_error == "RuntimeError: boom on attempt 2 second line"
    assert (_job(broken).state, _job(broken).attempts) == (JobState.dead, 1)
    permanent = f"PermanentError: job failed permanently: job {broken}: audio unreadable"
    assert _job(broken).last_error == permanent
    assert _job(later).state == JobState.queued
    counts = queue.stats(dbmod.get_engine()).counts
    assert counts == {
        ("done", "mark"): 12, ("dead", "flaky"): 1, ("dead", "broken"): 1, ("queued", "later"): 1
    }


@pytest.mark.slow
def test_heartbeat_thread_keeps_a_job_longer_than_the_stall_timeout(
    db_url: str, marks: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A handler running past job_stall_s keeps its lease while others hunt for stalled jobs."""
    # 3 s of stall timeout against 0.1 s beats: on a loaded 2-core machine a beat can wait over 1 s for
    # the database (CI once saw a 1 s timeout lapse); the handler still runs well past the timeout
    _settings(monkeypatch, job_stall_s=3.0, job_heartbeat_s=0.1, worker_poll_s=0.05)
    (job_id,) = _enqueue("slow", payload={"sleep_s": 5.0})
    stop = threading.Event()

    def hunt() -> None:
        while not stop.wait(0.1):
            queue.requeue_stalled(dbmod.get_engine())

    hunter = threading.Thread(target=hunt)
    hunter.start()
    try:
        assert run_workers(1, kinds=["slow"], burst=True, handlers=TEST_HANDLERS) == 0
    finally:
        stop.set()
        hunter.join()
    row = _job(job_id)
    assert (row.state, row.attempts, row.last_error) == (JobState.done, 1, None)


def test_worker_that_lost_its_lease_does_not_record_the_outcome(
    db_url: str, marks: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When another worker took the job over mid-run, the first one neither finishes nor fails it."""
    _settings(monkeypatch, job_heartbeat_s=0.05, worker_poll_s=0.05)
    (job_id,) = _enqueue("stolen")
    assert run_workers(1, kinds=["stolen"], burst=False, handlers=TEST_HANDLERS, max_jobs=1) == 0
    with dbmod.get_engine().connect() as conn:
        phases = conn.execute(sa.select(queue_handlers.marks.c.phase)).scalars().all()
    assert phases == ["noticed"]
    row = _job(job_id)
    assert (row.state, row.worker, row.attempts) == (JobState.running, "thief", 2)


def test_unknown_kind_is_refused(db_url: str) -> None:
    """Asking for a kind nobody registered is an input error, not a silent idle worker."""
    with pytest.raises(InvalidInput, match="nope"):
        run_workers(1, kinds=["nope"], burst=True, handlers=TEST_HANDLERS)


def test_status_and_retry_commands_show_and_revive_dead_jobs(db_url: str) -> None:
    """`status --json` shows depth by state and kind and the dead job's error; `retry` requeues it."""
    app = typer.Typer()
    work_cli.register(app)
    _enqueue("mark", 2)
    (dead,) = _enqueue("broken")
    engine = dbmod.get_engine()
    assert queue.claim(engine, "w1", kinds=["broken"]) is not None
    queue.fail(engine, dead, "w1", error="PermanentError: audio unreadable", permanent=True)
    out = CliRunner().invoke(app, ["status", "--json"])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.output)
    assert doc["counts"]["queued"] == {"broken": 0, "mark": 2} and doc["counts"]["dead"]["broken"] == 1
    assert [(d["id"], d["error"]) for d in doc["dead"]] == [(dead, "PermanentError: audio unreadable")]
    table = CliRunner().invoke(app, ["status"])
    assert table.exit_code == 0 and "audio unreadable" in table.output
    assert CliRunner().invoke(app, ["retry", str(dead)]).exit_code == 0
    assert _job(dead).state == JobState.queued
    again = CliRunner().invoke(app, ["retry", str(dead)])
    assert isinstance(again.exception, queue.JobNotDead)


# --- job slots and wake-up ---------------------------------------------------------------------

def _marks() -> list[sa.Row]:
    with dbmod.get_engine().connect() as conn:
        return list(conn.execute(sa.select(queue_handlers.marks).order_by(queue_handlers.marks.c.id)))


def _states(ids: list[int]) -> list[str]:
    with dbmod.get_engine().connect() as conn:
        rows = {r.id: r.state for r in conn.execute(sa.select(queue.jobs.c.id, queue.jobs.c.state)
                                                 .where(queue.jobs.c.id.in_(ids)))}
    return [rows[i] for i in ids]


def test_two_slots_of_one_process_run_two_jobs_at_the_same_time(
    db_url: str, marks: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With worker_slots=2 one process starts a second job before the first one ends."""
    _settings(monkeypatch, worker_slots=2, worker_poll_s=0.05)
    ids = _enqueue("around", 2, payload={"sleep_s": 1.0})
    assert run_workers(1, kinds=["around"], burst=True, handlers=TEST_HANDLERS) == 0
    rows = _marks()
    assert [r.phase for r in rows] == ["start", "start", "done", "done"]
    assert len({r.worker for r in rows}) == 2 and len({r.pid for r in rows}) == 1
    assert _states(ids) == [JobState.done.value] * 2


def test_max_jobs_counts_every_slot_of_the_process(db_url: str, marks: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """--max-jobs 2 with three slots and five jobs: the process runs exactly two, the rest stay queued."""
    _settings(monkeypatch, worker_slots=3, worker_poll_s=0.05)
    ids = _enqueue("mark", 5)
    assert run_workers(1, kinds=["mark"], burst=False, handlers=TEST_HANDLERS, max_jobs=2) == 0
    assert len(_marks()) == 2
    assert sorted(_states(ids)) == [JobState.done.value] * 2 + [JobState.queued.value] * 3


def test_idle_worker_claims_a_new_job_long_before_its_poll_interval(
    db_url: str, marks: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker idling with a 60 s poll interval is woken by the enqueue (NOTIFY / data_version)."""
    _settings(monkeypatch, worker_slots=1, worker_poll_s=60)
    (first,) = _enqueue("mark")
    worker = threading.Thread(target=run_workers, args=(1,),
                              kwargs={"kinds": ["mark"], "handlers": TEST_HANDLERS, "max_jobs": 2})
    worker.start()
    try:
        deadline = time.monotonic() + 30
        while _states([first]) != [JobState.done.value]:
            assert time.monotonic() < deadline, "the first job was never run"
            time.sleep(0.05)
        time.sleep(0.5)  # the worker found nothing more and is now waiting out its 60 s poll
        (second,) = _enqueue("mark")
        worker.join(timeout=20)
        assert not worker.is_alive(), "the queued job waited for the poll interval: no wake-up"
        assert _states([second]) == [JobState.done.value]
    finally:
        if worker.is_alive():
            _enqueue("mark")  # let it reach max_jobs and end
            worker.join(timeout=120)
