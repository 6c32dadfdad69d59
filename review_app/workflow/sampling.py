"""Asynchronous sampling (异步抽听): plans, reproducible runs, and even assignment to inspectors.

A plan takes N calls per agent per day/week, or a percentage of the matching calls with a minimum.
Each quota is filled first where the AI is least sure (insufficient evidence, critical fail, a
score near the pass mark), the rest at random, all from a stored seed: the same seed over the same
calls picks the same calls in the same order. Picked calls are spread over the plan's inspectors,
fewest-loaded first, never above a daily cap (overflow goes to the next day). Every assignment
keeps the plan, the run and the reason it was chosen.
"""

from __future__ import annotations

import logging
import secrets
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from croniter import croniter
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from review_app.workflow import evalview, notify
from review_app.workflow.draw import Candidate, Pick, reviews_needed, select_calls, spread
from review_app.workflow.text import checked_text
from storage.access import Perm, calls_clause, require
from storage.calls import Call
from storage.errors import Conflict, InvalidInput, NotFound
from storage.reviews import Assignment, SamplingMode, SamplingPlan, SamplingRun
from storage.users import Principal

log = logging.getLogger(__name__)


class PlanNameTaken(Conflict):
    """a sampling plan with this name already exists"""


class PlanNameEmpty(InvalidInput):
    """the plan needs a name"""


class PlanSettingsInvalid(InvalidInput):
    """the plan's settings are not valid"""


class PlanNeedsInspectors(InvalidInput):
    """a plan needs at least one inspector and a daily cap of at least 1"""


class WindowEndsBeforeStart(InvalidInput):
    """the date window ends before it starts"""


@dataclass
class Filters:
    queues: list[str] = field(default_factory=list)
    agents: list[str] = field(default_factory=list)
    direction: str | None = None
    min_duration_s: float | None = None
    max_duration_s: float | None = None
    date_from: str | None = None  # YYYY-MM-DD, inclusive
    date_to: str | None = None  # YYYY-MM-DD, inclusive
    score_below: float | None = None
    critical_fail: bool = False
    insufficient_evidence: bool = False
    words: list[str] = field(default_factory=list)  # any of these in the transcript

    @classmethod
    def of(cls, raw: dict[str, Any] | None) -> Filters:
        raw = dict(raw or {})
        unknown = set(raw) - set(cls.__dataclass_fields__)
        if unknown:
            raise InvalidInput(f"sampling filter {sorted(unknown)[0]!r} is not known")
        return cls(**raw)


# --- database side ---------------------------------------------------------------------------------


def create_plan(
    session: Session,
    who: Principal,
    *,
    name: str,
    mode: SamplingMode | str,
    inspectors: list[str],
    count: int = 0,
    period_days: int = 1,
    percent: float = 0.0,
    minimum: int = 0,
    filters: dict[str, Any] | None = None,
    daily_cap: int = 50,
    seed: int | None = None,
    schedule: str | None = None,
) -> SamplingPlan:
    """A new plan over the calls of ``who``'s tenant (and team); ``schedule`` (cron, UTC) runs it by itself."""
    require(who, Perm.sample)
    schedule = valid_schedule(schedule)
    mode = SamplingMode(mode)
    f = Filters.of(filters)  # refuse unknown filters now, not at run time
    for word in [*f.queues, *f.agents, *f.words]:
        checked_text(word, field="filter", limit=200, one_line=True)
    if mode == SamplingMode.per_agent and count < 1:
        raise PlanSettingsInvalid("per-agent plan: count must be at least 1")
    if mode == SamplingMode.percent and not 0 < percent <= 100:
        raise PlanSettingsInvalid("percent plan: percent must be in (0, 100]")
    if period_days not in (1, 7):
        raise PlanSettingsInvalid("period must be 1 (day) or 7 (week)")
    name = checked_text(name, field="plan name", limit=100, one_line=True)
    if not name:
        raise PlanNameEmpty()
    if session.exec(select(SamplingPlan.id).where(SamplingPlan.name == name.strip())).first() is not None:
        raise PlanNameTaken(name.strip())
    if not inspectors or daily_cap < 1:
        raise PlanNeedsInspectors()
    plan = SamplingPlan(
        name=name.strip(),
        mode=mode,
        count=count,
        period_days=period_days,
        percent=percent,
        minimum=minimum,
        filters=dict(filters or {}),
        inspectors=list(inspectors),
        daily_cap=daily_cap,
        seed=seed if seed is not None else secrets.randbelow(2**31),
        created_by=who.name,
        tenant=who.tenant,
        team=who.team,
        schedule=schedule,
    )
    savepoint = session.begin_nested()
    try:
        session.add(plan)
        session.flush()
        savepoint.commit()
    except IntegrityError:  # the same name created at the same moment elsewhere
        savepoint.rollback()
        raise PlanNameTaken(plan.name) from None
    return plan


