"""The month-end quality audit report, made by the scheduler once per tenant and month.

Every tick of the scheduler (``callqc schedule loop`` in ``callqc up``, or ``callqc schedule
run-once`` as a Kubernetes CronJob next to the archive job) looks at the month that ended last.
For each tenant with calls in that month it inserts a ``report_claims`` row (tenant, month): the
unique constraint lets exactly one process through however many schedulers run, and that one
writes ``<report_dir>/<tenant>/qc-report-YYYY-MM.xlsx`` and ``.csv`` (through a ``.part`` file and
a rename) in the same transaction as the claim, so a failure leaves no claim and the next tick
tries again. Older months are not made up after an outage: `callqc report monthly` makes any month.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import col, select

from review_app.report_files import to_csv, to_xlsx
from review_app.workflow.report import month_window, monthly_report
from storage.calls import Call
from storage.db import session
from storage.schedules import ReportClaim
from storage.settings import get_settings
from storage.users import Principal, Role

log = logging.getLogger(__name__)
SCHEDULER = "scheduler"
_SAFE = re.compile(r"[^A-Za-z0-9._-]")


@dataclass(frozen=True)
class MonthReport:
    tenant: str
    month: str
    path: Path


def last_month(now: datetime) -> str:
    """The month that ended last before ``now`` (UTC), YYYY-MM."""
    return f"{now.replace(day=1) - timedelta(days=1):%Y-%m}"


def report_dir() -> Path:
    s = get_settings()
    return s.report_dir or s.data_dir / "reports"


def _write(path: Path, data: bytes) -> None:
    part = path.with_name(path.name + ".part")
    part.write_bytes(data)
    os.replace(part, path)


def _make(tenant: str, month: str, claimer: str) -> MonthReport | None:
    """Claim and write one tenant's report; None if another scheduler has it."""
    folder = report_dir() / (_SAFE.sub("_", tenant) or "_")
    path = folder / f"qc-report-{month}.xlsx"
    who = Principal(SCHEDULER, Role.supervisor, tenant=tenant)
    try:
        with session(write=True) as s:
            s.add(ReportClaim(month=month, tenant=tenant, claimed_by=claimer, path=str(path)))
            s.flush()  # the unique (month, tenant) decides here
            rep = monthly_report(s, who, month, source="scheduler")
            folder.mkdir(parents=True, exist_ok=True)
            _write(path, to_xlsx(rep))
            _write(path.with_suffix(".csv"), to_csv(rep))
    except sa.exc.IntegrityError:
        log.info("month end: report %s of %s already made", month, tenant)
        return None
    log.info("month end: wrote %s", path)
    return MonthReport(tenant, month, path)


def run(now: datetime, claimer: str) -> list[MonthReport]:
    """Make last month's report for every tenant with calls in it that has none yet."""
    month = last_month(now)
    _, start, end = month_window(month)
    with session() as s:
        tenants = sorted(s.exec(select(Call.tenant).where(col(Call.started_at) >= start, col(Call.started_at) < end)
                                .distinct()))
        done = set(s.exec(select(ReportClaim.tenant).where(ReportClaim.month == month)))
    made = []
    for tenant in tenants:
        if tenant in done:
            continue
        try:
            if (r := _make(tenant, month, claimer)) is not None:
                made.append(r)
        except Exception:  # noqa: BLE001 - one tenant's failure must not stop the others; retried next tick
            log.exception("month end: report %s of %s failed; it is tried again next time", month, tenant)
    return made
