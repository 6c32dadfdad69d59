"""Scoring's side of stored evaluations: turn an auto-evaluation or an inspector's answers into
evaluation rows, recompute totals from final answers, and give the stable JSON shape `callqc show`
and the review app read (docs/scoring.md). Rows and queries: ``storage/evaluations.py``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from sqlmodel import Session, col, select

from scoring.autoscore import AutoEvaluation
from scoring.rubric import Answer, Item, Rubric, Section, Title, active_rubric, title_text
from scoring.score import ScoreResult, score
from scoring.trust import ItemTrust
from scoring.versions import register_rubric, stored_rubric
from storage.errors import NotFound
from storage.evaluations import (
    Evaluation,
    EvaluationItem,
    EvaluationKind,
    FinalSource,
    current_evaluation,
    items_of,
    supersede,
)
from storage.models import utcnow

log = logging.getLogger(__name__)
SCHEMA_VERSION = 1  # of evaluation_json's shape


def _new_evaluation(session: Session, call_id: str, rubric: Rubric, **values: Any) -> Evaluation:
    ev = Evaluation(call_id=call_id, rubric_id=rubric.id, rubric_version=rubric.version,
                    pass_mark=rubric.pass_mark, **values)
    session.add(ev)
    session.flush()
    assert ev.id is not None
    return ev


def _item_row(evaluation_id: int, section: Section, item: Item, **values: Any) -> EvaluationItem:
    # critical as stored: the rubric's True zeroes the whole call, "section" only its section
    return EvaluationItem(evaluation_id=evaluation_id, item_id=item.id, section_id=section.id,
                          check_kind=item.check.kind, points=item.points,
                          critical={True: "call", "section": "section"}.get(item.critical, ""), **values)


def _section_rows(score: ScoreResult) -> list[dict[str, Any]]:
    return [{"id": s.id, "weight": s.weight, "earned": s.earned, "possible": s.possible,
             "percent": None if s.percent is None else round(s.percent, 2), "zeroed": s.zeroed}
            for s in score.sections]


def store_auto_evaluation(
    session: Session, call_id: str, auto: AutoEvaluation, *, auto_submit: frozenset[str] = frozenset(),
    trust: Mapping[str, ItemTrust] | None = None,
) -> Evaluation:
    """Store ``auto`` as the call's active automatic evaluation (older ones stay, inactive).

    Trusted items (``trust``, else the ids in ``auto_submit``) with a yes/no/n/a answer get that
    answer as their final answer. The evaluation is *auto-submitted* (it counts like a review)
    when every answered item is trusted and decisive, no critical item failed and no item lacked
    evidence; unanswered (manual) items do not stop it.
    """
    register_rubric(session, auto.rubric)
    rubric = auto.rubric.rubric
    if trust is not None:
        auto_submit = frozenset(k for k, v in trust.items() if v.trusted)
    decisive = {Answer.yes, Answer.no, Answer.na}
    answered = [r for r in auto.items if r.answer is not None]
    s = auto.score
    all_auto = (bool(answered) and not s.critical_failed and not s.needs_review
                and all(r.answer in decisive and r.item_id in auto_submit for r in answered))
    ev = _new_evaluation(
        session, call_id, rubric, kind=EvaluationKind.auto, evaluator="auto",
        total=None if s.total is None else round(s.total, 2), passed=s.passed,
        critical_score=None if s.critical_score is None else round(s.critical_score, 2),
        needs_review=s.needs_review, auto_submitted=all_auto, sections=_section_rows(s),
        trust=None if trust is None else {k: v.to_json() for k, v in trust.items()},
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
    supersede(session, call_id, EvaluationKind.auto, "auto", ev.id)
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
    supersede(session, call_id, ev.kind, evaluator, ev.id)
    recompute(session, ev.id)
    log.info("store %s evaluation: call %s by %s total=%s", ev.kind, call_id, evaluator, ev.total)
    return ev


def recompute(session: Session, evaluation_id: int) -> Evaluation:
    """Re-score an evaluation from its items' final answers (else human, else auto) and store the totals."""
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


def _title(t: Title) -> dict[str, str]:
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
        "auto_submitted": ev.auto_submitted, "trust": ev.trust, "active": ev.active, "comment": ev.comment,
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
