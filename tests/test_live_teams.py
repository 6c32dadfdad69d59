"""Live calls are seen by team: an inspector of team T1 never sees, is never picked and never hears a
T2 (or another tenant's) live call — Live now, "give me a live call", the live media stream, the live
transcript and the synchronous review form; an inspector over T1 and T2 gets both."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from recorder.api import create_app
from recorder.siprec.journal import Journal
from recorder.siprec.rtp import Placed
from review_app.workflow import sync_review
from review_app.workflow.inspection import segments_for
from review_app.workflow.live import NoLiveCall, create_plan, live_now, pick_live_call
from storage import media_tokens
from storage.access import CallNotVisible
from storage.calls import Call, CallStatus
from storage.db import session
from storage.live_picks import LivePick
from storage.live_segments import LiveSegment, add
from storage.models import AuditAction, AuditEvent
from storage.settings import reset_settings
from storage.users import Principal, User, add_user, set_teams

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
PASSWORD = "pw-123456789"
# call → (team, tenant); agents differ so the plan's "same agent twice" rule never hides a call
LIVE = {f"t1-{i}": ("T1", "default") for i in range(4)} | {f"t2-{i}": ("T2", "default") for i in range(4)} | {
    "b-t1": ("T1", "bank-b")}


def _me(name: str) -> Principal:
    with session() as s:
        return Principal.of(s.exec(select(User).where(User.name == name)).one())


@pytest.fixture
def live_teams(db_url: str, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setenv("CALLQC_API_TOKEN", "media-api-t0ken-0123456789")
    reset_settings()
    with session() as s:
        add_user(s, "insp-a", role="inspector", password=PASSWORD, team="T1")
        add_user(s, "insp-ab", role="inspector", password=PASSWORD, team="T1")
        set_teams(s, "insp-ab", ["T1", "T2"])
        add_user(s, "sup", role="supervisor", password=PASSWORD)
        s.add_all([Call(call_id=cid, agent_id=f"A{n}", team=team, tenant=tenant, queue="sales",
                        started_at=NOW - timedelta(seconds=90), codec="pcm_mulaw", sample_rate=8000, channels=2,
                        audio_key=f"live/{cid}", size_bytes=0, sha256="0" * 64, status=CallStatus.in_progress)
                   for n, (cid, (team, tenant)) in enumerate(LIVE.items())])
    with session() as s:
        plan_id = create_plan(s, _me("sup"), name="all live", mode="share", seed=11, inspector_daily_cap=50,
                              repeat_agent=True).id
    assert plan_id is not None
    return plan_id


def _journal(data_dir: Path, call_id: str) -> Journal:
    """A short live journal on this host, already marked ended, so a live stream of it finishes."""
    streams = [{"index": 0, "label": "a", "role": "agent", "channel": 0},
               {"index": 1, "label": "b", "role": "customer", "channel": 1}]
    j = Journal(data_dir / "live" / call_id, {"version": 1, "call_id": call_id, "state": "live",
                                              "answered_unix": time.time(), "streams": streams}, 2)
    for stream in (0, 1):
        j.add(stream, [Placed(k * 160, 0, b"\xff" * 160, 0.0) for k in range(50)])
    j.flush()
    j.update(state="ended")
    return j


def test_live_now_lists_only_the_teams_calls(live_teams: int) -> None:
    with session() as s:
        assert {c.call_id for c in live_now(s, _me("insp-a"), now=NOW)} == {f"t1-{i}" for i in range(4)}
        assert {c.call_id for c in live_now(s, _me("insp-ab"), now=NOW)} == {
            c for c, (_, tenant) in LIVE.items() if tenant == "default"}


def test_give_me_a_live_call_never_picks_another_teams_call(live_teams: int) -> None:
    """Every pick an inspector of T1 can get under a plan over all live calls is a T1 call of their
    tenant; once those are given the answer is NoLiveCall, though T2 calls are still live."""
    picked: list[str] = []
    with session() as s:
        for _ in range(len(LIVE)):
            try:
                picked.append(pick_live_call(s, _me("insp-a"), live_teams, now=NOW).call_id)
            except NoLiveCall:
                break
    assert sorted(picked) == [f"t1-{i}" for i in range(4)]
    with session() as s:  # the T1+T2 inspector is given the T2 calls the first could not have
        other = pick_live_call(s, _me("insp-ab"), live_teams, now=NOW).call_id
        rows = {(p.inspector, p.call_id) for p in s.exec(select(LivePick))}
    assert other.startswith("t2-")
    assert {c for who, c in rows if who == "insp-a"} == set(picked)


def test_another_teams_live_stream_is_refused_and_audited(live_teams: int, data_dir: Path) -> None:
    """No grant for a T2 live call (refusal audited); a token minted while the inspector was on T2
    is refused with 403 after they moved to T1, with a media_denied row; their own team's live call
    streams on the same path."""
    journals = [_journal(data_dir, "t1-0"), _journal(data_dir, "t2-0")]
    try:
        with pytest.raises(CallNotVisible):
            media_tokens.grant(_me("insp-a"), "t2-0")
        with session() as s:
            set_teams(s, "insp-a", ["T2"])
        old_token = media_tokens.grant(_me("insp-a"), "t2-0")  # legitimately, while on T2
        with session() as s:
            set_teams(s, "insp-a", ["T1"])
        own = media_tokens.grant(_me("insp-a"), "t1-0")
        with TestClient(create_app()) as client:
            refused = client.get("/v1/media/t2-0", params={"token": old_token})
            served = client.get("/v1/media/t1-0", params={"token": own})
        assert refused.status_code == 403 and refused.headers["content-type"].startswith("application/json")
        assert served.status_code == 200 and served.headers["content-type"] == "audio/wav"
        assert served.content.startswith(b"RIFF") and len(served.content) > 44
    finally:
        for j in journals:
            j.release(remove=True)
    with session() as s:
        denied = s.exec(select(AuditEvent).where(AuditEvent.action == AuditAction.media_denied)
                        .order_by(AuditEvent.id)).all()
        live_rows = [e for e in s.exec(select(AuditEvent).where(AuditEvent.action == AuditAction.play))
                     if e.detail.get("live")]
    assert [(e.actor, e.call_id) for e in denied] == [("insp-a", "t2-0"), ("insp-a", "t2-0")]
    assert "CallNotVisible" in denied[-1].detail["reason"]
    assert {e.call_id for e in live_rows} == {"t1-0"}


def test_another_teams_live_transcript_and_sync_form_are_refused(live_teams: int) -> None:
    with session(write=True) as s:
        add(s, [LiveSegment(call_id=cid, speaker="agent", channel=0, start_s=1, end_s=2, text="hello")
                for cid in ("t1-1", "t2-1")])
    with session() as s:
        assert [seg.text for seg in segments_for(s, _me("insp-a"), "t1-1")] == ["hello"]
        assert [seg.text for seg in segments_for(s, _me("insp-ab"), "t2-1")] == ["hello"]
        with pytest.raises(CallNotVisible):
            segments_for(s, _me("insp-a"), "t2-1")
        with pytest.raises(CallNotVisible):
            sync_review.mark(s, _me("insp-a"), "t2-1", "greeting", "yes")
        with pytest.raises(CallNotVisible):
            segments_for(s, _me("insp-ab"), "b-t1")  # another tenant's, whatever the team's name
