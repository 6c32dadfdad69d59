"""The calls the KPIs read, with their facts: conversation metrics, PBX/ACD facts from the call record,
the counted evaluation of each call (the newest review, else an auto-submitted evaluation) and its
critical-fail, FCR and complaint items. Read by the KPIs (kpis.py) and the hour rollup (rollup.py).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from scoring.kpi import KpiCall
from storage.access import calls_clause
from storage.call_metrics import CallMetricsRow
from storage.calls import Call, Direction
from storage.errors import InvalidInput
from storage.evaluations import Evaluation, EvaluationItem, EvaluationKind
from storage.reviews import Review, Verdict
from storage.users import Principal

FCR_ITEMS = ("resolved", "fcr", "first-contact-resolution")
COMPLAINT_ITEMS = ("complaint",)
COMPLAINT_TAGS = ("complaint", "投诉")
_CHUNK = 500


def _chunks(ids: Sequence[str]) -> Iterable[list[str]]:
    for i in range(0, len(ids), _CHUNK):
        yield list(ids[i:i + _CHUNK])


def _holds(meta: dict[str, Any]) -> tuple[float | None, int | None]:
    given = meta.get("holds")
    if not isinstance(given, list):
        return None, None
    spans = [(float(h[0]), float(h[1])) for h in given
             if isinstance(h, (list, tuple)) and len(h) == 2 and all(isinstance(x, (int, float)) for x in h)]
    return sum(max(0.0, b - a) for a, b in spans), len(spans)


def _number(value: Any) -> float | None:
    try:
        return None if value is None or value == "" else float(value)
    except (TypeError, ValueError):
        return None


def _tag_complaint(meta: dict[str, Any]) -> bool | None:
    if isinstance(meta.get("complaint"), bool):
        return bool(meta["complaint"])
    tags = meta.get("tags")
    if isinstance(tags, list):
        return any(str(t).lower() in COMPLAINT_TAGS for t in tags)
    return None


def customer_number(call: Call) -> str | None:
    return call.callee if call.direction == Direction.outbound else call.caller


def counted_evaluations(session: Session, ids: list[str]) -> tuple[dict[str, Review], dict[str, Evaluation]]:
    """Per call: the newest review, and the active auto-submitted evaluation."""
    reviews: dict[str, Review] = {}
    autos: dict[str, Evaluation] = {}
    for chunk in _chunks(ids):
        for r in session.exec(select(Review).where(col(Review.call_id).in_(chunk)).order_by(col(Review.id))):
            reviews[r.call_id] = r
        q = select(Evaluation).where(col(Evaluation.call_id).in_(chunk), Evaluation.kind == EvaluationKind.auto,
                                     col(Evaluation.active).is_(True), col(Evaluation.auto_submitted).is_(True))
        for ev in session.exec(q.order_by(col(Evaluation.id))):  # of several (two evaluators), the newest
            autos[ev.call_id] = ev
    return reviews, autos


def _item_facts(session: Session, evaluation_ids: list[int]) -> dict[int, dict[str, Any]]:
    """Per evaluation: critical fail, FCR item and complaint item answers."""
    out: dict[int, dict[str, Any]] = defaultdict(dict)
    wanted = (*FCR_ITEMS, *COMPLAINT_ITEMS)
    for i in range(0, len(evaluation_ids), _CHUNK):
        chunk = evaluation_ids[i:i + _CHUNK]
        q = select(EvaluationItem).where(col(EvaluationItem.evaluation_id).in_(chunk),
                                         sa.or_(col(EvaluationItem.critical) != "",
                                                col(EvaluationItem.item_id).in_(wanted)))
        # in the order written: of two FCR items in one evaluation the last one counts, whatever the plan
        # (the set-based refresh, rollup_sql.py, takes the same one)
        for it in session.exec(q.order_by(col(EvaluationItem.id))):
            answer = it.final_answer or it.human_answer or it.auto_answer
            facts = out[it.evaluation_id]
            if it.critical and answer == "no":
                facts["critical_fail"] = True
            if it.item_id in FCR_ITEMS and answer in ("yes", "no"):
                facts["fcr"] = answer == "yes"
            if it.item_id in COMPLAINT_ITEMS and answer in ("yes", "no"):
                facts["complaint"] = answer == "yes"
    return out


@dataclass(frozen=True)
class Loaded:
    calls: list[tuple[Call, KpiCall]]
    reviews: dict[str, Review]  # per call, the newest review
    autos: dict[str, Evaluation]  # per call, the active auto-submitted evaluation


def load_calls(session: Session, who: Principal, *, start: datetime, end: datetime, team: str | None = None,
               queue: str | None = None, limit: int | None = None) -> list[tuple[Call, KpiCall]]:
    """The calls ``who`` may see that started in [start, end), as the KPIs read them (the first ``limit``)."""
    return load(session, who, start=start, end=end, team=team, queue=queue, limit=limit).calls


def load(session: Session, who: Principal, *, start: datetime, end: datetime,
         team: str | None = None, queue: str | None = None, limit: int | None = None) -> Loaded:
    """``load_calls`` with the counted evaluations it read."""
    if end <= start:
        raise InvalidInput("the KPI window ends before it starts")
    q = select(Call).where(Call.started_at >= start, Call.started_at < end, calls_clause(who))
    if team:
        q = q.where(Call.team == team)
    if queue:
        q = q.where(Call.queue == queue)
    calls = list(session.exec(q.order_by(col(Call.started_at)).limit(limit)))
    ids = [c.call_id for c in calls]
    metrics: dict[str, CallMetricsRow] = {}
    for chunk in _chunks(ids):
        for row in session.exec(select(CallMetricsRow).where(col(CallMetricsRow.call_id).in_(chunk))):
            metrics[row.call_id] = row
    reviews, autos = counted_evaluations(session, ids)
    ev_ids = [r.evaluation_id for r in reviews.values()] + [e.id for e in autos.values() if e.id is not None]
    facts = _item_facts(session, ev_ids)
    out = []
    for c in calls:
        m, r, a = metrics.get(c.call_id), reviews.get(c.call_id), autos.get(c.call_id)
        f = facts.get(r.evaluation_id if r else ((a.id or -1) if a else -1), {})
        hold_s, hold_n = _holds(c.meta)
        complaint = f.get("complaint")
        out.append((c, KpiCall(
            call_id=c.call_id, started_at=c.started_at, duration_s=c.duration_s, agent_id=c.agent_id,
            customer=customer_number(c),
            non_talk_s=m.non_talk_s if m else None, overtalk_s=m.overtalk_s if m else None,
            overtalk_count=m.overtalk_count if m else None, hold_s=hold_s, hold_count=hold_n,
            acw_s=_number(c.meta.get("acw_s")),
            human_score=r.score if r else None,
            auto_score=a.total if (a and not r) else None,
            passed=r.passed if r else (a.passed if a else None),
            critical_fail=bool(f.get("critical_fail")), retraining=bool(r and r.verdict == Verdict.retraining),
            complaint=complaint if complaint is not None else _tag_complaint(c.meta),
            fcr_item=f.get("fcr"),
        )))
    return Loaded(out, reviews, autos)
