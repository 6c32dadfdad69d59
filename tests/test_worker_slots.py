"""Job slots (several jobs at once in one worker process) and instant wake-up of idle workers."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from callqc.pool import run_workers
from storage import db as dbmod
from storage import queue
from storage.models import JobState
from storage.settings import reset_settings
from tests import queue_handlers

HANDLERS = {"mark": "tests.queue_handlers:append_marker", "around": "tests.queue_handlers:mark_around_sleep"}


@pytest.fixture
def marks(db_url: str) -> Iterator[None]:
    engine = dbmod.get_engine()
    queue_handlers.create_marks(engine)
    yield
    queue_handlers.meta.drop_all(engine)


def _settings(monkeypatch: pytest.MonkeyPatch, **env: object) -> None:
    for name, value in env.items():
        monkeypatch.setenv(f"CALLQC_{name.upper()}", str(value))
    reset_settings()


def _enqueue(kind: str, n: int = 1, **kw: object) -> list[int]:
    with dbmod.session() as s:
        return [queue.enqueue(s, kind, **kw) for _ in range(n)]  # type: ignore[arg-type]


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
    assert run_workers(1, kinds=["around"], burst=True, handlers=HANDLERS) == 0
    rows = _marks()
    assert [r.phase for r in rows] == ["start", "start", "done", "done"]
    assert len({r.worker for r in rows}) == 2 and len({r.pid for r in rows}) == 1
    assert _states(ids) == [JobState.done.value] * 2


def test_max_jobs_counts_every_slot_of_the_process(db_url: str, marks: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """--max-jobs 2 with three slots and five jobs: the process runs exactly two, the rest stay queued."""
    _settings(monkeypatch, worker_slots=3, worker_poll_s=0.05)
    ids = _enqueue("mark", 5)
    assert run_workers(1, kinds=["mark"], burst=False, handlers=HANDLERS, max_jobs=2) == 0
    assert len(_marks()) == 2
    assert sorted(_states(ids)) == [JobState.done.value] * 2 + [JobState.queued.value] * 3


def test_idle_worker_claims_a_new_job_long_before_its_poll_interval(
    db_url: str, marks: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker idling with a 60 s poll interval is woken by the enqueue (NOTIFY / data_version)."""
    _settings(monkeypatch, worker_slots=1, worker_poll_s=60)
    (first,) = _enqueue("mark")
    worker = threading.Thread(target=run_workers, args=(1,),
                              kwargs={"kinds": ["mark"], "handlers": HANDLERS, "max_jobs": 2})
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
