"""Synchronous review (同步抽听): the inspector scores a live call while listening, submits after it ends.

The rules, decided here once:

- **Marks while listening**: :func:`mark` stores an item's answer (and comment) in the inspector's
  draft for that call, with the second of the call at which it was marked (storage/sync_drafts.py).
  Marks are taken only while the call is in progress; marking an item again replaces its answer and
  time. Items are the rubric's (the call's auto-evaluation's once it exists, else the active rubric).
- **Submit after the call has ended**: :func:`submit_sync` refuses while the call is in progress
  (``CallStillLive``): a review is of the whole call, and the recording must exist to be heard again.
  It does not wait for the auto-score: the review is stored like any review (a human evaluation, the
  verdict, ``reviews.mode = "sync"``), the auto-evaluation arrives later next to it, and the human
  evaluation is the one that counts (as for every review).
- **Once**: a draft becomes one review (``sync_drafts.review_id``, set by one guarded UPDATE); a
  second sync submission is refused (``SyncAlreadySubmitted``), the same form sent twice returns the
  review it stored. Changing one's mind afterwards is an ordinary (asynchronous) review of the call.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from review_app.workflow import evalview
from review_app.workflow.evalview import HumanAnswers
from review_app.workflow.inspection import ANSWERS, BadAnswer, UnknownItem, submit_review
from review_app.workflow.text import checked_text
from storage.access import Perm, require, visible_call
from storage.calls import Call, CallStatus
from storage.errors import Conflict
from storage.models import utcnow
from storage.reviews import Review, ReviewMode, Verdict
from storage.sync_drafts import SyncDraft
from storage.users import Principal


class CallStillLive(Conflict):
    """the call is still in progress: submit the review after it ends"""


class NotLive(Conflict):
    """the call is not in progress: marks while listening are for live calls"""


class SyncAlreadySubmitted(Conflict):
    """this synchronous review was already submitted"""


def is_live(call: Call) -> bool:
    return call.status == CallStatus.in_progress or (call.ended_at is None and call.duration_s == 0)


def draft_of(session: Session, who: Principal, call_id: str) -> SyncDraft | None:
    """The inspector's draft for the call, if they marked anything while listening."""
    cid = visible_call(session, who, call_id).call_id
    return session.exec(select(SyncDraft).where(SyncDraft.call_id == cid, SyncDraft.inspector == who.name)).first()


def mark(session: Session, who: Principal, call_id: str, item_id: str, answer: str | None, *,
         comment: str = "", now: datetime | None = None) -> SyncDraft:
    """Record one item's answer while listening, at the call's current second."""
    require(who, Perm.review)
    call = visible_call(session, who, call_id)
    if not is_live(call):
        raise NotLive(call.call_id)
    if answer is not None and answer not in ANSWERS:
        raise BadAnswer(f"item {item_id}: {answer!r}")
    if item_id not in {i.item_id for i in evalview.rubric_items(session, call.call_id)}:
        raise UnknownItem(f"{item_id!r}, call {call.call_id}")
    now = now or utcnow()
    started = call.started_at if call.started_at.tzinfo else call.started_at.replace(tzinfo=now.tzinfo)
    entry = {"answer": answer, "comment": checked_text(comment, field=f"comment on {item_id}", limit=2000),
             "at_s": round(max(0.0, (now - started).total_seconds()), 1)}
    draft = draft_of(session, who, call.call_id)
    if draft is None:
        draft = SyncDraft(call_id=call.call_id, inspector=who.name, marks={})
        session.add(draft)
    if draft.review_id is not None:
        raise SyncAlreadySubmitted(call.call_id)
    draft.marks = {**draft.marks, item_id: entry}  # a new dict: JSON columns notice assignment only
    draft.updated_at = now
    session.flush()
    return draft


def submit_sync(session: Session, who: Principal, call_id: str, *, human: HumanAnswers, verdict: Verdict | str,
                form_token: str | None = None) -> Review:
    """Submit the inspector's synchronous review once the call has ended (rules in the module doc)."""
    require(who, Perm.review)
    call = visible_call(session, who, call_id)
    if is_live(call):
        raise CallStillLive(call.call_id)
    draft = draft_of(session, who, call.call_id)
    if draft is None:
        draft = SyncDraft(call_id=call.call_id, inspector=who.name, marks={})
        session.add(draft)
        session.flush()
    if draft.review_id is not None:
        done = session.get(Review, draft.review_id)
        if done is not None and form_token is not None and done.form_token == form_token:
            return done
        raise SyncAlreadySubmitted(call.call_id)
    review = submit_review(session, who, call.call_id, human=human, verdict=verdict, form_token=form_token,
                           mode=ReviewMode.sync)
    linked = session.execute(
        sa.update(SyncDraft).where(col(SyncDraft.id) == draft.id, col(SyncDraft.review_id).is_(None))
        .values(review_id=review.id).returning(col(SyncDraft.id))
    ).first()
    if linked is None:
        raise SyncAlreadySubmitted(call.call_id)
    session.expire(draft)
    return review
