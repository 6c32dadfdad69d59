"""The review app's view of transcripts and evaluations: small frozen records over their storage modules.

Transcripts (storage/transcripts.py) and evaluations (storage/evaluations.py) belong to the storage layer;
this module turns them into the records the review workflow needs, so the pages and the review,
sampling and dashboard logic depend on this one narrow interface. Human and calibration evaluations
are stored by storage.evaluations.store_human_evaluation (auto, human and final answers kept apart).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from scoring.evaluations import store_human_evaluation
from scoring.rubric import LoadedRubric, active_rubric, title_text
from scoring.versions import stored_rubric
from storage.calls import Call
from storage.evaluations import (
    Evaluation,
    EvaluationItem,
    EvaluationKind,
    Evidence,
    current_evaluation,
    current_totals,
    evidence_of,
    items_of,
)
from storage.segments import Segment
from storage.settings import get_settings
from storage.transcripts import TranscriptSegment
from storage.transcripts import segments as transcript_segments

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ItemView:
    item_id: str
    section: str
    title: str
    points: float
    critical: bool
    auto_answer: str | None
    human_answer: str | None = None
    final_answer: str | None = None
    comment: str = ""
    evidence: tuple[Evidence, ...] = ()


@dataclass(frozen=True)
class EvaluationView:
    id: int
    call_id: str
    kind: str  # auto / human / calibration
    rubric_id: str
    rubric_version: int
    score: float | None
    passed: bool | None
    critical_fail: bool
    created_at: datetime | None
    by: str | None = None
    items: tuple[ItemView, ...] = ()
    comment: str = ""

    @property
    def insufficient(self) -> int:
        return sum(1 for i in self.items if i.auto_answer == "insufficient")


@dataclass(frozen=True)
class AutoSummary:
    score: float | None
    passed: bool | None
    critical_fail: bool
    insufficient: int
    uncertainty: float  # 0 = sure; grows with insufficient items, critical fails, a score near the pass mark


@dataclass
class HumanAnswers:
    """What an inspector submits for one call: answer and comment per item, overall comment."""

    answers: dict[str, str | None] = field(default_factory=dict)  # None = keep the auto answer
    comments: dict[str, str] = field(default_factory=dict)
    comment: str = ""


def uncertainty(ev: EvaluationView, *, pass_mark: float | None = None) -> float:
    """How unsure the auto-evaluation is, for filling sampling quotas where the AI is least sure."""
    return _uncertainty(ev.insufficient, ev.critical_fail, ev.score, pass_mark)


def _uncertainty(insufficient: int, critical_fail: bool, score: float | None, pass_mark: float | None) -> float:
    u = float(insufficient)
    if critical_fail:
        u += 1.0
    if score is not None and pass_mark is not None:
        u += max(0.0, 1.0 - abs(score - pass_mark) / 10.0)  # within 10 points of the mark
    return u


def segments(session: Session, call_id: str, *, words: bool = True) -> list[Segment]:
    """The call's transcript segments in order (``words=False``: without each segment's words)."""
    return transcript_segments(session, call_id, words=words)


def _view(session: Session, ev: Evaluation, rows: list[EvaluationItem] | None = None,
          loaded: LoadedRubric | None = None) -> EvaluationView:
    """``rows`` (the evaluation's items in id order) and ``loaded`` (its rubric) when read already."""
    loaded = loaded or stored_rubric(session, ev.rubric_id, ev.rubric_version)
    locale = get_settings().locale
    items = []
    for r in items_of(session, ev.id or 0) if rows is None else rows:
        it = loaded.rubric.item(r.item_id)
        items.append(
            ItemView(
                item_id=r.item_id,
                section=r.section_id,
                title=title_text(it.title, locale) if it else r.item_id,
                points=r.points,
                critical=bool(r.critical),
                auto_answer=r.auto_answer,
                human_answer=r.human_answer,
                final_answer=r.final_answer,
                comment=r.comment or "",
                evidence=evidence_of(r),
            )
        )
    crit_fail = any(i.critical and (i.final_answer or i.auto_answer) == "no" for i in items)
    return EvaluationView(
        id=ev.id or 0,
        call_id=ev.call_id,
        kind=str(ev.kind),
        rubric_id=ev.rubric_id,
        rubric_version=ev.rubric_version,
        score=ev.total,
        passed=ev.passed,
        critical_fail=crit_fail,
        created_at=ev.created_at,
        by=ev.evaluator,
        items=tuple(items),
        comment=ev.comment or "",
    )


def evaluations(session: Session, call_id: str, *, kinds: tuple[str, ...] = ("auto", "human")) -> list[EvaluationView]:
    """Active evaluations of one call, newest first."""
    q = (
        select(Evaluation)
        .where(Evaluation.call_id == call_id, col(Evaluation.kind).in_(kinds), col(Evaluation.active).is_(True))
        .order_by(col(Evaluation.id).desc())
    )
    evs = list(session.exec(q))
    # every evaluation's items in one query and each rubric version read once, not one of each per evaluation
    rows: dict[int, list[EvaluationItem]] = defaultdict(list)
    if evs:
        items = select(EvaluationItem).where(col(EvaluationItem.evaluation_id).in_([ev.id for ev in evs]))
        for r in session.exec(items.order_by(col(EvaluationItem.id))):
            rows[r.evaluation_id].append(r)
    rubrics: dict[tuple[str, int], LoadedRubric] = {}
    for ev in evs:
        key = (ev.rubric_id, ev.rubric_version)
        if key not in rubrics:
            rubrics[key] = stored_rubric(session, *key)
    return [_view(session, ev, rows[ev.id or 0], rubrics[(ev.rubric_id, ev.rubric_version)]) for ev in evs]


def latest_auto(session: Session, call_id: str) -> EvaluationView | None:
    evs = evaluations(session, call_id, kinds=("auto",))
    return evs[0] if evs else None


def rubric_items(session: Session, call_id: str) -> list[ItemView]:
    """The items to answer for a call: those of its auto-evaluation, else of the active rubric."""
    auto = current_evaluation(session, call_id, kind=EvaluationKind.auto)
    if auto is not None:
        return list(_view(session, auto).items)
    loaded = active_rubric()
    locale = get_settings().locale
    return [
        ItemView(it.id, sec.id, title_text(it.title, locale), it.points, bool(it.critical), None)
        for sec, it in loaded.rubric.items()
    ]


def item_titles() -> dict[str, str]:
    """Item ID → title in the configured locale, from the active rubric."""
    locale = get_settings().locale
    return {it.id: title_text(it.title, locale) for _, it in active_rubric().rubric.items()}


def auto_summary(total: float | None, passed: bool | None, pass_mark: float | None, *, insufficient: int,
                 critical_fail: bool) -> AutoSummary:
    """An auto-evaluation's summary from its score and its counted answers (insufficient, critical "no")."""
    return AutoSummary(total, passed, critical_fail, insufficient,
                       auto_uncertainty(total, pass_mark, insufficient=insufficient, critical_fail=critical_fail))


def auto_uncertainty(total: float | None, pass_mark: float | None, *, insufficient: int,
                     critical_fail: bool) -> float:
    """How unsure an auto-evaluation is, from its score and its counted answers."""
    # the insufficient answers added to the uncertainty of a view without items, as sampling always did
    # (the same float sums in the same order, so the same ties and order among the least sure)
    return float(insufficient) + _uncertainty(0, critical_fail, total, pass_mark)


def auto_summaries(session: Session, call_ids: list[str]) -> dict[str, AutoSummary]:
    """Per call, the summary of its active auto-evaluation (of several, the newest)."""
    out: dict[str, AutoSummary] = {}
    for chunk in (call_ids[i : i + 500] for i in range(0, len(call_ids), 500)):
        # the columns the summary needs only: a month's evaluations carry their sections and trust as JSON
        e_ = Evaluation
        evs = session.execute(
            sa.select(col(e_.id), col(e_.call_id), col(e_.total), col(e_.passed), col(e_.pass_mark)).where(
                col(e_.call_id).in_(chunk), col(e_.kind) == EvaluationKind.auto, col(e_.active).is_(True))
            .order_by(col(e_.id))
        ).all()
        ids = [e.id for e in evs]
        insufficient: dict[int, int] = defaultdict(int)
        crit: set[int] = set()
        rows = session.exec(
            select(EvaluationItem.evaluation_id, EvaluationItem.auto_answer, EvaluationItem.critical).where(
                col(EvaluationItem.evaluation_id).in_(ids),
                col(EvaluationItem.auto_answer).in_(("insufficient", "no")),
            )
        )
        for eid, answer, critical in rows:
            if answer == "insufficient":
                insufficient[eid] += 1
            elif critical:
                crit.add(eid)
        for e in evs:  # ascending ids: the newest wins
            out[e.call_id] = auto_summary(e.total, e.passed, e.pass_mark, insufficient=insufficient.get(e.id, 0),
                                          critical_fail=e.id in crit)
    return out


def calls_with_words(session: Session, call_ids: list[str], words: list[str]) -> set[str]:
    found: set[str] = set()
    for chunk in (call_ids[i : i + 500] for i in range(0, len(call_ids), 500)):
        conds = []
        for w in words:
            pattern = "%" + w.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            conds.append(col(TranscriptSegment.text).ilike(pattern, escape="\\"))
        q = select(TranscriptSegment.call_id).where(col(TranscriptSegment.call_id).in_(chunk), sa.or_(*conds))
        found.update(session.exec(q.distinct()))
    return found


def final_answers(session: Session, call_ids: list[str], item_ids: tuple[str, ...]) -> list[str]:
    """Final answers of these items in the calls' active human evaluations (one query per 500 calls)."""
    out: list[str] = []
    for chunk in (call_ids[i : i + 500] for i in range(0, len(call_ids), 500)):
        q = (
            select(EvaluationItem.final_answer)
            .join(Evaluation, col(Evaluation.id) == EvaluationItem.evaluation_id)
            .where(
                col(Evaluation.call_id).in_(chunk),
                Evaluation.kind == EvaluationKind.human,
                col(Evaluation.active).is_(True),
                col(EvaluationItem.item_id).in_(item_ids),
                col(EvaluationItem.final_answer).is_not(None),
            )
        )
        out += [a for a in session.exec(q) if a is not None]
    return out


def agent_scores(session: Session, where: Any = None) -> dict[str, list[float]]:
    """Per agent, the current score of each call (reviewed, else auto; never calibration) among the
    calls matching ``where`` (the caller's access scope)."""
    totals = current_totals(session)
    agents = session.exec(
        select(Call.call_id, Call.agent_id)
        .where(col(Call.agent_id).is_not(None), sa.true() if where is None else where)
        .order_by(col(Call.call_id))
    )
    out: dict[str, list[float]] = defaultdict(list)
    for call_id, agent in agents:
        if (total := totals.get(call_id)) is not None:
            out[agent or ""].append(float(total))
    return dict(out)


def save_human(
    session: Session,
    call_id: str,
    *,
    inspector: str,
    auto: EvaluationView | None,
    human: HumanAnswers,
    kind: str = "human",
) -> EvaluationView:
    """Store a human (or calibration) evaluation keeping auto, human and final answers apart."""
    ev = store_human_evaluation(
        session,
        call_id,
        evaluator=inspector,
        kind=kind,
        auto_id=auto.id if auto else None,
        answers=human.answers,
        comments=human.comments,
        comment=human.comment,
    )
    return _view(session, ev)
