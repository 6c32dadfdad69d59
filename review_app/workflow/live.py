"""Live now and live sampling (同步抽听): the calls in progress, and "give me a live call" by a plan.

:func:`live_now` lists the calls in progress that the user may listen to (inspectors, supervisors
and admins; agents never). :func:`pick_live_call` gives the asking inspector one of them by a live
plan (storage/live_picks.py): a share of calls (each call in or out by a hash of the plan's seed and
its ID) or at most N per agent per day, the plan's filters, a daily cap per inspector, and never the
same agent twice in a row unless the plan allows it. The choice among the eligible calls is drawn
from a generator seeded by (plan seed, inspector, day, picks so far), so the same seed over the same
calls and history gives the same pick; :func:`choose` is that rule without the database.

A live plan belongs to its creator's tenant, and to their team when they are team-bound: only users
of that tenant (and that team, when the plan has one) see it, pick by it or are scheduled under it
(:func:`may_use`); a plan without a team serves the whole tenant. Whatever the plan, an inspector is
only ever given calls of their own teams (live_now), and under a plan only calls of its tenant and team.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from storage.access import Perm, calls_clause, require
from storage.calls import Call, CallStatus
from storage.errors import Conflict, InvalidInput, NotFound
from storage.live_picks import LiveMode, LivePick, LivePlan
from storage.models import utcnow
from storage.users import DEFAULT_TENANT, Principal, Role

FILTER_KEYS = ("queue", "direction", "team", "tenant")
RETRIES = 3


class NoLiveCall(NotFound):
    """no live call to give you now"""


class CapReached(Conflict):
    """your daily cap of live calls under this plan is reached"""


@dataclass(frozen=True)
class LiveCall:
    call_id: str
    agent_id: str | None
    queue: str | None
    direction: str
    team: str | None
    started_at: datetime
    duration_s: float  # so far
    tenant: str = DEFAULT_TENANT


@dataclass(frozen=True)
class Choice:
    call: LiveCall
    reason: dict[str, Any]


def live_now(session: Session, who: Principal, *, now: datetime | None = None, limit: int = 500) -> list[LiveCall]:
    """Calls in progress ``who`` may listen to, longest-running first; agents are refused."""
    require(who, Perm.review)
    now = now or utcnow()
    rows = session.exec(
        select(Call).where(col(Call.status) == CallStatus.in_progress, calls_clause(who))
        .order_by(col(Call.started_at)).limit(limit)
    )
    return [
        LiveCall(c.call_id, c.agent_id, c.queue, str(c.direction), c.team, c.started_at,
                 max(0.0, (now - c.started_at).total_seconds()), c.tenant)
        for c in rows
    ]


def in_share(seed: int, call_id: str, share: float) -> bool:
    """Whether a call falls in a share-mode plan's share: a stable hash of seed and ID, no state."""
    h = int.from_bytes(hashlib.sha256(f"{seed}:{call_id}".encode()).digest()[:8], "big")
    return h / 2**64 < share


def choose(
    plan: LivePlan,
    inspector: str,
    day: str,
    calls: Sequence[LiveCall],
    history: Sequence[tuple[str, str | None, str]],
) -> Choice:
    """One call for ``inspector`` under ``plan``; ``history`` is the plan's picks of ``day`` in order
    as (inspector, agent ID, call ID). CapReached or NoLiveCall (with what excluded the calls)."""
    mine = [h for h in history if h[0] == inspector]
    if len(mine) >= plan.inspector_daily_cap:
        raise CapReached(f"{len(mine)} of {plan.inspector_daily_cap} today")
    picked = {h[2] for h in history}
    per_agent = Counter(h[1] for h in history)
    last_agent = mine[-1][1] if mine else None
    excluded: Counter[str] = Counter()
    eligible: list[LiveCall] = []
    for c in sorted(calls, key=lambda c: c.call_id):
        if c.call_id in picked:
            excluded["already picked"] += 1
        elif any(plan.filters.get(k) not in (None, getattr(c, k, None)) for k in FILTER_KEYS):
            excluded["filters"] += 1
        elif plan.mode == LiveMode.share and not in_share(plan.seed, c.call_id, plan.share):
            excluded["outside the share"] += 1
        elif plan.mode == LiveMode.per_agent and per_agent[c.agent_id] >= plan.per_agent_day:
            excluded["agent's daily quota"] += 1
        elif not plan.repeat_agent and last_agent is not None and c.agent_id == last_agent:
            excluded["same agent as last time"] += 1
        else:
            eligible.append(c)
    if not eligible:
        detail = ", ".join(f"{k}: {n}" for k, n in sorted(excluded.items())) or "no call in progress"
        raise NoLiveCall(f"{len(calls)} live, none eligible ({detail})")
    rng = random.Random(f"{plan.seed}:{inspector}:{day}:{len(mine)}")
    call = eligible[rng.randrange(len(eligible))]
    reason = {"plan": plan.name, "mode": str(plan.mode), "live": len(calls), "eligible": len(eligible),
              "excluded": dict(excluded), "draw": f"{plan.seed}:{inspector}:{day}:{len(mine)}",
              "picks_today": len(mine) + 1, "cap": plan.inspector_daily_cap}
    return Choice(call, reason)


