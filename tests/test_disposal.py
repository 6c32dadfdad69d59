"""Retention disposal: past its period a verified-archived call loses its hot audio and transcript,
keeps its evaluation and metrics, and is still retrieved by ID from the archive image; legal holds,
WORM retention and unarchived calls are never disposed; a dry run changes nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

import pytest
from sqlmodel import col, func, select

from storage.archive.hold import hold
from storage.archive.run import run_month
from storage.call_metrics import CallMetricsRow
from storage.calls import Call
from storage.consistency import check
from storage.db import session
from storage.disposal import NotDisposable, Verdict, dispose_call, dispose_due, retention_days
from storage.evaluations import Evaluation
from storage.models import AuditAction, AuditEvent, utcnow
from storage.objectstore import ObjectNotFound, RetentionMode
from storage.retrieval import RecordingSource, open_recording
from storage.segments import Segment, Speaker
from storage.settings import get_settings, reset_settings
from storage.stores import make_store
from storage.transcripts import Transcript, TranscriptBase, TranscriptSegment, replace_transcript
from tests.archive_helpers import make_calls


@pytest.fixture
def world(db_url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, bytes]:
    """Four May-2024 calls with transcripts, evaluations and metrics, archived and verified; two June
    calls not archived. Hot retention: 30 days, so every one of them is past its period."""
    monkeypatch.setenv("CALLQC_HOT_RETENTION_DAYS", "30")
    reset_settings()
    store = make_store()
    calls = make_calls(store, month="2024-05", n=4, size=3000)
    calls |= make_calls(store, month="2024-06", n=2, size=3000)
    with session() as s:
        for cid in calls:
            replace_transcript(s, TranscriptBase(call_id=cid, model_name="tiny.en", model_version="1",
                                                 model_source="bundled", word_count=2),
                               [Segment(speaker=Speaker.agent, channel=0, start=0.0, end=1.0, text="hello there")])
            s.add(Evaluation(call_id=cid, rubric_id="default", rubric_version=1, total=90.0, passed=True))
            s.add(CallMetricsRow(call_id=cid, duration_s=60.0))
    run_month("2024-05", media="dvd", actor="test", store=store)
    return calls


def _may(calls: dict[str, bytes]) -> list[str]:
    return sorted(c for c in calls if "2024-05" in c)


def test_disposal_deletes_hot_copies_and_transcripts_keeps_scores_and_archive_retrieval(
    world: dict[str, bytes],
) -> None:
    """Every archived call goes: audio object and transcript rows deleted, evaluation and metrics kept,
    one audit row each; retrieval by ID reads the archive image with the same bytes; check stays clean."""
    outcomes = {o.call_id: o.verdict for o in dispose_due(actor="test")}
    may = _may(world)
    assert {c: outcomes[c] for c in may} == dict.fromkeys(may, Verdict.disposed)
    assert {v for c, v in outcomes.items() if c not in may} == {Verdict.not_archived}
    store = make_store()
    with session() as s:
        for cid in may:
            call = s.get(Call, cid)
            assert call is not None and call.disposed_at is not None and not call.hot_present
            with pytest.raises(ObjectNotFound):
                store.stat(get_settings().bucket_recordings, call.audio_key)
            assert s.get(Transcript, cid) is None
            assert s.exec(select(func.count()).select_from(TranscriptSegment)
                          .where(TranscriptSegment.call_id == cid)).one() == 0
            assert s.exec(select(Evaluation).where(Evaluation.call_id == cid)).one().total == 90.0
            assert s.get(CallMetricsRow, cid) is not None
        audited = list(s.exec(select(AuditEvent.call_id).where(AuditEvent.action == AuditAction.dispose)))
        assert sorted(audited) == may
        june = [c for c in world if c not in may]
        assert all(s.get(Transcript, c) is not None for c in june)
    rec = open_recording(may[0], actor="auditor", source="test")
    assert rec.source == RecordingSource.archive and rec.data == world[may[0]]
    assert check(orphan_min_age_s=0).ok
    assert {o.verdict for o in dispose_due(actor="test")} == {Verdict.not_archived}


def test_legal_hold_and_worm_retention_keep_the_hot_copy(world: dict[str, bytes]) -> None:
    """A call under an archive legal hold, and one whose hot object is under WORM retention, are kept."""
    held, locked, *free = _may(world)
    hold(held, actor="legal", reason="case 17")
    store = make_store()
    with session() as s:
        key = s.get(Call, locked).audio_key  # type: ignore[union-attr]
    store.set_retention(get_settings().bucket_recordings, key, mode=RetentionMode.GOVERNANCE,
                        until=utcnow() + timedelta(days=5))
    verdicts = {o.call_id: o.verdict for o in dispose_due(actor="test")}
    assert verdicts[held] == Verdict.legal_hold and verdicts[locked] == Verdict.worm
    assert all(verdicts[c] == Verdict.disposed for c in free)
    with session() as s:
        for cid in (held, locked):
            call = s.get(Call, cid)
            assert call is not None and call.disposed_at is None and call.hot_present
            assert s.get(Transcript, cid) is not None
    assert store.stat(get_settings().bucket_recordings, key).size == len(world[locked])
    with pytest.raises(NotDisposable, match="legal-hold"):
        dispose_call(held, actor="test")


def test_disposal_of_an_unarchived_call_is_refused(world: dict[str, bytes]) -> None:
    """A call with no verified archive copy is refused by ID, and left whole."""
    june = sorted(c for c in world if "2024-06" in c)[0]
    with pytest.raises(NotDisposable, match="not-archived"):
        dispose_call(june, actor="test")
    rec = open_recording(june, actor="auditor", source="test")
    assert rec.source == RecordingSource.hot and rec.data == world[june]
    with session() as s:
        assert s.get(Transcript, june) is not None


def test_dry_run_lists_what_would_go_and_changes_nothing(world: dict[str, bytes]) -> None:
    """--dry-run names the calls that would go; rows, objects and the audit log are untouched."""
    def state() -> tuple[object, ...]:
        with session() as s:
            rows = s.exec(select(Call).order_by(col(Call.call_id)))
            calls = [(c.call_id, c.hot_present, c.disposed_at) for c in rows]
            audits = s.exec(select(func.count()).select_from(AuditEvent)).one()
            segs = s.exec(select(func.count()).select_from(TranscriptSegment)).one()
        objects = [o.key for o in make_store().list(get_settings().bucket_recordings)]
        return calls, audits, segs, objects

    before = state()
    outcomes = dispose_due(actor="test", dry_run=True)
    assert sorted(o.call_id for o in outcomes if o.verdict == Verdict.would_dispose) == _may(world)
    assert state() == before


def test_retention_period_is_the_longest_that_names_the_call(
    world: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tenant or queue entry longer than the default keeps the call; a shorter one never shortens it."""
    monkeypatch.setenv("CALLQC_HOT_RETENTION_BY_TENANT", '{"default": 36500}')
    monkeypatch.setenv("CALLQC_HOT_RETENTION_BY_QUEUE", '{"sales": 1}')
    reset_settings()
    with session() as s:
        call = s.get(Call, _may(world)[0])
        assert call is not None
    call.queue = "sales"
    assert retention_days(call) == 36500
    assert [o for o in dispose_due(actor="test") if o.verdict != Verdict.not_archived] == []


