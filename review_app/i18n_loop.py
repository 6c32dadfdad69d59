"""The words of the closed loop (auto-submit, routing, teams, schedules, KPIs, reports, notifications),
in English and Simplified Chinese; review_app/i18n.py merges them into its tables."""

from __future__ import annotations

EN: dict[str, str] = {
    "auto_submitted_trust": "Auto-submitted (machine answers trusted: {trust})",
}

ZH: dict[str, str] = {
    "auto_submitted_trust": "自动提交（机器答案可信：{trust}）",
}
