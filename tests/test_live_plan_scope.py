"""Live plans belong to a tenant and, when their creator is team-bound, a team: only users of that tenant
(and team) see a plan, pick by it or are scheduled under it; a plan without a team serves its whole
tenant; admins see every plan. Existing plans take their creator's tenant and team on migration."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from sqlmodel import select

from review_app.workflow.live import NoLiveCall, create_plan, list_plans, pick_live_call
from review_app.workflow.live_schedule import set_live_schedule
from storage import db as dbmod
from storage.calls import Call, CallStatus
from storage.db import session
from storage.errors import InvalidInput, NotFound
from storage.users import Principal, Role, User, add_user, set_teams
from tests.conftest import fresh_pg_database

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
PASSWORD = "pw-123456789"
# call -> (team, tenant): two live calls per team, each of its own agent
LIVE = {"t1-a": ("T1", "default"), "t1-b": ("T1", "default"), "t2-a": ("T2", "default"),
        "t2-b": ("T2", "default"), "bank-t1": ("T1", "bank-b")}


def _me(name: str) -> Principal:
    with session() as s:
        return Principal.of(s.exec(select(User).where(User.name == name)).one())


@pytest.fixture
def plans(db_url: str) -> dict[str, int]:
    """A T1 supervisor's plan, a tenant-wide supervisor's plan and another tenant's plan; inspectors of
    T1, of T2, of T1 and T2, of no team, and of the other tenant."""
    with session() as s:
        for name, role, team, tenant in (("sup-t1", "supervisor", "T1", "default"),
                                         ("sup-all", "supervisor", None, "default"),
                                         ("sup-bank", "supervisor", None, "bank-b"),
                                         ("insp-t1", "inspector", "T1", "default"),
                                         ("insp-t2", "inspector", "T2", "default"),
                                         ("insp-t2t1", "inspector", "T2", "default"),
                                         ("insp-any", "inspector", None, "default"),
                                         ("insp-bank", "inspector", "T1", "bank-b")):
            add_user(s, name, role=role, password=PASSWORD, team=team, tenant=tenant)
        set_teams(s, "insp-t2t1", ["T2", "T1"])
        s.add_all([Call(call_id=cid, agent_id=f"A{n}", team=team, tenant=tenant, queue="sales",
                        started_at=NOW - timedelta(seconds=90), codec="pcm_mulaw", sample_rate=8000, channels=2,
                        audio_key=f"live/{cid}", size_bytes=0, sha256="0" * 64, status=CallStatus.in_progress)
                   for n, (cid, (team, tenant)) in enumerate(LIVE.items())])
    out = {}
    for plan, creator in (("team", "sup-t1"), ("tenant", "sup-all"), ("bank", "sup-bank")):
        with session() as s:
            p = create_plan(s, _me(creator), name=f"plan {plan}", mode="share", seed=5, inspector_daily_cap=10,
                            repeat_agent=True)
            assert (p.tenant, p.team) == {"team": ("default", "T1"), "tenant": ("default", None),
                                          "bank": ("bank-b", None)}[plan]
            assert p.id is not None
            out[plan] = p.id
    return out


def _pick(name: str, plan_id: int) -> str:
    with session() as s:
        return pick_live_call(s, _me(name), plan_id, now=NOW).call_id


def _listed(name: str) -> set[str]:
    with session() as s:
        return {p.name for p in list_plans(s, _me(name))}


def test_a_team_plan_is_seen_and_used_by_its_teams_inspectors_only(plans: dict[str, int]) -> None:
    """T1's plan: a T1 inspector and an inspector over T2 and T1 pick by it, and get T1 calls only; a T2
    inspector's and another tenant's T1 inspector's picks are refused as if it did not exist."""
    assert {_pick("insp-t1", plans["team"]), _pick("insp-t2t1", plans["team"])} == {"t1-a", "t1-b"}
    with pytest.raises(NoLiveCall):  # T2 calls are live and the inspector sees them: not under T1's plan
        _pick("insp-t2t1", plans["team"])
    assert _pick("insp-t2t1", plans["tenant"]).startswith("t2-")
    for outsider in ("insp-t2", "insp-bank"):
        with pytest.raises(NotFound):
            _pick(outsider, plans["team"])
        assert "plan team" not in _listed(outsider)
    assert _listed("insp-t1") == {"plan team", "plan tenant"}
    assert _listed("insp-t2") == {"plan tenant"}
    assert _listed("insp-bank") == {"plan bank"}
    # a team-less inspector of the tenant sees all its teams' calls, and every plan of the tenant
    assert _listed("insp-any") == {"plan team", "plan tenant"}
    with session() as s:
        assert {p.name for p in list_plans(s, Principal("root", Role.admin))} == {"plan team", "plan tenant",
                                                                                  "plan bank"}


