"""Call records (CDR) from the PBX: one row per record as the PBX wrote it, and the call it matched.

The PBX's record is the truth about which calls happened and were answered; the recording is ours.
Each record is kept raw (``raw``, the fields as read) next to the columns parsed from it. A record is
identified by ``record_key``, a hash of its raw fields, so reading the same CDR file again adds
nothing. ``call_id`` is set when a recording was matched to it (and may be set later: a late file).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import JSON, Column, Field, Session, SQLModel, col, select

from storage.models import UTCDateTime, ts_column


class CdrRecord(SQLModel, table=True):
    __tablename__ = "cdr_records"

    record_key: str = Field(primary_key=True, max_length=64)  # sha256 of the raw record
    source: str = Field(max_length=32)  # asterisk_csv, ...
    uniqueid: str = Field(max_length=128, index=True)
    linkedid: str | None = Field(default=None, max_length=128)
    started_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    answered_at: datetime | None = ts_column()
    ended_at: datetime | None = ts_column()
    caller: str | None = Field(default=None, max_length=64)
    callee: str | None = Field(default=None, max_length=64)
    queue: str | None = Field(default=None, max_length=64)
    extension: str | None = Field(default=None, max_length=64)
    agent_id: str | None = Field(default=None, max_length=64)
    disposition: str = Field(max_length=32)  # ANSWERED, NO ANSWER, BUSY, FAILED, CONGESTION
    ring_s: float | None = None  # start → answer
    talk_s: float | None = None  # billsec
    wrapup_s: float | None = None  # not in Asterisk's CDR (queue_log has it); None when unknown
    call_id: str | None = Field(default=None, max_length=128, index=True)  # the recording matched
    raw: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


cdr_table: sa.Table = CdrRecord.__table__  # type: ignore[attr-defined]


def add_new(session: Session, records: Sequence[CdrRecord]) -> int:
    """Insert the records not stored yet (by ``record_key``); how many were new."""
    if not records:
        return 0
    keys = [r.record_key for r in records]
    have = set(session.exec(select(CdrRecord.record_key).where(col(CdrRecord.record_key).in_(keys))).all())
    new = [r for r in records if r.record_key not in have]
    session.add_all(new)
    session.flush()
    return len(new)


def in_window(session: Session, start: datetime, end: datetime) -> list[CdrRecord]:
    stmt = select(CdrRecord).where(col(CdrRecord.started_at) >= start, col(CdrRecord.started_at) < end)
    return list(session.exec(stmt.order_by(col(CdrRecord.started_at))).all())


def set_match(session: Session, record_key: str, call_id: str) -> None:
    """Point a record at its recording (one statement; a record already matched stays as it is)."""
    session.execute(sa.update(cdr_table).where(cdr_table.c.record_key == record_key,
                                               cdr_table.c.call_id.is_(None)).values(call_id=call_id))
