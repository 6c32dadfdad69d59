"""The PBX's call records (CDR): read them, match them to recordings, and measure coverage.

Asterisk's ``cdr_csv`` writes ``Master.csv`` without a header, one record per line, in the PBX's local
time (unless ``usegmtime=yes``, then set ``CALLQC_PBX_TIMEZONE=UTC``). A call may have several
records (each queue member rung, each transfer); what counts for coverage is each ``uniqueid`` with
an ``ANSWERED`` record: a call somebody talked on, which must have a recording.

Matching a record to a recording: by ``uniqueid`` (the call ID of a FreePBX/Asterisk recording), then
by ``linkedid``, then by time and numbers (a recording started within ``WINDOW_S`` of the record's
start or answer, with the same caller or callee). Matching is run again each time coverage is asked
for, so a recording that arrives late closes its gap.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from sqlmodel import Session, col, select

from recorder.layouts import read_agent_map
from storage import cdr
from storage.calls import Call
from storage.cdr import CdrRecord
from storage.errors import InvalidInput

WINDOW_S = 10.0  # recording start vs the record's start/answer, for records matched by time and numbers

# cdr_csv's column order (Asterisk 1.8 – 22, default configuration; no header row)
MASTER_CSV_COLUMNS = ("accountcode", "src", "dst", "dcontext", "clid", "channel", "dstchannel", "lastapp",
                      "lastdata", "start", "answer", "end", "duration", "billsec", "disposition", "amaflags",
                      "uniqueid", "userfield")
_OPTIONAL = ("linkedid", "peeraccount", "sequence")  # cdr_csv with loguniqueid/loguserfield + newer fields
_CHANNEL_EXT = re.compile(r"^(?:PJSIP|SIP|IAX2|Local|DAHDI)/(\d{2,8})(?:[-@;].*)?$")


# mod_cdr_csv's `example` template (FreeSWITCH's shipped cdr_csv.conf.xml default); other templates: not read
FREESWITCH_CSV_COLUMNS = ("caller_id_name", "caller_id_number", "destination_number", "context", "start_stamp",
                          "answer_stamp", "end_stamp", "duration", "billsec", "hangup_cause", "uuid", "bleg_uuid",
                          "accountcode", "read_codec", "write_codec")


class BadCdr(InvalidInput):
    """bad CDR file"""


def read_master_csv(path: Path, *, timezone: str = "UTC", agents: dict[str, str] | None = None
                    ) -> list[CdrRecord]:
    """The records of an Asterisk ``Master.csv``; a line that is not a CDR names its line number."""
    tz = pbx_zone(timezone)
    out = []
    try:
        with Path(path).open(newline="", encoding="utf-8", errors="replace") as fh:
            for n, row in enumerate(csv.reader(fh), 1):
                if not row:
                    continue
                if len(row) < len(MASTER_CSV_COLUMNS):
                    raise BadCdr(f"{path}: line {n}: {len(row)} fields, a cdr_csv record has at least "
                                 f"{len(MASTER_CSV_COLUMNS)}")
                names = MASTER_CSV_COLUMNS + _OPTIONAL[: len(row) - len(MASTER_CSV_COLUMNS)]
                raw = dict(zip(names, row, strict=False))
                out.append(_record(raw, tz, agents or {}, f"{path}: line {n}"))
    except OSError as exc:
        raise BadCdr(f"{path}: {exc.strerror}") from None
    return out


def read_freeswitch_csv(path: Path, *, timezone: str = "UTC", agents: dict[str, str] | None = None
                        ) -> list[CdrRecord]:
    """The records of a FreeSWITCH ``mod_cdr_csv`` file written with the ``example`` template. A call
    counts as answered when it has an ``answer_stamp`` (``hangup_cause`` alone does not say)."""
    tz = pbx_zone(timezone)
    agents = agents or {}
    out = []
    try:
        with Path(path).open(newline="", encoding="utf-8", errors="replace") as fh:
            for n, row in enumerate(csv.reader(fh), 1):
                if not row:
                    continue
                if len(row) != len(FREESWITCH_CSV_COLUMNS):
                    raise BadCdr(f"{path}: line {n}: {len(row)} fields, the `example` template writes "
                                 f"{len(FREESWITCH_CSV_COLUMNS)}")
                raw = dict(zip(FREESWITCH_CSV_COLUMNS, row, strict=True))
                where = f"{path}: line {n}"
                start = cdr_time(raw["start_stamp"], tz, where)
                if start is None or not raw["uuid"]:
                    raise BadCdr(f"{where}: no start_stamp or uuid")
                answer, end = cdr_time(raw["answer_stamp"], tz, where), cdr_time(raw["end_stamp"], tz, where)
                caller, callee = raw["caller_id_number"][:64] or None, raw["destination_number"][:64] or None
                ext = next((n for n in (callee, caller) if n and n in agents), None)
                out.append(CdrRecord(
                    record_key=hashlib.sha256(json.dumps(raw, sort_keys=True).encode()).hexdigest(),
                    source="freeswitch_csv", uniqueid=raw["uuid"][:128], linkedid=raw["bleg_uuid"] or None,
                    started_at=start, answered_at=answer, ended_at=end, caller=caller, callee=callee,
                    extension=ext, agent_id=agents.get(ext) if ext else None,
                    disposition="ANSWERED" if answer else raw["hangup_cause"][:32] or "NO ANSWER",
                    ring_s=(answer - start).total_seconds() if answer else None,
                    talk_s=float(raw["billsec"]) if raw["billsec"].isdigit() else None, raw=raw,
                ))
    except OSError as exc:
        raise BadCdr(f"{path}: {exc.strerror}") from None
    return out


def _record(raw: dict[str, str], tz: ZoneInfo, agents: dict[str, str], where: str) -> CdrRecord:
    start = cdr_time(raw["start"], tz, where)
    if start is None or not raw["uniqueid"]:
        raise BadCdr(f"{where}: no start time or uniqueid")
    answer, end = cdr_time(raw["answer"], tz, where), cdr_time(raw["end"], tz, where)
    ext = channel_extension(raw.get("dstchannel", ""), agents) or channel_extension(raw.get("channel", ""), agents)
    queue = raw["lastdata"].split(",")[0] or None if raw["lastapp"] == "Queue" else None
    key = hashlib.sha256(json.dumps(raw, sort_keys=True).encode()).hexdigest()
    return CdrRecord(
        record_key=key, source="asterisk_csv", uniqueid=raw["uniqueid"][:128],
        linkedid=(raw.get("linkedid") or None), started_at=start, answered_at=answer, ended_at=end,
        caller=raw["src"][:64] or None, callee=raw["dst"][:64] or None, queue=queue and queue[:64],
        extension=ext, agent_id=agents.get(ext) if ext else None, disposition=raw["disposition"][:32],
        ring_s=(answer - start).total_seconds() if answer else None,
        talk_s=float(raw["billsec"]) if raw["billsec"].isdigit() else None, raw=raw,
    )


def channel_extension(channel: str, agents: dict[str, str]) -> str | None:
    m = _CHANNEL_EXT.match(channel)
    if m is None:
        return None
    ext = m.group(1)
    # A trunk named by digits is not an agent: with an agent table, only its extensions count.
    return ext if not agents or ext in agents else None


def cdr_time(text: str, tz: ZoneInfo, where: str) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=tz)
    except ValueError:
        raise BadCdr(f"{where}: bad time {text!r}") from None


def pbx_zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise BadCdr(f"unknown time zone {name!r}") from None


CDR_READERS = {"asterisk": read_master_csv, "freeswitch": read_freeswitch_csv}


def import_cdr_csv(session: Session, path: Path, *, timezone: str, agent_map: Path | None,
                   kind: str = "asterisk") -> int:
    """Store the file's records not stored yet; how many were new."""
    if kind not in CDR_READERS:
        raise BadCdr(f"CDR format {kind!r}; known: {', '.join(CDR_READERS)}")
    return cdr.add_new(session, CDR_READERS[kind](path, timezone=timezone, agents=read_agent_map(agent_map)))


