"""Claims of scheduled work: one row per plan and period, so a period runs exactly once (sampling
plans; the month-end report per tenant and month; each firing of a scheduled live plan).

Several scheduler processes (``callqc up``'s scheduler on two hosts, a Kubernetes CronJob) may wake
for the same period. Each tries to insert the claim row ``(plan_id, period_start)``; the unique
constraint lets exactly one insert succeed, and the winner does the period's work in the same
transaction, so a crash mid-run leaves no claim and the period is run again later.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Column, Field, SQLModel

from storage.models import UTCDateTime, utcnow


class SamplingClaim(SQLModel, table=True):
    __tablename__ = "sampling_claims"
    __table_args__ = (sa.UniqueConstraint("plan_id", "period_start", name="uq_sampling_claim_period"),)

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="sampling_plans.id", index=True)
    period_start: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    period_end: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    claimed_by: str = Field(max_length=128)  # host:pid of the scheduler that ran it
    run_id: int | None = None
    claimed_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class ReportClaim(SQLModel, table=True):
    """The month-end quality audit report of one tenant and month: made once, by whoever inserts this."""

    __tablename__ = "report_claims"
    __table_args__ = (sa.UniqueConstraint("month", "tenant", name="uq_report_claim_month"),)

    id: int | None = Field(default=None, primary_key=True)
    month: str = Field(max_length=7)  # YYYY-MM
    tenant: str = Field(max_length=64)
    claimed_by: str = Field(max_length=128)
    path: str = Field(default="", max_length=512)  # the XLSX written (the CSV beside it)
    claimed_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class LiveClaim(SQLModel, table=True):
    """One firing of a scheduled live plan: its picks are made once, by whoever inserts this."""

    __tablename__ = "live_claims"
    __table_args__ = (sa.UniqueConstraint("plan_id", "fire_at", name="uq_live_claim_fire"),)

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="live_plans.id", index=True)
    fire_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    claimed_by: str = Field(max_length=128)
    picks: int = 0
    claimed_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
