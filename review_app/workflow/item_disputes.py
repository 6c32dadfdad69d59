"""Disputes of one rubric item: the supervisor's new answer re-scores the review, history kept.

The inspector's evaluation is never edited: the supervisor's answer goes into a new human
evaluation (every other item keeps the inspector's final answer), the review then points at it
with its new score, and the dispute's history records the item, both answers and both scores.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Session, col, select

from scoring.evaluations import store_human_evaluation
from storage.errors import Conflict, InvalidInput, NotFound
from storage.evaluations import EvaluationItem, items_of
from storage.models import utcnow
from storage.reviews import Dispute, DisputeEvent, DisputeState, Review
from storage.users import Principal

ANSWERS = ("yes", "no", "n/a")


def review_item(session: Session, review: Review, item_id: str) -> EvaluationItem | None:
    return session.exec(select(EvaluationItem).where(EvaluationItem.evaluation_id == review.evaluation_id,
                                                     EvaluationItem.item_id == item_id)).first()


def resolve_item(session: Session, who: Principal, dispute_id: int, answer: str, comment: str) -> Dispute:
    if answer not in ANSWERS:
        raise InvalidInput(f"answer {answer!r} is not yes, no or n/a")
    d = session.get(Dispute, dispute_id)
    if d is None:
        raise NotFound(f"dispute {dispute_id}")
    if d.item_id is None:
        raise InvalidInput(f"dispute {dispute_id} is about the whole evaluation: change its score instead")
    review = session.get(Review, d.review_id)
    assert review is not None
    rows = items_of(session, review.evaluation_id)
    before = next((r.final_answer for r in rows if r.item_id == d.item_id), None)
    answers: dict[str, str | None] = {r.item_id: r.final_answer for r in rows}
    answers[d.item_id] = answer
    ev = store_human_evaluation(session, review.call_id, evaluator=who.name, kind="human",
                                auto_id=review.auto_evaluation_id, answers=answers,
                                comment=comment or f"dispute {dispute_id}")
    state = DisputeState.upheld if answer == before else DisputeState.changed
    row = session.execute(
        sa.update(Dispute).where(col(Dispute.id) == dispute_id, col(Dispute.state) == DisputeState.open)
        .values(state=state, resolved_by=who.name, resolved_at=utcnow(), score_after=ev.total)
        .returning(col(Dispute.score_before))).first()
    if row is None:
        raise Conflict(f"dispute {dispute_id} is not open")
    session.execute(sa.update(Review).where(col(Review.id) == review.id)
                    .values(score=ev.total, passed=ev.passed, evaluation_id=ev.id))
    session.add(DisputeEvent(dispute_id=dispute_id, actor=who.name, action=str(state), comment=comment.strip(),
                             detail={"item": d.item_id, "answer_before": before, "answer_after": answer,
                                     "score_before": row[0], "score_after": ev.total, "evaluation": ev.id}))
    session.flush()
    session.refresh(d)
    return d


def disputable_items(session: Session, who: Principal, review_id: int) -> list[str]:
    """The item IDs of a review's evaluation that carry an answer (what an agent may dispute one by one)."""
    from storage.access import visible_call

    review = session.get(Review, review_id)
    if review is None:
        raise NotFound(f"review {review_id}")
    visible_call(session, who, review.call_id)
    return [r.item_id for r in items_of(session, review.evaluation_id) if r.final_answer in ANSWERS]
