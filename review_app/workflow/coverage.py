"""Recording coverage for the dashboard: answered calls in the PBX's call records (CDR) against the
calls recorded, per day and queue.

Read only: a record counts as recorded when ``callqc coverage`` matched it to a recording, or when a
recording carries its ``uniqueid`` or ``linkedid`` as call ID (so a late file shows as soon as it is
registered, without a new matching run). Matching by time and numbers happens only in ``callqc
coverage``. Days are the PBX's (``CALLQC_PBX_TIMEZONE``), as in its records.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from storage import cdr
from storage.access import Perm, require
from storage.calls import Call
from storage.cdr import CdrRecord
from storage.settings import get_settings
from storage.users import Principal

MAX_RECORDS = 200_000  # records looked at per window (a month of a large site)
MISSING_SHOWN = 50


@dataclass
class CoverageTile:
    rows: list[dict[str, object]] = field(default_factory=list)  # day, queue, expected, recorded, pct
    expected: int = 0
    recorded: int = 0
    missing: list[dict[str, object]] = field(default_factory=list)  # the first MISSING_SHOWN, oldest first

    @property
    def pct(self) -> float | None:
        return None if self.expected == 0 else round(100.0 * self.recorded / self.expected, 2)

    @property
    def alert(self) -> bool:
        return self.pct is not None and self.pct < get_settings().coverage_alert_pct


def coverage_tile(session: Session, who: Principal, *, start: datetime, end: datetime) -> CoverageTile:
    """Answered CDR calls that started in [start, end) and how many of them were recorded."""
    require(who, Perm.dashboard)
    zone = ZoneInfo(get_settings().pbx_timezone)
    answered: dict[str, CdrRecord] = {}
    matched: set[str] = set()
    for r in cdr.in_window(session, start, end)[:MAX_RECORDS]:
        if r.disposition == "ANSWERED":
            answered.setdefault(r.uniqueid, r)
            if r.call_id:
                matched.add(r.uniqueid)
    ids = {i for r in answered.values() for i in (r.uniqueid, r.linkedid) if i}
    present: set[str] = set()
    pending = sorted(ids)
    for i in range(0, len(pending), 500):
        present.update(session.exec(select(Call.call_id).where(col(Call.call_id).in_(pending[i : i + 500]))).all())
    tile = CoverageTile()
    cells: dict[tuple[str, str], list[int]] = {}
    for uid, r in sorted(answered.items(), key=lambda kv: kv[1].started_at):
        recorded = uid in matched or uid in present or (r.linkedid or "") in present
        day = r.started_at.astimezone(zone).date().isoformat()
        cell = cells.setdefault((day, r.queue or "-"), [0, 0])
        cell[0] += 1
        cell[1] += recorded
        tile.expected += 1
        tile.recorded += recorded
        if not recorded and len(tile.missing) < MISSING_SHOWN:
            when = r.started_at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")
            tile.missing.append({"uniqueid": uid, "started": when,
                                 "queue": r.queue or "-", "agent": r.agent_id or r.extension or "-"})
    tile.rows = [{"day": d, "queue": q, "expected": e, "recorded": n, "pct": round(100.0 * n / e, 2)}
                 for (d, q), (e, n) in sorted(cells.items())]
    return tile
