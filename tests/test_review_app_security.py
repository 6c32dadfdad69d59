"""The review app's sign-in, session and input handling under hostile or careless use (AppTest, SQLite)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from sqlmodel import select
from streamlit.testing.v1 import AppTest

from review_app.i18n import t
from review_app.session import _TOKEN as TOKEN
from review_app.workflow import calibration, inspection, sampling
from review_app.workflow.evalview import HumanAnswers
from storage import app_sessions
from storage.db import session
from storage.models import AuditEvent
from storage.reviews import CalibrationEntry, Review, SamplingPlan
from storage.users import BadCredentials, authenticate, set_active
from tests import review_world
from tests.review_world import PASSWORD

pytestmark = pytest.mark.app
TOK = "tok-123456"
APP = str(Path(__file__).resolve().parent.parent / "review_app" / "app.py")


@pytest.fixture
def world(sqlite_db: str, monkeypatch: pytest.MonkeyPatch) -> review_world.World:
    review_world.fast_hashing(monkeypatch)
    return review_world.build()


def _signed_in(user: str, page: str | None = None, **query: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state[TOKEN] = review_world.session_token(user)
    for k, v in query.items():
        at.query_params[k] = v
    at.run()
    if page:
        at.switch_page(f"views/{page}.py").run()
    assert not at.exception, at.exception
    return at


def _form_sign_in(at: AppTest, name: str, password: str = PASSWORD) -> AppTest:
    at.text_input(key="name").input(name)
    at.text_input(key="password").input(password)
    return at.button[0].click().run()


def _shown(at: AppTest) -> str:
    parts = [e.value for e in (*at.error, *at.info, *at.success, *at.warning)]
    parts += [m.value for m in at.markdown] + [c.value for c in at.caption]
    return re.sub(r"\\(.)", r"\1", "\n".join(str(p) for p in parts)).replace("\u2060", "")


def _audit(action: str) -> list[AuditEvent]:
    with session() as s:
        return list(s.exec(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def test_sign_out_and_in_as_another_user_clears_everything(world: review_world.World) -> None:
    """A's prepared download, open call and typed search are gone when B signs in in the same tab."""
    at = _signed_in("arch", "search")
    at.text_input(key="search_text").input("a1-call-0").run()
    at.button(key="dl:a1-call-0").click().run()
    assert "download" in at.session_state and t("download_ready", name="a1-call-0.wav") in _shown(at)
    at.session_state["call_id"] = "a1-call-0"
    at.button(key="sign_out").click().run()
    assert "download" not in at.session_state and "call_id" not in at.session_state
    assert "principal" not in at.session_state and TOKEN not in at.session_state
    _form_sign_in(at, "admin")
    assert at.session_state["principal"].name == "admin"
    at.switch_page("views/search.py").run()
    assert "download" not in at.session_state and at.text_input(key="search_text").value == ""
    assert "a1-call-0.wav" not in _shown(at)
    assert [e.actor for e in _audit("sign_out")] == ["arch"]
    # the signed-out session is dead server-side: its token opens nothing any more
    with session() as s:
        row = s.exec(select(app_sessions.AppSession).where(app_sessions.AppSession.user_name == "arch")).one()
        assert row.revoked_at is not None


def test_a_disabled_user_is_signed_out_on_the_next_click(world: review_world.World) -> None:
    """Disabling a signed-in user ends their live session at their next interaction (audited)."""
    at = _signed_in("insp1", "queue")
    assert at.session_state["principal"].name == "insp1"
    with session() as s:
        set_active(s, "insp1", False)
    at.run()
    assert "principal" not in at.session_state and t("session_ended") in _shown(at)
    assert at.text_input(key="name")  # the sign-in form
    assert [e.actor for e in _audit("session_ended")] == ["insp1"]


def test_a_role_change_takes_effect_on_the_next_click(world: review_world.World) -> None:
    """The role is read from the user row on every run, not kept from sign-in."""
    from storage.users import User

    at = _signed_in("insp1")
    assert at.session_state["principal"].role == "inspector"
    with session() as s:
        user = s.exec(select(User).where(User.name == "insp1")).one()
        user.role = "agent"
        user.agent_id = "A77"  # an agent ID nobody else in the tenant has
    at.run()
    assert at.session_state["principal"].role == "agent"


