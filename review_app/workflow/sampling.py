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
from datetime import UTC, date, datetime
from typing import Any

from croniter import croniter
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from review_app.workflow import evalview, notify
from review_app.workflow.draw import Pick, reviews_needed, select_calls, spread
from review_app.workflow.sample_pool import Filters, candidates
from review_app.workflow.text import checked_text
from storage.access import Perm, calls_clause, require
from storage.errors import Conflict, InvalidInput, NotFound
from storage.reviews import Assignment, SamplingMode, SamplingPlan, SamplingRun, add_assignments
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
    cands = candidates(session, plan.filters, start=start, end=end, scope=calls_clause(who))
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
    add_assignments(session, run.id, plan_id, [(pick.call_id, inspector, day, pick.reason)
                                               for pick, inspector, day in placed])
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
    cands = candidates(session, plan.filters, start=run.window_start, end=run.window_end, ignore_run=run_id,
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


