"""Evaluations: auto/human/calibration evaluations with per-item answers (rubric versions: storage/rubrics.py).

Every evaluation keeps the rubric id + version it used (the rubric's YAML is stored here, so an old
evaluation can always be shown with its own titles). Per item, the automatic answer, the inspector's
answer and the final answer are separate columns; ``final_source`` says who gave the final one
(``human``, or ``auto`` when the item was allowed to auto-submit). A rescore adds a new evaluation
and marks the old one inactive (``superseded_by``); nothing is overwritten.
:func:`evaluation_json` is the stable shape `callqc show` and the review app read (docs/scoring.md);
call metrics live in storage/call_metrics.py.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlmodel import JSON, Column, Field, Session, SQLModel, col, select

from storage.errors import NotFound
from storage.models import UTCDateTime, utcnow
from storage.rubrics import register_rubric, stored_rubric

if TYPE_CHECKING:
    from scoring.autoscore import AutoEvaluation

log = logging.getLogger(__name__)
SCHEMA_VERSION = 1  # of evaluation_json's shape


class EvaluationKind(StrEnum):
    auto = "auto"
    human = "human"
    calibration = "calibration"


class FinalSource(StrEnum):
    human = "human"
    auto = "auto"  # the item was allowed to auto-submit (agreement κ over the bar)


def _ts() -> Any:
    return Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class EvaluationBase(SQLModel):
    call_id: str = Field(foreign_key="calls.call_id", max_length=128, index=True)
    rubric_id: str = Field(max_length=64)
    rubric_version: int
    kind: EvaluationKind = Field(default=EvaluationKind.auto, sa_type=sa.String(16), index=True)
    evaluator: str = Field(default="auto", max_length=64, index=True)
    total: float | None = None
    passed: bool | None = None
    critical_score: float | None = None
    pass_mark: float = 80.0
    needs_review: bool = False
    auto_submitted: bool = False  # every answered item could auto-submit: no human needed
    active: bool = Field(default=True, index=True)  # the newest of its kind (and evaluator) for the call
    superseded_by: int | None = None
    sections: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    comment: str | None = Field(default=None, sa_type=sa.Text)


class Evaluation(EvaluationBase, table=True):
    __tablename__ = "evaluations"
    __table_args__ = (sa.Index("ix_evaluations_call_kind_active", "call_id", "kind", "active"),)

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


class EvaluationItem(SQLModel, table=True):
    __tablename__ = "evaluation_items"
    __table_args__ = (sa.UniqueConstraint("evaluation_id", "item_id", name="uq_evaluation_items_item"),)

    id: int | None = Field(default=None, primary_key=True)
    evaluation_id: int = Field(foreign_key="evaluations.id", index=True)
    item_id: str = Field(max_length=64, index=True)
    section_id: str = Field(max_length=64)
    check_kind: str = Field(max_length=32)
    critical: str = Field(default="", max_length=16)  # "", "call" or "section"
    points: float  # the item's points in the rubric
    earned: float = 0.0
    possible: float = 0.0  # 0 when the answer does not count (n/a, insufficient, unanswered)
    auto_answer: str | None = Field(default=None, max_length=16)
    human_answer: str | None = Field(default=None, max_length=16)
    final_answer: str | None = Field(default=None, max_length=16)
    final_source: str | None = Field(default=None, max_length=16)
    reason: str = Field(default="", sa_type=sa.Text)
    evidence: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    confidence: float | None = None
    model_version: str | None = Field(default=None, max_length=64)
    comment: str | None = Field(default=None, sa_type=sa.Text)


# --- evaluations --------------------------------------------------------------------------------------
def auto_evaluation_for(session: Session, call_id: str, rubric_id: str, version: int) -> Evaluation | None:
    """The call's automatic evaluation under that rubric version, if one was stored."""
    stmt = (select(Evaluation).where(Evaluation.call_id == call_id, Evaluation.kind == EvaluationKind.auto,
                                     Evaluation.rubric_id == rubric_id, Evaluation.rubric_version == version)
            .order_by(col(Evaluation.id).desc()))
    return session.exec(stmt).first()


