"""Large data stays fast: a 1-hour call's page among hundreds of calls reads only that call, a page at a time."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

from review_app.session import _TOKEN as TOKEN
from scoring.autoscore import evaluate
from scoring.evaluations import store_auto_evaluation
from scoring.rubric import active_rubric
from storage import db
from storage.audit import record
from storage.calls import Call, CallStatus, Direction
from storage.db import session
from storage.keys import recording_key
from storage.models import AuditAction
from tests import review_world
from tests.review_world import DAY0, add_segments
from tests.scoring_calls import call as conversation
from tests.scoring_calls import good_call, seg

pytestmark = pytest.mark.app
APP = str(Path(__file__).resolve().parent.parent / "review_app" / "app.py")
BIG = "big-call-1h"
BIG_SEGMENTS = 1230  # one hour of alternating turns, ~2.9 s each
PAGE_LINES = 100  # review_app/views/call.py shows the transcript this many lines at a time
# tables holding per-call rows, and the column a call page must filter them by
PER_CALL = {
    "calls": "call_id",
    "segments": "call_id",
    "evaluations": "call_id",
    "reviews": "call_id",
    "assignments": "call_id",
    "transcripts": "call_id",
    "call_metrics": "call_id",
}


def one_hour_call() -> list:
    step = 3600.0 / BIG_SEGMENTS
    return [
        seg(
            "agent" if i % 2 == 0 else "customer",
            i * step,
            i * step + step * 0.9,
            f"turn {i}: about the account, the card and the refund we discussed",
        )
        for i in range(BIG_SEGMENTS)
    ]


def add_other_calls(first: int, count: int) -> None:
    """Other calls with transcripts, auto-evaluations and audit rows (one scoring reused: only volume matters)."""
    segments = good_call()
    conv = conversation(segments)
    auto = evaluate(active_rubric(), conv)
    with session() as s:
        for n in range(first, first + count):
            cid = f"other-{n:04d}"
            started = DAY0 + timedelta(minutes=n)
            s.add(
                Call(
                    call_id=cid,
                    agent_id="A1" if n % 2 else "A2",
                    team="T1",
                    queue="support",
                    direction=Direction.inbound,
                    started_at=started,
                    ended_at=started + timedelta(seconds=conv.duration),
                    duration_s=conv.duration,
                    codec="pcm_s16le",
                    sample_rate=8000,
                    channels=2,
                    channel_map={"agent": 0, "customer": 1},
                    audio_key=recording_key(cid, started, "wav"),
                    size_bytes=1,
                    sha256=hashlib.sha256(cid.encode()).hexdigest(),
                    status=CallStatus.scored,
                )
            )
            s.flush()
            add_segments(s, cid, segments)
            store_auto_evaluation(s, cid, auto)
            record(s, "insp1", AuditAction.view, call_id=cid, source="test")


@contextmanager
def statements() -> Iterator[list[tuple[str, object]]]:
    """Every SQL statement the engine runs inside the block, with its parameters."""
    seen: list[tuple[str, object]] = []

    def note(_conn, _cursor, statement, parameters, _context, _many) -> None:  # type: ignore[no-untyped-def]
        seen.append((statement, parameters))

    engine = db.get_engine()
    sa.event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", note)


def reads(statement: str, table: str) -> bool:
    return re.search(rf"\bFROM\s+{table}\b|\bJOIN\s+{table}\b", statement, re.IGNORECASE) is not None


def open_big_call(world: review_world.World) -> tuple[AppTest, list[tuple[str, object]]]:
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state[TOKEN] = review_world.session_token("insp1")
    at.query_params["call"] = BIG
    at.run()
    with statements() as seen:
        at.switch_page("views/call.py").run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    return at, seen


def shown_lines(at: AppTest, page: int) -> list[str]:
    return [b.label for b in at.button if str(b.key).startswith(f"seek:{page}:")]


@pytest.fixture
def world(sqlite_db: str, monkeypatch: pytest.MonkeyPatch) -> review_world.World:
    review_world.fast_hashing(monkeypatch)
    w = review_world.build(calls_per_agent=1)
    review_world.add_call(BIG, "A1", started_at=DAY0 + timedelta(hours=3), segments=one_hour_call())
    add_other_calls(0, 10)
    return w


@pytest.mark.slow
def test_one_hour_call_page_shows_its_transcript_a_page_at_a_time(world: review_world.World) -> None:
    """The 1-hour call's page renders its first 100 lines and a page control that reaches the last ones."""
    at, _ = open_big_call(world)
    first = shown_lines(at, 1)
    assert len(first) == PAGE_LINES and first[0].endswith("00:00")
    control = at.number_input(key="tx_page")
    pages = -(-BIG_SEGMENTS // PAGE_LINES)
    assert (control.value, control.min, control.max) == (1, 1, pages)
    control.set_value(pages).run()
    assert not at.exception, at.exception
    last = shown_lines(at, pages)
    assert len(last) == BIG_SEGMENTS - (pages - 1) * PAGE_LINES and not shown_lines(at, 1)
    assert f"turn {BIG_SEGMENTS - 1}\\:" in "\n".join(str(m.value) for m in at.markdown)  # escaped: text, not Markdown


@pytest.mark.slow
def test_call_page_reads_only_its_own_call_whatever_the_other_calls(world: review_world.World) -> None:
    """Every per-call table read is filtered by this call's ID, and 290 more calls add no query."""
    _, few = open_big_call(world)
    add_other_calls(10, 290)
    _, many = open_big_call(world)
    assert len(many) == len(few)
    assert [s for s, _ in many] == [s for s, _ in few]
    per_call = [(s, p) for s, p in many if any(reads(s, t) for t in PER_CALL)]
    assert any(reads(s, "segments") for s, _ in per_call)
    for statement, params in per_call:
        values = params.values() if isinstance(params, dict) else params
        assert BIG in tuple(values), statement
        assert not any(str(v).startswith("other-") for v in values), statement
    evaluation_ids = {p for s, ps in many if reads(s, "evaluation_items") for p in ps if isinstance(p, int)}
    with session() as s:
        big_evaluations = set(s.execute(sa.text("SELECT id FROM evaluations WHERE call_id = :c"), {"c": BIG}).scalars())
    assert evaluation_ids and evaluation_ids <= big_evaluations


@pytest.mark.slow
def test_call_page_queries_search_indexes_rather_than_scan_tables(world: review_world.World) -> None:
    """SQLite's plan for every SELECT the call page runs finds rows by an index, never a whole-table scan."""
    add_other_calls(10, 290)
    _, seen = open_big_call(world)
    selects = [(s, p) for s, p in seen if s.lstrip().upper().startswith("SELECT")]
    assert any(reads(s, "segments") for s, _ in selects)
    with db.get_engine().connect() as conn:
        for statement, params in selects:
            plan = [row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", params)]
            assert not [step for step in plan if step.startswith("SCAN")], (statement, plan)


@pytest.mark.parametrize(
    ("table", "column"), [("segments", "call_id"), ("evaluations", "call_id"), ("audit_log", "call_id")]
)
def test_call_lookups_are_served_by_an_index(db_url: str, table: str, column: str) -> None:
    """The migrated database indexes the call ID of transcripts, evaluations and the audit log."""
    indexes = sa.inspect(db.get_engine()).get_indexes(table)
    assert any(ix["column_names"][0] == column for ix in indexes), indexes
