"""Conversation metrics per call (talk time, silence, overtalk, pace, talk ratio), as stored.

The scoring handler computes them (``scoring/metrics.py``) and stores them with the
auto-evaluation; :func:`metrics_json` is the stable shape
`callqc show` prints (docs/scoring.md). Headline figures are columns so dashboards can aggregate
them in SQL; the full set is kept as JSON.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import JSON, Column, Field, Session, SQLModel

from storage.models import UTCDateTime, utcnow

SCHEMA_VERSION = 1  # of metrics_json's shape


class CallMetricsRow(SQLModel, table=True):
    __tablename__ = "call_metrics"

    call_id: str = Field(primary_key=True, foreign_key="calls.call_id", max_length=128)
    duration_s: float = 0.0
    agent_talk_s: float | None = None
    customer_talk_s: float | None = None
    non_talk_s: float = 0.0
    longest_silence_s: float = 0.0
    overtalk_count: int = 0
    overtalk_s: float = 0.0
    agent_rate: float | None = None
    customer_rate: float | None = None
    talk_ratio: float | None = None
    metrics: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # indexed: the hour rollup finds metrics computed again since its last refresh (storage/rollups.py)
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, index=True))


def save_metrics(session: Session, row: CallMetricsRow) -> CallMetricsRow:
    """Store (or replace) a call's conversation metrics."""
    stored = session.get(CallMetricsRow, row.call_id)
    if stored is None:
        stored = row
    else:
        for k, v in row.model_dump(exclude={"call_id"}).items():
            setattr(stored, k, v)
    session.add(stored)
    session.flush()
    return stored


def metrics_json(session: Session, call_id: str) -> dict[str, Any] | None:
    """The call's conversation metrics (docs/scoring.md), or None if it was not scored yet."""
    row = session.get(CallMetricsRow, call_id)
    if row is None:
        return None
    return {"schema": SCHEMA_VERSION, "call_id": call_id, **row.metrics,
            "updated_at": row.updated_at.isoformat()}
