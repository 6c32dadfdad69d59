"""The review app's pages, driven with Streamlit's AppTest for every role (embedded SQLite database)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from sqlmodel import select
from streamlit.testing.v1 import AppTest

from review_app.i18n import EN, ZH, t
from review_app.session import _TOKEN as TOKEN
from review_app.widgets import DAY_FORMAT
from review_app.workflow import sampling
from storage import media_tokens
from storage.calls import Call
from storage.db import session
from storage.evaluations import EvaluationItem
from storage.models import AuditEvent
from storage.reviews import Assignment, Dispute, Review
from storage.transcripts import Transcript
from tests import review_world
from tests.review_world import DAY0, PASSWORD

pytestmark = pytest.mark.app
APP = str(Path(__file__).resolve().parent.parent / "review_app" / "app.py")
PAGES = {
    "inspector": ["queue", "live", "routed", "call", "search", "calibration", "redactions", "notifications", "profile"],
    "agent": ["scorecard", "call", "search", "notifications", "profile"],
    "supervisor": ["dashboard", "kpis", "report", "queue", "live", "routed", "call", "search", "sampling", "disputes",
                   "calibration", "redactions", "notifications", "profile"],
    "archivist": ["search", "call", "archive", "notifications", "profile"],
    "admin": ["dashboard", "kpis", "report", "queue", "live", "routed", "call", "search", "sampling", "disputes",
              "calibration", "redactions", "audit", "archive", "notifications", "profile"],
}


@pytest.fixture
def world(sqlite_db: str, monkeypatch: pytest.MonkeyPatch) -> review_world.World:
    review_world.fast_hashing(monkeypatch)
    return review_world.build()


def _app(world: review_world.World, user: str | None, page: str | None = None, **query: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    if user:
        at.session_state[TOKEN] = review_world.session_token(user)
    for k, v in query.items():
        at.query_params[k] = v
    at.run()
    if page:
        at.switch_page(f"views/{page}.py").run()
    assert not at.exception, at.exception
    return at


def _players(at: AppTest) -> list[str]:
    """The audio players' media addresses; no player ever carries audio bytes in the page."""
    assert not [e for e in at.get("iframe") if "<audio" in e.proto.srcdoc and "base64," in e.proto.srcdoc]
    return review_world.player_sources(at)


def world_items() -> list:
    from review_app.workflow import evalview

    with session() as s:
        return evalview.rubric_items(s, "a1-call-0")


def _texts(at: AppTest) -> str:
    parts = [e.value for e in (*at.error, *at.info, *at.success, *at.warning)]
    parts += [m.value for m in at.markdown] + [c.value for c in at.caption]
    shown = re.sub(r"\\(.)", r"\1", "\n".join(str(p) for p in parts))  # as shown: escapes undone
    return shown.replace("\u2060", "")


def test_both_locales_have_every_string() -> None:
    """zh-CN and English translate the same keys, and every literal key the pages use exists."""

    assert set(EN) == set(ZH)
    used = set()
    for path in Path(APP).parent.rglob("*.py"):
        used |= set(re.findall(r"\bt\(\"([a-z_]+)\"[,)]", path.read_text()))
    assert used and used <= set(EN), sorted(used - set(EN))


def test_sign_in_with_password(world: review_world.World) -> None:
    """The sign-in form refuses a wrong password and signs a right one in (audited)."""
    at = _app(world, None)
    at.text_input(key="name").input("insp1")
    at.text_input(key="password").input("wrong password")
    at.button[0].click().run()
    assert t("bad_credentials") in _texts(at) and "principal" not in at.session_state
    at.text_input(key="password").input(PASSWORD)
    at.button[0].click().run()
    assert at.session_state["principal"].name == "insp1"
    with session() as s:
        assert s.exec(select(AuditEvent).where(AuditEvent.action == "sign_in")).one().actor == "insp1"


@pytest.mark.parametrize("role", sorted(PAGES))
def test_every_page_renders_for_its_roles(world: review_world.World, role: str) -> None:
    """Each role's pages render without an exception or an error."""
    user = {
        "inspector": "insp1",
        "agent": "agent1",
        "supervisor": "sup",
        "archivist": "arch",
        "admin": "admin",
    }[role]
    for page in PAGES[role]:
        at = _app(world, user, page, call="a1-call-0")
        assert not at.error, (page, [e.value for e in at.error])


