"""Routing rules and the routed-call queue: which auto-scored calls an inspector must look at, and by when.

A rule is data a supervisor manages (one row per rule): for a tenant and team (no team: every team
of the tenant) it names a reason a call needs a human (a critical fail, a score under a threshold,
an item without sufficient evidence, a learned item answering with low confidence), a priority
(1 is the most urgent) and how many hours an inspector has. Every rule that matches a call's
automatic evaluation adds one row to ``routed_calls`` (at most one per call and rule); the team's
queue is those rows, still open, sorted by priority, due time or score. The rules are applied in
scoring/routing.py; the queue is read in review_app/workflow/routing.py.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Column, Field, SQLModel

from storage.models import UTCDateTime, utcnow


class RouteReason(StrEnum):
    critical_fail = "critical_fail"
    score_below = "score_below"  # threshold: the score
    insufficient = "insufficient"  # an item the machine could not decide
    low_confidence = "low_confidence"  # threshold: the confidence a learned item's answer needs
    disputed = "disputed"  # the agent disputes an auto-submitted evaluation (no rule: always routed)


class RoutedState(StrEnum):
    open = "open"
    done = "done"


def _ts(*, index: bool = False) -> Any:
    return Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, index=index))


class RoutingRule(SQLModel, table=True):
    __tablename__ = "routing_rules"

    id: int | None = Field(default=None, primary_key=True)
    tenant: str = Field(default="default", max_length=64, index=True)
    team: str | None = Field(default=None, max_length=64)  # None: every team of the tenant
    reason: RouteReason = Field(sa_type=sa.String(16))
    threshold: float | None = None
    priority: int = 3  # 1 = most urgent
    due_hours: float = 24.0
    active: bool = True
    created_by: str = Field(max_length=64)
    created_at: datetime = _ts()


class RoutedCall(SQLModel, table=True):
    __tablename__ = "routed_calls"
    __table_args__ = (
        sa.UniqueConstraint("call_id", "rule_id", name="uq_routed_call_rule"),
        sa.Index("ix_routed_calls_queue", "tenant", "team", "state", "priority"),
    )

    id: int | None = Field(default=None, primary_key=True)
    call_id: str = Field(foreign_key="calls.call_id", max_length=128, index=True)
    evaluation_id: int
    rule_id: int | None = Field(default=None, foreign_key="routing_rules.id")  # None: an agent's dispute
    tenant: str = Field(max_length=64)
    team: str | None = Field(default=None, max_length=64)
    reason: RouteReason = Field(sa_type=sa.String(16))
    detail: str = Field(default="", max_length=300)  # e.g. "score 62.0 < 70", the items concerned
    score: float | None = None
    priority: int = 3
    due_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    state: RoutedState = Field(default=RoutedState.open, sa_type=sa.String(16))
    done_by: str | None = Field(default=None, max_length=64)
    review_id: int | None = None
    created_at: datetime = _ts()
