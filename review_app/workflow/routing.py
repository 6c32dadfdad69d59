"""Routing rules (supervisors) and the team queue they fill (inspectors).

Rules are rows (storage/routing.py) a supervisor adds for their own tenant, and for their team when
their account names one; scoring/routing.py applies them when a call is scored. The queue shows an
inspector the open routed calls of the teams they may see (storage/access.py), sorted by priority,
due time or score; reviewing the call closes its rows (:func:`close_for_review`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Session, col, select

from storage.access import Perm, calls_clause, require, team_clause
from storage.calls import Call
from storage.errors import Forbidden, InvalidInput, NotFound
from storage.models import utcnow
from storage.routing import RoutedCall, RoutedState, RouteReason, RoutingRule
from storage.users import Principal

log = logging.getLogger(__name__)


class QueueSort(StrEnum):
    priority = "priority"  # most urgent first, then soonest due
    due = "due"  # soonest due first
    score = "score"  # lowest score first


@dataclass(frozen=True)
class QueueRow:
    routed_id: int
    call_id: str
    agent_id: str | None
    team: str | None
    reason: str
    detail: str
    priority: int
    score: float | None
    due_at: datetime
    overdue: bool


def add_rule(
    session: Session,
    who: Principal,
    *,
    reason: RouteReason | str,
    priority: int = 3,
    due_hours: float = 24.0,
    threshold: float | None = None,
    team: str | None = None,
) -> RoutingRule:
    """A new active rule for ``who``'s tenant (and team: a team-bound supervisor only for their team)."""
    require(who, Perm.route)
    rule_reasons = [r for r in RouteReason if r is not RouteReason.disputed]  # disputes route without a rule
    if reason not in rule_reasons:
        raise InvalidInput(f"routing reason {str(reason)!r}: use one of {', '.join(rule_reasons)}")
    reason = RouteReason(reason)
    if not 1 <= priority <= 9:
        raise InvalidInput("priority must be 1 (most urgent) to 9")
    if not 0 < due_hours <= 24 * 90:
        raise InvalidInput("due time must be between 0 and 2160 hours")
    if reason == RouteReason.score_below and threshold is not None and not 0 <= threshold <= 100:
        raise InvalidInput("score threshold must be between 0 and 100")
    if reason == RouteReason.low_confidence and threshold is not None and not 0.5 < threshold <= 1:
        raise InvalidInput("confidence threshold must be above 0.5 and at most 1")
    if team is not None and not who.sees_team(team):
        raise Forbidden(f"{who.name} manages routing for teams {', '.join(who.teams or ())} only")
    rule = RoutingRule(tenant=who.tenant, team=team or who.team, reason=reason, threshold=threshold,
                       priority=priority, due_hours=due_hours, created_by=who.name)
    session.add(rule)
    session.flush()
    log.info("routing rule %s by %s: %s team=%s priority=%s", rule.id, who.name, reason, rule.team, priority)
    return rule


def list_rules(session: Session, who: Principal) -> list[RoutingRule]:
    require(who, Perm.route)
    q = select(RoutingRule).where(team_clause(who, col(RoutingRule.tenant), col(RoutingRule.team)))
    return list(session.exec(q.order_by(col(RoutingRule.priority), col(RoutingRule.id))))


def set_rule_active(session: Session, who: Principal, rule_id: int, active: bool) -> None:
    require(who, Perm.route)
    row = session.execute(
        sa.update(RoutingRule)
        .where(col(RoutingRule.id) == rule_id, team_clause(who, col(RoutingRule.tenant), col(RoutingRule.team)))
        .values(active=active).returning(col(RoutingRule.id))).first()
    if row is None:
        raise NotFound(f"routing rule {rule_id}")


def team_queue(
    session: Session,
    who: Principal,
    *,
    sort: QueueSort | str = QueueSort.priority,
    state: RoutedState = RoutedState.open,
    limit: int = 50,
    offset: int = 0,
) -> list[QueueRow]:
    """Routed calls of the teams ``who`` sees, sorted, one page at a time."""
    require(who, Perm.review)
    try:
        sort = QueueSort(sort)
    except ValueError:
        raise InvalidInput(f"sort {sort!r}: use priority, due or score") from None
    order = {
        QueueSort.priority: (col(RoutedCall.priority), col(RoutedCall.due_at)),
        QueueSort.due: (col(RoutedCall.due_at), col(RoutedCall.priority)),
        QueueSort.score: (sa.case((col(RoutedCall.score).is_(None), 1), else_=0), col(RoutedCall.score),
                          col(RoutedCall.priority)),
    }[sort]
    q = (select(RoutedCall, Call).join(Call, col(Call.call_id) == RoutedCall.call_id)
         .where(RoutedCall.state == state, calls_clause(who))
         .order_by(*order, col(RoutedCall.id)).limit(min(limit, 500)).offset(offset))
    now = utcnow()
    return [QueueRow(r.id or 0, r.call_id, c.agent_id, r.team, str(r.reason), r.detail, r.priority, r.score,
                     r.due_at, state == RoutedState.open and r.due_at < now)
            for r, c in session.exec(q)]


def close_for_review(session: Session, who: Principal, call_id: str, review_id: int | None) -> int:
    """Close the call's open routed rows: an inspector reviewed it. Returns how many were closed."""
    rows = session.execute(
        sa.update(RoutedCall)
        .where(col(RoutedCall.call_id) == call_id, col(RoutedCall.state) == RoutedState.open)
        .values(state=RoutedState.done, done_by=who.name, review_id=review_id)
        .returning(col(RoutedCall.id))).all()
    return len(rows)