def test_failed_sign_ins_are_throttled_per_name_and_audited(world: review_world.World) -> None:
    """Five wrong passwords block the name (even the right password then waits), across app sessions;
    every failure is audited with the name tried."""
    for _ in range(5):
        at = _form_sign_in(AppTest.from_file(APP, default_timeout=60).run(), "insp1", "wrong password")
        assert [e.value for e in at.error] == [t("bad_credentials")]
    at = _form_sign_in(AppTest.from_file(APP, default_timeout=60).run(), "insp1")
    assert "principal" not in at.session_state
    wait = re.escape(t("err_SignInThrottled", wait_s="WAIT")).replace("WAIT", r"\d+")
    assert re.fullmatch(wait, at.error[0].value)
    failed = _audit("sign_in_failed")
    assert [e.actor for e in failed] == ["insp1"] * 6
    assert [e.detail["why"] for e in failed] == ["credentials"] * 5 + ["throttled"]
    at = _form_sign_in(AppTest.from_file(APP, default_timeout=60).run(), "insp2")  # other names still work
    assert at.session_state["principal"].name == "insp2"


def test_unknown_names_are_throttled_and_audited_like_known_ones(world: review_world.World) -> None:
    """A name that does not exist answers exactly like a wrong password, and is throttled the same."""
    for _ in range(5):
        at = _form_sign_in(AppTest.from_file(APP, default_timeout=60).run(), "nobody", "whatever1")
        assert [e.value for e in at.error] == [t("bad_credentials")]
    at = _form_sign_in(AppTest.from_file(APP, default_timeout=60).run(), "nobody", "whatever1")
    assert at.error[0].value != t("bad_credentials")
    assert len(_audit("sign_in_failed")) == 6


def test_unknown_user_costs_as_much_as_a_wrong_password(db_url: str) -> None:
    """With the real argon2 parameters, an unknown name is not answered measurably faster."""
    from storage.users import add_user

    with session() as s:
        add_user(s, "known", role="inspector", password=PASSWORD)

    def cost(name: str) -> float:
        runs = []
        for _ in range(5):
            with session() as s:
                start = time.perf_counter()
                with pytest.raises(BadCredentials):
                    authenticate(s, name, "not the password")
                runs.append(time.perf_counter() - start)
        return sorted(runs)[2]

    cost("nobody")  # the dummy hash is made once per process
    unknown, wrong = cost("nobody"), cost("known")
    assert unknown > 0.5 * wrong, (unknown, wrong)


def test_the_throttle_blocks_an_address_after_many_names(world: review_world.World) -> None:
    """One address trying many names is blocked too (the address limit is four times the name limit)."""
    with session() as s:
        for i in range(20):
            app_sessions.note_failure(s, app_sessions.throttle_keys(f"user{i}", "10.9.8.7"))
    with session() as s, pytest.raises(app_sessions.SignInThrottled):
        app_sessions.check_throttle(s, app_sessions.throttle_keys("insp1", "10.9.8.7"))
    with session() as s:
        app_sessions.check_throttle(s, app_sessions.throttle_keys("insp1", "10.9.8.8"))


def test_session_tokens_are_stored_hashed_and_expire(world: review_world.World) -> None:
    """The table never holds the token itself; an idle session ends; a handoff code works once."""
    from datetime import timedelta

    from storage.models import utcnow

    with session() as s:
        token, code = app_sessions.start(s, "insp1")
    with session() as s:
        row = s.exec(select(app_sessions.AppSession)).one()
        assert token not in row.token_hash and row.token_hash != token
        cookie = app_sessions.collect_cookie(s, code)
        assert cookie is not None and app_sessions.collect_cookie(s, code) is None
    with session() as s:
        assert app_sessions.resolve(s, cookie[0]).principal.name == "insp1"
        for r in s.exec(select(app_sessions.AppSession)):
            r.last_seen_at = utcnow() - timedelta(hours=3)
            s.add(r)
    with session() as s:
        assert app_sessions.resolve(s, token) is None and app_sessions.resolve(s, cookie[0]) is None


def test_a_duplicate_plan_name_is_a_one_line_error(world: review_world.World) -> None:
    """Creating a second plan with a taken name says so in one line; nothing else is stored."""
    with session() as s:
        sampling.create_plan(s, world.users["sup"], name="daily", mode="per_agent", count=1, inspectors=["insp1"])
    at = _signed_in("sup", "sampling")
    form_inputs = [w for w in at.text_input if w.label == t("plan_name")]
    form_inputs[0].input("daily")
    next(b for b in at.button if b.label == t("create_plan")).click().run()
    assert not at.exception
    assert [e.value for e in at.error] == [t("err_PlanNameTaken", detail="daily")]
    assert "Traceback" not in _shown(at) and "IntegrityError" not in _shown(at)
    with session() as s:
        assert len(s.exec(select(SamplingPlan)).all()) == 1


