"""QC feedback (反馈质检信息): agent scorecards, acknowledgements, disputes and their resolution.

An agent sees only reviews of their own calls. A dispute may be opened within
``dispute_window_days`` of the review; a supervisor upholds it or changes the score. The review's
score then changes, and the dispute keeps the before/after and a history of events that is only
ever appended to. Calibration scores live in their own tables and never reach a scorecard.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from review_app.workflow import auto_disputes, notify, review_days
from review_app.workflow.dispute_errors import (
    DisputeNeedsReason,
    DisputeNotOpen,
    DisputeOpen,
    DisputeWindowClosed,
    NotYourReview,
)
from review_app.workflow.item_disputes import resolve_item, review_item
from review_app.workflow.text import checked_text
from scoring.trust import trust_summary
from storage.access import Perm, calls_clause, require, team_clause, visible_call
from storage.calls import Call
from storage.errors import Forbidden, InvalidInput, NotFound
from storage.evaluations import Evaluation, EvaluationKind
from storage.models import utcnow
from storage.review_days import ReviewDay
from storage.reviews import Acknowledgement, Dispute, DisputeEvent, DisputeState, Review, ReviewMode
from storage.settings import get_settings
from storage.users import Principal, Role

log = logging.getLogger(__name__)


class ScoreOutOfRange(InvalidInput):
    """a score must be between 0 and 100"""


class AgentIdNeeded(InvalidInput):
    """which agent? give an agent ID"""


class OwnScorecardOnly(Forbidden):
    """agents may only see their own scorecard"""


@dataclass(frozen=True)
class ScorecardRow:
    review_id: int
    call_id: str
    at: datetime  # when the review was submitted (UTC)
    score: float | None
    verdict: str
    inspector: str
    comment: str
    acknowledged: bool
    dispute: str | None  # state of the latest dispute
    # "auto": an auto-submitted evaluation (no review; trust figures in ``trust``); "sync": a review
    # scored while listening to the live call
    source: str = "human"
    trust: str = ""
    evaluation_id: int = 0  # for "auto" rows: the evaluation an agent may dispute
    auto_score: float | None = None  # for "sync" rows: the call's auto-score, once it has arrived


def _agent_of(who: Principal, agent_id: str | None) -> str:
    if who.role == Role.agent:
        if agent_id not in (None, who.agent_id) or not who.agent_id:
            raise OwnScorecardOnly(who.name)
        return who.agent_id
    require(who, Perm.view_all_calls)
    if not agent_id:
        raise AgentIdNeeded()
    return agent_id


def scorecard(
    session: Session, who: Principal, agent_id: str | None = None, *, limit: int = 200
) -> list[ScorecardRow]:
    """An agent's reviewed calls, newest first."""
    agent = _agent_of(who, agent_id)
    # the shown columns as rows, not Review entities: the ORM's identity map costs more than the query
    q = (
        sa.select(col(Review.id), col(Review.call_id), col(Review.created_at), col(Review.score),
                  col(Review.verdict), col(Review.inspector), col(Review.comment), col(Review.mode))
        .join(Call, col(Call.call_id) == Review.call_id)
        .where(col(Call.agent_id) == agent, calls_clause(who))
        .order_by(col(Review.created_at).desc())
        .limit(limit)
    )
    reviews = list(session.execute(q))
    ids = [r.id for r in reviews]
    acked = set(
        session.exec(select(Acknowledgement.review_id).where(col(Acknowledgement.review_id).in_(ids)))
    )
    disputes: dict[int, str] = {}
    for d in session.exec(select(Dispute).where(col(Dispute.review_id).in_(ids)).order_by(col(Dispute.id))):
        disputes[d.review_id or 0] = str(d.state)
    rows = [
        ScorecardRow(
            r.id or 0,
            r.call_id,
            r.created_at,
            r.score,
            str(r.verdict),
            r.inspector,
            r.comment,
            r.id in acked,
            disputes.get(r.id or 0),
            source="sync" if r.mode == ReviewMode.sync else "human",
        )
        for r in reviews
    ]
    autos = sync_auto_scores(session, [r.call_id for r in rows if r.source == "sync"])
    rows = [dataclasses.replace(r, auto_score=autos.get(r.call_id)) if r.source == "sync" else r for r in rows]
    rows += auto_rows(session, who, agent, limit=limit)
    rows.sort(key=lambda r: r.at, reverse=True)
    return rows[:limit]


