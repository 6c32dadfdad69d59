"""Tenants and teams: the same agent ID in two tenants are two people; nobody sees across tenants."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from review_app.i18n import t
from review_app.session import _TOKEN as TOKEN
from review_app.workflow import dashboard, sampling
from review_app.workflow.evalview import HumanAnswers
from review_app.workflow.feedback import scorecard, trend
from review_app.workflow.inspection import submit_review
from storage import access
from storage.access import CallNotVisible, search_calls, visible_call
from storage.db import session
from storage.errors import Conflict
from storage.users import Principal, add_user
from tests import review_world
from tests.review_world import DAY0, PASSWORD, good_call

APP = str(Path(__file__).resolve().parent.parent / "review_app" / "app.py")
PEOPLE = {  # name: (role, agent ID, team, tenant)
    "insp-a": ("inspector", None, None, "bank-a"),
    "insp-a2": ("inspector", None, "T2", "bank-a"),
    "sup-a": ("supervisor", None, None, "bank-a"),
    "agent-a": ("agent", "A1", "T1", "bank-a"),
    "insp-b": ("inspector", None, None, "bank-b"),
    "agent-b": ("agent", "A1", "T1", "bank-b"),
}


@pytest.fixture
def tenants(sqlite_db, monkeypatch) -> dict[str, Principal]:
    review_world.fast_hashing(monkeypatch)
    users = {}
    with session() as s:
        for name, (role, agent, team, tenant) in PEOPLE.items():
            users[name] = Principal.of(add_user(s, name, role=role, password=PASSWORD, agent_id=agent, team=team,
                                                tenant=tenant))
    review_world.add_call("a-1", "A1", started_at=DAY0, segments=good_call(), tenant="bank-a")
    review_world.add_call("b-1", "A1", started_at=DAY0 + timedelta(hours=1), segments=good_call(), tenant="bank-b")
    with session() as s:
        submit_review(s, users["insp-a"], "a-1", human=HumanAnswers(answers={}), verdict="pass")
        submit_review(s, users["insp-b"], "b-1", human=HumanAnswers(answers={}), verdict="fail")
    return users


def test_an_agent_id_is_unique_within_a_tenant_only(tenants):
    with session() as s, pytest.raises(Conflict, match="A1"):
        add_user(s, "agent-a-again", role="agent", password=PASSWORD, agent_id="A1", tenant="bank-a")


def test_tenant_a_cannot_see_tenant_bs_agent_with_the_same_id(tenants):
    """Call by ID, search, scorecard, trend, dashboard, sampling and media: only tenant A's call."""
    insp, agent, sup = tenants["insp-a"], tenants["agent-a"], tenants["sup-a"]
    with session() as s:
        for who in (insp, agent, sup):
            assert visible_call(s, who, "a-1").tenant == "bank-a"
            with pytest.raises(CallNotVisible):
                visible_call(s, who, "b-1")
            assert [c.call_id for c in search_calls(s, who, "")] == ["a-1"]
            assert search_calls(s, who, "b-") == []
        for who, agent_id in ((insp, "A1"), (agent, None)):
            rows = scorecard(s, who, agent_id)
            assert [r.call_id for r in rows] == ["a-1"] and rows[0].verdict == "pass"
        assert {p["score"] for p in trend(s, insp, "A1")} == {scorecard(s, insp, "A1")[0].score}
        k = dashboard.kpis(s, sup, start=DAY0 - timedelta(days=1), end=DAY0 + timedelta(days=1))
        assert (k.calls, k.reviewed) == (1, 1)
        assert sampling.margin_table(s, sup) == [
            {"agent_id": "A1", "scored_calls": 1, "stdev": None, "reviews_needed": None}]
        plan = sampling.create_plan(s, sup, name="all", mode="percent", percent=100, inspectors=["insp-a"])
        run = sampling.run_plan(s, sup, plan.id, start=DAY0 - timedelta(days=1), end=DAY0 + timedelta(days=1))
        assert [a.call_id for a in sampling.run_assignments(s, run.id)] == ["a-1"]
    with pytest.raises(CallNotVisible):
        access.recording(insp, "b-1", source="test")
    assert access.recording(insp, "a-1", source="test").call_id == "a-1"


def test_a_team_bound_inspector_sees_only_their_team(tenants):
    with session() as s:
        with pytest.raises(CallNotVisible):
            visible_call(s, tenants["insp-a2"], "a-1")  # a-1 is team T1
        assert search_calls(s, tenants["insp-a2"], "") == []


@pytest.mark.app
def test_pages_keep_tenants_apart_by_url_and_by_agent_id(tenants):
    """The call page refuses tenant B's call by URL; the scorecard page for agent A1 lists tenant A's only."""
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state[TOKEN] = review_world.session_token("insp-a")
    at.query_params["call"] = "b-1"
    at.run()
    at.switch_page("views/call.py").run()
    texts = "\n".join(str(e.value) for e in [*at.error, *at.markdown, *at.caption])
    assert t("err_CallNotVisible") in texts and not at.get("audio")
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state[TOKEN] = review_world.session_token("agent-a")
    at.run()
    at.switch_page("views/scorecard.py").run()
    texts = re.sub(r"\\(.)", r"\1", "\n".join(str(e.value) for e in at.markdown)).replace("\u2060", "")
    assert "a-1" in texts and "b-1" not in texts  # as shown: Markdown escapes undone
