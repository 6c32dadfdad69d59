"""Conversation metrics per call (talk time, silence, overtalk, pace, talk ratio), as stored.

The scoring handler stores them with the auto-evaluation; :func:`metrics_json` is the stable shape
`callqc show` prints (docs/scoring.md). Headline figures are columns so dashboards can aggregate
them in SQL; the full set is kept as JSON.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlmodel import JSON, Column, Field, Session, SQLModel

from storage.models import UTCDateTime, utcnow

if TYPE_CHECKING:
    from scoring.metrics import CallMetrics

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
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


def store_metrics(session: Session, call_id: str, metrics: CallMetrics) -> CallMetricsRow:
    """Store (or replace) the call's conversation metrics."""
    rate = metrics.rate
    values: dict[str, Any] = dict(
        duration_s=round(metrics.duration_s, 3), agent_talk_s=metrics.talk_s.get("agent"),
        customer_talk_s=metrics.talk_s.get("customer"), non_talk_s=round(metrics.non_talk_s, 3),
        longest_silence_s=round(metrics.longest_silence_s, 3), overtalk_count=metrics.overtalk_count,
        overtalk_s=round(metrics.overtalk_s, 3),
        agent_rate=rate["agent"].per_minute if "agent" in rate else None,
        customer_rate=rate["customer"].per_minute if "customer" in rate else None,
        talk_ratio=metrics.talk_ratio, metrics=metrics.to_json(), updated_at=utcnow(),
    )
    row = session.get(CallMetricsRow, call_id)
    if row is None:
        row = CallMetricsRow(call_id=call_id, **values)
    else:
        for k, v in values.items():
            setattr(row, k, v)
    session.add(row)
    session.flush()
    return row


def metrics_json(session: Session, call_id: str) -> dict[str, Any] | None:
    """The call's conversation metrics (docs/scoring.md), or None if it was not scored yet."""
    row = session.get(CallMetricsRow, call_id)
    if row is None:
        return None
    return {"schema": SCHEMA_VERSION, "call_id": call_id, **row.metrics,
            "updated_at": row.updated_at.isoformat()}