def test_dispose_command_dry_run_prints_each_call_and_a_total(world: dict[str, bytes]) -> None:
    """`callqc dispose --dry-run` prints one line per due call and a closing count, and exits 0."""
    env = {**os.environ, "CALLQC_DATABASE_URL": get_settings().resolved_database_url,
           "CALLQC_HOT_RETENTION_DAYS": "30"}
    out = subprocess.run([sys.executable, "-m", "callqc", "dispose", "--dry-run"], capture_output=True, text=True,
                         timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert sum(line.startswith("would-dispose") for line in lines) == 4
    assert lines[-1] == "dispose: would dispose 4 calls, kept 2 that are due but not safe"


@pytest.mark.integration
def test_disposal_on_s3_retrieves_from_the_locked_image_and_checks_clean(
    s3_settings: object, world: dict[str, bytes]
) -> None:
    """On a real S3 server (Ceph RGW): a disposed call's objects are gone, its image (under COMPLIANCE
    retention) serves it by ID with the same bytes, and `callqc check` is clean."""
    may = _may(world)
    store = make_store()
    with session() as s:
        key = s.get(Call, may[0]).audio_key  # type: ignore[union-attr]
    # the recordings bucket has no Object Lock: asking for a hold there is "no hold", not an error
    assert store.get_legal_hold(get_settings().bucket_recordings, key) is False
    assert {o.call_id for o in dispose_due(actor="test") if o.verdict == Verdict.disposed} == set(may)
    assert not [o.key for o in store.list(get_settings().bucket_recordings) if any(c in o.key for c in may)]
    rec = open_recording(may[-1], actor="auditor", source="test")
    assert rec.source == RecordingSource.archive and rec.data == world[may[-1]]
    assert check(orphan_min_age_s=0).ok
