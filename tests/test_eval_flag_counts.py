"""Each evaluation's stored counts (``auto_insufficient``, ``auto_critical_no``: what a sampling pool reads
instead of counting answers) equal its items' counted auto answers after every kind of write: scoring, a
rescore, an inspector's evaluation and its recompute, a supervisor's dispute answer, ORM edits of the
answers, the bulk loader, and the migration's backfill. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from sqlmodel import Session, select

from scoring.evaluations import recompute, store_human_evaluation
from scoring.handler import score_call
from scoring.rubric import load_rubric, parse_rubric
from storage import db as dbmod
from storage.db import session
from storage.evaluations import Evaluation, EvaluationItem, EvaluationKind
from tests.conftest import fresh_pg_database
from tests.scoring_calls import good_call, seg, store_call
from tests.test_scoring_rubric import CONTRACT

COUNTED = """
SELECT e.id, e.auto_insufficient, e.auto_critical_no,
       (SELECT count(*) FROM evaluation_items i WHERE i.evaluation_id = e.id AND i.auto_answer = 'insufficient'),
       (SELECT count(*) FROM evaluation_items i WHERE i.evaluation_id = e.id AND i.auto_answer = 'no'
                                                   AND i.critical <> '')
FROM evaluations e ORDER BY e.id
"""


def stored_and_counted(s: Session | sa.Connection) -> dict[int, tuple[tuple[int, int], tuple[int, int]]]:
    """Per evaluation: (stored counts, counted answers)."""
    return {r[0]: ((r[1], r[2]), (r[3], r[4])) for r in s.execute(sa.text(COUNTED)).all()}


def assert_kept(s: Session | sa.Connection) -> dict[int, tuple[int, int]]:
    got = stored_and_counted(s)
    assert got and all(stored == counted for stored, counted in got.values()), got
    return {k: v[0] for k, v in got.items()}


def _scored(s: Session) -> Evaluation:
    """A mono call (insufficient evidence on the agent-only items) with abuse (a critical "no")."""
    store_call(s, "c-1", [seg("unknown", 0.5, 3.0, "Thank you for calling"),
                          seg("unknown", 4.0, 6.0, "Oh shut up and listen")], mono=True)
    return score_call(s, "c-1", load_rubric())


def test_scoring_and_rescoring_store_the_counted_answers(db_url: str) -> None:
    """A scored call's evaluation holds its insufficient and critical-"no" counts, non-zero here; a rescore
    under a new rubric version and a scoring again each store their own."""
    with session() as s:
        first = _scored(s)
        kept = assert_kept(s)
        assert kept[first.id or 0][0] > 0  # something to count, so a stale 0 would fail
        assert (first.auto_insufficient, first.auto_critical_no) == kept[first.id or 0]
    with session() as s:
        store_call(s, "c-2", good_call() + [seg("agent", 40.0, 42.0, "Oh shut up and listen")])
        ev = score_call(s, "c-2", load_rubric())
        assert assert_kept(s)[ev.id or 0][1] > 0
    with session() as s:
        v2 = parse_rubric(CONTRACT.replace("version: 1", "version: 2"))
        again = score_call(s, "c-1", v2)
        third = score_call(s, "c-1", v2, again=True)
        kept = assert_kept(s)
    assert len({first.id, again.id, third.id}) == 3 and len(kept) == 4


def test_an_inspectors_evaluation_and_its_recompute_keep_the_copied_counts(db_url: str) -> None:
    """A human evaluation copies the auto answers (so the same counts); the inspector's own answers and a
    recompute from them change no auto answer and no count."""
    with session() as s:
        auto = _scored(s)
        human = store_human_evaluation(s, "c-1", evaluator="insp1", kind=EvaluationKind.human, auto_id=auto.id,
                                       answers={"greeting": "yes", "no-abuse": "yes"})
        recompute(s, human.id or 0)
        kept = assert_kept(s)
    assert kept[human.id or 0] == kept[auto.id or 0] != (0, 0)


def test_orm_edits_of_answers_keep_the_counts(db_url: str) -> None:
    """Any ORM write of items (a changed auto answer or critical flag, an item moved to another evaluation,
    added or deleted) leaves both evaluations' counts right, and the loaded evaluation shows them."""
    with session() as s:
        store_call(s, "c-2", good_call() + [seg("agent", 40.0, 42.0, "Oh shut up and listen")])
        ev = score_call(s, "c-2", load_rubric())  # abuse: a critical "no"
        other = store_human_evaluation(s, "c-2", evaluator="insp1", kind=EvaluationKind.human, auto_id=ev.id,
                                       answers={})
        assert ev.id is not None and other.id is not None
        before = assert_kept(s)[ev.id]
        items = s.exec(select(EvaluationItem).where(EvaluationItem.evaluation_id == ev.id)
                       .order_by(sa.column("id"))).all()
        yes = next(i for i in items if i.auto_answer not in ("insufficient", "no"))
        yes.auto_answer = "insufficient"
        s.add(yes)
        s.flush()
        assert assert_kept(s)[ev.id] == (before[0] + 1, before[1])
        assert (ev.auto_insufficient, ev.auto_critical_no) == (before[0] + 1, before[1])
        crit = next(i for i in items if i.auto_answer == "no" and i.critical)
        crit.critical = ""
        s.add(crit)
        s.flush()
        assert assert_kept(s)[ev.id] == (before[0] + 1, before[1] - 1)
        yes.evaluation_id, yes.item_id = other.id, "moved"
        s.add(yes)
        s.add(EvaluationItem(evaluation_id=ev.id, item_id="extra", section_id="s", check_kind="llm",
                             critical="call", points=1, auto_answer="no", reason="", evidence=[]))
        s.flush()
        kept = assert_kept(s)
        assert kept[ev.id] == (before[0], before[1]) and kept[other.id][0] == before[0] + 1
        s.delete(yes)
        s.flush()
        assert assert_kept(s)[other.id] == before
    with session() as s:  # committed, and read back the same
        assert_kept(s)


