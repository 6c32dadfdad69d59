"""The monthly report as files: XLSX (one formatted sheet per view) and CSV (agent and team rows),
headers in the configured locale (review_app/i18n.py)."""

from __future__ import annotations

import csv
import io
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from review_app.i18n import t
from review_app.workflow.report import MonthlyReport

_HEAD_FILL = PatternFill("solid", fgColor="DDE6F0")
_PERCENT = {"kpi_pass_rate", "kpi_critical_fail_rate", "kpi_silence_share", "kpi_fcr_rate", "kpi_complaint_share",
            "report_agreement"}


def _cell(value: Any) -> Any:
    return t("report_not_known") if value is None else value


def to_xlsx(report: MonthlyReport) -> bytes:
    wb = Workbook()
    wb.remove(wb.active)
    for view in report.views:
        ws = wb.create_sheet(t(f"report_{view.key}")[:31])
        ws.append([t(c) for c in view.columns])
        for c in ws[1]:
            c.font, c.fill = Font(bold=True), _HEAD_FILL
            c.alignment = Alignment(wrap_text=True, vertical="top")
        for row in view.rows:
            ws.append([_cell(v) for v in row])
        for i, key in enumerate(view.columns, start=1):
            letter = get_column_letter(i)
            width = max([len(str(t(key)))] + [len(str(_cell(r[i - 1]))) for r in view.rows]) + 2
            ws.column_dimensions[letter].width = min(max(width, 8), 40)
            fmt = "0.00" if key in _PERCENT or key.startswith("kpi_score") else None
            if fmt:
                for (cell,) in ws.iter_rows(min_row=2, min_col=i, max_col=i):
                    if isinstance(cell.value, float | int):
                        cell.number_format = fmt
        ws.freeze_panes = "B2"
    info = wb.create_sheet(t("report_about")[:31])
    info.append([t("report_month"), report.month])
    info.append([t("team"), report.team or t("all_teams")])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def to_csv(report: MonthlyReport) -> bytes:
    """Agent and team rows (same columns), the view named in the first column; UTF-8 with BOM for Excel."""
    buf = io.StringIO()
    w = csv.writer(buf)
    views = [v for v in report.views if v.key in ("agents", "teams")]
    w.writerow([t("report_view"), *[t(c) for c in views[0].columns]])
    for v in views:
        for row in v.rows:
            w.writerow([v.key, *["" if x is None else x for x in row]])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")
