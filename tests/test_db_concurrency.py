"""Job transactions that run at the same time in two slots or two processes: none fails the other."""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa

from scoring.rubric import active_rubric
from scoring.versions import register_rubric
from storage import db as dbmod
from storage.jobs import Job
from storage.queue import enqueue
from storage.rubrics import RubricRow


def test_two_workers_registering_the_same_rubric_at_once_both_succeed(db_url: str) -> None:
    """The first scores of two workers race to store the rubric version: the loser reuses the winner's row."""
    loaded = active_rubric()
    outcome: dict[str, object] = {}
    with dbmod.session(write=True) as first:
        register_rubric(first, loaded)  # inserted, not yet committed

        def second() -> None:
            try:
                with dbmod.session(write=True) as s:
                    outcome["row"] = register_rubric(s, loaded).content_hash
            except Exception as exc:  # noqa: BLE001 - the test reports it
                outcome["error"] = exc

        t = threading.Thread(target=second)
        t.start()
        time.sleep(0.5)  # let the second one find no row and wait on the first one's insert or lock
    t.join(timeout=60)
    assert "error" not in outcome, outcome.get("error")
    assert outcome["row"] == loaded.content_hash
    with dbmod.session() as s:
        assert s.execute(sa.select(sa.func.count()).select_from(RubricRow)).scalar_one() == 1


def test_a_read_then_write_job_transaction_survives_a_concurrent_commit(sqlite_db: str) -> None:
    """On SQLite a write session that read first still writes after another connection committed meanwhile."""
    other: dict[str, object] = {}

    def commit_elsewhere() -> None:
        try:
            with dbmod.session() as s:
                other["id"] = enqueue(s, "score", payload={"who": "other"})
        except Exception as exc:  # noqa: BLE001 - the test reports it
            other["error"] = exc

    with dbmod.session(write=True) as s:
        assert s.execute(sa.select(sa.func.count()).select_from(Job)).scalar_one() == 0  # the read
        t = threading.Thread(target=commit_elsewhere)
        t.start()
        time.sleep(0.3)  # the other commit is attempted while this transaction is open
        enqueue(s, "score", payload={"who": "mine"})  # the write: a deferred transaction would fail here
    t.join(timeout=90)
    assert "error" not in other, other.get("error")
    with dbmod.session() as s:
        who = sorted(p["who"] for p in s.execute(sa.select(Job.payload)).scalars())
    assert who == ["mine", "other"]


def test_a_deferred_sqlite_transaction_is_what_fails(sqlite_db: str) -> None:
    """The failure write sessions prevent: a deferred transaction that read cannot write after a commit."""
    with dbmod.session() as s:
        s.execute(sa.select(sa.func.count()).select_from(Job)).scalar_one()
        with dbmod.session() as other:
            enqueue(other, "score", payload={"who": "other"})
        with pytest.raises(sa.exc.OperationalError, match="locked"):
            enqueue(s, "score", payload={"who": "mine"})
        s.rollback()
