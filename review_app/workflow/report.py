"""The monthly quality audit report (品质稽核报表): per agent and per team for one month.

Views (one sheet each in the XLSX, review_app/report_files.py): agents, teams, item pass rates per
team, calibration deviation per inspector. Agent and team rows carry the KPIs of scoring/kpi.py
for the calls of the month (by call date) and the change of the combined monitoring score against
the month before. Everything is read through ``who``'s access scope, so a report never holds
another tenant's or team's calls. Building the report is audited (action ``report``).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session, col, func, select

from review_app.workflow import calibration
from review_app.workflow.kpis import GroupBy, KpiRow, kpi_rows
from scoring.kpi import Kpis
from storage import item_stats
from storage.access import Perm, calls_clause, require
from storage.audit import record
from storage.calls import Call
from storage.errors import InvalidInput
from storage.models import AuditAction
from storage.reviews import CalibrationSession
from storage.users import Principal

_MONTH = re.compile(r"(\d{4})-(0[1-9]|1[0-2])")
# the KPI columns of the agent and team views, in order (fields of scoring.kpi.Kpis)
KPI_COLUMNS = ("calls", "evaluated", "score_combined", "score_human", "score_auto", "pass_rate",
               "critical_fail_rate", "retraining", "avg_talk_s", "aht_s", "acw_s", "calls_per_hour",
               "silence_share", "fcr_rate", "complaint_share")


@dataclass(frozen=True)
class View:
    key: str  # agents, teams, items, calibration (the sheet; its title comes from i18n "report_<key>")
    columns: tuple[str, ...]  # i18n keys of the headers
    rows: list[list[Any]] = field(default_factory=list)


@dataclass(frozen=True)
class MonthlyReport:
    month: str
    team: str | None
    views: list[View]


def month_window(month: str) -> tuple[datetime, datetime, datetime]:
    """(start of the month before, start, end) of ``YYYY-MM``, UTC."""
    m = _MONTH.fullmatch(month or "")
    if m is None:
        raise InvalidInput(f"month {month!r}: use YYYY-MM, e.g. 2026-11")
    y, mo = int(m[1]), int(m[2])
    start = datetime(y, mo, 1, tzinfo=UTC)
    end = datetime(y + (mo == 12), mo % 12 + 1, 1, tzinfo=UTC)
    before = datetime(y - (mo == 1), (mo - 2) % 12 + 1, 1, tzinfo=UTC)
    return before, start, end


def _kpi_view(key: str, rows: list[KpiRow], last: dict[str, Kpis]) -> View:
    out = []
    for r in rows:
        prev = last.get(r.group)
        now_s = r.kpis.score_combined
        prev_s = prev.score_combined if prev else None
        change = None if now_s is None or prev_s is None else round(now_s - prev_s, 2)
        out.append([r.group, *[_round(getattr(r.kpis, c)) for c in KPI_COLUMNS], _round(prev_s), change])
    return View(key, ("report_group", *[f"kpi_{c}" for c in KPI_COLUMNS], "report_last_month", "report_change"),
                out)


def _round(v: Any) -> Any:
    return round(v, 2) if isinstance(v, float) else v


def _item_view(session: Session, who: Principal, start: datetime, end: datetime, team: str | None) -> View:
    """Per team and item: yes/no answers of the counted evaluations (the newest review's, else the
    active auto-submitted one) of the month's calls, from the item rollup (storage/item_stats.py)."""
    counts = item_stats.window_counts(session, who, start, end, team)
    rows = [[tm, item, n, yes, round(100.0 * yes / n, 2)] for (tm, item), (n, yes) in sorted(counts.items())]
    return View("items", ("team", "report_item", "report_answered", "report_yes", "kpi_pass_rate"), rows)


def _calibration_view(session: Session, who: Principal, start: datetime, end: datetime) -> View:
    sessions = session.exec(select(CalibrationSession).where(CalibrationSession.created_at >= start,
                                                              CalibrationSession.created_at < end))
    acc: dict[str, list[float]] = defaultdict(lambda: [0, 0, 0.0])
    for cs in sessions:
        wanted = set(cs.call_ids)
        seen = session.exec(select(func.count()).where(col(Call.call_id).in_(wanted), calls_clause(who))).one()
        if cs.id is None or seen != len(wanted):
            continue
        for d in calibration.deviations(session, who, cs.id):
            a = acc[d.inspector]
            a[0] += d.compared
            a[1] += d.mismatches
            a[2] += d.points_diff * d.compared
    rows = [[insp, int(n), int(mis), round(100.0 * (1 - mis / n), 2) if n else None,
             round(diff / n, 2) if n else None] for insp, (n, mis, diff) in sorted(acc.items())]
    return View("calibration", ("report_inspector", "report_compared", "report_mismatches", "report_agreement",
                                "report_points_diff"), rows)


def monthly_report(session: Session, who: Principal, month: str, *, team: str | None = None,
                   source: str | None = None) -> MonthlyReport:
    """The month's report over what ``who`` may see (and ``team`` when given); audited."""
    require(who, Perm.dashboard)
    before, start, end = month_window(month)
    views = []
    for key, by in (("agents", GroupBy.agent), ("teams", GroupBy.team)):
        rows = kpi_rows(session, who, start=start, end=end, by=by, period="month", team=team)
        last = {r.group: r.kpis for r in kpi_rows(session, who, start=before, end=start, by=by, period="month",
                                                   team=team)}
        views.append(_kpi_view(key, rows, last))
    views.append(_item_view(session, who, start, end, team))
    if who.role in ("supervisor", "admin"):
        views.append(_calibration_view(session, who, start, end))
    record(session, who.name, AuditAction.report, source=source,
           detail={"report": "monthly", "month": month, "team": team, "tenant": who.tenant})
    return MonthlyReport(month, team, views)
