"""Supervisors over several teams: they see exactly their teams' calls (page functions, search, queue,
notifications), never another team's or another tenant's; `callqc user teams` sets them."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

import pytest
from sqlmodel import select

from review_app.workflow import routing
from storage.access import CallNotVisible, search_calls, visible_call
from storage.db import session
from storage.errors import Forbidden, InvalidInput
from storage.models import utcnow
from storage.notifications import users_with_role
from storage.routing import RoutedCall, RouteReason
from storage.users import Principal, Role, User, add_user, set_teams
from tests import review_world
from tests.review_world import DAY0, PASSWORD, good_call

CALLS = {"c-t1": ("T1", "default"), "c-t2": ("T2", "default"), "c-t3": ("T3", "default"),
         "b-t1": ("T1", "bank-b")}


def _me(name: str) -> Principal:
    with session() as s:
        return Principal.of(s.exec(select(User).where(User.name == name)).one())


@pytest.fixture
def teams(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    review_world.fast_hashing(monkeypatch)
    with session() as s:
        add_user(s, "sup-multi", role="supervisor", password=PASSWORD, team="T1")
        set_teams(s, "sup-multi", ["T1", "T2"])
        add_user(s, "sup-one", role="supervisor", password=PASSWORD, team="T1")
        add_user(s, "sup-tenant", role="supervisor", password=PASSWORD)
        add_user(s, "sup-b", role="supervisor", password=PASSWORD, team="T1", tenant="bank-b")
        set_teams(s, "sup-b", ["T1", "T2"])
    for n, (cid, (team, tenant)) in enumerate(CALLS.items()):
        review_world.add_call(cid, f"A{n}", started_at=DAY0 + timedelta(minutes=n), segments=good_call(),
                              team=team, tenant=tenant)
    with session() as s:
        for cid, (team, tenant) in CALLS.items():
            s.add(RoutedCall(call_id=cid, evaluation_id=0, rule_id=None, tenant=tenant, team=team,
                             reason=RouteReason.disputed, priority=1, due_at=utcnow() + timedelta(hours=1)))


def _seen(name: str) -> set[str]:
    with session() as s:
        return {c.call_id for c in search_calls(s, _me(name))}


def test_a_supervisor_over_two_teams_sees_exactly_their_calls(teams: None) -> None:
    """T1+T2 of tenant default: both teams' calls by search, by ID and in the queue; not T3, not
    tenant bank-b's T1; a one-team supervisor sees one team, a team-less one the whole tenant."""
    assert _seen("sup-multi") == {"c-t1", "c-t2"}
    assert _seen("sup-one") == {"c-t1"}
    assert _seen("sup-tenant") == {"c-t1", "c-t2", "c-t3"}
    assert _seen("sup-b") == {"b-t1"}
    multi = _me("sup-multi")
    with session() as s:
        assert visible_call(s, multi, "c-t2").call_id == "c-t2"
        for other in ("c-t3", "b-t1"):
            with pytest.raises(CallNotVisible):
                visible_call(s, multi, other)
        assert {r.call_id for r in routing.team_queue(s, multi)} == {"c-t1", "c-t2"}
        assert {r.call_id for r in routing.team_queue(s, _me("sup-one"))} == {"c-t1"}


def test_notifications_reach_every_supervisor_of_the_team(teams: None) -> None:
    """A T2 event reaches the T1+T2 supervisor and the team-less one, not the T1-only one or bank-b's."""
    with session() as s:
        assert users_with_role(s, (Role.supervisor,), tenant="default", team="T2") == ["sup-multi", "sup-tenant"]
        assert users_with_role(s, (Role.supervisor,), tenant="default", team="T3") == ["sup-tenant"]


def test_routing_rules_only_for_own_teams(teams: None) -> None:
    """A multi-team supervisor may add a rule for either of their teams, not for a third."""
    multi = _me("sup-multi")
    with session() as s:
        assert routing.add_rule(s, multi, reason="critical_fail", team="T2").team == "T2"
        with pytest.raises(Forbidden, match="T1, T2 only"):
            routing.add_rule(s, multi, reason="critical_fail", team="T3")


@pytest.mark.slow
def test_teams_set_from_the_command_line(teams: None) -> None:
    """`callqc user teams sup-one T1 T3` widens sup-one to T1+T3 at once; bad input is one line and
    changes nothing; no teams: the whole tenant."""
    def callqc(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "callqc", *args], capture_output=True, text=True, timeout=120,
                              env=dict(os.environ))

    r = callqc("user", "teams", "sup-one", "T1", "T3")
    assert r.returncode == 0 and "T1+T3" in r.stdout, r.stderr
    assert _seen("sup-one") == {"c-t1", "c-t3"}
    r = callqc("user", "teams", "sup-one", "T1", "T1")
    assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1 and "twice" in r.stderr
    assert _seen("sup-one") == {"c-t1", "c-t3"}
    assert "sup-one\tsupervisor\t-\tdefault/T1+T3" in callqc("user", "list").stdout
    assert callqc("user", "teams", "sup-one").returncode == 0
    assert _seen("sup-one") == {"c-t1", "c-t2", "c-t3"}
    with session() as s, pytest.raises(InvalidInput, match="exactly one team"):
        add_user(s, "ag", role="agent", agent_id="A9", password=PASSWORD, team="T1")
        set_teams(s, "ag", ["T1", "T2"])
