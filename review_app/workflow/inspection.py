"""Inspection of one call: what the call page shows, and the inspector's submitted review.

Everything goes through the access rules first (storage/access.py). A review stores a human
evaluation next to the auto-evaluation (auto, human and final answers kept apart, see evalview)
plus the verdict and overall comment, and closes the inspector's assignment for that call. An
inspector may also flip a swapped channel map (:func:`flip_channels`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from review_app.workflow import auto_disputes, evalview, notify, routing
from review_app.workflow.callview import call_public, channel_check_json
from review_app.workflow.evalview import EvaluationView, HumanAnswers, ItemView, Segment
from review_app.workflow.text import checked_text
from scoring.channel_map import confirm_reviewed
from scoring.handler import flip_channels as flip_call_channels
from storage import live_segments, pauses
from storage.access import Perm, require, visible_call
from storage.audit import record
from storage.calls import Call
from storage.errors import Conflict, InvalidInput
from storage.models import AuditAction
from storage.reviews import Assignment, AssignmentState, Review, ReviewMode, Verdict
from storage.users import Principal, Role

log = logging.getLogger(__name__)
ANSWERS = ("yes", "no", "n/a")


class CriticalItemFailed(InvalidInput):
    """a critical item failed, so the verdict cannot be pass"""


class BadVerdict(InvalidInput):
    """verdict must be pass, fail or retraining"""


class BadAnswer(InvalidInput):
    """answer must be yes, no or n/a"""


class UnknownItem(InvalidInput):
    """item is not in the call's rubric"""


class BadFormToken(InvalidInput):
    """review form token is invalid: reload the page"""


class FormAlreadyUsed(Conflict):
    """this review form was already submitted for another call"""


def critical_failures(items: list[ItemView], human: HumanAnswers) -> list[ItemView]:
    """Critical items whose final answer (the inspector's, else the automatic one) is "no"."""
    return [i for i in items if i.critical and (human.answers.get(i.item_id) or i.auto_answer) == "no"]


@dataclass(frozen=True)
class CallView:
    call: dict[str, Any]
    segments: list[Segment]
    auto: EvaluationView | None
    humans: list[EvaluationView]
    items: list[ItemView]
    reviews: list[Review]
    assignment: Assignment | None
    in_progress: bool  # a live call (later: live capture) still growing; the page refreshes it
    channel_check: dict[str, Any] | None = None  # scoring.channel_check's verdict on the channel map
    paused: list[tuple[float, float]] = field(default_factory=list)  # PCI pauses, seconds of the recording

    @property
    def duration_s(self) -> float:
        ends = [s.end for s in self.segments]
        return max([float(self.call.get("duration_s") or 0.0), *ends])


def open_call(
    session: Session, who: Principal, call_id: str, *, source: str | None = None, audit_view: bool = True
) -> CallView:
    """Everything the call page shows for ``call_id``, if ``who`` may see it (the view audited once)."""
    call = visible_call(session, who, call_id)
    if audit_view:
        record(session, who.name, AuditAction.view, call_id=call.call_id, source=source)
    # the call's evaluations, their items and rubric once (auto and human together), and its transcript
    # once without words (not shown), which the channel check reads too
    evs = evalview.evaluations(session, call.call_id, kinds=("auto", "human"))
    auto = next((ev for ev in evs if ev.kind == "auto"), None)
    humans = [ev for ev in evs if ev.kind == "human"]
    if who.role == Role.agent:
        humans = humans[:1]  # agents see the evaluation that counts, not every draft of it
    reviews = list(session.exec(select(Review).where(Review.call_id == call.call_id).order_by(col(Review.id).desc())))
    assignment = _open_assignment(session, call.call_id, who.name)
    transcript = evalview.segments(session, call.call_id, words=False)
    return CallView(
        call=call_public(call),
        segments=transcript or _live_segments(session, call.call_id),
        auto=auto,
        humans=humans,
        items=list(auto.items) if auto is not None else evalview.rubric_items(session, call.call_id),
        reviews=reviews,
        assignment=assignment,
        in_progress=call.ended_at is None and call.duration_s == 0,
        channel_check=channel_check_json(session, call, transcript=transcript),
        paused=pauses.in_recording(session, call),
    )


def segments_for(session: Session, who: Principal, call_id: str) -> list[Segment]:
    """The call's transcript, if ``who`` may see it: the full one once it exists, else the live
    transcript so far (storage/live_segments.py; it grows while the call runs)."""
    cid = visible_call(session, who, call_id).call_id
    return evalview.segments(session, cid, words=False) or _live_segments(session, cid)


def _live_segments(session: Session, call_id: str) -> list[Segment]:
    return [Segment(speaker=r.speaker, start=r.start_s, end=r.end_s, text=r.text, channel=r.channel)
            for r in live_segments.for_call(session, call_id)]


def still_live(session: Session, who: Principal, call_id: str) -> bool:
    """Whether the call is still in progress (the page turns into the recorded call's page when not)."""
    call = visible_call(session, who, call_id)
    return call.ended_at is None and call.duration_s == 0