def test_a_tenant_plan_serves_every_team_of_its_tenant_and_no_other_tenant(plans: dict[str, int]) -> None:
    """The team-less supervisor's plan gives a T1 inspector T1 calls and a T2 inspector T2 calls (never
    the other team's); another tenant's inspector may not use it, nor a default-tenant one the bank's."""
    t1 = {_pick("insp-t1", plans["tenant"]) for _ in range(2)}
    assert t1 == {"t1-a", "t1-b"}
    with pytest.raises(NoLiveCall):  # T2 calls are still live, but not theirs
        _pick("insp-t1", plans["tenant"])
    assert _pick("insp-t2", plans["tenant"]).startswith("t2-")
    with pytest.raises(NotFound):
        _pick("insp-bank", plans["tenant"])
    with pytest.raises(NotFound):
        _pick("insp-t1", plans["bank"])
    assert _pick("insp-bank", plans["bank"]) == "bank-t1"


def test_a_schedule_names_only_inspectors_of_the_plans_tenant_and_team(plans: dict[str, int]) -> None:
    """Scheduling T1's plan for a T2 inspector is refused (a firing would give them nothing), and a
    supervisor of another team may not schedule it at all; its own team's inspectors are accepted."""
    with session() as s, pytest.raises(InvalidInput):
        set_live_schedule(s, _me("sup-t1"), plans["team"], "0 10 * * *", ["insp-t1", "insp-t2"])
    with session() as s, pytest.raises(NotFound):
        set_live_schedule(s, _me("sup-bank"), plans["team"], "0 10 * * *", ["insp-bank"])
    with session() as s:
        plan = set_live_schedule(s, _me("sup-t1"), plans["team"], "0 10 * * *", ["insp-t1", "insp-t2t1"])
        assert plan.inspectors == ["insp-t1", "insp-t2t1"]


@contextmanager
def _database(kind: str, tmp: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{tmp / 'scope.db'}"
    else:
        with fresh_pg_database("callqc_test_livescope") as url:
            yield url


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def test_migration_gives_existing_live_plans_their_creators_tenant_and_team(kind: str, tmp_path: Path) -> None:
    """Plans made before the migration: a team-bound creator's plan takes tenant and team, a tenant-wide
    creator's the tenant alone, a plan whose creator is gone the default tenant and no team."""
    with _database(kind, tmp_path) as url:
        engine = sa.create_engine(url)
        try:
            cfg = dbmod.alembic_config(engine)
            with engine.begin() as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "0038_rollfull_fcr_days")  # the revision before live plans got a scope
            with engine.begin() as conn:
                for name, team, tenant in (("sup-t1", "T1", "bank-b"), ("sup-all", None, "bank-b")):
                    conn.execute(sa.text("INSERT INTO users (name, role, team, active, password_hash, created_at, "
                                         "tenant, also_teams) VALUES (:n, 'supervisor', :team, true, 'x', :at, "
                                         ":tenant, '[]')"), {"n": name, "team": team, "tenant": tenant, "at": NOW})
                for n, creator in enumerate(("sup-t1", "sup-all", "gone")):
                    conn.execute(sa.text(
                        "INSERT INTO live_plans (name, mode, share, per_agent_day, filters, seed, "
                        "inspector_daily_cap, repeat_agent, created_by, active, created_at, inspectors) VALUES "
                        "(:name, 'share', 1.0, 0, '{}', 1, 20, false, :creator, true, :at, '[]')"),
                        {"name": f"p{n}", "creator": creator, "at": NOW})
            with engine.begin() as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
            with engine.connect() as conn:
                rows = conn.execute(sa.text("SELECT created_by, tenant, team FROM live_plans")).all()
            got = {creator: (tenant, team) for creator, tenant, team in rows}
            assert got == {"sup-t1": ("bank-b", "T1"), "sup-all": ("bank-b", None), "gone": ("default", None)}
        finally:
            engine.dispose()