@dataclass
class Coverage:
    day: date
    answered: int = 0
    recorded: int = 0
    missing: list[CdrRecord] = field(default_factory=list)
    by_queue: dict[str, list[int]] = field(default_factory=dict)  # queue -> [recorded, answered]
    by_agent: dict[str, list[int]] = field(default_factory=dict)

    @property
    def pct(self) -> float:
        return 100.0 if self.answered == 0 else round(100.0 * self.recorded / self.answered, 2)

    def as_dict(self) -> dict[str, object]:
        def pcts(d: dict[str, list[int]]) -> dict[str, dict[str, float]]:
            return {k: {"recorded": r, "answered": a, "pct": round(100.0 * r / a, 2)}
                    for k, (r, a) in sorted(d.items())}
        return {"day": self.day.isoformat(), "answered": self.answered, "recorded": self.recorded,
                "missing": len(self.missing), "pct": self.pct, "by_queue": pcts(self.by_queue),
                "by_agent": pcts(self.by_agent),
                "missing_calls": [{"uniqueid": r.uniqueid, "start": r.started_at.isoformat(), "caller": r.caller,
                                   "callee": r.callee, "queue": r.queue, "agent_id": r.agent_id} for r in self.missing]}


def coverage(session: Session, day: date, *, timezone: str) -> Coverage:
    """Match the day's records to recordings (again: late files count) and count answered calls."""
    tz = pbx_zone(timezone)
    start = datetime(day.year, day.month, day.day, tzinfo=tz)
    end = start + timedelta(days=1)
    records = cdr.in_window(session, start, end)
    answered: dict[str, CdrRecord] = {}
    for r in records:  # one call per uniqueid: its answered record (the first, in time order)
        if r.disposition == "ANSWERED" and r.uniqueid not in answered:
            answered[r.uniqueid] = r
    calls = _calls_between(session, start - timedelta(hours=1), end + timedelta(hours=1))
    # By ID whatever the recording's start says: a file without a time in its name starts at its
    # modification time, which may be days after the call (a copied or late file).
    ids = set(answered) | {r.linkedid for r in answered.values() if r.linkedid}
    by_id = {c.call_id: c for c in calls}
    by_id.update({c.call_id: c for c in _calls_with_ids(session, ids - set(by_id))})
    result = Coverage(day)
    for uid, rec in answered.items():
        call = by_id.get(uid) or (by_id.get(rec.linkedid) if rec.linkedid else None) or _by_time(rec, calls)
        if call is not None:
            _join(session, rec, call)
        result.answered += 1
        result.recorded += call is not None
        if call is None:
            result.missing.append(rec)
        agent = rec.agent_id or rec.extension or "-"
        for table, key in ((result.by_queue, rec.queue or "-"), (result.by_agent, agent)):
            counts = table.setdefault(key, [0, 0])
            counts[0] += call is not None
            counts[1] += 1
    return result