def submit_review(
    session: Session,
    who: Principal,
    call_id: str,
    *,
    human: HumanAnswers,
    verdict: Verdict | str,
    form_token: str | None = None,
    mode: ReviewMode = ReviewMode.async_,
) -> Review:
    """Store the inspector's review: a human evaluation, the verdict, and the assignment closed.

    ``form_token`` names one filled-in form: submitting the same form again (a double click, a
    resent request) returns the review it already stored instead of storing a second one.
    A pass verdict is refused while a critical item's final answer is "no".
    """
    require(who, Perm.review)
    call = visible_call(session, who, call_id)
    if form_token is not None and not (8 <= len(form_token) <= 64 and form_token.isascii()):
        raise BadFormToken()
    if form_token is not None and (done := _review_of_form(session, form_token)) is not None:
        if done.call_id != call.call_id or done.inspector != who.name:
            raise FormAlreadyUsed(call.call_id)
        log.info("review form %s… submitted again: review %s kept", form_token[:6], done.id)
        return done
    try:
        verdict = Verdict(verdict)
    except ValueError:
        raise BadVerdict(repr(verdict)) from None
    bad = {k: v for k, v in human.answers.items() if v is not None and v not in ANSWERS}
    if bad:
        item, answer = next(iter(bad.items()))
        raise BadAnswer(f"item {item}: {answer!r}")
    auto = evalview.latest_auto(session, call.call_id)
    items = evalview.rubric_items(session, call.call_id)
    unknown = set(human.answers) - {i.item_id for i in items}
    if unknown:
        raise UnknownItem(f"{sorted(unknown)[0]!r}, call {call.call_id}")
    human = HumanAnswers(
        answers=dict(human.answers),
        comments={k: checked_text(v, field=f"comment on {k}", limit=2000) for k, v in human.comments.items()},
        comment=checked_text(human.comment, field="overall comment"),
    )
    failed = critical_failures(items, human)
    if verdict == Verdict.passed and failed:
        raise CriticalItemFailed(failed[0].title)
    savepoint = session.begin_nested()
    try:
        review = _store(session, who, call, auto, human, verdict, failed, form_token, mode)
        savepoint.commit()
    except IntegrityError:
        # the same form stored by a concurrent request (the unique form token): keep that one
        savepoint.rollback()
        done = _review_of_form(session, form_token) if form_token else None
        if done is None:
            raise
        return done
    log.info("review %s of call %s by %s: %s score=%s", review.id, call.call_id, who.name, verdict, review.score)
    return review


def _store(
    session: Session,
    who: Principal,
    call: Call,
    auto: EvaluationView | None,
    human: HumanAnswers,
    verdict: Verdict,
    failed: list[ItemView],
    form_token: str | None,
    mode: ReviewMode,
) -> Review:
    ev = evalview.save_human(session, call.call_id, inspector=who.name, auto=auto, human=human)
    assignment = _open_assignment(session, call.call_id, who.name)
    review = Review(
        call_id=call.call_id,
        evaluation_id=ev.id,
        auto_evaluation_id=auto.id if auto else None,
        inspector=who.name,
        verdict=verdict,
        comment=human.comment.strip(),
        score=ev.score,
        passed=False if failed else ev.passed,
        assignment_id=assignment.id if assignment else None,
        form_token=form_token,
        mode=mode,
    )
    session.add(review)
    session.flush()  # a concurrent submit of the same form fails here, on the unique form token
    if assignment is not None:
        _close_assignment(session, assignment.id, review.id)
    routing.close_for_review(session, who, call.call_id, review.id)
    auto_disputes.settle_by_review(session, who, call.call_id, review)
    notify.new_feedback(session, call, review)
    confirm_reviewed(session, call)
    return review


def flip_channels(session: Session, who: Principal, call_id: str, *, seen_flips: int, reason: str) -> int:
    """The inspector swaps agent and customer on a two-channel call (scoring/handler.py flip_channels:
    guarded on ``seen_flips``, audited, speakers re-attributed, a scored call scored again); the
    call's flip count now."""
    require(who, Perm.review)
    call = visible_call(session, who, call_id)
    flip, _ = flip_call_channels(session, call.call_id, actor=who.name, seen_flips=seen_flips,
                                 reason=checked_text(reason, field="reason", limit=500) or "flipped by hand")
    return flip.flips


def _review_of_form(session: Session, form_token: str) -> Review | None:
    return session.exec(select(Review).where(Review.form_token == form_token)).first()


def _open_assignment(session: Session, call_id: str, inspector: str) -> Assignment | None:
    return session.exec(
        select(Assignment).where(
            Assignment.call_id == call_id,
            Assignment.inspector == inspector,
            Assignment.state == AssignmentState.open,
        )
    ).first()


def _close_assignment(session: Session, assignment_id: int | None, review_id: int | None) -> None:
    from sqlalchemy import update

    done = session.execute(
        update(Assignment)
        .where(col(Assignment.id) == assignment_id, col(Assignment.state) == AssignmentState.open)
        .values(state=AssignmentState.done, review_id=review_id)
        .returning(col(Assignment.id))
    ).first()
    if done is None:
        raise Conflict(f"assignment {assignment_id} was closed by someone else")


def my_queue(
    session: Session,
    who: Principal,
    *,
    state: AssignmentState = AssignmentState.open,
    limit: int = 50,
    offset: int = 0,
) -> list[tuple[Assignment, Call]]:
    """The inspector's assignments, oldest day first, a page at a time."""
    require(who, Perm.review)
    q = (
        select(Assignment, Call)
        .join(Call, col(Call.call_id) == Assignment.call_id)
        .where(Assignment.inspector == who.name, Assignment.state == state)
        .order_by(col(Assignment.day), col(Assignment.id))
        .limit(min(limit, 500))
        .offset(offset)
    )
    return [(a, c) for a, c in session.exec(q)]
