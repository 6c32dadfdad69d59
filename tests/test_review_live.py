"""The Live now page (AppTest): inspectors see calls in progress and get one by a live plan, with a
player whose URL carries a media token (on the public API when set, else on the app itself); agents
have no such page; PBX text is shown as text."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from sqlmodel import select
from streamlit.testing.v1 import AppTest

from recorder import levels
from recorder.siprec.journal import Journal
from recorder.siprec.rtp import Placed
from review_app.i18n import t
from review_app.session import _TOKEN as TOKEN
from review_app.workflow.live import create_plan
from storage import media_tokens
from storage.calls import Call, CallStatus
from storage.db import session
from storage.live_picks import LivePick
from storage.live_segments import LiveSegment, add
from storage.models import utcnow
from storage.settings import reset_settings
from tests import review_world

pytestmark = pytest.mark.app
APP = str(Path(__file__).resolve().parent.parent / "review_app" / "app.py")


@pytest.fixture
def world(sqlite_db: str, monkeypatch: pytest.MonkeyPatch) -> review_world.World:
    review_world.fast_hashing(monkeypatch)
    w = review_world.build(calls_per_agent=1)
    with session() as s:
        for cid, agent, queue in (("live-1", "A1", "<b>sales</b>"), ("live-2", "A2", "**care**")):
            s.add(Call(call_id=cid, agent_id=agent, queue=queue, started_at=utcnow() - timedelta(seconds=75),
                       codec="pcm_mulaw", sample_rate=8000, channels=2, audio_key=f"live/{cid}", size_bytes=0,
                       sha256="0" * 64, status=CallStatus.in_progress))
        create_plan(s, w.users["sup"], name="live plan", mode="share", seed=3)
    return w


def _open(world: review_world.World, user: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state[TOKEN] = review_world.session_token(user)
    at.run()
    at.switch_page("views/live.py").run()
    assert not at.exception, at.exception
    return at


def test_inspector_sees_live_calls_and_gets_one_with_a_player_token(world, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("CALLQC_API_PUBLIC_URL", "https://rec.example.test")
    reset_settings()
    at = _open(world, "insp1")
    table = at.dataframe[0].value
    assert sorted(table[t("call_id")]) == ["live-1", "live-2"]
    assert "<b>sales</b>" in list(table[t("queue")])  # a cell of text, not rendered HTML
    at.button(key="give_me_live_call").click().run()
    assert not at.exception, at.exception
    with session() as s:
        pick = s.exec(select(LivePick)).one()
    assert pick.inspector == "insp1" and pick.reason["plan"] == "live plan"
    assert pick.call_id in at.success[0].value
    [src] = review_world.player_sources(at)
    url = urlparse(src)
    assert url.netloc == "rec.example.test" and url.path == f"/v1/media/{pick.call_id}"
    grant = media_tokens.unsign(parse_qs(url.query)["token"][0])
    assert (grant.user, grant.call_id, grant.download) == ("insp1", pick.call_id, False)


def test_without_a_public_api_the_player_uses_the_apps_own_media_route_stereo_or_mixed(world) -> None:  # type: ignore[no-untyped-def]
    at = _open(world, "insp1")
    at.button(key="give_me_live_call").click().run()
    assert not at.exception, at.exception
    [src] = review_world.player_sources(at)
    url = urlparse(src)
    assert url.netloc == "" and url.path.startswith("/v1/media/live-") and parse_qs(url.query)["token"]
    assert "channels" not in parse_qs(url.query)  # stereo: agent left, customer right
    at.toggle(key=f"mixed:{url.path.rsplit('/', 1)[1]}").set_value(True).run()
    [mixed] = review_world.player_sources(at)
    assert parse_qs(urlparse(mixed).query)["channels"] == ["mixed"]


def test_live_flags_show_a_long_silence_from_stored_levels_and_a_forbidden_word_from_the_live_transcript(
        world, data_dir: Path) -> None:  # type: ignore[no-untyped-def]
    streams = [{"index": 0, "label": "a", "role": "agent", "channel": 0},
               {"index": 1, "label": "b", "role": "customer", "channel": 1}]
    journal = Journal(data_dir / "live" / "live-1", {"version": 1, "call_id": "live-1", "state": "live",
                                                     "answered_unix": 0, "streams": streams}, 2)
    try:
        for stream in (0, 1):  # 12.2 s of μ-law silence on both sides
            journal.add(stream, [Placed(k * 160, 0, b"\xff" * 160, 0.0) for k in range(610)])
        journal.flush()
        levels.follow(data_dir, "live-1")
        levels.write_once()  # what the recording process does each second: the levels into the database
        with session(write=True) as s:
            add(s, [LiveSegment(call_id="live-2", speaker="agent", channel=0, start_s=2, end_s=4,
                                text="That is a stupid question.")])
    finally:
        journal.release(remove=True)  # the page reads no journal: the flags come from the stored levels
    at = _open(world, "insp1")
    levels.write_once()  # the journal is gone: the recorder's follower ends
    table = at.dataframe[0].value
    flags = dict(zip(table[t("call_id")], table[t("live_flags")], strict=True))
    assert flags["live-1"] == t("live_flag_silent_now", s=12)  # 11.7 s judged: the last 0.5 s waits for late packets
    assert flags["live-2"] == t("live_flag_forbidden", words="stupid")


def test_the_live_page_refuses_agents(world) -> None:  # type: ignore[no-untyped-def]
    """Opening the page's file directly as an agent lists nothing: the rules refuse (the navigation per
    role, which never offers it to agents, is tested in test_review_app.py)."""
    at = AppTest.from_file(str(Path(APP).parent / "views" / "live.py"), default_timeout=60)
    at.session_state["principal"] = world.users["agent1"]
    at.run()
    assert not at.exception, at.exception
    assert "may not review" in at.error[0].value and not at.dataframe and not at.button
