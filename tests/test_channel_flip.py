"""A swapped channel map corrected: automatically before scoring (by setting), or by an inspector's
flip; either way speech is attributed to the right speaker, the call is scored on it, and the flip
is audited. Also the evidence beyond the transcript: SIPREC metadata."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import col, select

from review_app.workflow.inspection import flip_channels
from scoring.channel_check import SIPREC_WEIGHT, Verdict, check, siprec_evidence
from scoring.channel_map import FlipRaced, NotFlippable, call_check
from scoring.handler import check_channels, score_call
from scoring.rubric import load_rubric
from storage.calls import Call
from storage.db import session
from storage.errors import Forbidden
from storage.evaluations import Evaluation, items_of
from storage.jobs import JobContext, JobKind
from storage.keys import recording_key
from storage.models import AuditEvent
from storage.queue import enqueue
from storage.settings import get_settings, reset_settings
from storage.stores import make_store
from storage.transcripts import segments
from storage.users import Principal, Role
from tests.scoring_calls import good_call, store_call

INSPECTOR = Principal(name="insp1", role=Role.inspector)


def _swapped(call_id: str, *, status: str = "transcribed") -> None:
    """The good call stored as a PBX with swapped legs would give it: the agent's words on channel 1,
    labelled customer, under the map agent=0."""
    flipped = [s.__class__(**{**s.as_dict(), "speaker": "customer" if s.speaker == "agent" else "agent",
                              "words": s.words}) for s in good_call()]
    with session() as s:
        store_call(s, call_id, flipped, status=status)


def _greeting(ev_id: int) -> tuple[str | None, list[dict[str, object]]]:
    with session() as s:
        item = next(i for i in items_of(s, ev_id) if i.item_id == "greeting")
        return item.auto_answer, list(item.evidence)


def test_an_inspector_flip_reattributes_speech_and_scores_the_call_again(sqlite_db: str) -> None:
    _swapped("sw-1")
    with session() as s:
        first = score_call(s, "sw-1", load_rubric()).id
        call = s.get(Call, "sw-1")
        assert call is not None
        verdict = call_check(s, call)
    assert first is not None and verdict is not None and verdict.verdict is Verdict.swapped
    assert _greeting(first)[0] != "yes"  # the greeting was heard from the "customer"

    with session() as s:
        flips = flip_channels(s, INSPECTOR, "sw-1", seen_flips=0, reason="agent audible on the right")
    assert flips == 1
    with session() as s:
        call = s.get(Call, "sw-1")
        assert call is not None
        assert (call.channel_map, call.channel_flips) == ({"agent": 1, "customer": 0}, 1)
        segs = segments(s, "sw-1")
        evs = list(s.exec(select(Evaluation).where(Evaluation.call_id == "sw-1").order_by(col(Evaluation.id))))
        audit = s.exec(select(AuditEvent).where(AuditEvent.action == "channel_flip")).one()
        after = call_check(s, call)
    assert all(seg.speaker == ("agent" if seg.channel == 1 else "customer") for seg in segs)
    assert segs[0].text.startswith("Thank you for calling") and segs[0].speaker == "agent"
    assert [(e.id == first, e.active) for e in evs] == [(True, False), (False, True)]
    answer, evidence = _greeting(evs[-1].id or 0)
    assert answer == "yes" and evidence and all(e["speaker"] == "agent" for e in evidence)
    assert (audit.actor, audit.call_id) == ("insp1", "sw-1")
    assert (audit.detail["before"], audit.detail["after"]) == ({"agent": 0, "customer": 1}, {"agent": 1, "customer": 0})
    assert audit.detail["reason"] == "agent audible on the right"
    assert after is not None and after.verdict is Verdict.ok


def test_two_inspectors_flipping_the_same_view_flip_it_once(sqlite_db: str) -> None:
    _swapped("sw-2")
    with session() as s:
        flip_channels(s, INSPECTOR, "sw-2", seen_flips=0, reason="first")
    with pytest.raises(FlipRaced), session() as s:
        flip_channels(s, Principal(name="insp2", role=Role.inspector), "sw-2", seen_flips=0, reason="second")
    with session() as s:
        call = s.get(Call, "sw-2")
        assert call is not None and (call.channel_map, call.channel_flips) == ({"agent": 1, "customer": 0}, 1)
        assert len(list(s.exec(select(AuditEvent).where(AuditEvent.action == "channel_flip")))) == 1


def test_an_agent_cannot_flip_and_a_mono_call_has_nothing_to_flip(sqlite_db: str) -> None:
    _swapped("sw-3")
    with session() as s:
        store_call(s, "mono-1", good_call(), mono=True)
    with pytest.raises(Forbidden), session() as s:
        flip_channels(s, Principal(name="a1", role=Role.agent, agent_id="A1"), "sw-3", seen_flips=0, reason="x")
    with pytest.raises(NotFlippable), session() as s:
        flip_channels(s, INSPECTOR, "mono-1", seen_flips=0, reason="x")
    with session() as s:
        call = s.get(Call, "sw-3")
        assert call is not None and call.channel_flips == 0


def test_by_default_a_swapped_call_is_only_flagged(sqlite_db: str) -> None:
    _swapped("sw-4")
    with session() as s:
        assert check_channels(s, "sw-4") is None
        call = s.get(Call, "sw-4")
        assert call is not None and call.channel_map == {"agent": 0, "customer": 1} and call.channel_flips == 0


def test_a_weak_swapped_verdict_is_not_flipped_even_with_auto_flip_on(
    sqlite_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CALLQC_CHANNEL_AUTO_FLIP", "1")
    reset_settings()
    from storage.segments import Segment

    weak = [Segment(speaker="agent", start=0.5, end=2.0, text="Hello?", channel=0),
            Segment(speaker="customer", start=2.5, end=5.0, text="Let me check, one moment please.", channel=1)]
    with session() as s:
        store_call(s, "weak-1", weak)
        call = s.get(Call, "weak-1")
        assert call is not None
        verdict = call_check(s, call)
        assert verdict is not None and verdict.verdict is Verdict.swapped
        assert verdict.confidence < get_settings().channel_flip_confidence
        assert check_channels(s, "weak-1") is None


def test_siprec_metadata_counts_for_the_map_unless_the_roles_were_a_fallback() -> None:
    assert siprec_evidence({"rs_metadata": {"participants": []}}) is not None
    assert siprec_evidence({"rs_metadata": {}, "speaker_map": "fallback"}) is None
    assert siprec_evidence({}) is None
    from storage.segments import Segment

    segs = [Segment(speaker="agent", start=0.5, end=2.0, text="Yes.", channel=0)]
    ev = siprec_evidence({"rs_metadata": {}})
    assert ev is not None
    result = check(segs, {"agent": 0, "customer": 1}, None, evidence=[ev])
    assert result is not None and result.verdict is Verdict.ok and result.score == SIPREC_WEIGHT


@pytest.mark.slow
@pytest.mark.tools("espeak-ng", "sox")
def test_the_score_job_flips_a_confidently_swapped_recording_before_scoring_it(
    sqlite_db: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Real audio through the real transcribe and score jobs: the PBX wrote the agent (left) where the
    map says customer. With channel_auto_flip on, the score job flips the map, the transcript's
    speakers follow, and the greeting is found in the agent's speech."""
    from demo.synth import Line, synth_call
    from scoring.handler import handle as score_handle
    from transcribe.handler import handle as transcribe_handle

    monkeypatch.setenv("CALLQC_ASR_MODEL", "tiny.en")
    monkeypatch.setenv("CALLQC_CHANNEL_AUTO_FLIP", "1")
    reset_settings()
    wav = tmp_path / "call.wav"
    synth_call([Line("agent", 0.3, "Thank you for calling Acme. How can I help you today?"),
                Line("customer", 4.5, "Hi, I have a problem with my bill."),
                Line("agent", 8.0, "I am sorry to hear that. Let me check that for you, one moment please."),
                Line("customer", 13.0, "Okay, thanks.")], wav, speed=150)
    started = datetime(2026, 11, 3, 10, 0, tzinfo=UTC)
    key = recording_key("auto-1", started, "wav")
    info = make_store().put_file(get_settings().bucket_recordings, key, wav)
    with session() as s:
        s.add(Call(call_id="auto-1", direction="inbound", started_at=started, codec="pcm_mulaw", sample_rate=8000,
                   channels=2, channel_map={"agent": 1, "customer": 0}, audio_key=key, size_bytes=info.size,
                   sha256="0" * 64))
        s.flush()
        job = enqueue(s, JobKind.transcribe, call_id="auto-1")
    transcribe_handle(JobContext(job_id=job, kind="transcribe", call_id="auto-1", worker_id="test"))
    with session() as s:
        assert all(seg.speaker == ("agent" if seg.channel == 1 else "customer") for seg in segments(s, "auto-1"))
    score_handle(JobContext(job_id=job + 1, kind="score", call_id="auto-1"))

    with session() as s:
        call = s.get(Call, "auto-1")
        assert call is not None
        assert (call.channel_map, call.channel_flips, call.status) == ({"agent": 0, "customer": 1}, 1, "scored")
        segs = segments(s, "auto-1")
        ev = s.exec(select(Evaluation).where(Evaluation.call_id == "auto-1", col(Evaluation.active).is_(True))).one()
        audit = s.exec(select(AuditEvent).where(AuditEvent.action == "channel_flip")).one()
    assert segs and all(seg.speaker == ("agent" if seg.channel == 0 else "customer") for seg in segs)
    answer, evidence = _greeting(ev.id or 0)
    assert answer == "yes" and evidence and all(e["speaker"] == "agent" for e in evidence)
    assert audit.actor == "auto" and audit.detail["check"]["verdict"] == "swapped"
    assert audit.detail["check"]["confidence"] >= get_settings().channel_flip_confidence


