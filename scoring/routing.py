"""Routing an auto-scored call to an inspector queue, by the rules in storage/routing.py.

:func:`reasons` is pure: which of a rule's conditions an evaluation meets, with a short detail.
:func:`route_evaluation` runs in the scoring transaction: every active rule of the call's tenant
(for its team, or for every team) that matches adds one open row to the team's queue, due
``due_hours`` from now. A rescore does not add a second row for the same rule.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select

from storage.calls import Call
from storage.evaluations import Evaluation, EvaluationItem, items_of
from storage.models import utcnow
from storage.routing import RoutedCall, RouteReason, RoutingRule

log = logging.getLogger(__name__)
DEFAULT_CONFIDENCE = 0.7  # a learned item below this (max(p, 1-p)) is "low confidence"


def answer_confidence(p_yes: float) -> float:
    """How sure a learned item is of its answer: max(p, 1 - p), 0.5 (a coin) to 1."""
    return max(p_yes, 1.0 - p_yes)


def reasons(rule: RoutingRule, ev: Evaluation, items: Sequence[EvaluationItem]) -> str | None:
    """The detail of why ``rule`` routes ``ev`` (None: it does not)."""
    if rule.reason == RouteReason.critical_fail:
        failed = [i.item_id for i in items if i.critical and (i.final_answer or i.auto_answer) == "no"]
        return "critical: " + ", ".join(failed) if failed else None
    if rule.reason == RouteReason.score_below:
        bar = rule.threshold if rule.threshold is not None else ev.pass_mark
        return f"score {ev.total:.1f} < {bar:g}" if ev.total is not None and ev.total < bar else None
    if rule.reason == RouteReason.insufficient:
        unsure = [i.item_id for i in items if i.auto_answer == "insufficient"]
        return "insufficient: " + ", ".join(unsure) if unsure else None
    bar = rule.threshold if rule.threshold is not None else DEFAULT_CONFIDENCE
    low = [f"{i.item_id} {answer_confidence(i.confidence):.2f}" for i in items
           if i.check_kind == "model" and i.confidence is not None and answer_confidence(i.confidence) < bar]
    return "low confidence: " + ", ".join(low) if low else None


def route_evaluation(session: Session, call: Call, ev: Evaluation) -> list[RoutedCall]:
    """Add the call to its team's queue once per matching rule; returns the rows added."""
    assert ev.id is not None
    rules = session.exec(
        select(RoutingRule).where(RoutingRule.tenant == call.tenant, col(RoutingRule.active).is_(True),
                                  sa.or_(col(RoutingRule.team).is_(None), col(RoutingRule.team) == call.team))
        .order_by(col(RoutingRule.priority), col(RoutingRule.id))).all()
    if not rules:
        return []
    items = items_of(session, ev.id)
    done = set(session.exec(select(RoutedCall.rule_id).where(RoutedCall.call_id == call.call_id)))
    added = []
    now = utcnow()
    for rule in rules:
        detail = reasons(rule, ev, items)
        if detail is None or rule.id in done:
            continue
        assert rule.id is not None
        row = RoutedCall(call_id=call.call_id, evaluation_id=ev.id, rule_id=rule.id, tenant=call.tenant,
                         team=call.team, reason=rule.reason, detail=detail[:300], score=ev.total,
                         priority=rule.priority, due_at=now + timedelta(hours=rule.due_hours))
        session.add(row)
        added.append(row)
    session.flush()
    if added:
        log.info("route: call %s into team %s/%s (%s)", call.call_id, call.tenant, call.team,
                 ", ".join(r.reason for r in added))
    return added
