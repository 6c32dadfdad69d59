"""The concrete adapter behind scoring.evalview: reads storage/transcripts.py and storage/evaluations.py.

Human and calibration evaluations are stored in the same tables as the automatic ones (kind human /
calibration, evaluator = the inspector): every item copies the auto answer and its evidence, keeps
the inspector's answer in ``human_answer`` only where it differs from "keep the auto answer", and
sets ``final_answer`` to the inspector's answer, else the auto answer (an auto "insufficient" the
inspector left alone stays unanswered). Totals come from the rubric version the call was scored with.
"""

from __future__ import annotations

from collections import defaultdict

import sqlalchemy as sa
from sqlmodel import Session, col, select

from scoring.evalview import (
    AutoSummary,
    EvaluationView,
    Evidence,
    HumanAnswers,
    ItemView,
    Segment,
    uncertainty,
)
from scoring.rubric import LoadedRubric, active_rubric, title_text
from storage.evaluations import (
    Evaluation,
    EvaluationItem,
    EvaluationKind,
    FinalSource,
    current_evaluation,
    items_of,
    recompute,
    register_rubric,
    stored_rubric,
)
from storage.models import Call, utcnow
from storage.settings import get_settings
from storage.transcripts import TranscriptSegment, segments_of


def segments(session: Session, call_id: str) -> list[Segment]:
    return [Segment(s.speaker, s.start_s, s.end_s, s.text) for s in segments_of(session, call_id)]


def _evidence(raw: list[dict]) -> tuple[Evidence, ...]:
    out = []
    for e in raw:
        start = float(e.get("start", 0.0))
        out.append(Evidence(e.get("speaker"), start, float(e.get("end", start)), e.get("quote") or e.get("note") or ""))
    return tuple(out)


def _view(session: Session, ev: Evaluation) -> EvaluationView:
    loaded = stored_rubric(session, ev.rubric_id, ev.rubric_version)
    locale = get_settings().locale
    items = []
    for r in items_of(session, ev.id or 0):
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
                evidence=_evidence(r.evidence),
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


def evaluations(session: Session, call_id: str, *, kinds: tuple[str, ...]) -> list[EvaluationView]:
    q = (
        select(Evaluation)
        .where(Evaluation.call_id == call_id, col(Evaluation.kind).in_(kinds), col(Evaluation.active).is_(True))
        .order_by(col(Evaluation.id).desc())
    )
    return [_view(session, ev) for ev in session.exec(q)]


def rubric_items(session: Session, call_id: str) -> list[ItemView]:
    auto = current_evaluation(session, call_id, kind=EvaluationKind.auto)
    if auto is not None:
        return list(_view(session, auto).items)
    loaded = active_rubric()
    locale = get_settings().locale
    return [
        ItemView(it.id, sec.id, title_text(it.title, locale), it.points, bool(it.critical), None)
        for sec, it in loaded.rubric.items()
    ]


def auto_summaries(session: Session, call_ids: list[str]) -> dict[str, AutoSummary]:
    out: dict[str, AutoSummary] = {}
    for chunk in (call_ids[i : i + 500] for i in range(0, len(call_ids), 500)):
        evs = list(
            session.exec(
                select(Evaluation).where(
                    col(Evaluation.call_id).in_(chunk),
                    Evaluation.kind == EvaluationKind.auto,
                    col(Evaluation.active).is_(True),
                )
            )
        )
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
        for e in evs:
            n_ins = insufficient.get(e.id or 0, 0)
            view = EvaluationView(
                e.id or 0,
                e.call_id,
                "auto",
                e.rubric_id,
                e.rubric_version,
                e.total,
                e.passed,
                (e.id in crit),
                e.created_at,
            )
            u = float(n_ins) + uncertainty(view, pass_mark=e.pass_mark)
            out[e.call_id] = AutoSummary(e.total, e.passed, e.id in crit, n_ins, u)
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


def agent_scores(session: Session) -> dict[str, list[float]]:
    """Per agent: each call's active human total, else its active auto total. Calibration never counts."""
    q = (
        select(Call.agent_id, Evaluation.call_id, Evaluation.kind, Evaluation.total)
        .join(Call, col(Call.call_id) == Evaluation.call_id)
        .where(
            col(Evaluation.kind).in_((EvaluationKind.auto, EvaluationKind.human)),
            col(Evaluation.active).is_(True),
            col(Evaluation.total).is_not(None),
            col(Call.agent_id).is_not(None),
        )
        .order_by(col(Evaluation.id))
    )
    per_call: dict[str, tuple[str, float, bool]] = {}
    for agent, call_id, kind, total in session.exec(q):
        human = kind == EvaluationKind.human
        if human or call_id not in per_call or not per_call[call_id][2]:
            per_call[call_id] = (agent or "", float(total or 0.0), human)
    out: dict[str, list[float]] = defaultdict(list)
    for agent, total, _ in per_call.values():
        out[agent].append(total)
    return dict(out)


def _rubric_for(session: Session, auto: EvaluationView | None) -> LoadedRubric:
    if auto is not None:
        return stored_rubric(session, auto.rubric_id, auto.rubric_version)
    loaded = active_rubric()
    register_rubric(session, loaded)
    return loaded


def save_human(
    session: Session,
    call_id: str,
    *,
    inspector: str,
    auto: EvaluationView | None,
    human: HumanAnswers,
    kind: str,
) -> EvaluationView:
    loaded = _rubric_for(session, auto)
    rubric = loaded.rubric
    ev = Evaluation(
        call_id=call_id,
        rubric_id=rubric.id,
        rubric_version=rubric.version,
        kind=EvaluationKind(kind),
        evaluator=inspector,
        pass_mark=rubric.pass_mark,
        comment=human.comment.strip() or None,
    )
    session.add(ev)
    session.flush()
    assert ev.id is not None
    auto_rows = {r.item_id: r for r in items_of(session, auto.id)} if auto else {}
    for sec, it in rubric.items():
        a = auto_rows.get(it.id)
        auto_answer = a.auto_answer if a else None
        mine = human.answers.get(it.id)
        final = mine or (auto_answer if auto_answer != "insufficient" else None)
        session.add(
            EvaluationItem(
                evaluation_id=ev.id,
                item_id=it.id,
                section_id=sec.id,
                check_kind=it.check.kind,
                critical={True: "call", "section": "section"}.get(it.critical, ""),
                points=it.points,
                auto_answer=auto_answer,
                human_answer=mine,
                final_answer=final,
                # an inspector who kept the auto answer confirmed it: agreement and learned items count it
                final_source=FinalSource.human if final is not None else None,
                reason=a.reason if a else "",
                evidence=list(a.evidence) if a else [],
                confidence=a.confidence if a else None,
                model_version=a.model_version if a else None,
                comment=(human.comments.get(it.id) or "").strip() or None,
            )
        )
    session.flush()
    # the newest evaluation of this kind by this evaluator is the active one; older ones stay
    session.execute(
        sa.update(Evaluation)
        .where(
            col(Evaluation.call_id) == call_id,
            col(Evaluation.kind) == kind,
            col(Evaluation.evaluator) == inspector,
            col(Evaluation.active).is_(True),
            col(Evaluation.id) != ev.id,
        )
        .values(active=False, superseded_by=ev.id, updated_at=utcnow())
    )
    recompute(session, ev.id)
    return _view(session, ev)
