"""Monthly partitions on PostgreSQL: migration 0028 keeps every row and puts it in its month, new
rows land in their month's partition, upkeep makes the coming months ahead, and retention disposal
drops a month's partitions only when every call of the month is disposed (never under a hold)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from alembic import command
from sqlmodel import col, func, select

from callqc.populate import Plan, populate
from callqc.worker import Worker
from storage import audit, partitions
from storage import db as dbmod
from storage.archive.hold import hold
from storage.archive.run import run_month
from storage.calls import Call
from storage.db import session
from storage.disposal import Verdict, dispose_due
from storage.models import AuditAction, AuditEvent
from storage.partitions import Month, partition_name
from storage.retrieval import RecordingSource, open_recording
from storage.segments import Segment, Speaker
from storage.settings import get_settings, reset_settings
from storage.stores import make_store
from storage.transcripts import Transcript, TranscriptBase, TranscriptSegment, replace_transcript, segments
from tests.archive_helpers import make_calls
from tests.conftest import fresh_pg_database

pytestmark = pytest.mark.integration


@contextmanager
def _configured(url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("CALLQC_DATABASE_URL", url)
    reset_settings()
    dbmod.reset_engines()
    try:
        yield url
    finally:
        dbmod.reset_engines()


@pytest.fixture
def empty_pg(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A new, empty PostgreSQL database of its own (migrations are run by the test), dropped after."""
    with fresh_pg_database("callqc_test_part") as url, _configured(url, monkeypatch):
        yield url


@pytest.fixture(scope="module")
def migrated_template() -> Iterator[str]:
    """A database migrated to head once for the module; each test's ``pg`` is a copy of it (running
    every migration on PostgreSQL took most of each test)."""
    with fresh_pg_database("callqc_test_parttmpl") as url:
        engine = dbmod.make_engine(url)
        try:
            dbmod.migrate(engine)
        finally:
            engine.dispose()  # CREATE DATABASE ... TEMPLATE needs it unused
        yield url.rsplit("/", 1)[1]