def test_submitting_the_same_review_form_twice_stores_one_review(world: review_world.World) -> None:
    """A repeated submit of an unchanged form (double click) keeps one review; an edited form is new."""
    at = _signed_in("insp1", "call", call="a1-call-0")
    at.radio(key="verdict:a1-call-0").set_value("fail")
    at.button(key="submit_review").click().run()
    at.button(key="submit_review").click().run()
    with session() as s:
        assert len(s.exec(select(Review)).all()) == 1
    at.text_area(key="overall:a1-call-0").input("second thoughts").run()
    at.button(key="submit_review").click().run()
    with session() as s:
        reviews = s.exec(select(Review).order_by(Review.id)).all()
    assert [r.comment for r in reviews] == ["", "second thoughts"]
    assert len({r.form_token for r in reviews}) == 2


def test_the_same_form_token_returns_the_stored_review(world: review_world.World) -> None:
    """Domain level: the form token makes submit idempotent; a token reused for another call is refused."""
    who = world.users["insp1"]
    with session() as s:
        first = inspection.submit_review(s, who, "a1-call-0", human=HumanAnswers(), verdict="fail", form_token=TOK)
    with session() as s:
        again = inspection.submit_review(s, who, "a1-call-0", human=HumanAnswers(), verdict="pass", form_token=TOK)
        assert again.id == first.id and again.verdict == "fail"
        with pytest.raises(inspection.FormAlreadyUsed):
            inspection.submit_review(s, who, "a1-call-1", human=HumanAnswers(), verdict="fail", form_token=TOK)
    with session() as s:
        assert len(s.exec(select(Review)).all()) == 1


def test_a_pass_is_refused_while_a_critical_item_failed(world: review_world.World) -> None:
    """Auto "no" on a critical item (the rude call), or the inspector's own "no", rules out pass."""
    who = world.users["insp1"]
    with session() as s, pytest.raises(inspection.CriticalItemFailed):
        inspection.submit_review(s, who, "a2-call-0", human=HumanAnswers(), verdict="pass")
    with session() as s, pytest.raises(inspection.CriticalItemFailed):
        inspection.submit_review(s, who, "a1-call-0", human=HumanAnswers(answers={"no-abuse": "no"}), verdict="pass")
    with session() as s:
        assert s.exec(select(Review)).all() == []
        review = inspection.submit_review(s, who, "a2-call-0", human=HumanAnswers(), verdict="fail")
        assert review.passed is False
    # overriding the failed critical item to "yes" makes pass possible again
    with session() as s:
        fixed = HumanAnswers(answers={"no-abuse": "yes"})
        ok = inspection.submit_review(s, who, "a2-call-0", human=fixed, verdict="pass")
        assert ok.verdict == "pass"
    at = _signed_in("insp1", "call", call="a2-call-1")
    at.selectbox(key="ans:a2-call-1:no-abuse").select("no")
    at.radio(key="verdict:a2-call-1").set_value("pass")
    at.button(key="submit_review").click().run()
    assert at.error and at.error[0].value.startswith(t("err_CriticalItemFailed", detail="").rstrip(" ：:"))


def test_calibration_answers_start_unanswered(world: review_world.World) -> None:
    """No item is pre-answered; submitting nothing is refused; unanswered items stay out of the entry."""
    with session() as s:
        cs = calibration.create_session(
            s, world.users["sup"], title="w1", call_ids=["a1-call-0"], inspectors=["insp1"], expert="insp2"
        )
    at = _signed_in("insp1", "calibration")
    radios = [r for r in at.radio if str(r.key).startswith(f"cal:{cs.id}:")]
    assert radios and all(r.value is None for r in radios)
    at.button(key="cal_submit").click().run()
    assert [e.value for e in at.error] == [t("err_NoCalibrationAnswers")]
    at.radio(key=f"cal:{cs.id}:a1-call-0:greeting").set_value("no")
    at.button(key="cal_submit").click().run()
    with session() as s:
        entry = s.exec(select(CalibrationEntry)).one()
    assert entry.answers == {"greeting": "no"}