def _supersede(session: Session, call_id: str, kind: str, evaluator: str, new_id: int) -> None:
    session.execute(
        sa.update(Evaluation)
        .where(col(Evaluation.call_id) == call_id, col(Evaluation.kind) == kind,
               col(Evaluation.evaluator) == evaluator, col(Evaluation.active).is_(True),
               col(Evaluation.id) != new_id)
        .values(active=False, superseded_by=new_id, updated_at=utcnow()))


def _new_evaluation(session: Session, call_id: str, rubric: Any, **values: Any) -> Evaluation:
    ev = Evaluation(call_id=call_id, rubric_id=rubric.id, rubric_version=rubric.version,
                    pass_mark=rubric.pass_mark, **values)
    session.add(ev)
    session.flush()
    assert ev.id is not None
    return ev


def _item_row(evaluation_id: int, section: Any, item: Any, **values: Any) -> EvaluationItem:
    # critical as stored: the rubric's True zeroes the whole call, "section" only its section
    return EvaluationItem(evaluation_id=evaluation_id, item_id=item.id, section_id=section.id,
                          check_kind=item.check.kind, points=item.points,
                          critical={True: "call", "section": "section"}.get(item.critical, ""), **values)


def _section_rows(score: Any) -> list[dict[str, Any]]:
    return [{"id": s.id, "weight": s.weight, "earned": s.earned, "possible": s.possible,
             "percent": None if s.percent is None else round(s.percent, 2), "zeroed": s.zeroed}
            for s in score.sections]


def store_auto_evaluation(
    session: Session, call_id: str, auto: AutoEvaluation, *, auto_submit: frozenset[str] = frozenset(),
) -> Evaluation:
    """Store ``auto`` as the call's active automatic evaluation (older ones stay, inactive).

    Items in ``auto_submit`` with a yes/no/n/a answer get that answer as their final answer.
    """
    from scoring.rubric import Answer

    register_rubric(session, auto.rubric)
    rubric = auto.rubric.rubric
    decisive = {Answer.yes, Answer.no, Answer.na}
    answered = [r for r in auto.items if r.answer is not None]
    all_auto = bool(answered) and all(r.answer in decisive and r.item_id in auto_submit for r in answered) \
        and len(answered) == len(auto.items)
    s = auto.score
    ev = _new_evaluation(
        session, call_id, rubric, kind=EvaluationKind.auto, evaluator="auto",
        total=None if s.total is None else round(s.total, 2), passed=s.passed,
        critical_score=None if s.critical_score is None else round(s.critical_score, 2),
        needs_review=s.needs_review, auto_submitted=all_auto, sections=_section_rows(s),
    )
    assert ev.id is not None
    for sec, it in rubric.items():
        r = auto.item(it.id)
        sc = s.items[it.id]
        final = r.answer if (r.answer in decisive and it.id in auto_submit) else None
        session.add(_item_row(
            ev.id, sec, it, earned=sc.earned, possible=sc.possible,
            auto_answer=None if r.answer is None else str(r.answer),
            final_answer=None if final is None else str(final),
            final_source=FinalSource.auto if final is not None else None,
            reason=r.result.reason, evidence=[e.to_json() for e in r.result.evidence],
            confidence=r.result.confidence, model_version=r.result.model_version,
        ))
    _supersede(session, call_id, EvaluationKind.auto, "auto", ev.id)
    session.flush()
    log.info("store evaluation: call %s rubric %s v%s total=%s", call_id, rubric.id, rubric.version, ev.total)
    return ev


