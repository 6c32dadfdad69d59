"""The agent scorecard reads an agent's calls from ``ix_calls_agent_started`` alone (PostgreSQL).

At 1 M calls an agent's year of calls lies in as many heap blocks as calls; reading each was most of the
scorecard's time (docs/benchmarks.md). The index carries what the scorecard's queries join and scope on
(call ID, tenant, team), so no plan of theirs touches the calls table itself. The planner is told to
prefer indexes (a small test table would be read whole otherwise); a query that needs a column the index
lacks then shows an Index Scan or a Bitmap Heap Scan on calls, and this test fails.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlmodel import Session

from callqc.populate import Plan, populate
from review_app.workflow import agent_summary, feedback
from storage import db as dbmod
from storage.settings import reset_settings
from storage.users import Principal, Role
from tests.conftest import empty_all_tables, migrate_pg

pytestmark = pytest.mark.integration

HEAP_READ = re.compile(r"(Seq Scan|Index Scan|Bitmap Heap Scan)( Backward)?( using \w+)? on calls\b")


@pytest.fixture
def pg(pg_server_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[sa.Engine]:
    monkeypatch.setenv("CALLQC_DATABASE_URL", pg_server_url)
    reset_settings()
    dbmod.reset_engines()
    engine = dbmod.get_engine()
    migrate_pg(engine)
    empty_all_tables(engine)
    populate(engine, Plan(calls=400, seed=11, months=3, end_month="2026-06", batch=200, staff=4))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.exec_driver_sql("VACUUM ANALYZE calls")
        c.exec_driver_sql("VACUUM ANALYZE evaluations")
    yield engine
    dbmod.reset_engines()


def _statements(engine: sa.Engine, page: Any) -> list[tuple[str, Any]]:
    seen: list[tuple[str, Any]] = []

    def keep(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        seen.append((statement, params))

    event.listen(engine, "before_cursor_execute", keep)
    try:
        with Session(engine) as s:
            page(s)
            s.rollback()
    finally:
        event.remove(engine, "before_cursor_execute", keep)
    return seen


def test_scorecard_reads_the_agents_calls_from_the_index_alone(pg: sa.Engine) -> None:
    with pg.connect() as c:
        agent = c.execute(sa.text("SELECT agent_id FROM calls GROUP BY agent_id ORDER BY count(*) DESC LIMIT 1")
                          ).scalar_one()
    who = Principal(f"agent-{agent}", Role.agent, agent_id=agent)
    now = datetime(2026, 6, 20, tzinfo=UTC)

    def page(s: Session) -> None:
        agent_summary.summary(s, who, agent, now=now)
        feedback.scorecard(s, who)

    on_calls = [(sql, p) for sql, p in _statements(pg, page)
                if re.search(r"\b(FROM|JOIN) calls\b", sql) and "calls.agent_id = " in sql]
    assert len(on_calls) >= 4  # the summary's counted calls, its team and open feedback; the list; auto rows
    with pg.connect() as c:
        c.exec_driver_sql("SET enable_seqscan = off")
        c.exec_driver_sql("SET enable_bitmapscan = off")
        for sql, params in on_calls:
            plan = "\n".join(r[0] for r in c.exec_driver_sql(f"EXPLAIN {sql}", params))
            assert "ix_calls_agent_started" in plan, plan
            assert not HEAP_READ.search(plan), f"{sql}\n{plan}"