def test_concurrent_submits_of_one_form_store_one_review(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two requests carrying the same form token at the same moment (SQLite and PostgreSQL): one review,
    both answered with it; a duplicate plan name racing the same way is a clean conflict."""
    from concurrent.futures import ThreadPoolExecutor
    from threading import Barrier

    review_world.fast_hashing(monkeypatch)
    world = review_world.build(calls_per_agent=1)
    gate = Barrier(4)

    def submit(_: int) -> int:
        gate.wait()
        with session(write=True) as s:
            review = inspection.submit_review(
                s, world.users["insp1"], "a1-call-0", human=HumanAnswers(), verdict="fail", form_token=TOK
            )
            return review.id or 0

    with ThreadPoolExecutor(4) as pool:
        ids = list(pool.map(submit, range(4)))
    with session() as s:
        reviews = s.exec(select(Review)).all()
    assert len(reviews) == 1 and set(ids) == {reviews[0].id}

    gate = Barrier(3)

    def plan(_: int) -> str:
        gate.wait()
        try:
            with session(write=True) as s:
                sampling.create_plan(
                    s, world.users["sup"], name="race", mode="per_agent", count=1, inspectors=["insp1"]
                )
            return "made"
        except sampling.PlanNameTaken:
            return "taken"

    with ThreadPoolExecutor(3) as pool:
        outcomes = sorted(pool.map(plan, range(3)))
    assert outcomes == ["made", "taken", "taken"]


HOSTILE_TEXT = {  # (a lone surrogate cannot reach the app: Streamlit's protocol carries valid UTF-8 only)
    "nul": "fine\x00then",
    "escape": "bell \x07 ring",
    "huge": "x" * 5000,
}


def test_unstorable_text_is_refused_by_the_workflow(world: review_world.World) -> None:
    """Domain level, for callers other than the pages: a lone surrogate or a NUL never reaches the database."""
    from review_app.workflow.text import BadText

    for bad in ("half \ud800 pair", "nul\x00"):
        with session() as s, pytest.raises(BadText):
            sampling.create_plan(s, world.users["sup"], name=bad, mode="per_agent", count=1, inspectors=["insp1"])
        with session() as s, pytest.raises(BadText):
            inspection.submit_review(s, world.users["insp1"], "a1-call-0", human=HumanAnswers(comment=bad),
                                     verdict="fail")
    with session() as s:
        assert s.exec(select(SamplingPlan)).all() == [] and s.exec(select(Review)).all() == []


@pytest.mark.parametrize("kind", sorted(HOSTILE_TEXT))
def test_hostile_text_in_app_forms_is_refused_in_one_line(world: review_world.World, kind: str) -> None:
    """Plan name, review comment and dispute reason with a NUL, a lone surrogate, a control character or
    5000 characters: a one-line message in the user's language, and nothing stored."""
    from storage.reviews import Dispute

    bad = HOSTILE_TEXT[kind]
    at = _signed_in("sup", "sampling")
    next(w for w in at.text_input if w.label == t("plan_name")).input(bad)
    next(b for b in at.button if b.label == t("create_plan")).click().run()
    assert not at.exception and len(at.error) == 1 and "\n" not in at.error[0].value
    assert at.error[0].value in (t("err_BadText"), t("err_TextTooLong", limit=100))
    at = _signed_in("insp1", "call", call="a1-call-0")
    at.text_area(key="overall:a1-call-0").input(bad)
    at.radio(key="verdict:a1-call-0").set_value("fail")
    at.button(key="submit_review").click().run()
    assert not at.exception and [e.value for e in at.error] in (
        [t("err_BadText")], [t("err_TextTooLong", limit=4000)]
    )
    with session() as s:
        assert s.exec(select(SamplingPlan)).all() == [] and s.exec(select(Review)).all() == []
        review = inspection.submit_review(s, world.users["insp1"], "a1-call-0", human=HumanAnswers(), verdict="fail")
    at = _signed_in("agent1", "scorecard")
    at.text_input(key=f"sc_note:{review.id}").input(bad)
    at.button(key=f"dispute:{review.id}").click().run()
    assert not at.exception and len(at.error) == 1
    with session() as s:
        assert s.exec(select(Dispute)).all() == []


@pytest.mark.parametrize("call_id", ["../../etc/passwd", "<script>alert(1)</script>", "a" * 300, "x\x00y", ""])
def test_hostile_call_ids_in_the_address_are_one_line_errors(world: review_world.World, call_id: str) -> None:
    """``?call=`` with a path, HTML, an overlong or a NUL-bearing ID: one line, no traceback, no audit row."""
    at = _signed_in("insp1", "call", call=call_id)
    assert not at.exception
    if call_id:
        assert len(at.error) == 1 and "Traceback" not in at.error[0].value
    with session() as s:
        assert s.exec(select(AuditEvent).where(AuditEvent.action == "view")).all() == []


def test_nul_bytes_in_filters_and_sign_in_are_one_line_errors(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """On PostgreSQL a NUL in a query parameter fails the statement: search, audit filter and the
    sign-in name refuse it before any query (SQLite and PostgreSQL)."""
    review_world.fast_hashing(monkeypatch)
    review_world.build(calls_per_agent=1)
    at = _form_sign_in(AppTest.from_file(APP, default_timeout=60).run(), "insp1\x00", "x\x00y")
    assert not at.exception and [e.value for e in at.error] == [t("bad_credentials")]
    at = _signed_in("admin", "search")
    at.text_input(key="search_text").input("a1\x00").run()
    assert not at.exception and [e.value for e in at.error] == [t("err_BadText")]
    at.switch_page("views/audit.py").run()
    at.text_input(key="au_actor").input("adm\x00in").run()
    assert not at.exception and [e.value for e in at.error] == [t("err_BadText")]
    assert [e.actor for e in _audit("sign_in_failed")] == ["insp1?"]