def _calls_between(session: Session, start: datetime, end: datetime) -> list[Call]:
    stmt = select(Call).where(col(Call.started_at) >= start, col(Call.started_at) < end)
    return list(session.exec(stmt).all())


def _calls_with_ids(session: Session, ids: set[str]) -> list[Call]:
    found: list[Call] = []
    pending = sorted(ids)
    for i in range(0, len(pending), 500):  # bounded IN lists
        found.extend(session.exec(select(Call).where(col(Call.call_id).in_(pending[i : i + 500]))).all())
    return found


def _by_time(rec: CdrRecord, calls: list[Call]) -> Call | None:
    numbers = {n for n in (rec.caller, rec.callee) if n}
    best: tuple[float, Call] | None = None
    for c in calls:
        if not numbers & {c.caller, c.callee}:
            continue
        gap = min(abs((c.started_at - t).total_seconds()) for t in (rec.started_at, rec.answered_at) if t)
        if gap <= WINDOW_S and (best is None or gap < best[0]):
            best = (gap, c)
    return best[1] if best else None


def _join(session: Session, rec: CdrRecord, call: Call) -> None:
    """Record the match, and fill what the recording did not say (what it says is kept)."""
    cdr.set_match(session, rec.record_key, call.call_id)
    calls_t: sa.Table = Call.__table__  # type: ignore[attr-defined]
    fill = {name: sa.func.coalesce(calls_t.c[name], value)
            for name, value in (("caller", rec.caller), ("callee", rec.callee), ("queue", rec.queue),
                                ("agent_id", rec.agent_id)) if value}
    if fill:
        session.execute(sa.update(calls_t).where(calls_t.c.call_id == call.call_id).values(**fill))


def missing_lines(cov: Coverage) -> Iterator[str]:
    for r in cov.missing:
        yield (f"missing  {r.uniqueid}  {r.started_at:%Y-%m-%d %H:%M:%S%z}  {r.caller or '-'} -> {r.callee or '-'}"
               f"  queue {r.queue or '-'}  agent {r.agent_id or r.extension or '-'}")
