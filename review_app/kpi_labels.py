"""How the KPI page and the monthly report name, explain and format each KPI (scoring/kpi.py).

A figure the records cannot give is shown with the reason ("needs ACD data"), never a bare dash.
"""

from __future__ import annotations

from review_app.i18n import t
from scoring.kpi import Kpis

# (field of Kpis, unit, why it may be missing): the order of the KPI table and the report's columns
FIELDS: list[tuple[str, str, str]] = [
    ("calls", "n", ""),
    ("evaluated", "n", ""),
    ("score_human", "score", "kpi_needs_reviews"),
    ("score_auto", "score", "kpi_needs_auto"),
    ("score_combined", "score", "kpi_needs_reviews"),
    ("avg_talk_s", "s", "kpi_no_calls"),
    ("hold_share", "pct", "kpi_needs_holds"),
    ("holds_per_call", "x", "kpi_needs_holds"),
    ("silence_share", "pct", "kpi_needs_scoring"),
    ("overtalk_share", "pct", "kpi_needs_scoring"),
    ("overtalks_per_call", "x", "kpi_needs_scoring"),
    ("aht_s", "s", "kpi_needs_acd"),
    ("acw_s", "s", "kpi_needs_acd"),
    ("calls_per_hour", "x", "kpi_no_calls"),
    ("fcr_rate", "pct", "kpi_needs_numbers"),
    ("fcr_item_rate", "pct", "kpi_needs_item"),
    ("complaint_share", "pct", "kpi_needs_item"),
    ("pass_rate", "pct", "kpi_needs_reviews"),
    ("critical_fail_rate", "pct", "kpi_needs_reviews"),
    ("retraining", "n", ""),
]


def name(field: str) -> str:
    return t(f"kpi_{field}")


def definition(field: str) -> str:
    return t(f"kpidef_{field}")


def value(kpis: Kpis, field: str) -> float | int | None:
    v = getattr(kpis, field)
    return None if v is None else (round(v, 2) if isinstance(v, float) else v)


def shown(kpis: Kpis, field: str, unit: str, missing: str) -> str:
    """The figure as text with its unit, or why there is none."""
    v = getattr(kpis, field)
    if v is None:
        return t(missing) if missing else "0"
    if unit == "pct":
        return f"{v:.1f}%"
    if unit == "s":
        return f"{v:.0f} s"
    if unit == "score":
        return f"{v:.1f}"
    if unit == "x":
        return f"{v:.2f}"
    return str(v)