def valid_schedule(schedule: str | None) -> str | None:
    """A cron expression (five fields, UTC), or None for a plan run by hand."""
    if schedule is None or not schedule.strip():
        return None
    schedule = " ".join(schedule.split())
    if len(schedule.split()) != 5 or not croniter.is_valid(schedule):
        raise InvalidInput(f"schedule {schedule!r}: not a five-field cron expression (e.g. '0 2 * * *')")
    return schedule


def set_schedule(session: Session, who: Principal, plan_id: int, schedule: str | None) -> SamplingPlan:
    """Give a plan a schedule (or take it away: None)."""
    require(who, Perm.sample)
    plan = session.get(SamplingPlan, plan_id)
    if plan is None or not _mine(who, plan):
        raise NotFound(f"sampling plan {plan_id}")
    plan.schedule = valid_schedule(schedule)
    session.add(plan)
    session.flush()
    return plan


def _mine(who: Principal, plan: SamplingPlan) -> bool:
    if who.role == "admin":
        return True
    return plan.tenant == who.tenant and who.sees_team(plan.team)


def list_plans(session: Session, who: Principal | None = None) -> list[SamplingPlan]:
    """Plans, newest first: those of ``who``'s tenant and team when given."""
    plans = session.exec(select(SamplingPlan).order_by(col(SamplingPlan.id).desc()))
    return [p for p in plans if who is None or _mine(who, p)]


def candidates(
    session: Session, plan: SamplingPlan, *, start: datetime, end: datetime, ignore_run: int | None = None,
    scope: Any = None,
) -> list[Candidate]:
    """Calls in [start, end) that match the plan's filters and are not already assigned (by another run),
    among those ``scope`` (a WHERE clause: the runner's access scope) allows."""
    f = Filters.of(plan.filters)
    # three columns, not the whole row (a month of calls with their call records)
    q = sa.select(col(Call.call_id), col(Call.agent_id), col(Call.started_at)).where(
        col(Call.started_at) >= start, col(Call.started_at) < end, col(Call.agent_id).is_not(None),
        sa.true() if scope is None else scope)
    if f.queues:
        q = q.where(col(Call.queue).in_(f.queues))
    if f.agents:
        q = q.where(col(Call.agent_id).in_(f.agents))
    if f.direction:
        q = q.where(col(Call.direction) == f.direction)
    if f.min_duration_s is not None:
        q = q.where(col(Call.duration_s) >= f.min_duration_s)
    if f.max_duration_s is not None:
        q = q.where(col(Call.duration_s) <= f.max_duration_s)
    if f.date_from:
        q = q.where(col(Call.started_at) >= datetime.fromisoformat(f.date_from).replace(tzinfo=UTC))
    if f.date_to:
        q = q.where(
            col(Call.started_at) < datetime.fromisoformat(f.date_to).replace(tzinfo=UTC) + timedelta(days=1)
        )
    assigned = select(Assignment.call_id).where(Assignment.run_id != (ignore_run or -1))
    q = q.where(col(Call.call_id).not_in(assigned)).order_by(col(Call.call_id))
    calls = session.execute(q).all()
    summaries = evalview.auto_summaries(session, [c.call_id for c in calls])
    if f.words:
        with_words = evalview.calls_with_words(session, [c.call_id for c in calls], f.words)
        calls = [c for c in calls if c.call_id in with_words]
    out = []
    for c in calls:
        s = summaries.get(c.call_id)
        if f.score_below is not None and (s is None or s.score is None or s.score >= f.score_below):
            continue
        if f.critical_fail and (s is None or not s.critical_fail):
            continue
        if f.insufficient_evidence and (s is None or s.insufficient == 0):
            continue
        out.append(
            Candidate(
                c.call_id, c.agent_id or "", c.started_at, s.score if s else None, s.uncertainty if s else 0.0
            )
        )
    return out