@pytest.fixture
def pg(migrated_template: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A new PostgreSQL database of its own at head, dropped after."""
    with fresh_pg_database("callqc_test_part", template=migrated_template) as url, _configured(url, monkeypatch):
        yield url


def _alembic(verb: str, target: str) -> None:
    engine = dbmod.get_engine()
    cfg = dbmod.alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        getattr(command, verb)(cfg, target)


def _where(conn: sa.Connection, table: str, column: str, value: str) -> set[str]:
    """The partitions (or plain table) holding ``table``'s rows whose ``column`` is ``value``."""
    return set(conn.execute(sa.text(f"SELECT DISTINCT tableoid::regclass::text FROM {table} WHERE {column} = :v"),
                            {"v": value}).scalars())


def _relkind(conn: sa.Connection, table: str) -> str:
    return str(conn.execute(sa.text("SELECT relkind FROM pg_class WHERE relname = :t"), {"t": table}).scalar())


STARTS = {"old-1": datetime(2025, 3, 4, 9, 0, tzinfo=UTC), "old-2": datetime(2025, 3, 31, 23, 59, tzinfo=UTC),
          "mid-1": datetime(2025, 4, 1, 0, 0, tzinfo=UTC), "far-1": datetime(2019, 11, 15, 12, 0, tzinfo=UTC)}
SUMS = {  # every column of every row, so a lost or changed row shows
    "segments": "SELECT count(*), sum(hashtext(id || call_id || idx || speaker || text || words::text)) FROM segments",
    "transcripts": "SELECT count(*), sum(hashtext(call_id || model_name || created_at::text)) FROM transcripts",
    "audit_log": "SELECT count(*), sum(hashtext(id || at::text || actor || action || detail::text)) FROM audit_log",
}


def _fill_at_0027(conn: sa.Connection) -> None:
    """Calls, segments, transcripts and audit rows written as the schema before 0028 has them."""
    for cid, started in STARTS.items():
        conn.execute(sa.text(
            "INSERT INTO calls (call_id, tenant, direction, started_at, duration_s, codec, sample_rate, channels, "
            "channel_map, meta, audio_key, size_bytes, sha256, status, hot_present, created_at, updated_at) VALUES "
            "(:c, 'default', 'inbound', :s, 60, 'pcm', 8000, 2, '{}', '{}', :c, 1, 'x', 'scored', true, :s, :s)"),
            {"c": cid, "s": started})
        conn.execute(sa.text(
            "INSERT INTO transcripts (call_id, language_probability, model_name, model_version, model_source, "
            "compute, duration_s, mono, word_count, created_at) VALUES (:c, 1, 'tiny', '1', 'bundled', '{}', 60, "
            "false, 3, :s)"), {"c": cid, "s": started + timedelta(minutes=5)})
        for i in range(3):
            conn.execute(sa.text(
                "INSERT INTO segments (call_id, idx, speaker, channel, start_s, end_s, text, words, avg_logprob, "
                "no_speech_prob) VALUES (:c, :i, 'agent', 0, :i, :i + 1, :t, '[]', -0.2, 0.01)"),
                {"c": cid, "i": i, "t": f"line {i} of {cid}"})
        conn.execute(sa.text("INSERT INTO audit_log (at, actor, action, call_id, detail) VALUES "
                             "(:s, 'cli:rec', 'ingest', :c, '{}')"), {"c": cid, "s": started})


def test_migration_keeps_every_row_puts_it_in_its_month_and_round_trips(empty_pg: str) -> None:
    """Upgrading a database with rows keeps every row (same values), each in its month's partition,
    keys and indexes kept; downgrade gives plain tables back with the same rows; upgrade again works."""
    _alembic("upgrade", "0027_scaled_indexes")
    engine = dbmod.get_engine()
    with engine.begin() as conn:
        _fill_at_0027(conn)
    with engine.connect() as conn:
        before = {t: tuple(conn.execute(sa.text(q)).one()) for t, q in SUMS.items()}
        indexes_before = set(conn.execute(sa.text(
            "SELECT indexname FROM pg_indexes WHERE tablename IN ('segments', 'transcripts', 'audit_log')")).scalars())
    assert before["segments"][0] == 12

    # to this migration, not head: later migrations change indexes of these tables (0032: audit_log)
    _alembic("upgrade", "0030_partition_months")
    with engine.connect() as conn:
        assert {t: tuple(conn.execute(sa.text(q)).one()) for t, q in SUMS.items()} == before
        for table in partitions.KEYS:
            assert _relkind(conn, table) == "p"
        assert _where(conn, "segments", "call_id", "old-2") == {"segments_y2025m03"}  # 23:59 UTC on the 31st
        assert _where(conn, "segments", "call_id", "mid-1") == {"segments_y2025m04"}
        assert _where(conn, "transcripts", "call_id", "far-1") == {"transcripts_y2019m11"}
        assert _where(conn, "audit_log", "call_id", "old-1") == {"audit_log_y2025m03"}
        this = Month.of(datetime.now(UTC))
        names = {p.name for p in partitions.partitions(conn)}
        assert {partition_name("segments", this.plus(n)) for n in range(4)} <= names
        assert {"segments_default", "transcripts_default", "audit_log_default"} <= names
        parent_indexes = set(conn.execute(sa.text(
            "SELECT indexname FROM pg_indexes WHERE tablename IN ('segments', 'transcripts', 'audit_log')")).scalars())
        assert parent_indexes == indexes_before
        # the unique key still holds one row per call and idx
        with pytest.raises(sa.exc.IntegrityError), conn.begin_nested():
            conn.execute(sa.text("INSERT INTO segments (call_id, idx, speaker, channel, start_s, end_s, text, "
                                 "words, avg_logprob, no_speech_prob, call_started_at) SELECT call_id, idx, "
                                 "speaker, channel, start_s, end_s, text, words, avg_logprob, no_speech_prob, "
                                 "call_started_at FROM segments WHERE call_id = 'old-1' AND idx = 0"))
    with session() as s:
        assert [seg.text for seg in segments(s, "old-2")] == [f"line {i} of old-2" for i in range(3)]

    _alembic("downgrade", "0027_scaled_indexes")
    with engine.connect() as conn:
        assert {t: tuple(conn.execute(sa.text(q)).one()) for t, q in SUMS.items()} == before
        for table in partitions.KEYS:
            assert _relkind(conn, table) == "r"
        assert partitions.partitions(conn) == []
        cols = set(conn.execute(sa.text("SELECT column_name FROM information_schema.columns "
                                        "WHERE table_name = 'segments'")).scalars())
        assert "call_started_at" not in cols
        assert set(conn.execute(sa.text(
            "SELECT indexname FROM pg_indexes WHERE tablename IN ('segments', 'transcripts', 'audit_log')"))
            .scalars()) == indexes_before
        # the sequence still belongs to the table and goes on from where it was
        assert conn.execute(sa.text("SELECT pg_get_serial_sequence('segments', 'id')")).scalar() is not None

    _alembic("upgrade", "head")
    with engine.connect() as conn:
        assert {t: tuple(conn.execute(sa.text(q)).one()) for t, q in SUMS.items()} == before


def _call(cid: str, started: datetime) -> Call:
    return Call(call_id=cid, started_at=started, codec="pcm_s16le", sample_rate=8000, channels=2, audio_key=cid,
                size_bytes=1, sha256="x")


def _transcribe(cid: str) -> None:
    with session() as s:
        replace_transcript(s, TranscriptBase(call_id=cid, model_name="tiny.en", model_version="1",
                                             model_source="bundled", word_count=2),
                           [Segment(speaker=Speaker.agent, channel=0, start=0.0, end=1.0, text="hello"),
                            Segment(speaker=Speaker.customer, channel=1, start=1.0, end=2.0, text="hi")])


def test_rows_written_by_the_application_land_in_their_months_partition(pg: str) -> None:
    """A call of this month gets its segments, transcript and audit rows in this month's partitions; a
    call of a month without one goes to the default partition and moves when its month is made."""
    now = datetime.now(UTC)
    this, far = Month.of(now), Month(2018, 2)
    with session() as s:
        s.add(_call("now-1", this.start + timedelta(minutes=5)))
        s.add(_call("far-1", far.start + timedelta(days=3)))
        audit.record(s, "test", AuditAction.view, call_id="now-1")
    _transcribe("now-1")
    _transcribe("far-1")
    with session() as s:  # a call and its rows added together: the start comes from the pending call
        s.add(_call("now-2", this.start + timedelta(minutes=9)))
        s.add(TranscriptSegment(call_id="now-2", idx=0, speaker="agent", channel=0, start_s=0, end_s=1, text="yo",
                                avg_logprob=-0.1, no_speech_prob=0.0))
    engine = dbmod.get_engine()
    with engine.connect() as conn:
        assert _where(conn, "segments", "call_id", "now-1") == {partition_name("segments", this)}
        assert _where(conn, "transcripts", "call_id", "now-1") == {partition_name("transcripts", this)}
        assert _where(conn, "audit_log", "call_id", "now-1") == {partition_name("audit_log", this)}
        assert _where(conn, "segments", "call_id", "far-1") == {"segments_default"}
        assert _where(conn, "segments", "call_id", "now-2") == {partition_name("segments", this)}
    with engine.begin() as conn:
        made = partitions.ensure_months(conn, far, far)
    assert made == [partition_name(t, far) for t in partitions.KEYS]
    with engine.connect() as conn:
        assert _where(conn, "segments", "call_id", "far-1") == {partition_name("segments", far)}
        assert _where(conn, "transcripts", "call_id", "far-1") == {partition_name("transcripts", far)}
    with session() as s:
        assert [seg.text for seg in segments(s, "far-1")] == ["hello", "hi"]
        assert [seg.text for seg in segments(s, "now-1")] == ["hello", "hi"]


def test_upkeep_makes_the_coming_months_partitions_once(pg: str) -> None:
    """Upkeep gives every partitioned table this month and the months ahead; run again it makes none."""
    when = datetime(2031, 12, 20, tzinfo=UTC)
    made = partitions.upkeep(dbmod.get_engine(), ahead=2, now=when)
    wanted = {partition_name(t, m) for t in partitions.KEYS for m in (Month(2031, 12), Month(2032, 1), Month(2032, 2))}
    assert set(made) == wanted
    assert partitions.upkeep(dbmod.get_engine(), ahead=2, now=when) == []
    with dbmod.get_engine().connect() as conn:
        assert wanted <= {p.name for p in partitions.partitions(conn)}


def test_a_worker_makes_next_months_partition_when_it_is_missing(pg: str) -> None:
    """A worker's periodic upkeep puts back next month's partition (dropped here to make it missing)."""
    nxt = Month.of(datetime.now(UTC)).plus(1)
    name = partition_name("segments", nxt)
    with dbmod.get_engine().begin() as conn:
        assert partitions.drop_month(conn, "segments", nxt)
    Worker("w-test", {}, burst=True)._maybe_requeue_stalled()
    with dbmod.get_engine().connect() as conn:
        assert name in {p.name for p in partitions.partitions(conn, "segments")}


def test_partitions_command_lists_and_creates(pg: str) -> None:
    """`callqc db partitions --create --ahead 5` makes the months ahead and lists them."""
    env = {**os.environ, "CALLQC_DATABASE_URL": pg}
    out = subprocess.run([sys.executable, "-m", "callqc", "db", "partitions", "--create", "--ahead", "5"],
                         capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    far = partition_name("segments", Month.of(datetime.now(UTC)).plus(5))
    assert out.stdout.startswith("partitions: created 6: ")  # months +4 and +5 of three tables
    assert any(line.split()[2] == far for line in out.stdout.splitlines()[1:])


@pytest.fixture
def may_world(pg: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, bytes]:
    """Four May-2024 calls (transcribed, archived and verified) and one June call, with May's and
    June's partitions made after the rows were written; hot retention 30 days."""
    monkeypatch.setenv("CALLQC_HOT_RETENTION_DAYS", "30")
    reset_settings()
    store = make_store()
    calls = make_calls(store, month="2024-05", n=4, size=3000) | make_calls(store, month="2024-06", n=1, size=3000)
    for cid in calls:
        _transcribe(cid)
    run_month("2024-05", media="dvd", actor="test", store=store)
    with dbmod.get_engine().begin() as conn:
        partitions.ensure_months(conn, Month(2024, 5), Month(2024, 6))
    return calls


def _tables(*names: str) -> set[str]:
    with dbmod.get_engine().connect() as conn:
        return {n for n in names if conn.execute(sa.text("SELECT to_regclass(:n)"), {"n": n}).scalar() is not None}


def test_a_month_whose_every_call_is_disposed_loses_its_partitions(may_world: dict[str, bytes]) -> None:
    """All May calls disposed together: May's segment and transcript partitions are dropped, the calls
    are disposed and audited, retrieval reads the archive; June (not archived) keeps its rows."""
    may = sorted(c for c in may_world if "2024-05" in c)
    outcomes = {o.call_id: o for o in dispose_due(actor="test")}
    assert {c: outcomes[c].verdict for c in may} == dict.fromkeys(may, Verdict.disposed)
    assert all("month partition dropped" in outcomes[c].detail for c in may)
    assert _tables("segments_y2024m05", "transcripts_y2024m05", "segments_y2024m06") == {"segments_y2024m06"}
    with session() as s:
        for cid in may:
            call = s.get(Call, cid)
            assert call is not None and call.disposed_at is not None and not call.hot_present
            assert s.get(Transcript, cid) is None
        assert s.exec(select(func.count()).select_from(TranscriptSegment)
                      .where(col(TranscriptSegment.call_id).in_(may))).one() == 0
        details = list(s.exec(select(AuditEvent.detail).where(AuditEvent.action == AuditAction.dispose)))
        assert len(details) == 4 and {d["partition"] for d in details} == {"2024-05"}
        june = next(c for c in may_world if "2024-06" in c)
        assert [seg.text for seg in segments(s, june)] == ["hello", "hi"]
    rec = open_recording(may[0], actor="auditor", source="test")
    assert rec.source == RecordingSource.archive and rec.data == may_world[may[0]]


def test_a_held_call_keeps_its_months_partition_and_the_others_go_row_by_row(
    may_world: dict[str, bytes],
) -> None:
    """One May call under legal hold: May's partitions stay with that call's rows; the three others
    are disposed by deleting their rows."""
    held, *free = sorted(c for c in may_world if "2024-05" in c)
    hold(held, actor="legal", reason="case 9")
    verdicts = {o.call_id: o.verdict for o in dispose_due(actor="test")}
    assert verdicts[held] == Verdict.legal_hold
    assert all(verdicts[c] == Verdict.disposed for c in free)
    assert _tables("segments_y2024m05", "transcripts_y2024m05") == {"segments_y2024m05", "transcripts_y2024m05"}
    with session() as s:
        assert [seg.text for seg in segments(s, held)] == ["hello", "hi"]
        assert s.exec(select(func.count()).select_from(TranscriptSegment)
                      .where(col(TranscriptSegment.call_id).in_(free))).one() == 0
        assert all(s.get(Transcript, c) is None for c in free)


def test_a_month_with_a_call_not_yet_due_keeps_its_partition(
    may_world: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A May call whose tenant keeps calls longer is not due: the month is disposed call by call."""
    may = sorted(c for c in may_world if "2024-05" in c)
    with session() as s:
        call = s.get(Call, may[0])
        assert call is not None
        call.tenant = "bank"
        s.add(call)
    monkeypatch.setenv("CALLQC_HOT_RETENTION_BY_TENANT", '{"bank": 36500}')
    reset_settings()
    assert get_settings().hot_retention_by_tenant == {"bank": 36500}
    verdicts = {o.call_id: o.verdict for o in dispose_due(actor="test")}
    assert may[0] not in verdicts and all(verdicts[c] == Verdict.disposed for c in may[1:])
    assert _tables("segments_y2024m05") == {"segments_y2024m05"}
    with session() as s:
        assert [seg.text for seg in segments(s, may[0])] == ["hello", "hi"]


def test_populate_puts_each_months_rows_in_that_months_partition(pg: str) -> None:
    """`callqc dev populate` over past months makes their partitions first: nothing waits in a default one."""
    populate(dbmod.get_engine(), Plan(calls=30, seed=5, months=2, end_month="2025-02", batch=10))
    with dbmod.get_engine().connect() as conn:
        for table, column in (("segments", "call_started_at"), ("transcripts", "call_started_at"),
                              ("audit_log", "at")):
            where = {name: n for name, n in conn.execute(sa.text(
                f"SELECT tableoid::regclass::text, count(*) FROM {table} GROUP BY 1"))}
            # the next month holds only late audit rows (a review days after the call)
            assert {f"{table}_y2025m01", f"{table}_y2025m02"} <= set(where) <= {
                f"{table}_y2025m01", f"{table}_y2025m02", f"{table}_y2025m03"}, table
            wrong = conn.execute(sa.text(
                f"SELECT count(*) FROM {table} WHERE tableoid::regclass::text <> "
                f"'{table}_y' || to_char({column} AT TIME ZONE 'UTC', 'YYYY\"m\"MM')")).scalar()
            assert wrong == 0, table