def test_agent_cannot_open_another_agents_call(world: review_world.World) -> None:
    """By URL parameter, by page state and by call-ID search an agent reaches only own calls."""
    at = _app(world, "agent1", "call", call="a2-call-0")
    assert t("err_CallNotVisible") in _texts(at) and not _players(at)
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state[TOKEN] = review_world.session_token("agent1")
    at.session_state["call_id"] = "a2-call-1"
    at.run()
    at.switch_page("views/call.py").run()
    assert t("err_CallNotVisible") in _texts(at)
    at = _app(world, "agent1", "search")
    at.text_input(key="search_text").input("a2").run()
    assert t("no_calls_found") in _texts(at)
    at.text_input(key="search_text").input("a1").run()
    assert "a1-call-0" in _texts(at) and "a2-call" not in _texts(at)
    at = _app(world, "agent1", "call", call="a1-call-0")
    assert t("err_CallNotVisible") not in _texts(at)


def test_inspector_submits_a_review_from_the_call_page(world: review_world.World) -> None:
    """Overriding one item and submitting stores auto, human and final answers and the verdict."""
    at = _app(world, "insp1", "call", call="a1-call-0")
    at.button(key="ev:greeting:0").click().run()  # play from the evidence: one media grant, audited
    [src] = _players(at)
    url = urlparse(src)
    grant = media_tokens.unsign(parse_qs(url.query)["token"][0])
    assert url.path == "/v1/media/a1-call-0" and (grant.user, grant.call_id, grant.download) == (
        "insp1", "a1-call-0", False)
    at.selectbox(key="ans:a1-call-0:greeting").select("no")
    at.text_input(key="cmt:a1-call-0:greeting").input("no name given")
    at.radio(key="verdict:a1-call-0").set_value("retraining")
    at.button(key="submit_review").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    with session() as s:
        review = s.exec(select(Review)).one()
        item = s.exec(
            select(EvaluationItem).where(
                EvaluationItem.evaluation_id == review.evaluation_id, EvaluationItem.item_id == "greeting"
            )
        ).one()
        plays = s.exec(select(AuditEvent).where(AuditEvent.action == "play")).all()
        views = s.exec(select(AuditEvent).where(AuditEvent.action == "view")).all()
    assert review.verdict == "retraining" and review.inspector == "insp1"
    assert len(views) == 1  # the page reran on every click; the call was opened once
    assert t("review_saved", id=review.id, score=review.score) in _texts(at)
    assert t("final_answer") in "\n".join(str(m.value) for m in at.markdown)
    assert (item.auto_answer, item.human_answer, item.final_answer, item.comment) == (
        "yes",
        "no",
        "no",
        "no name given",
    )
    assert [(p.actor, p.call_id) for p in plays] == [("insp1", "a1-call-0")]


def _submit(world: review_world.World, call_id: str = "a1-call-0", verdict: str = "fail") -> None:
    at = _app(world, "insp1", "call", call=call_id)
    at.radio(key=f"verdict:{call_id}").set_value(verdict)
    at.button(key="submit_review").click().run()
    assert not at.error, [e.value for e in at.error]


def test_a_review_needs_an_explicit_verdict(world: review_world.World) -> None:
    """The verdict starts unchosen; submitting without one says so and stores nothing."""
    at = _app(world, "insp1", "call", call="a1-call-0")
    assert at.radio(key="verdict:a1-call-0").value is None
    at.button(key="submit_review").click().run()
    assert [e.value for e in at.error] == [t("choose_verdict")]
    with session() as s:
        assert s.exec(select(Review)).all() == []
    at.radio(key="verdict:a1-call-0").set_value("pass")
    at.button(key="submit_review").click().run()
    assert not at.error
    with session() as s:
        assert s.exec(select(Review)).one().verdict == "pass"


def test_dispute_from_scorecard_reaches_supervisor(world: review_world.World) -> None:
    """An agent disputes on the scorecard; the supervisor sees it on the disputes page and changes it."""
    _submit(world)
    with session() as s:
        rid = s.exec(select(Review)).one().id
    at = _app(world, "agent1", "scorecard")
    at.text_input(key=f"sc_note:{rid}").input("I did greet")
    at.button(key=f"dispute:{rid}").click().run()
    assert not at.error
    at = _app(world, "sup", "disputes")
    assert "I did greet" in _texts(at)
    with session() as s:
        did = s.exec(select(Dispute)).one().id
    at.number_input(key=f"d_score:{did}").set_value(90.0)
    at.button(key=f"change:{did}").click().run()
    with session() as s:
        assert s.get(Review, rid).score == 90.0 and s.get(Dispute, did).state == "changed"