def create_plan(session: Session, who: Principal, *, name: str, mode: LiveMode | str, seed: int,
                share: float = 1.0, per_agent_day: int = 0, inspector_daily_cap: int = 20,
                repeat_agent: bool = False, filters: dict[str, str] | None = None) -> LivePlan:
    """A live plan (supervisors and admins); checked values, one line on bad input."""
    require(who, Perm.sample)
    mode = LiveMode(mode)
    if mode == LiveMode.share and not 0 < share <= 1:
        raise InvalidInput(f"share {share}: between 0 and 1")
    if mode == LiveMode.per_agent and per_agent_day < 1:
        raise InvalidInput("per_agent_day: at least 1")
    if inspector_daily_cap < 1:
        raise InvalidInput("inspector_daily_cap: at least 1")
    unknown = set(filters or {}) - set(FILTER_KEYS)
    if unknown:
        raise InvalidInput(f"unknown filters {sorted(unknown)}; known: {', '.join(FILTER_KEYS)}")
    plan = LivePlan(name=name, mode=mode, seed=seed, share=share, per_agent_day=per_agent_day,
                    inspector_daily_cap=inspector_daily_cap, repeat_agent=repeat_agent,
                    filters=dict(filters or {}), created_by=who.name, tenant=who.tenant, team=who.team)
    session.add(plan)
    session.flush()
    return plan


def pick_live_call(session: Session, who: Principal, plan_id: int, *, now: datetime | None = None) -> LivePick:
    """"Give me a live call": choose by the plan, record the pick with its reason (the caller commits)."""
    require(who, Perm.review)
    plan = session.get(LivePlan, plan_id)
    if plan is None or not plan.active or not may_use(who, plan):  # another tenant's or team's plan: not there
        raise NotFound(f"live plan {plan_id}")
    now = now or utcnow()
    day = now.date().isoformat()
    for _ in range(RETRIES):
        history = [(p.inspector, p.agent_id, p.call_id) for p in session.exec(
            select(LivePick).where(LivePick.plan_id == plan_id, LivePick.day == day).order_by(col(LivePick.id)))]
        # the plan's own tenant and team bound the calls too (an admin, or an inspector over several
        # teams, picking by one team's plan gets that team's calls)
        live = [c for c in live_now(session, who, now=now)
                if c.tenant == plan.tenant and (plan.team is None or c.team == plan.team)]
        # a call is given once, whatever the plan (live_picks.call_id is unique)
        taken = set(session.exec(select(LivePick.call_id).where(col(LivePick.call_id).in_([c.call_id for c in live]))))
        choice = choose(plan, who.name, day, [c for c in live if c.call_id not in taken], history)
        pick = LivePick(plan_id=plan_id, inspector=who.name, call_id=choice.call.call_id,
                        agent_id=choice.call.agent_id, day=day, reason={**choice.reason, "taken": len(taken)},
                        picked_at=now)
        try:
            with session.begin_nested():  # the unique call_id is the guard against a concurrent pick
                session.add(pick)
        except IntegrityError:
            continue
        return pick
    raise NoLiveCall("other inspectors took the eligible calls; ask again")


def list_plans(session: Session, who: Principal) -> list[LivePlan]:
    """Active live plans ``who`` may pick by (their tenant's, of their teams or of none)."""
    require(who, Perm.review)
    return list(session.exec(select(LivePlan).where(col(LivePlan.active).is_(True), plans_clause(who))
                             .order_by(col(LivePlan.name))))


def may_use(who: Principal, plan: LivePlan) -> bool:
    """Whether ``who`` may see and pick by ``plan``: admins any; others their tenant's plans without a
    team or of one of their teams."""
    if who.role == Role.admin:
        return True
    return plan.tenant == who.tenant and (plan.team is None or who.sees_team(plan.team))


def plans_clause(who: Principal) -> Any:
    """:func:`may_use` as a WHERE clause on ``live_plans``."""
    if who.role == Role.admin:
        return sa.true()
    mine = col(LivePlan.tenant) == who.tenant
    teams = who.teams
    return mine if teams is None else sa.and_(mine, sa.or_(col(LivePlan.team).is_(None), col(LivePlan.team).in_(teams)))
