"""Scheduled live plans: at each firing of a live plan's schedule, each of its inspectors is given a
live call to listen to, once, however many schedulers run.

A live plan (review_app/workflow/live.py) answers "give me a live call" when an inspector asks. With
a schedule (five-field cron, UTC) and a list of inspectors, the scheduler asks for them: at each
firing it inserts a ``live_claims`` row (plan, firing time), whose unique constraint lets exactly
one scheduler through, and in the same transaction picks a call for each inspector by the plan's
rules (share or per-agent quota, filters, daily cap) and tells them (notification kind
``assignment``, with a link to *Live now*). An inspector with no eligible call or at the daily cap
is skipped for that firing. Only the latest firing counts and only while it is at most
``LATE_S`` old: calls that were live during an outage are over, so missed firings are not made up.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from croniter import croniter
from sqlmodel import Session, col, select

from review_app.workflow.live import may_use, pick_live_call
from review_app.workflow.sampling import valid_schedule
from storage.access import Perm, require
from storage.db import session
from storage.errors import CallqcError, InvalidInput, NotFound
from storage.live_picks import LivePlan
from storage.notifications import NotifyKind, notify
from storage.schedules import LiveClaim
from storage.settings import get_settings
from storage.users import Principal, Role, User

log = logging.getLogger(__name__)
LATE_S = 900  # a firing later than this is skipped: its live calls have ended


@dataclass(frozen=True)
class LiveFiring:
    plan_id: int
    fire_at: datetime
    picks: dict[str, str]  # inspector -> call ID


def set_live_schedule(session: Session, who: Principal, plan_id: int, schedule: str | None,
                      inspectors: list[str]) -> LivePlan:
    """Give a live plan a schedule and the inspectors it picks for (None: picked by hand only)."""
    require(who, Perm.sample)
    plan = session.get(LivePlan, plan_id)
    if plan is None or not may_use(who, plan):
        raise NotFound(f"live plan {plan_id}")
    schedule = valid_schedule(schedule)
    known = {u.name: u for u in session.exec(select(User).where(col(User.name).in_(inspectors)))}
    for name in inspectors:
        user = known.get(name)
        if user is None or user.role not in (Role.inspector, Role.supervisor, Role.admin) or not user.active:
            raise InvalidInput(f"inspector {name!r}: no active inspector, supervisor or admin of that name")
        if not may_use(Principal.of(user), plan):  # a firing would give them nothing: say so now
            raise InvalidInput(f"inspector {name!r}: not of the plan's tenant and team")
    if schedule is not None and not inspectors:
        raise InvalidInput("a scheduled live plan needs at least one inspector")
    plan.schedule, plan.inspectors = schedule, list(dict.fromkeys(inspectors))
    session.add(plan)
    session.flush()
    return plan


def latest_firing(schedule: str, now: datetime) -> datetime:
    """The schedule's last firing at or before ``now``."""
    if croniter.match(schedule, now):
        return now.replace(second=0, microsecond=0)
    fired: datetime = croniter(schedule, now).get_prev(datetime)
    return fired


def _fire(plan: LivePlan, fire_at: datetime, now: datetime, claimer: str) -> LiveFiring | None:
    assert plan.id is not None
    picks: dict[str, str] = {}
    try:
        with session(write=True) as s:
            claim = LiveClaim(plan_id=plan.id, fire_at=fire_at, claimed_by=claimer)
            s.add(claim)
            s.flush()  # the unique (plan, firing) decides here
            users = {u.name: u for u in s.exec(select(User).where(col(User.name).in_(plan.inspectors)))}
            for name in plan.inspectors:
                user = users.get(name)
                if user is None or not user.active:
                    continue
                try:
                    pick = pick_live_call(s, Principal.of(user), plan.id, now=now)
                except CallqcError as exc:  # no eligible call, the daily cap, a role that may not review
                    log.info("live schedule: plan %s, %s: %s", plan.id, name, exc)
                    continue
                picks[name] = pick.call_id
                notify(s, [name], NotifyKind.assignment, subject="callqc: a live call to listen to",
                       payload={"live_plan": plan.id, "call_id": pick.call_id,
                                "link": f"{get_settings().app_url.rstrip('/')}/live"},
                       event=f"live{pick.id}")
            claim.picks = len(picks)
            s.add(claim)
    except sa.exc.IntegrityError:
        log.info("live schedule: plan %s firing %s already claimed", plan.id, fire_at.isoformat())
        return None
    log.info("live schedule: plan %s firing %s: %s", plan.id, fire_at.isoformat(), picks)
    return LiveFiring(plan.id, fire_at, picks)


def run(now: datetime, claimer: str) -> list[LiveFiring]:
    """Fire every scheduled live plan whose latest firing is recent and unclaimed."""
    with session() as s:
        plans = list(s.exec(select(LivePlan).where(col(LivePlan.active).is_(True), col(LivePlan.schedule).is_not(None))
                            .order_by(col(LivePlan.id))))
    fired = []
    for plan in plans:
        assert plan.id is not None and plan.schedule is not None
        at = latest_firing(plan.schedule, now)
        if now - at > timedelta(seconds=LATE_S) or at < plan.created_at.replace(second=0, microsecond=0):
            continue
        with session() as s:
            if s.exec(select(LiveClaim.id).where(LiveClaim.plan_id == plan.id, LiveClaim.fire_at == at)).first():
                continue
        try:
            if (f := _fire(plan, at, now, claimer)) is not None:
                fired.append(f)
        except Exception:  # noqa: BLE001 - one plan's failure must not stop the others
            log.exception("live schedule: plan %s firing %s failed", plan.id, at.isoformat())
    return fired