def sync_auto_scores(session: Session, call_ids: list[str]) -> dict[str, float]:
    """The active auto-score of calls reviewed while listening: it arrives after the call and is
    shown next to the synchronous review (the review's score is the one that counts)."""
    if not call_ids:
        return {}
    q = select(Evaluation.call_id, Evaluation.total).where(
        col(Evaluation.call_id).in_(call_ids), Evaluation.kind == EvaluationKind.auto, col(Evaluation.active).is_(True))
    return {cid: float(total) for cid, total in session.exec(q) if total is not None}


def auto_rows(session: Session, who: Principal, agent: str, *, limit: int) -> list[ScorecardRow]:
    """The auto-submitted evaluations of the agent's newest ``limit`` calls (by start) that no inspector
    reviewed and that have one: they count, marked auto. The calls are walked newest first in the order
    of ``calls (agent_id, started_at)`` and the walk stops at ``limit``, so the page reads what it shows
    however many years of calls the agent has."""
    # NOT EXISTS per row (index on reviews.call_id) instead of NOT IN over every review; narrow rows
    reviewed = sa.exists().where(col(Review.call_id) == col(Evaluation.call_id))
    q = (
        sa.select(col(Evaluation.id), col(Evaluation.call_id), col(Evaluation.created_at), col(Evaluation.total),
                  col(Evaluation.passed), col(Evaluation.trust))
        .join(Call, col(Call.call_id) == Evaluation.call_id)
        .where(col(Call.agent_id) == agent, calls_clause(who), col(Evaluation.kind) == EvaluationKind.auto,
               col(Evaluation.active) == sa.true(), col(Evaluation.auto_submitted) == sa.true(), ~reviewed)
        .order_by(col(Call.agent_id).desc(), col(Call.started_at).desc(), col(Evaluation.id).desc())
        .limit(limit)
    )
    evaluations = list(session.execute(q))
    states = auto_disputes.states(session, [ev.id or 0 for ev in evaluations])
    return [
        ScorecardRow(0, ev.call_id, ev.created_at, ev.total,
                     "pass" if ev.passed else "fail", "auto", "", False, states.get(ev.id or 0),
                     source="auto", trust=trust_summary(ev.trust), evaluation_id=ev.id or 0)
        for ev in evaluations
    ]


def trend(session: Session, who: Principal, agent_id: str | None = None) -> list[dict[str, Any]]:
    """Daily average score of the agent and of the agent's team (same days), for a chart: summed per
    day from the review-day rollup (review_days.py; exact), not averaged over every review of the team."""
    agent = _agent_of(who, agent_id)
    team = session.exec(select(Call.team).where(Call.agent_id == agent, calls_clause(who),
                                                col(Call.team).is_not(None)).limit(1)).first()
    if who.role == Role.agent:
        scope, raw_scope = [col(ReviewDay.tenant) == who.tenant], [col(Call.tenant) == who.tenant]
    else:  # _agent_of let only those who see every call of their scope through
        scope, raw_scope = [team_clause(who, col(ReviewDay.tenant), col(ReviewDay.team))], [calls_clause(who)]
    series = [([*scope, col(ReviewDay.agent_id) == agent], [*raw_scope, col(Call.agent_id) == agent])]
    if team:
        series.append(([*scope, col(ReviewDay.team) == team], [*raw_scope, col(Call.team) == team]))
    means = review_days.daily_means_of(session, series)  # one live-tail look-up for both series
    return [{"day": d, "series": name, "score": round(v, 1)}
            for name, got in zip(("agent", "team"), means, strict=False) for d, v in got]


def _own_review(session: Session, who: Principal, review_id: int) -> Review:
    review = session.get(Review, review_id)
    if review is None:
        raise NotFound(f"review {review_id}")
    visible_call(session, who, review.call_id)
    if who.role != Role.agent:
        raise NotYourReview()
    return review


def acknowledge(session: Session, who: Principal, review_id: int, *, comment: str = "") -> Acknowledgement:
    require(who, Perm.own_feedback)
    _own_review(session, who, review_id)
    ack = Acknowledgement(review_id=review_id, by_user=who.name, comment=checked_text(comment, field="comment"))
    session.add(ack)
    session.flush()
    return ack


