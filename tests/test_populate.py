"""`callqc dev populate`: N complete calls on real PostgreSQL, refused on SQLite and on a seed already used."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlmodel import select

from callqc.populate import SEGMENTS, AlreadyPopulated, Plan, populate
from review_app.workflow.callview import call_json
from review_app.workflow.rollup import refresh
from scoring.rubric import active_rubric
from storage import db as dbmod
from storage.errors import InvalidInput
from storage.rollups import HourStats
from storage.settings import reset_settings
from tests.conftest import empty_all_tables, migrate_pg

pytestmark = pytest.mark.integration

CALLS = 60
PLAN = Plan(calls=CALLS, seed=7, months=3, end_month="2026-06", batch=25)  # three batches, the last one short


@pytest.fixture
def pg(pg_server_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[sa.Engine]:
    monkeypatch.setenv("CALLQC_DATABASE_URL", pg_server_url)
    reset_settings()
    dbmod.reset_engines()
    engine = dbmod.get_engine()
    migrate_pg(engine)
    empty_all_tables(engine)
    yield engine
    dbmod.reset_engines()


def _one(engine: sa.Engine, sql: str) -> int:
    with engine.connect() as c:
        return int(c.execute(sa.text(sql)).scalar_one())


def test_populate_writes_n_calls_each_with_its_segments_evaluations_and_reviews(pg: sa.Engine) -> None:
    done = populate(pg, PLAN)
    items = len(list(active_rubric().rubric.items()))
    reviewed = len(range(0, CALLS, 20))
    assert (done.calls, done.reviews) == (CALLS, reviewed)
    assert _one(pg, "SELECT count(*) FROM calls") == CALLS
    assert _one(pg, "SELECT count(*) FROM transcripts") == CALLS
    assert _one(pg, "SELECT count(*) FROM call_metrics") == CALLS
    assert _one(pg, "SELECT count(*) FROM segments") == CALLS * SEGMENTS
    # every call: segments 0..19, exactly one active auto-evaluation with one answer per rubric item
    assert _one(pg, f"SELECT count(*) FROM (SELECT call_id FROM segments GROUP BY call_id "
                    f"HAVING count(*) = {SEGMENTS} AND min(idx) = 0 AND max(idx) = {SEGMENTS - 1}) s") == CALLS
    assert _one(pg, "SELECT count(DISTINCT call_id) FROM evaluations WHERE kind = 'auto' AND active") == CALLS
    assert _one(pg, "SELECT count(*) FROM evaluations") == CALLS + reviewed
    assert _one(pg, "SELECT count(*) FROM evaluation_items") == (CALLS + reviewed) * items
    # a review points at a human evaluation of its own call, and at that call's auto-evaluation
    assert _one(pg, "SELECT count(*) FROM reviews r JOIN evaluations h ON h.id = r.evaluation_id "
                    "AND h.call_id = r.call_id AND h.kind = 'human' JOIN evaluations a ON a.id = "
                    "r.auto_evaluation_id AND a.call_id = r.call_id AND a.kind = 'auto'") == reviewed
    assert _one(pg, "SELECT count(*) FROM audit_log WHERE action = 'ingest'") == CALLS
    # calls of the months before last are archived, each on a verified image of its own month
    archived = _one(pg, "SELECT count(*) FROM calls WHERE started_at < '2026-05-01'")
    assert archived > 0
    assert _one(pg, "SELECT count(*) FROM archive_entries e JOIN archive_images i ON i.id = e.image_id "
                    "JOIN calls c ON c.call_id = e.call_id AND to_char(c.started_at AT TIME ZONE 'UTC', "
                    "'YYYY-MM') = i.month WHERE i.state = 'verified'") == archived
    assert _one(pg, "SELECT sum(call_count) FROM archive_images") == archived
    assert _one(pg, "SELECT count(*) FROM calls WHERE started_at < '2026-04-01' OR started_at >= '2026-07-01'") == 0
    # normal inserts still work after COPY took evaluation IDs from the sequence
    assert _one(pg, "SELECT nextval(pg_get_serial_sequence('evaluations', 'id'))") > _one(
        pg, "SELECT max(id) FROM evaluations")
    # the app reads a generated call like any other
    with dbmod.session(pg) as s:
        doc = call_json(s, PLAN.call_id(0))
    assert len(doc["transcript"]["segments"]) == SEGMENTS
    assert doc["evaluation"] is not None
    # populate writes history, so the next refresh of the hour rollup recomputes every hour
    with dbmod.session(pg) as s:
        refresh(s)
    populate(pg, Plan(calls=5, seed=8, months=3, end_month="2026-06"))
    with dbmod.session(pg) as s:
        refresh(s)
        assert sum(r.calls for r in s.exec(select(HourStats))) == CALLS + 5
        assert sum(r.reviews for r in s.exec(select(HourStats))) == reviewed + 1


def test_populate_refuses_a_seed_already_in_the_database(pg: sa.Engine) -> None:
    populate(pg, Plan(calls=3, seed=9, batch=2))
    with pytest.raises(AlreadyPopulated):
        populate(pg, Plan(calls=3, seed=9, batch=2))
    assert _one(pg, "SELECT count(*) FROM calls") == 3


def test_populate_on_sqlite_is_refused_in_one_line(sqlite_db: str) -> None:
    r = subprocess.run([sys.executable, "-m", "callqc", "dev", "populate", "--calls", "5"],
                       capture_output=True, text=True, timeout=120, env=dict(os.environ))
    assert r.returncode != 0
    assert r.stderr.strip().splitlines() == [
        "error: `callqc dev populate` needs PostgreSQL (set CALLQC_DATABASE_URL=postgresql+psycopg://...)"]
    assert _one(dbmod.get_engine(), "SELECT count(*) FROM calls") == 0


def test_populate_with_agents_spreads_one_month_over_that_many_agents_in_teams_of_fifteen(pg: sa.Engine) -> None:
    # one month of a 300-seat center: without --agents, 400 calls would be given to 15 agents
    populate(pg, Plan(calls=400, seed=11, months=1, end_month="2026-03", batch=200, staff=30))
    assert _one(pg, "SELECT count(DISTINCT agent_id) FROM calls") == 30
    assert _one(pg, "SELECT count(DISTINCT team) FROM calls") == 2
    assert _one(pg, "SELECT count(*) FROM calls WHERE started_at < '2026-03-01' OR started_at >= '2026-04-01'") == 0
    with pytest.raises(InvalidInput):
        populate(pg, Plan(calls=3, seed=12, staff=0))