def test_sampling_page_creates_and_runs_a_plan_into_the_queue(world: review_world.World) -> None:
    """A supervisor's plan run assigns calls that appear in the inspector's queue, with the reason."""
    with session() as s:
        plan = sampling.create_plan(
            s, world.users["sup"], name="daily", mode="per_agent", count=1, inspectors=["insp1"], seed=42
        )
        sampling.run_plan(
            s,
            world.users["sup"],
            plan.id,
            start=DAY0 - timedelta(days=1),
            end=DAY0 + timedelta(days=1),
            first_day=DAY0.date(),
        )
    at = _app(world, "sup", "sampling")
    assert "daily" in str(at.dataframe[0].value)
    at = _app(world, "insp1", "queue")
    with session() as s:
        assigned = s.exec(select(Assignment)).all()
    assert len(assigned) == 2
    table = at.dataframe[0].value.to_csv()
    assert all(a.call_id in table for a in assigned)
    at.button(key=f"open:{assigned[0].id}").click().run()
    assert at.session_state["call_id"] == assigned[0].call_id


def test_audit_page_filters_plays(world: review_world.World) -> None:
    """Admins see plays in the audit log, filtered by actor."""
    from storage.access import recording

    recording(world.users["insp1"], "a1-call-0", source="test")
    at = _app(world, "admin", "audit")
    at.text_input(key="au_actor").input("insp1").run()
    df = at.dataframe[0].value
    assert list(df[t("action")]) == [t("action_play")] and list(df[t("call_id")]) == ["a1-call-0"]


def test_calibration_page_scores_blind_and_shows_deviation(world: review_world.World) -> None:
    """Participants answer without seeing auto answers; the supervisor sees each one's deviation."""
    from review_app.workflow import calibration

    with session() as s:
        cs = calibration.create_session(
            s, world.users["sup"], title="w47", call_ids=["a1-call-0"], inspectors=["insp1"], expert="insp2"
        )
    for user, greeting in (("insp2", "yes"), ("insp1", "no")):
        at = _app(world, user, "calibration")
        assert t("auto_answer") not in _texts(at)
        at.radio(key=f"cal:{cs.id}:a1-call-0:greeting").set_value(greeting)
        at.button(key="cal_submit").click().run()
        assert t("saved") in _texts(at)
    at = _app(world, "sup", "calibration")
    df = at.dataframe[0].value
    title = next(i.title for i in world_items() if i.item_id == "greeting")
    row = df[(df[t("inspector")] == "insp1") & (df[t("item")] == title)].iloc[0]
    assert row[t("agreement_pct")] == 0.0 and row[t("points_diff")] < 0


def _charts(at: AppTest) -> list[dict]:
    return [json.loads(e.proto.spec) for e in at.get("vega_lite_chart")]


def test_dashboard_shows_reviewed_kpis(world: review_world.World) -> None:
    """After a review the KPIs and the trend count the same call; dates read as numbers in zh-CN."""
    _submit(world)
    at = _app(world, "sup", "dashboard")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics[t("monitoring_score")] != "-" and metrics[t("reviewed_calls")] == "1 / 4"
    trend = next(c for c in _charts(at) if c["encoding"]["x"]["field"] == "day")
    assert trend["encoding"]["x"]["axis"]["format"] == DAY_FORMAT == "%m-%d"
    # windows go by the call's day, not the review's: reviewed today, the calls took place on DAY0
    for day, shown, point in ((datetime.now(UTC).date(), "0 / 0", False), (DAY0.date(), "1 / 4", True)):
        at.date_input(key="db_from").set_value(day)
        at.date_input(key="db_to").set_value(day).run()
        assert {m.label: m.value for m in at.metric}[t("reviewed_calls")] == shown
        assert any(c["encoding"]["x"]["field"] == "day" for c in _charts(at)) is point