def open_dispute(
    session: Session, who: Principal, review_id: int, *, reason: str, item_id: str | None = None
) -> Dispute:
    """The agent disputes the review, or one item of it (``item_id``); one open dispute per review and item."""
    require(who, Perm.own_feedback)
    review = _own_review(session, who, review_id)
    reason = checked_text(reason, field="reason")
    if not reason:
        raise DisputeNeedsReason()
    window = get_settings().dispute_window_days
    if utcnow() - review.created_at > timedelta(days=window):
        raise DisputeWindowClosed(f"review {review_id} is older than {window} days")
    if item_id is not None and review_item(session, review, item_id) is None:
        raise InvalidInput(f"item {item_id!r} is not in the evaluation of review {review_id}")
    same = col(Dispute.item_id).is_(None) if item_id is None else col(Dispute.item_id) == item_id
    if session.exec(
        select(Dispute).where(Dispute.review_id == review_id, Dispute.state == DisputeState.open, same)
    ).first():
        raise DisputeOpen(f"review {review_id}" + (f" item {item_id}" if item_id else ""))
    d = Dispute(review_id=review_id, item_id=item_id, opened_by=who.name, reason=reason.strip(),
                score_before=review.score)
    session.add(d)
    session.flush()
    assert d.id is not None
    session.add(DisputeEvent(dispute_id=d.id, actor=who.name, action="opened", comment=d.reason,
                             detail={"item": item_id} if item_id else {}))
    call = session.get(Call, review.call_id)
    if call is not None:
        notify.new_dispute(session, call, d)
    log.info("dispute %s opened on review %s by %s", d.id, review_id, who.name)
    return d


@dataclass(frozen=True)
class DisputeRow:
    dispute: Dispute
    call_id: str
    score: float | None  # the score disputed
    review_id: int | None  # None: an auto-submitted evaluation, settled by an inspector's review

    @property
    def auto(self) -> bool:
        return self.review_id is None


def open_disputes(session: Session, who: Principal, *, limit: int = 100) -> list[DisputeRow]:
    """Disputes waiting for a supervisor (of reviews and of auto-submitted evaluations), oldest first."""
    require(who, Perm.resolve_disputes)
    q = (
        select(Dispute, Review)
        .join(Review, col(Review.id) == Dispute.review_id)
        .join(Call, col(Call.call_id) == Review.call_id)
        .where(Dispute.state == DisputeState.open, calls_clause(who))
        .order_by(col(Dispute.id))
        .limit(limit)
    )
    rows = [DisputeRow(d, r.call_id, r.score, r.id) for d, r in session.exec(q)]
    rows += [DisputeRow(d, ev.call_id, ev.total, None) for d, ev in auto_disputes.open_ones(session, who, limit)]
    return sorted(rows, key=lambda r: r.dispute.id or 0)[:limit]


def resolve_dispute(
    session: Session,
    who: Principal,
    dispute_id: int,
    *,
    new_score: float | None = None,
    new_answer: str | None = None,
    comment: str = "",
) -> Dispute:
    """Uphold (neither ``new_score`` nor ``new_answer``), change the score, or, for an item dispute,
    change the item's answer (the review is re-scored); one guarded update, then history."""
    require(who, Perm.resolve_disputes)
    if new_score is not None and not 0 <= new_score <= 100:
        raise ScoreOutOfRange(str(new_score))
    comment = checked_text(comment, field="comment")
    disputed = session.get(Dispute, dispute_id)
    if disputed is not None and disputed.review_id is None:
        return auto_disputes.uphold(session, who, disputed, changing=new_score is not None or new_answer is not None,
                                    comment=comment)
    if new_answer is not None:
        return resolve_item(session, who, dispute_id, new_answer, comment)
    state = DisputeState.upheld if new_score is None else DisputeState.changed
    row = session.execute(
        sa.update(Dispute)
        .where(col(Dispute.id) == dispute_id, col(Dispute.state) == DisputeState.open)
        .values(state=state, resolved_by=who.name, resolved_at=utcnow(), score_after=new_score)
        .returning(col(Dispute.review_id), col(Dispute.score_before))
    ).first()
    if row is None:
        raise DisputeNotOpen(str(dispute_id))
    review_id, before = row
    assert review_id is not None  # disputes without a review were handled above
    if new_score is not None:
        session.execute(sa.update(Review).where(col(Review.id) == review_id).values(score=new_score))
    session.add(
        DisputeEvent(
            dispute_id=dispute_id,
            actor=who.name,
            action=str(state),
            comment=comment.strip(),
            detail={"score_before": before, "score_after": new_score},
        )
    )
    session.flush()
    d = session.get(Dispute, dispute_id)
    assert d is not None
    session.refresh(d)
    return d


def history(session: Session, who: Principal, review_id: int) -> list[DisputeEvent]:
    """Every dispute event of a review, oldest first (visible to whoever may see the call)."""
    review = session.get(Review, review_id)
    if review is None:
        raise NotFound(f"review {review_id}")
    visible_call(session, who, review.call_id)
    q = (
        select(DisputeEvent)
        .join(Dispute, col(Dispute.id) == DisputeEvent.dispute_id)
        .where(Dispute.review_id == review_id)
        .order_by(col(DisputeEvent.id))
    )
    return list(session.exec(q))
