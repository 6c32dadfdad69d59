"""KPIs per agent, team or queue and period, for the KPI page and the monthly report.

Reads the calls ``who`` may see (storage/access.py) that started in the window, with their
conversation metrics, PBX/ACD facts from the call record, the counted evaluation of each call
(the newest review, else an auto-submitted evaluation), and the calls the same customer numbers
made up to ``fcr_days`` after the window (first-contact resolution looks past the period's edge).
The arithmetic and the definitions are in scoring/kpi.py.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from scoring.kpi import KpiCall, Kpis, compute
from storage.access import Perm, calls_clause, require
from storage.call_metrics import CallMetricsRow
from storage.calls import Call, Direction
from storage.errors import InvalidInput
from storage.evaluations import Evaluation, EvaluationItem, EvaluationKind
from storage.reviews import Review, Verdict
from storage.settings import get_settings
from storage.users import Principal

FCR_ITEMS = ("resolved", "fcr", "first-contact-resolution")
COMPLAINT_ITEMS = ("complaint",)
COMPLAINT_TAGS = ("complaint", "投诉")
MAX_CALLS = 50000
_CHUNK = 500


class GroupBy(StrEnum):
    agent = "agent"
    team = "team"
    queue = "queue"
    all = "all"


class Period(StrEnum):
    day = "day"
    week = "week"
    month = "month"


@dataclass(frozen=True)
class KpiRow:
    group: str
    period: str
    kpis: Kpis


def period_key(when: datetime, period: Period | str) -> str:
    d = when.astimezone(UTC).date()
    if period == Period.month:
        return f"{d:%Y-%m}"
    if period == Period.week:
        return (d - timedelta(days=d.weekday())).isoformat()
    return d.isoformat()


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
        for ev in session.exec(q):
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
        for it in session.exec(q):
            answer = it.final_answer or it.human_answer or it.auto_answer
            facts = out[it.evaluation_id]
            if it.critical and answer == "no":
                facts["critical_fail"] = True
            if it.item_id in FCR_ITEMS and answer in ("yes", "no"):
                facts["fcr"] = answer == "yes"
            if it.item_id in COMPLAINT_ITEMS and answer in ("yes", "no"):
                facts["complaint"] = answer == "yes"
    return out


def load_calls(session: Session, who: Principal, *, start: datetime, end: datetime,
               team: str | None = None, queue: str | None = None) -> list[tuple[Call, KpiCall]]:
    """The calls ``who`` may see that started in [start, end), as the KPIs read them."""
    if end <= start:
        raise InvalidInput("the KPI window ends before it starts")
    q = select(Call).where(Call.started_at >= start, Call.started_at < end, calls_clause(who))
    if team:
        q = q.where(Call.team == team)
    if queue:
        q = q.where(Call.queue == queue)
    calls = list(session.exec(q.order_by(col(Call.started_at)).limit(MAX_CALLS)))
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
    return out


def later_calls(session: Session, who: Principal, numbers: set[str], *, start: datetime,
                end: datetime) -> dict[str, list[datetime]]:
    """Every call start per customer number in [start, end), sorted (both directions, ``who``'s scope)."""
    out: dict[str, list[datetime]] = defaultdict(list)
    nums = sorted(numbers)
    for chunk in _chunks(nums):
        q = (select(Call.caller, Call.callee, Call.direction, Call.started_at)
             .where(Call.started_at >= start, Call.started_at < end, calls_clause(who),
                    sa.or_(col(Call.caller).in_(chunk), col(Call.callee).in_(chunk))))
        for caller, callee, direction, started in session.exec(q):
            number = callee if direction == Direction.outbound else caller
            if number in numbers:
                out[number].append(started)
    return {k: sorted(v) for k, v in out.items()}


def kpi_rows(session: Session, who: Principal, *, start: datetime, end: datetime,
             by: GroupBy | str = GroupBy.agent, period: Period | str = Period.month,
             team: str | None = None, queue: str | None = None) -> list[KpiRow]:
    """KPIs per group and period (periods by call date), sorted by period then group."""
    require(who, Perm.dashboard)
    try:
        by, period = GroupBy(by), Period(period)
    except ValueError as exc:
        raise InvalidInput(f"KPIs: {exc}") from None
    s = get_settings()
    loaded = load_calls(session, who, start=start, end=end, team=team, queue=queue)
    numbers = {k.customer for _, k in loaded if k.customer}
    later = later_calls(session, who, numbers, start=start, end=end + timedelta(days=s.fcr_days))
    groups: dict[tuple[str, str], list[KpiCall]] = defaultdict(list)
    for call, k in loaded:
        name = {GroupBy.agent: call.agent_id, GroupBy.team: call.team, GroupBy.queue: call.queue,
                GroupBy.all: "*"}[by]
        groups[(period_key(call.started_at, period), name or "-")].append(k)
    return [KpiRow(g, p, compute(cs, later, fcr_days=s.fcr_days, shift_gap_s=s.shift_gap_min * 60))
            for (p, g), cs in sorted(groups.items())]


def score_trend(session: Session, who: Principal, *, start: datetime, end: datetime,
                by_date: str = "call") -> list[dict[str, Any]]:
    """Daily mean counted score (human and auto apart) by the call's date or the evaluation's date."""
    require(who, Perm.dashboard)
    if by_date not in ("call", "evaluation"):
        raise InvalidInput(f"trend by {by_date!r}: use call or evaluation")
    window_start = start - timedelta(days=366) if by_date == "evaluation" else start
    loaded = load_calls(session, who, start=window_start, end=end)
    ids = [c.call_id for c, _ in loaded]
    reviews, autos = counted_evaluations(session, ids)
    sums: dict[tuple[str, str], list[float]] = defaultdict(list)
    for call, k in loaded:
        if k.human_score is not None:
            when = call.started_at if by_date == "call" else reviews[call.call_id].created_at
            series = "human"
        elif k.auto_score is not None:
            when = call.started_at if by_date == "call" else autos[call.call_id].created_at
            series = "auto"
        else:
            continue
        if start <= when < end:
            sums[(f"{when:%Y-%m-%d}", series)].append(float(k.score or 0.0))
    return [{"day": d, "series": s, "score": round(sum(v) / len(v), 1), "n": len(v)}
            for (d, s), v in sorted(sums.items())]