def test_a_supervisors_dispute_answer_is_a_new_evaluation_with_the_counts(db_url: str) -> None:
    """The dispute path writes a new human evaluation through store_human_evaluation: counted too."""
    with session() as s:
        auto = _scored(s)
        first = store_human_evaluation(s, "c-1", evaluator="insp1", kind="human", auto_id=auto.id,
                                       answers={"greeting": "no"})
        second = store_human_evaluation(s, "c-1", evaluator="sup1", kind="human", auto_id=auto.id,
                                        answers={"greeting": "yes"})
        kept = assert_kept(s)
    assert kept[first.id or 0] == kept[second.id or 0] == kept[auto.id or 0]


@contextmanager
def _database(kind: str, tmp: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{tmp / 'flags.db'}"
    else:
        with fresh_pg_database("callqc_test_poolflags") as url:
            yield url


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def test_migration_backfills_the_counts_of_existing_evaluations(kind: str, tmp_path: Path) -> None:
    """Evaluations written before the columns existed get their counts from their items; one without
    flagged answers keeps 0; updated_at is not moved."""
    at = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    with _database(kind, tmp_path) as url:
        engine = sa.create_engine(url)
        try:
            cfg = dbmod.alembic_config(engine)
            with engine.begin() as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "0040_tenantkpi_day_joins")  # the revision before the counts
            answers: dict[int, list[tuple[str | None, str]]] = {
                1: [("insufficient", ""), ("insufficient", "call"), ("no", "call"), ("no", ""), ("yes", "")],
                2: [("yes", "call"), ("n/a", "")],
                3: [("no", "section"), ("no", "call"), (None, "")]}
            with engine.begin() as conn:
                conn.execute(sa.text(
                    "INSERT INTO calls (call_id, tenant, direction, started_at, duration_s, codec, sample_rate, "
                    "channels, channel_map, meta, audio_key, size_bytes, sha256, status, hot_present, created_at, "
                    "updated_at) "
                    "VALUES ('m1', 'default', 'inbound', :at, 60, 'pcm', 8000, 2, '{}', '{}', 'k/m1', 1, :sha, "
                    "'scored', true, :at, :at)"), {"at": at, "sha": "0" * 64})
                for ev_id, rows in answers.items():
                    conn.execute(sa.text(
                        "INSERT INTO evaluations (id, call_id, rubric_id, rubric_version, kind, evaluator, pass_mark, "
                        "needs_review, auto_submitted, active, sections, created_at, updated_at) VALUES "
                        "(:id, 'm1', 'r', 1, 'auto', 'auto', 80, false, false, :active, '[]', :at, :at)"),
                        {"id": ev_id, "active": ev_id == 3, "at": at})
                    for n, (answer, critical) in enumerate(rows):
                        conn.execute(sa.text(
                            "INSERT INTO evaluation_items (evaluation_id, item_id, section_id, check_kind, critical, "
                            "points, earned, possible, auto_answer, reason, evidence) VALUES "
                            "(:ev, :item, 's', 'llm', :critical, 5, 0, 0, :answer, '', '[]')"),
                            {"ev": ev_id, "item": f"i{n}", "critical": critical, "answer": answer})
            with engine.begin() as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
            with engine.connect() as conn:
                kept = assert_kept(conn)
                moved = conn.execute(sa.text("SELECT count(*) FROM evaluations WHERE updated_at <> :at"),
                                     {"at": at}).scalar_one()
            assert kept == {1: (2, 1), 2: (0, 0), 3: (0, 2)} and moved == 0
        finally:
            engine.dispose()


@pytest.mark.integration
def test_the_bulk_loader_writes_the_counts_of_the_answers_it_copies(pg_server_url: str,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """`callqc dev populate` COPYs rows past the ORM: it counts the answers itself, and gets them right."""
    from callqc.populate import Plan, populate
    from storage.settings import reset_settings
    from tests.conftest import empty_all_tables, migrate_pg

    monkeypatch.setenv("CALLQC_DATABASE_URL", pg_server_url)
    reset_settings()
    dbmod.reset_engines()
    engine = dbmod.get_engine()
    try:
        migrate_pg(engine)
        empty_all_tables(engine)
        populate(engine, Plan(calls=40, seed=21, months=1, end_month="2026-03", batch=25))
        with engine.connect() as conn:
            kept = assert_kept(conn)
        assert len(kept) > 40 and sum(n for n, _ in kept.values()) > 0 and sum(c for _, c in kept.values()) > 0
    finally:
        dbmod.reset_engines()