def test_flip_channels_on_the_command_line_rescores_a_scored_call(sqlite_db: str) -> None:
    import typer
    from typer.testing import CliRunner

    from callqc.cli import scoring as scoring_cli
    from storage.errors import NotFound

    _swapped("sw-cli", status="transcribed")
    with session() as s:
        score_call(s, "sw-cli", load_rubric())
    app = typer.Typer()
    scoring_cli.register(app)
    res = CliRunner().invoke(app, ["flip-channels", "sw-cli", "--reason", "legs wired the other way"])
    assert res.exit_code == 0, res.output
    assert "{'agent': 0, 'customer': 1} -> {'agent': 1, 'customer': 0}" in res.output and "scored again" in res.output
    with session() as s:
        audit = s.exec(select(AuditEvent).where(AuditEvent.action == "channel_flip")).one()
        ev = s.exec(select(Evaluation).where(Evaluation.call_id == "sw-cli", col(Evaluation.active).is_(True))).one()
    assert audit.actor.startswith("cli:") and audit.detail["reason"] == "legs wired the other way"
    assert _greeting(ev.id or 0)[0] == "yes"
    missing = CliRunner().invoke(app, ["flip-channels", "no-such-call", "--reason", "x"])
    assert isinstance(missing.exception, NotFound)  # the console script prints it as one line


def test_the_recorder_api_shows_the_verdict_of_the_last_scoring_and_follows_a_flip(
    sqlite_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fastapi.testclient import TestClient

    from recorder.api import create_app

    monkeypatch.setenv("CALLQC_API_TOKEN", "api-token-for-the-channel-check")
    reset_settings()
    auth = {"Authorization": "Bearer api-token-for-the-channel-check"}
    _swapped("sw-api")
    with TestClient(create_app()) as client:
        before = client.get("/v1/calls/sw-api", headers=auth).json()
        with session() as s:
            score_call(s, "sw-api", load_rubric())
        scored = client.get("/v1/calls/sw-api", headers=auth).json()
        with session() as s:
            flip_channels(s, INSPECTOR, "sw-api", seen_flips=0, reason="agent audible on the right")
        flipped = client.get("/v1/calls/sw-api", headers=auth).json()
    assert before["channel_check"] is None  # not scored yet: no verdict stored
    assert scored["channel_check"]["verdict"] == "swapped" and scored["channel_check"]["flips"] == 0
    assert scored["channel_check"]["reasons"]
    assert flipped["channel_check"]["verdict"] == "ok" and flipped["channel_check"]["flips"] == 1
