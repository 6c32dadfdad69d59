"""The agreement rollup's tables: per UTC day, tenant and team, counts of (auto answer, inspector's final
answer) pairs per item (``agreement_days``), and which calls' pairs fall on which day (``agreement_call_days``).

scoring/agreement_rollup.py computes, refreshes and reads them; the state row (watermark, lock) is
``rollup_state`` under the name ``agreement_days`` (storage/rollups.py). Like ``hour_stats`` a day is
always rewritten whole from the raw rows, never added to.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, Session, SQLModel, col

NAME = "agreement_days"


class AgreementDay(SQLModel, table=True):
    """A pair (one call, one item, one evaluation with an inspector's answer) counts in the agreement
    of a window [s, e) when s <= t < e and lo < s (or there is no lo): t is its evaluation's last
    update, lo the latest update of a newer such evaluation of the same call and item. ``n`` is the
    number of pairs of the call's tenant and team whose t falls on ``day`` and whose lo on ``lo_day``
    ('' for none), so a window reads its days and keeps the rows whose ``lo_day`` is before its start."""

    __tablename__ = "agreement_days"
    # a team's dashboard reads (tenant, team, day); tenant-wide ones the tenant's prefix
    __table_args__ = (sa.Index("ix_agreement_days_scope", "tenant", "team", "day"),)

    day: str = Field(primary_key=True, max_length=10)  # YYYY-MM-DD of t, UTC
    lo_day: str = Field(primary_key=True, max_length=10)  # YYYY-MM-DD of lo, UTC; '' when none
    tenant: str = Field(primary_key=True, max_length=64)
    team: str = Field(primary_key=True, max_length=64)  # '' when the call has none
    item_id: str = Field(primary_key=True, max_length=64)
    auto_answer: str = Field(primary_key=True, max_length=16)  # '' when the machine gave none
    final_answer: str = Field(primary_key=True, max_length=16)
    n: int = 0


class AgreementCallDay(SQLModel, table=True):
    """The days on which a call's pairs are stored (their t's day): when the call's evaluations change
    (or the call its team), these are the old days whose counts change too (timestamps are overwritten)."""

    __tablename__ = "agreement_call_days"
    __table_args__ = (sa.Index("ix_agreement_call_days_call_id", "call_id"),)

    day: str = Field(primary_key=True, max_length=10)
    call_id: str = Field(primary_key=True, max_length=128)


def replace_days(session: Session, days: list[str], since_day: str | None, counts: list[dict[str, Any]],
                 call_days: list[dict[str, Any]]) -> None:
    """Delete the rows of ``days`` and of every day from ``since_day`` on (None: none), then write the
    fresh rows (column → value)."""
    for table in (AgreementDay, AgreementCallDay):
        day = col(table.day)
        for i in range(0, len(days), 500):
            session.execute(sa.delete(table).where(day.in_(days[i:i + 500])))
        if since_day is not None:
            session.execute(sa.delete(table).where(day >= since_day))
    if counts:
        session.execute(sa.insert(AgreementDay), counts)
    if call_days:
        session.execute(sa.insert(AgreementCallDay), call_days)


def clear(session: Session) -> None:
    """Every row: before a full recompute."""
    session.execute(sa.delete(AgreementDay))
    session.execute(sa.delete(AgreementCallDay))