def test_a_call_in_progress_opens_in_the_call_page(world: review_world.World) -> None:
    """A call still being captured (no end yet) opens with its live transcript on the same page."""
    from storage.calls import Call

    with session() as s:
        call = s.get(Call, "a1-call-1")
        assert call is not None
        call.ended_at, call.duration_s = None, 0.0
    at = _app(world, "insp1", "call", call="a1-call-1")
    assert t("live_call") in _texts(at) and "Thank you for calling Acme" in _texts(at)


def test_call_page_shows_pci_pauses_as_text(world: review_world.World, monkeypatch: pytest.MonkeyPatch) -> None:
    """A PCI pause of the call is one line on its page (here in English), times from the start of the recording."""
    from storage.calls import Call
    from storage.settings import reset_settings

    monkeypatch.setenv("CALLQC_LOCALE", "en")
    reset_settings()
    from storage.pauses import CallPause

    with session() as s:
        call = s.get(Call, "a1-call-1")
        assert call is not None
        s.add(CallPause(call_id="a1-call-1", started_at=call.started_at + timedelta(seconds=20.4),
                        ended_at=call.started_at + timedelta(seconds=31.9), paused_by="desk-7"))
    at = _app(world, "insp1", "call", call="a1-call-1")
    assert "Recording paused 00:20–00:31 (PCI)" in _texts(at)
    other = _app(world, "insp1", "call", call="a1-call-0")
    assert "Recording paused" not in _texts(other)
    with session() as s:  # a live call paused now: the line runs to the present
        call = s.get(Call, "a1-call-0")
        assert call is not None
        call.ended_at, call.duration_s = None, 0.0
        call.started_at = datetime.now(UTC) - timedelta(seconds=75)
        s.add(CallPause(call_id="a1-call-0", started_at=call.started_at + timedelta(seconds=41), paused_by="ivr"))
    live = _texts(_app(world, "insp1", "call", call="a1-call-0"))
    assert re.search(r"Recording paused 00:41–01:1\d \(PCI\)", live), live


def test_oidc_identity_maps_to_a_local_account(world: review_world.World) -> None:
    """A provider-signed-in user gets the role of the local account named by their e-mail; strangers do not."""
    at = AppTest.from_file(APP, default_timeout=60)
    at.user = {"is_logged_in": True, "email": "insp1"}
    at.run()
    assert at.session_state["principal"].name == "insp1"
    at = AppTest.from_file(APP, default_timeout=60)
    at.user = {"is_logged_in": True, "email": "stranger@example.com"}
    at.run()
    assert "principal" not in at.session_state and t("err_BadCredentials") in _texts(at)


def test_dashboard_coverage_tile_counts_answered_cdr_calls_against_recordings(world: review_world.World) -> None:
    """Answered records of the PBX per day and queue against the recordings; under the alert level a
    warning and the missing call listed; a late recording closes the gap."""
    from storage.cdr import CdrRecord

    def record(uid: str, disposition: str = "ANSWERED", minute: int = 0) -> CdrRecord:
        return CdrRecord(record_key=uid + disposition, source="asterisk_csv", uniqueid=uid,
                         started_at=DAY0 + timedelta(minutes=minute), disposition=disposition, queue="support",
                         extension="2001", raw={})

    with session() as s:
        s.add_all([record("a1-call-0"), record("a1-call-1", minute=1), record("1709630130.9", minute=2),
                   record("1709630131.1", "NO ANSWER", minute=3)])
    at = _app(world, "sup", "dashboard")
    at.date_input(key="db_from").set_value(DAY0.date())
    at.date_input(key="db_to").set_value(DAY0.date()).run()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics[t("coverage_recorded")] == "2 / 3 (66.67%)"
    assert any(t("coverage_alert", pct=66.67, limit=99.5) == w.value for w in at.warning)
    frames = [d.value for d in at.dataframe]
    table = next(f for f in frames if t("expected") in f.columns)
    assert table.to_dict("records") == [{t("day"): DAY0.date().isoformat(), t("queue"): "support",
                                         t("expected"): 3, t("recorded"): 2, "%": 66.67}]
    assert [list(f[t("uniqueid")]) for f in frames if t("uniqueid") in f.columns] == [["1709630130.9"]]
    # the late file arrives under the PBX's uniqueid
    review_world.add_call("1709630130.9", "A1", started_at=DAY0, segments=review_world.good_call())
    at.run()
    assert {m.label: m.value for m in at.metric}[t("coverage_recorded")] == "3 / 3 (100.0%)"
    assert not at.warning