def store_human_evaluation(
    session: Session,
    call_id: str,
    *,
    evaluator: str,
    kind: EvaluationKind | str,
    auto_id: int | None,
    answers: Mapping[str, str | None],
    comments: Mapping[str, str] | None = None,
    comment: str = "",
) -> Evaluation:
    """Store an inspector's (or calibration) evaluation as the evaluator's active one of ``kind``.

    Every item copies the auto answer and evidence of evaluation ``auto_id`` and is scored under
    that evaluation's rubric version (the active rubric when there is none). ``answers`` holds the
    evaluator's answer per item; None or absent keeps the auto answer, except an auto
    "insufficient", which stays unanswered.
    """
    from scoring.rubric import active_rubric

    auto = session.get(Evaluation, auto_id) if auto_id is not None else None
    if auto_id is not None and (auto is None or auto.call_id != call_id):
        raise NotFound(f"evaluation {auto_id} of call {call_id}")
    if auto is not None:
        loaded = stored_rubric(session, auto.rubric_id, auto.rubric_version)
    else:
        loaded = active_rubric()
        register_rubric(session, loaded)
    ev = _new_evaluation(session, call_id, loaded.rubric, kind=EvaluationKind(kind), evaluator=evaluator,
                         comment=comment.strip() or None)
    assert ev.id is not None
    auto_rows = {r.item_id: r for r in items_of(session, auto_id)} if auto_id is not None else {}
    comments = comments or {}
    for sec, it in loaded.rubric.items():
        a = auto_rows.get(it.id)
        auto_answer = a.auto_answer if a else None
        mine = answers.get(it.id)
        final = mine or (auto_answer if auto_answer != "insufficient" else None)
        session.add(_item_row(
            ev.id, sec, it, auto_answer=auto_answer, human_answer=mine, final_answer=final,
            # an inspector who kept the auto answer confirmed it: agreement and learned items count it
            final_source=FinalSource.human if final is not None else None,
            reason=a.reason if a else "", evidence=list(a.evidence) if a else [],
            confidence=a.confidence if a else None, model_version=a.model_version if a else None,
            comment=(comments.get(it.id) or "").strip() or None,
        ))
    session.flush()
    _supersede(session, call_id, ev.kind, evaluator, ev.id)
    recompute(session, ev.id)
    log.info("store %s evaluation: call %s by %s total=%s", ev.kind, call_id, evaluator, ev.total)
    return ev


def items_of(session: Session, evaluation_id: int) -> list[EvaluationItem]:
    return list(session.exec(select(EvaluationItem).where(EvaluationItem.evaluation_id == evaluation_id)
                             .order_by(col(EvaluationItem.id))))


def recompute(session: Session, evaluation_id: int) -> Evaluation:
    """Re-score an evaluation from its items' final answers (else human, else auto) and store the totals."""
    from scoring.score import score

    ev = session.get(Evaluation, evaluation_id)
    if ev is None:
        raise NotFound(f"evaluation {evaluation_id}")
    loaded = stored_rubric(session, ev.rubric_id, ev.rubric_version)
    rows = items_of(session, evaluation_id)
    answers = {r.item_id: r.final_answer or r.human_answer or r.auto_answer for r in rows}
    s = score(loaded.rubric, answers)
    for r in rows:
        r.earned, r.possible = s.items[r.item_id].earned, s.items[r.item_id].possible
        session.add(r)
    ev.total = None if s.total is None else round(s.total, 2)
    ev.passed, ev.needs_review, ev.sections = s.passed, s.needs_review, _section_rows(s)
    ev.critical_score = None if s.critical_score is None else round(s.critical_score, 2)
    ev.updated_at = utcnow()
    session.add(ev)
    session.flush()
    return ev


def current_evaluation(session: Session, call_id: str, *, kind: str | None = None) -> Evaluation | None:
    """The call's active evaluation of ``kind`` (None: the newest human one, else the automatic one)."""
    kinds = [kind] if kind else [EvaluationKind.human, EvaluationKind.auto]
    for k in kinds:
        stmt = (select(Evaluation).where(Evaluation.call_id == call_id, Evaluation.kind == k,
                                         col(Evaluation.active).is_(True))
                .order_by(col(Evaluation.id).desc()))
        if (ev := session.exec(stmt).first()) is not None:
            return ev
    return None