def run_plan(
    session: Session,
    who: Principal,
    plan_id: int,
    *,
    start: datetime,
    end: datetime,
    first_day: date | None = None,
    seed: int | None = None,
) -> SamplingRun:
    """Pick calls for one window, store the run (with its seed) and its assignments."""
    require(who, Perm.sample)
    plan = session.get(SamplingPlan, plan_id)
    if plan is None or not _mine(who, plan):
        raise NotFound(f"sampling plan {plan_id}")
    if end <= start:
        raise WindowEndsBeforeStart()
    run_seed = plan.seed if seed is None else seed
    cands = candidates(session, plan, start=start, end=end, scope=calls_clause(who))
    picks = select_calls(
        cands,
        mode=plan.mode,
        seed=run_seed,
        count=plan.count,
        percent=plan.percent,
        minimum=plan.minimum,
        period_days=plan.period_days,
    )
    day0 = first_day or datetime.now(UTC).date()
    load_rows = session.exec(
        select(Assignment.inspector, Assignment.day, func.count())
        .where(Assignment.day >= day0.isoformat(), col(Assignment.inspector).in_(plan.inspectors))
        .group_by(Assignment.inspector, Assignment.day)
    )
    load = {(i, d): n for i, d, n in load_rows}
    placed = spread(picks, plan.inspectors, first_day=day0, daily_cap=plan.daily_cap, load=load)
    run = SamplingRun(
        plan_id=plan_id,
        seed=run_seed,
        window_start=start,
        window_end=end,
        created_by=who.name,
        stats={"candidates": len(cands), "picked": len(picks)},
    )
    session.add(run)
    session.flush()
    assert run.id is not None
    for pick, inspector, day in placed:
        session.add(
            Assignment(
                run_id=run.id,
                plan_id=plan_id,
                call_id=pick.call_id,
                inspector=inspector,
                day=day,
                reason=pick.reason,
            )
        )
    session.flush()
    counts: dict[str, int] = defaultdict(int)
    for _, inspector, _ in placed:
        counts[inspector] += 1
    notify.new_assignments(session, run.id, dict(counts))
    log.info("sampling run %s of plan %s: %d of %d calls", run.id, plan_id, len(picks), len(cands))
    return run


def replay_run(session: Session, who: Principal, run_id: int) -> list[Pick]:
    """Pick again from a run's stored seed and window: the same calls, for the same reasons."""
    require(who, Perm.sample)
    run = session.get(SamplingRun, run_id)
    if run is None:
        raise NotFound(f"sampling run {run_id}")
    plan = session.get(SamplingPlan, run.plan_id)
    assert plan is not None
    cands = candidates(session, plan, start=run.window_start, end=run.window_end, ignore_run=run_id,
                       scope=calls_clause(who))
    return select_calls(
        cands,
        mode=plan.mode,
        seed=run.seed,
        count=plan.count,
        percent=plan.percent,
        minimum=plan.minimum,
        period_days=plan.period_days,
    )


def run_assignments(session: Session, run_id: int) -> list[Assignment]:
    q = select(Assignment).where(Assignment.run_id == run_id).order_by(col(Assignment.id))
    return list(session.exec(q))


def margin_table(
    session: Session, who: Principal, *, margin: float = 5.0, confidence: float = 0.9
) -> list[dict[str, Any]]:
    """Per agent: scores so far, their spread, and reviews needed for ±margin at confidence."""
    require(who, Perm.sample)
    by_agent = evalview.agent_scores(session, calls_clause(who))
    rows = []
    for agent, scores in sorted(by_agent.items()):
        rows.append(
            {
                "agent_id": agent,
                "scored_calls": len(scores),
                "stdev": round(statistics.stdev(scores), 2) if len(scores) > 1 else None,
                "reviews_needed": reviews_needed(scores, margin=margin, confidence=confidence),
            }
        )
    return rows


