"""Scheduled sampling: plans with a cron schedule run by themselves, exactly once per period.

A plan's schedule (five-field cron, UTC) fires at times f0 < f1 < f2 ...; the firing at f(k) samples
the calls that started in the period [f(k-1), f(k)). f0 is the firing at or before the plan's
creation, so the first period is the one the plan was created in. Each period is claimed with one
insert into ``sampling_claims`` (storage/schedules.py): when two schedulers wake for the same
period, the unique constraint lets one insert through and the other skips it. The claim and the
sampling run commit together, so a period whose run failed is tried again on the next tick.
After a restart every period that ended since the last claimed one runs once (at most
``schedule_catch_up`` of them, the newest).

:func:`run_once` runs the sampling plans; :func:`tick` is one tick of everything scheduled: those,
the month-end report (review_app/workflow/month_end.py) and the scheduled live plans
(review_app/workflow/live_schedule.py), each exactly once across processes by its own claim table.
``callqc schedule run-once`` (a Kubernetes CronJob) is one tick; :func:`loop` ticks every
``schedule_poll_s`` (``callqc schedule loop``, started by ``callqc up``).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from croniter import croniter
from sqlmodel import col, func, select

from review_app.workflow import live_schedule, month_end
from review_app.workflow.sampling import run_plan
from storage.db import session
from storage.models import utcnow
from storage.reviews import SamplingPlan
from storage.schedules import SamplingClaim
from storage.settings import get_settings
from storage.users import Principal, Role

log = logging.getLogger(__name__)
SCHEDULER = "scheduler"  # the name scheduled runs are created by


@dataclass(frozen=True)
class PeriodRun:
    plan_id: int
    period_start: datetime
    period_end: datetime
    run_id: int


def periods(schedule: str, *, created: datetime, after: datetime | None, now: datetime,
            limit: int) -> list[tuple[datetime, datetime]]:
    """The periods [start, end) of ``schedule`` that ended by ``now`` and start at or after ``after``
    (None: since the plan was created); the newest ``limit`` of them, oldest first."""
    it = croniter(schedule, created)
    first = it.get_prev(datetime)
    if croniter.match(schedule, created):
        first = created.replace(second=0, microsecond=0)
    start = max(first, after) if after is not None else first
    it = croniter(schedule, start)
    out: list[tuple[datetime, datetime]] = []
    while True:
        end = it.get_next(datetime)
        if end > now:
            break
        out.append((start, end))
        start = end
        if len(out) > 10 * limit:  # a schedule firing every minute for months: keep memory flat
            out = out[-limit:]
    return out[-limit:]


def _claimer() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _last_claimed(plan_id: int) -> datetime | None:
    with session() as s:
        return s.exec(select(func.max(SamplingClaim.period_end)).where(SamplingClaim.plan_id == plan_id)).one()


def _run_period(plan: SamplingPlan, start: datetime, end: datetime) -> PeriodRun | None:
    """Claim and run one period in one transaction; None if another scheduler has it."""
    assert plan.id is not None
    who = Principal(SCHEDULER, Role.supervisor, tenant=plan.tenant, team=plan.team)
    try:
        with session(write=True) as s:
            claim = SamplingClaim(plan_id=plan.id, period_start=start, period_end=end, claimed_by=_claimer())
            s.add(claim)
            s.flush()  # the unique constraint decides here (PostgreSQL waits for a rival's commit)
            run = run_plan(s, who, plan.id, start=start, end=end, first_day=end.date())
            claim.run_id = run.id
            s.add(claim)
            assert run.id is not None
            result = PeriodRun(plan.id, start, end, run.id)
    except sa.exc.IntegrityError:
        log.info("schedule: plan %s period %s already claimed", plan.id, start.isoformat())
        return None
    log.info("schedule: plan %s ran period %s..%s (run %s)", plan.id, start.isoformat(), end.isoformat(),
             result.run_id)
    return result


def run_once(*, now: datetime | None = None) -> list[PeriodRun]:
    """Run every scheduled plan's periods that ended by ``now`` and nobody ran yet."""
    now = now or utcnow()
    limit = get_settings().schedule_catch_up
    with session() as s:
        plans = list(s.exec(select(SamplingPlan).where(col(SamplingPlan.active).is_(True),
                                                       col(SamplingPlan.schedule).is_not(None))
                            .order_by(col(SamplingPlan.id))))
    done: list[PeriodRun] = []
    for plan in plans:
        assert plan.id is not None and plan.schedule is not None
        due = periods(plan.schedule, created=plan.created_at, after=_last_claimed(plan.id), now=now, limit=limit)
        for start, end in due:
            try:
                if (r := _run_period(plan, start, end)) is not None:
                    done.append(r)
            except Exception:  # noqa: BLE001 - one broken plan must not stop the others; retried next tick
                log.exception("schedule: plan %s period %s failed; it runs again next time", plan.id, start)
                break
    return done


@dataclass(frozen=True)
class Tick:
    sampling: list[PeriodRun]
    reports: list[month_end.MonthReport]
    live: list[live_schedule.LiveFiring]


def tick(*, now: datetime | None = None) -> Tick:
    """One tick: sampling periods that ended, last month's reports, live plans firing now."""
    now = now or utcnow()
    return Tick(run_once(now=now), month_end.run(now, _claimer()), live_schedule.run(now, _claimer()))


def loop(stop: threading.Event | None = None) -> None:
    """Tick every ``schedule_poll_s`` until ``stop`` is set."""
    stop = stop or threading.Event()
    interval = get_settings().schedule_poll_s
    log.info("scheduler: every %.0f s", interval)
    while not stop.is_set():
        try:
            tick()
        except Exception:  # noqa: BLE001 - e.g. the database away for a moment: the next tick tries again
            log.exception("scheduler: tick failed")
        stop.wait(interval)
