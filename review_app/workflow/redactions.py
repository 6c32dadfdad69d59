"""What was redacted, for the *Redactions* page and the dashboard's daily tile: counts per day and
kind, and each mark (kind, speaker, time span, digit count, which test found it) — never the value,
which is not stored anywhere a reviewer can reach (docs/redaction.md).

Calls are taken by the day they took place (``CALLQC_TIMEZONE``), as on the dashboard, and only the
calls ``who`` may see. PCI pauses of live calls count as kind ``pause``: silenced in the redacted
audio, though not something somebody said.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from review_app.workflow.sampling import WindowEndsBeforeStart
from storage.access import Perm, calls_clause, require
from storage.calls import Call
from storage.pauses import CallPause
from storage.redactions import CallRedaction, Redaction
from storage.settings import get_settings
from storage.users import Principal

MAX_ROWS = 100_000  # marks looked at per window
MARKS_SHOWN = 500
PAUSE = "pause"


@dataclass(frozen=True)
class Mark:
    call_id: str
    started: datetime
    kind: str
    speaker: str
    start_s: float
    end_s: float
    digits: int
    rule: str


@dataclass
class RedactionReport:
    checked_calls: int = 0
    calls_with_marks: int = 0
    per_day: list[dict[str, object]] = field(default_factory=list)  # day, kind, n
    by_kind: dict[str, int] = field(default_factory=dict)
    marks: list[Mark] = field(default_factory=list)  # newest calls first


def redaction_report(session: Session, who: Principal, *, start: datetime, end: datetime) -> RedactionReport:
    """Redactions of the calls that took place in [start, end) and that ``who`` may see."""
    require(who, Perm.view_all_calls)
    if end <= start:
        raise WindowEndsBeforeStart("redactions")
    zone = ZoneInfo(get_settings().timezone)
    in_window = (col(Call.started_at) >= start, col(Call.started_at) < end, calls_clause(who))
    report = RedactionReport()
    report.checked_calls = len(session.exec(
        select(CallRedaction.call_id).join(Call, col(Call.call_id) == col(CallRedaction.call_id)).where(*in_window)
    ).all())
    rows = session.exec(
        select(Redaction, Call.started_at).join(Call, col(Call.call_id) == col(Redaction.call_id))
        .where(*in_window).order_by(col(Call.started_at).desc(), col(Redaction.call_id), col(Redaction.start_s))
        .limit(MAX_ROWS)
    ).all()
    paused = session.exec(
        select(CallPause, Call.started_at).join(Call, col(Call.call_id) == col(CallPause.call_id)).where(*in_window)
        .limit(MAX_ROWS)
    ).all()
    counts: Counter[tuple[str, str]] = Counter()
    calls: set[str] = set()
    for red, started in rows:
        counts[(started.astimezone(zone).date().isoformat(), red.kind)] += 1
        calls.add(red.call_id)
        if len(report.marks) < MARKS_SHOWN:
            report.marks.append(Mark(red.call_id, started, red.kind, red.speaker, red.start_s, red.end_s,
                                     red.digits, red.rule))
    for pause, started in paused:
        counts[(started.astimezone(zone).date().isoformat(), PAUSE)] += 1
        calls.add(pause.call_id)
    report.calls_with_marks = len(calls)
    report.per_day = [{"day": d, "kind": k, "n": n} for (d, k), n in sorted(counts.items())]
    kinds: Counter[str] = Counter()
    for (_, k), n in counts.items():
        kinds[k] += n
    report.by_kind = dict(sorted(kinds.items()))
    return report
