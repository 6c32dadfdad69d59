"""KPIs per agent, team or queue and period, for the KPI page and the monthly report.

Covers the calls ``who`` may see (storage/access.py) that started in the window. The figures that
are sums over calls (scores, shares, rates: the facts kpi_calls.py reads per call) come from the
hour rollup (rollup.py), exact at the moment of reading. Calls per hour (each agent's shifts) and
first-contact resolution by repeat calls (the calls the same customer numbers made up to
``fcr_days`` after the window: it looks past the period's edge) are not sums; they are computed
from the call rows' times and numbers in one narrow query. The definitions are in scoring/kpi.py.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from review_app.workflow import rollup, shifts
from review_app.workflow.kpi_calls import counted_evaluations, load_calls
from review_app.workflow.rollup import Sums, total, week_of, window_sums
from scoring.kpi import KpiCall, Kpis, calls_per_hour, first_contact_resolved
from storage import repeats
from storage.access import Perm, calls_clause, require
from storage.calls import Call, Direction
from storage.errors import InvalidInput
from storage.settings import get_settings
from storage.users import Principal

TREND_CALLS = 50000  # the score trend by evaluation date reads a year of calls before the window: at most this many

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


def _name(by: GroupBy, value: str | None) -> str:
    return "*" if by == GroupBy.all else (value or "-")


def _period_of_day(day: str, period: Period) -> str:
    if period == Period.month:
        return day[:7]
    return week_of(day) if period == Period.week else day


# the sums from_sums reads: the page asks the rollup for these only (fewer aggregates over a month's day rows)
KPI_SUMS = ("calls", "human_n", "human_sum", "auto_n", "auto_sum", "talk_s", "held_hold_s", "held_duration_s",
            "held_count", "held_n", "metric_non_talk_s", "metric_duration_s", "metric_overtalk_s",
            "metric_overtalk_count", "metric_n", "acw_talk_s", "acw_s", "acw_n", "fcr_item_yes", "fcr_item_n",
            "complaint_yes", "complaint_n", "passed_yes", "passed_n", "critical_fails", "retraining")


def from_sums(s: Sums, *, calls_per_hour: float | None, fcr_rate: float | None) -> Kpis:
    """scoring.kpi.compute's figures from the rollup's column sums (plus the two that are not sums)."""
    def div(a: float, b: float, scale: float = 1.0) -> float | None:
        return scale * a / b if b else None

    evaluated = s["human_n"] + s["auto_n"]
    return Kpis(
        calls=int(s["calls"]), evaluated=int(evaluated),
        score_human=div(s["human_sum"], s["human_n"]), score_auto=div(s["auto_sum"], s["auto_n"]),
        score_combined=div(s["human_sum"] + s["auto_sum"], evaluated),
        avg_talk_s=div(s["talk_s"], s["calls"]),
        hold_share=div(s["held_hold_s"], s["held_duration_s"], 100.0) if s["held_duration_s"] > 0 else None,
        holds_per_call=div(s["held_count"], s["held_n"]),
        silence_share=div(s["metric_non_talk_s"], s["metric_duration_s"], 100.0) if s["metric_duration_s"] > 0
        else None,
        overtalk_share=div(s["metric_overtalk_s"], s["metric_duration_s"], 100.0) if s["metric_duration_s"] > 0
        else None,
        overtalks_per_call=div(s["metric_overtalk_count"], s["metric_n"]),
        aht_s=div(s["acw_talk_s"] + s["acw_s"], s["acw_n"]), acw_s=div(s["acw_s"], s["acw_n"]),
        calls_per_hour=calls_per_hour, fcr_rate=fcr_rate,
        fcr_item_rate=div(s["fcr_item_yes"], s["fcr_item_n"], 100.0),
        complaint_share=div(s["complaint_yes"], s["complaint_n"], 100.0),
        pass_rate=div(s["passed_yes"], s["passed_n"], 100.0),
        critical_fail_rate=div(s["critical_fails"], evaluated, 100.0),
        retraining=int(s["retraining"]),
    )


def _shifts_and_repeats(session: Session, who: Principal, *, start: datetime, end: datetime, by: GroupBy,
                        period: Period, team: str | None, queue: str | None) -> dict[tuple[str, str], tuple[Any, Any]]:
    """Per (period, group): calls per shift hour and the repeat-call FCR rate, from the call rows' times
    and numbers (one narrow query: the window's calls and the calls up to ``fcr_days`` after it)."""
    s = get_settings()
    c = Call
    q = (sa.select(col(c.agent_id), col(c.team), col(c.queue), col(c.caller), col(c.callee), col(c.direction),
                   col(c.started_at), col(c.duration_s))
         .where(col(c.started_at) >= start, col(c.started_at) < end + timedelta(days=s.fcr_days), calls_clause(who)))
    groups: dict[tuple[str, str], list[KpiCall]] = defaultdict(list)
    later: dict[str, list[datetime]] = defaultdict(list)
    for agent, tm, qu, caller, callee, direction, started, duration in session.execute(q):
        number = callee if direction == Direction.outbound else caller
        if number:
            later[number].append(started)
        if started < end and (not team or tm == team) and (not queue or qu == queue):
            name = _name(by, {GroupBy.agent: agent, GroupBy.team: tm, GroupBy.queue: qu}.get(by))
            groups[(period_key(started, period), name)].append(
                KpiCall(call_id="", started_at=started, duration_s=duration, agent_id=agent, customer=number))
    starts = {k: sorted(v) for k, v in later.items()}
    out = {}
    for key, cs in groups.items():
        fcr = first_contact_resolved(cs, starts, fcr_days=s.fcr_days)
        out[key] = (calls_per_hour(cs, shift_gap_s=s.shift_gap_min * 60),
                    100.0 * sum(fcr) / len(fcr) if fcr else None)
    return out


def _fcr_rates(session: Session, who: Principal, *, start: datetime, end: datetime, by: GroupBy, period: Period,
               team: str | None, queue: str | None) -> dict[tuple[str, str], float | None]:
    """Per (period, group): the repeat-call FCR rate, from the repeat rollup (storage/repeats.py), or from
    the call rows when ``who`` sees several teams but not all."""
    column = {GroupBy.agent: "agent_id", GroupBy.team: "team", GroupBy.queue: "queue"}.get(by)
    counts = repeats.window_counts(session, who, start, end, by=column, team=team, queue=queue)
    if counts is None:
        return {k: v[1] for k, v in _shifts_and_repeats(session, who, start=start, end=end, by=by, period=period,
                                                        team=team, queue=queue).items()}
    acc: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for (day, value), (known, repeated) in counts.items():
        a = acc[(_period_of_day(day, period), _name(by, value))]
        a[0] += known
        a[1] += repeated
    return {k: 100.0 * (known - repeated) / known if known else None for k, (known, repeated) in acc.items()}


def kpi_rows(session: Session, who: Principal, *, start: datetime, end: datetime,
             by: GroupBy | str = GroupBy.agent, period: Period | str = Period.month,
             team: str | None = None, queue: str | None = None) -> list[KpiRow]:
    """KPIs per group and period (periods by call date), sorted by period then group.

    The sums come from the hour rollup (rollup.window_sums: exact, with the live tail read raw), the
    repeat-call FCR rate from the repeat rollup (storage/repeats.py, the same way), calls per hour
    (not a sum) from the window's calls of the group, aggregated in the database (shifts.py)."""
    require(who, Perm.dashboard)
    try:
        by, period = GroupBy(by), Period(period)
    except ValueError as exc:
        raise InvalidInput(f"KPIs: {exc}") from None
    if end <= start:
        raise InvalidInput("the KPI window ends before it starts")
    column = {GroupBy.agent: "agent_id", GroupBy.team: "team", GroupBy.queue: "queue"}.get(by)
    groups: dict[tuple[str, str], list[Sums]] = defaultdict(list)
    hours = rollup.touched(session, start, end)  # looked up once for the sums and calls per hour
    for (day, value), sums in window_sums(session, who, start, end, by=column, team=team, queue=queue,
                                           sums=KPI_SUMS, known=hours).items():
        groups[(_period_of_day(day, period), _name(by, value))].append(sums)
    cph = {(p, _name(by, g)): v for (p, g), v in shifts.rates(session, who, start=start, end=end, by=column,
                                                               period=period, team=team, queue=queue,
                                                               known=hours).items()}
    fcr = _fcr_rates(session, who, start=start, end=end, by=by, period=period, team=team, queue=queue)
    out = []
    for key, parts in sorted(groups.items()):
        sums = total(parts)
        if sums["calls"]:
            out.append(KpiRow(key[1], key[0], from_sums(sums, calls_per_hour=cph.get(key), fcr_rate=fcr.get(key))))
    return out


def score_trend(session: Session, who: Principal, *, start: datetime, end: datetime,
                by_date: str = "call") -> list[dict[str, Any]]:
    """Daily mean counted score (human and auto apart) by the call's date or the evaluation's date."""
    require(who, Perm.dashboard)
    if by_date not in ("call", "evaluation"):
        raise InvalidInput(f"trend by {by_date!r}: use call or evaluation")
    window_start = start - timedelta(days=366) if by_date == "evaluation" else start
    loaded = load_calls(session, who, start=window_start, end=end, limit=TREND_CALLS)
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
