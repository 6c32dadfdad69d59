"""Agents disputing auto-submitted evaluations: routed to a human, settled by a review.

An auto-submitted evaluation counts on the agent's scorecard without any inspector having looked at
the call, so there is no review to dispute. The agent disputes the evaluation itself (whole, or one
item) within ``dispute_window_days`` of its scoring. The dispute then goes two ways at once: it
waits on the supervisors' Disputes page (and notifies them), and the call goes into the team queue
(reason ``disputed``, priority 1) for an inspector. An inspector's (or supervisor's) review of the
call settles it: the review replaces the auto row on the scorecard and the dispute closes as
``changed`` or ``upheld`` by whether the score moved, linked to that review. A supervisor may also
uphold the machine's score directly; changing it is a review of the call, never an edit of the
machine's evaluation.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select

from review_app.workflow import notify
from review_app.workflow.dispute_errors import (
    AutoScoreNeedsReview,
    DisputeNeedsReason,
    DisputeNotOpen,
    DisputeOpen,
    DisputeWindowClosed,
    NotYourReview,
)
from review_app.workflow.text import checked_text
from storage.access import Perm, calls_clause, require, visible_call
from storage.calls import Call
from storage.errors import InvalidInput, NotFound
from storage.evaluations import Evaluation, EvaluationKind, items_of
from storage.models import utcnow
from storage.reviews import Dispute, DisputeEvent, DisputeState, Review
from storage.routing import RoutedCall, RoutedState, RouteReason
from storage.settings import get_settings
from storage.users import Principal, Role

log = logging.getLogger(__name__)
ANSWERS = ("yes", "no", "n/a")
PRIORITY = 1  # an agent waiting on an answer about their own score comes first
DUE_HOURS = 24.0


class NotAutoSubmitted(NotFound):
    """no auto-submitted evaluation on a scorecard with this ID"""


def _scored(session: Session, who: Principal, evaluation_id: int) -> tuple[Evaluation, Call]:
    """The auto-submitted evaluation (on the scorecard: no review of its call yet) and its call, as
    ``who`` may see them."""
    ev = session.get(Evaluation, evaluation_id)
    if ev is None or ev.kind != EvaluationKind.auto or not ev.active or not ev.auto_submitted:
        raise NotAutoSubmitted(str(evaluation_id))
    call = visible_call(session, who, ev.call_id)
    if session.exec(select(Review.id).where(Review.call_id == ev.call_id)).first() is not None:
        raise NotAutoSubmitted(f"{evaluation_id}: call {ev.call_id} has an inspector's review; dispute that")
    return ev, call


def disputable_items(session: Session, who: Principal, evaluation_id: int) -> list[str]:
    """Item IDs of the evaluation that carry an answer (what an agent may dispute one by one)."""
    ev, _ = _scored(session, who, evaluation_id)
    return [r.item_id for r in items_of(session, ev.id or 0) if r.final_answer in ANSWERS]


def open_dispute(
    session: Session, who: Principal, evaluation_id: int, *, reason: str, item_id: str | None = None
) -> Dispute:
    """The agent disputes their auto-submitted evaluation (or one item): a dispute for the
    supervisors and the call in the team queue for an inspector."""
    require(who, Perm.own_feedback)
    ev, call = _scored(session, who, evaluation_id)
    if who.role != Role.agent:
        raise NotYourReview()
    reason = checked_text(reason, field="reason")
    if not reason.strip():
        raise DisputeNeedsReason()
    window = get_settings().dispute_window_days
    if utcnow() - ev.created_at > timedelta(days=window):
        raise DisputeWindowClosed(f"evaluation {evaluation_id} is older than {window} days")
    if item_id is not None and item_id not in disputable_items(session, who, evaluation_id):
        raise InvalidInput(f"item {item_id!r} is not in evaluation {evaluation_id}")
    same = col(Dispute.item_id).is_(None) if item_id is None else col(Dispute.item_id) == item_id
    if session.exec(select(Dispute.id).where(Dispute.evaluation_id == evaluation_id,
                                             Dispute.state == DisputeState.open, same)).first():
        raise DisputeOpen(f"evaluation {evaluation_id}" + (f" item {item_id}" if item_id else ""))
    d = Dispute(review_id=None, evaluation_id=evaluation_id, item_id=item_id, opened_by=who.name,
                reason=reason.strip(), score_before=ev.total)
    session.add(d)
    session.flush()
    assert d.id is not None
    session.add(DisputeEvent(dispute_id=d.id, actor=who.name, action="opened", comment=d.reason,
                             detail={"evaluation": evaluation_id, **({"item": item_id} if item_id else {})}))
    session.add(RoutedCall(call_id=call.call_id, evaluation_id=evaluation_id, rule_id=None, tenant=call.tenant,
                           team=call.team, reason=RouteReason.disputed, score=ev.total, priority=PRIORITY,
                           detail=f"agent disputes the auto score (dispute {d.id}"
                                  + (f", item {item_id})" if item_id else ")"),
                           due_at=utcnow() + timedelta(hours=DUE_HOURS)))
    notify.new_dispute(session, call, d)
    log.info("dispute %s opened on auto evaluation %s by %s", d.id, evaluation_id, who.name)
    return d


def states(session: Session, evaluation_ids: list[int]) -> dict[int, str]:
    """The latest dispute state of each auto-submitted evaluation that has one."""
    out: dict[int, str] = {}
    q = select(Dispute).where(col(Dispute.evaluation_id).in_(evaluation_ids)).order_by(col(Dispute.id))
    for d in session.exec(q):
        out[d.evaluation_id or 0] = str(d.state)
    return out


def history(session: Session, who: Principal, evaluation_id: int) -> list[DisputeEvent]:
    """Every dispute event of an auto-submitted evaluation, oldest first."""
    ev = session.get(Evaluation, evaluation_id)
    if ev is None:
        raise NotAutoSubmitted(str(evaluation_id))
    visible_call(session, who, ev.call_id)
    q = (select(DisputeEvent).join(Dispute, col(Dispute.id) == DisputeEvent.dispute_id)
         .where(Dispute.evaluation_id == evaluation_id).order_by(col(DisputeEvent.id)))
    return list(session.exec(q))


def open_ones(session: Session, who: Principal, limit: int) -> list[tuple[Dispute, Evaluation]]:
    """Open disputes of auto-submitted evaluations in the calls ``who`` sees, oldest first."""
    q = (select(Dispute, Evaluation).join(Evaluation, col(Evaluation.id) == Dispute.evaluation_id)
         .join(Call, col(Call.call_id) == Evaluation.call_id)
         .where(col(Dispute.review_id).is_(None), Dispute.state == DisputeState.open, calls_clause(who))
         .order_by(col(Dispute.id)).limit(limit))
    return [(d, ev) for d, ev in session.exec(q)]


def _close(session: Session, who: Principal, dispute_id: int, state: DisputeState, *, review: Review | None,
           score_after: float | None, comment: str) -> None:
    row = session.execute(
        sa.update(Dispute).where(col(Dispute.id) == dispute_id, col(Dispute.state) == DisputeState.open)
        .values(state=state, resolved_by=who.name, resolved_at=utcnow(), score_after=score_after,
                review_id=review.id if review is not None else None)
        .returning(col(Dispute.score_before))).first()
    if row is None:
        raise DisputeNotOpen(str(dispute_id))
    detail = {"score_before": row[0], "score_after": score_after}
    if review is not None:
        detail["review"] = review.id
    session.add(DisputeEvent(dispute_id=dispute_id, actor=who.name, action=str(state), comment=comment,
                             detail=detail))


def uphold(session: Session, who: Principal, d: Dispute, *, changing: bool, comment: str) -> Dispute:
    """A supervisor keeps the machine's score; the call leaves the team queue."""
    require(who, Perm.resolve_disputes)
    ev = session.get(Evaluation, d.evaluation_id or 0)
    if ev is None:
        raise NotAutoSubmitted(str(d.evaluation_id))
    visible_call(session, who, ev.call_id)
    if changing:
        raise AutoScoreNeedsReview(f"dispute {d.id}: open call {ev.call_id} and submit a review")
    _close(session, who, d.id or 0, DisputeState.upheld, review=None, score_after=d.score_before,
           comment=comment.strip())
    session.execute(
        sa.update(RoutedCall).where(col(RoutedCall.call_id) == ev.call_id, col(RoutedCall.state) == RoutedState.open,
                                    col(RoutedCall.reason) == RouteReason.disputed)
        .values(state=RoutedState.done, done_by=who.name))
    session.flush()
    session.refresh(d)
    return d


def settle_by_review(session: Session, who: Principal, call_id: str, review: Review) -> int:
    """A review of the call settles its open auto-evaluation disputes: changed if the score moved,
    else upheld; each then points at the review. Returns how many were settled."""
    evaluations = select(Evaluation.id).where(Evaluation.call_id == call_id)
    q = select(Dispute).where(col(Dispute.evaluation_id).in_(evaluations), col(Dispute.review_id).is_(None),
                              Dispute.state == DisputeState.open)
    settled = 0
    for d in list(session.exec(q)):
        state = DisputeState.upheld if review.score == d.score_before else DisputeState.changed
        _close(session, who, d.id or 0, state, review=review, score_after=review.score,
               comment=f"review {review.id}")
        settled += 1
    return settled
