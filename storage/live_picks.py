"""Live sampling (同步抽听) as rows: live plans and the picks made under them.

A live plan says which live calls an inspector who asks ("give me a live call") may be given: a
share of calls or N per agent per day, filters, a seed, a daily cap per inspector, and whether the
same agent may come twice in a row. A plan belongs to its creator's tenant (and team, when the
creator is team-bound). Each pick keeps its plan, inspector, agent, day and why it was
chosen. ``call_id`` is unique: two inspectors asking at the same moment never get the same call
(the second insert fails and the rules pick again). The rules are in review_app/workflow/live.py.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import JSON, Column, Field, SQLModel

from storage.models import UTCDateTime, utcnow


class LiveMode(StrEnum):
    share = "share"  # this share of live calls may be picked (decided per call from the seed)
    per_agent = "per_agent"  # at most N picks per agent per day


class LivePlan(SQLModel, table=True):
    __tablename__ = "live_plans"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, sa_column_kwargs={"unique": True})
    mode: LiveMode = Field(sa_type=sa.String(16))
    share: float = 1.0  # share mode, 0 < share <= 1
    per_agent_day: int = 0  # per_agent mode
    filters: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    seed: int
    inspector_daily_cap: int = 20
    repeat_agent: bool = False  # may the same agent come twice in a row to one inspector
    created_by: str = Field(max_length=64)
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    # a cron expression (UTC): at each firing the scheduler picks a live call for each of ``inspectors``
    schedule: str | None = Field(default=None, max_length=100)
    inspectors: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # whose plan it is: its creator's tenant, and team when the creator is team-bound (None: every team
    # of the tenant); only users of that tenant (and team) may pick by it (review_app/workflow/live.py)
    tenant: str = Field(default="default", max_length=64, index=True)
    team: str | None = Field(default=None, max_length=64)


class LivePick(SQLModel, table=True):
    __tablename__ = "live_picks"

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="live_plans.id", index=True)
    inspector: str = Field(max_length=64, index=True)
    call_id: str = Field(max_length=128, sa_column_kwargs={"unique": True})
    agent_id: str | None = Field(default=None, max_length=64)
    day: str = Field(max_length=10, index=True)  # YYYY-MM-DD (UTC) the caps count by
    reason: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    picked_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