def test_call_page_shows_the_channel_check_and_warns_of_swapped_channels(world: review_world.World) -> None:
    """The greeting on the agent channel: a caption saying ok; the same call with the sides swapped: a warning."""
    from dataclasses import replace

    at = _app(world, "insp1", "call", call="a1-call-0")
    assert t("channel_check", verdict=t("channel_ok"), confidence="1.00") in _texts(at)
    flipped = [replace(s, speaker="customer" if s.speaker == "agent" else "agent") for s in review_world.good_call()]
    review_world.add_call("swapped-1", "A1", started_at=DAY0, segments=flipped)
    with session() as s:  # the transcript's head row, as the transcription job writes it (rescoring reads it)
        s.add(Transcript(call_id="swapped-1", language="en", model_name="test", model_version="0", model_source="test"))
    at = _app(world, "insp1", "call", call="swapped-1")
    assert [w.value for w in at.warning] == [t("channel_check", verdict=t("channel_swapped"), confidence="1.00")]
    # the inspector swaps the channels: the map flips, the speakers follow, the warning goes
    at.button(key="flip_channels").click().run()
    assert not at.exception, at.exception
    assert not at.warning, [w.value for w in at.warning] + [e.value for e in at.error]
    assert t("channel_check", verdict=t("channel_ok"), confidence="1.00") in _texts(at)
    with session() as s:
        call = s.get(Call, "swapped-1")
        assert call is not None and (call.channel_map, call.channel_flips) == ({"agent": 1, "customer": 0}, 1)
        assert s.exec(select(AuditEvent).where(AuditEvent.action == "channel_flip")).one().actor == "insp1"
    agent_at = _app(world, "agent1", "call", call="swapped-1")  # an agent sees the verdict, not the button
    assert not [b for b in agent_at.button if b.key == "flip_channels"]


def test_redactions_page_and_daily_tile_show_marks_never_the_digits(world: review_world.World) -> None:
    """Marks per day and kind, each with speaker, span and digit count; the original number, though
    kept (redaction_keep_original), appears nowhere on the page or the dashboard."""
    from storage.pauses import CallPause
    from storage.redactions import Span, replace_redaction
    from storage.segments import Segment as Seg

    number = "4111111111111111"
    with session() as s:
        original = Seg(speaker="customer", start=5.0, end=9.0, text=f"my card is {number}", channel=1)
        replace_redaction(s, "a1-call-0", [Span("card", "customer", 1, 5.5, 8.9, 16, "luhn"),
                                           Span("cvv", "customer", 1, 12.0, 13.0, 3, "cue")],
                          originals={1: original}, audio=None)
        s.add(CallPause(call_id="a1-call-1", started_at=DAY0 + timedelta(hours=1, seconds=20),
                        ended_at=DAY0 + timedelta(hours=1, seconds=30), paused_by="api"))
    at = _app(world, "insp1", "redactions")
    at.date_input(key="red_from").set_value(DAY0.date())
    at.date_input(key="red_to").set_value(DAY0.date()).run()
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert (metrics[t("redactions_with_marks")], metrics[t("redactions_total")]) == ("2", "3")
    frames = [d.value for d in at.dataframe]
    marks = next(f for f in frames if t("redaction_digits") in f.columns)
    assert marks[[t("call_id"), t("redaction_kind"), t("redaction_digits")]].values.tolist() == [
        ["a1-call-0", t("kind_card"), 16], ["a1-call-0", t("kind_cvv"), 3]]
    per_day = next(f for f in frames if t("kind_pause") in f.columns)
    assert per_day.iloc[0][[t("kind_card"), t("kind_cvv"), t("kind_pause")]].tolist() == [1, 1, 1]
    shown = _texts(at) + "".join(f.to_csv() for f in frames) + "".join(e.proto.spec for e in at.get("vega_lite_chart"))
    assert number not in shown and "4111" not in shown
    dash = _app(world, "sup", "dashboard")
    dash.date_input(key="db_from").set_value(DAY0.date())
    dash.date_input(key="db_to").set_value(DAY0.date()).run()
    tiles = [c for c in _charts(dash) if c["encoding"].get("color", {}).get("title") == t("redaction_kind")]
    assert len(tiles) == 1 and tiles[0]["encoding"]["x"]["field"] == "day"