def current_totals(session: Session, call_ids: Iterable[str] | None = None) -> dict[str, float | None]:
    """Per call, the total of its current evaluation (the rule of :func:`current_evaluation`), in bulk.

    ``call_ids`` None means every call with an evaluation; calls without one are left out.
    Calibration evaluations never count.
    """
    base = (select(Evaluation.call_id, Evaluation.kind, Evaluation.total)
            .where(col(Evaluation.kind).in_((EvaluationKind.human, EvaluationKind.auto)),
                   col(Evaluation.active).is_(True))
            .order_by(col(Evaluation.id)))
    ids = None if call_ids is None else list(call_ids)
    queries = [base] if ids is None else [base.where(col(Evaluation.call_id).in_(ids[i:i + 500]))
                                          for i in range(0, len(ids), 500)]
    out: dict[str, float | None] = {}
    reviewed: set[str] = set()
    for q in queries:
        for call_id, kind, total in session.exec(q):
            if kind == EvaluationKind.human:  # ascending ids: the newest human evaluation wins
                out[call_id] = total
                reviewed.add(call_id)
            elif call_id not in reviewed:
                out[call_id] = total
    return out


def _title(t: Any) -> dict[str, str]:
    from scoring.rubric import title_text

    return {"zh": title_text(t, "zh"), "en": title_text(t, "en")}


def evaluation_json(
    session: Session, call_id: str, *, evaluation_id: int | None = None,
) -> dict[str, Any] | None:
    """The call's evaluation in the documented stable shape (docs/scoring.md), or None if none."""
    ev = session.get(Evaluation, evaluation_id) if evaluation_id else current_evaluation(session, call_id)
    if ev is None or ev.call_id != call_id:
        return None
    assert ev.id is not None
    loaded = stored_rubric(session, ev.rubric_id, ev.rubric_version)
    rubric = loaded.rubric
    sec_titles = {s.id: s.title for s in rubric.sections}
    history = session.exec(select(Evaluation).where(Evaluation.call_id == call_id)
                           .order_by(col(Evaluation.id))).all()
    return {
        "schema": SCHEMA_VERSION,
        "call_id": call_id,
        "evaluation_id": ev.id,
        "kind": str(ev.kind),
        "evaluator": ev.evaluator,
        "rubric": {"id": rubric.id, "version": rubric.version, "content_hash": loaded.content_hash,
                   "title": _title(rubric.title)},
        "created_at": ev.created_at.isoformat(),
        "total": ev.total, "passed": ev.passed, "pass_mark": ev.pass_mark,
        "critical_score": ev.critical_score, "needs_review": ev.needs_review,
        "auto_submitted": ev.auto_submitted, "active": ev.active, "comment": ev.comment,
        "sections": [{**s, "title": _title(sec_titles.get(s["id"], s["id"]))} for s in ev.sections],
        "items": [
            {"id": r.item_id, "section": r.section_id, "kind": r.check_kind,
             "title": _title(it.title) if (it := rubric.item(r.item_id)) else _title(r.item_id),
             "critical": r.critical or None, "points": r.points, "earned": r.earned, "possible": r.possible,
             "auto_answer": r.auto_answer, "human_answer": r.human_answer, "final_answer": r.final_answer,
             "final_source": r.final_source, "reason": r.reason, "evidence": r.evidence,
             "confidence": r.confidence, "model_version": r.model_version, "comment": r.comment}
            for r in items_of(session, ev.id)
        ],
        "history": [{"evaluation_id": h.id, "kind": str(h.kind), "evaluator": h.evaluator,
                     "rubric_version": h.rubric_version, "rubric_id": h.rubric_id, "total": h.total,
                     "active": h.active, "created_at": h.created_at.isoformat()} for h in history],
    }
