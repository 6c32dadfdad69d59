"""Tables of the review workflow, on top of the evaluations (storage/evaluations.py).

Per-item auto, human and final answers live in the evaluation tables; these tables add what the
inspection workflow needs around them: the inspector's verdict and overall comment, the agent's
acknowledgements and disputes (with a history that is never rewritten), calibration sessions,
and sampling plans, runs and assignments (each assignment says which plan and run chose the call
and why). The functions working on them live in scoring/ (inspection, feedback, sampling,
calibration).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import JSON, Column, Field, SQLModel

from storage.models import UTCDateTime, utcnow


def _ts(*, nullable: bool = False, index: bool = False) -> Any:
    if nullable:
        return Field(default=None, sa_column=Column(UTCDateTime(), nullable=True, index=index))
    return Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, index=index))


class Verdict(StrEnum):
    passed = "pass"
    failed = "fail"
    retraining = "retraining"  # back to retraining (不达标业务代表回炉)


class ReviewMode(StrEnum):
    async_ = "async"  # scored from the recording, after the call
    sync = "sync"  # scored while listening to the live call, submitted after it ended


class DisputeState(StrEnum):
    open = "open"
    upheld = "upheld"  # the supervisor kept the score
    changed = "changed"  # the supervisor changed the score


class AssignmentState(StrEnum):
    open = "open"
    done = "done"


class SamplingMode(StrEnum):
    per_agent = "per_agent"  # N calls per agent per period
    percent = "percent"  # a percentage of matching calls, at least a minimum


class Review(SQLModel, table=True):
    __tablename__ = "reviews"

    id: int | None = Field(default=None, primary_key=True)
    call_id: str = Field(foreign_key="calls.call_id", max_length=128, index=True)
    evaluation_id: int = Field(index=True)  # the human evaluation this review submitted
    auto_evaluation_id: int | None = None
    inspector: str = Field(max_length=64, index=True)
    verdict: Verdict = Field(sa_type=sa.String(16))
    comment: str = ""
    score: float | None = None  # final score at submission; a dispute may change it
    passed: bool | None = None
    assignment_id: int | None = Field(default=None, index=True)
    # the review form's one-time token: a double-clicked Submit stores one review, not two
    form_token: str | None = Field(default=None, max_length=64, unique=True, index=True)
    # sync: scored while listening to the live call (同步抽听), submitted after it ended; async: afterwards
    mode: ReviewMode = Field(default=ReviewMode.async_, sa_type=sa.String(8),
                             sa_column_kwargs={"server_default": "async"})
    created_at: datetime = _ts(index=True)


class Acknowledgement(SQLModel, table=True):
    __tablename__ = "review_acks"

    id: int | None = Field(default=None, primary_key=True)
    review_id: int = Field(foreign_key="reviews.id", index=True)
    by_user: str = Field(max_length=64)
    comment: str = ""
    at: datetime = _ts()


class Dispute(SQLModel, table=True):
    __tablename__ = "disputes"

    id: int | None = Field(default=None, primary_key=True)
    # the disputed review; None while the dispute is about an auto-submitted evaluation no inspector
    # has reviewed yet (``evaluation_id``), set when an inspector's review settles it
    review_id: int | None = Field(default=None, foreign_key="reviews.id", index=True)
    evaluation_id: int | None = Field(default=None, index=True)
    item_id: str | None = Field(default=None, max_length=64)  # one rubric item; None: the whole evaluation
    opened_by: str = Field(max_length=64)
    reason: str
    state: DisputeState = Field(default=DisputeState.open, sa_type=sa.String(16), index=True)
    opened_at: datetime = _ts()
    resolved_by: str | None = Field(default=None, max_length=64)
    resolved_at: datetime | None = _ts(nullable=True)
    score_before: float | None = None
    score_after: float | None = None


class DisputeEvent(SQLModel, table=True):
    """One line of a dispute's history: opened, upheld, changed (kept forever)."""

    __tablename__ = "dispute_events"

    id: int | None = Field(default=None, primary_key=True)
    dispute_id: int = Field(foreign_key="disputes.id", index=True)
    at: datetime = _ts()
    actor: str = Field(max_length=64)
    action: str = Field(max_length=16)
    comment: str = ""
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class CalibrationSession(SQLModel, table=True):
    __tablename__ = "calibration_sessions"

    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(max_length=200)
    created_by: str = Field(max_length=64)
    expert: str = Field(max_length=64)  # whose answers are the baseline
    call_ids: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    inspectors: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    closed: bool = False
    created_at: datetime = _ts()


class CalibrationEntry(SQLModel, table=True):
    """One participant's blind answers for one call of a calibration session."""

    __tablename__ = "calibration_entries"
    __table_args__ = (sa.UniqueConstraint("session_id", "call_id", "inspector", name="uq_calibration_entry"),)

    id: int | None = Field(default=None, primary_key=True)
    session_id: int = Field(foreign_key="calibration_sessions.id", index=True)
    call_id: str = Field(foreign_key="calls.call_id", max_length=128)
    inspector: str = Field(max_length=64)
    answers: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    evaluation_id: int | None = None  # the kind=calibration evaluation, when stored there too
    submitted_at: datetime = _ts()


class SamplingPlan(SQLModel, table=True):
    __tablename__ = "sampling_plans"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, sa_column_kwargs={"unique": True})
    mode: SamplingMode = Field(sa_type=sa.String(16))
    count: int = 0  # per_agent: calls per agent per period
    period_days: int = 1  # 1 = a day, 7 = a week
    percent: float = 0.0  # percent mode
    minimum: int = 0  # percent mode: at least this many calls
    filters: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    inspectors: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    daily_cap: int = 50  # most assignments one inspector gets per day
    seed: int
    created_by: str = Field(max_length=64)
    active: bool = True
    created_at: datetime = _ts()
    # whose calls the plan samples: its creator's tenant, and team when the creator is team-bound
    tenant: str = Field(default="default", max_length=64, index=True)
    team: str | None = Field(default=None, max_length=64)
    # a cron expression (UTC): the plan runs by itself once per period (storage/schedules.py)
    schedule: str | None = Field(default=None, max_length=100)


class SamplingRun(SQLModel, table=True):
    __tablename__ = "sampling_runs"

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="sampling_plans.id", index=True)
    seed: int  # the seed this run used: plan seed mixed with the window, stored to replay it
    window_start: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    window_end: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    created_by: str = Field(max_length=64)
    created_at: datetime = _ts()
    stats: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class Assignment(SQLModel, table=True):
    __tablename__ = "assignments"
    __table_args__ = (
        sa.UniqueConstraint("run_id", "call_id", name="uq_assignment_run_call"),
        sa.Index("ix_assignments_inbox", "inspector", "state", "day"),
    )

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="sampling_runs.id", index=True)
    plan_id: int = Field(foreign_key="sampling_plans.id")
    call_id: str = Field(foreign_key="calls.call_id", max_length=128, index=True)
    inspector: str = Field(max_length=64)
    day: str = Field(max_length=10)  # YYYY-MM-DD the inspector should do it (daily cap counts per day)
    reason: str = Field(max_length=300)
    state: AssignmentState = Field(default=AssignmentState.open, sa_type=sa.String(16))
    review_id: int | None = None
    created_at: datetime = _ts()


def add_assignments(session: Any, run_id: int, plan_id: int, rows: list[tuple[str, str, str, str]]) -> None:
    """Store a run's picks, each (call ID, inspector, day, reason), open, in one statement.

    On PostgreSQL one ``INSERT ... SELECT FROM unnest(arrays)``: one statement whatever the run's size,
    parsed and planned once, where an executemany sends one INSERT per row (each with its own
    after-statement foreign-key triggers). Every row's foreign keys are still checked: the one to
    ``calls`` is about half of the statement's time (a key-share lock of each call's row)."""
    if not rows:
        return
    table: sa.Table = Assignment.__table__  # type: ignore[attr-defined]
    now = utcnow()
    if session.get_bind().dialect.name != "postgresql":
        session.execute(sa.insert(table), [
            {"run_id": run_id, "plan_id": plan_id, "call_id": c, "inspector": i, "day": d, "reason": r,
             "state": AssignmentState.open.value, "review_id": None, "created_at": now} for c, i, d, r in rows])
        return
    calls, inspectors, days, reasons = (list(x) for x in zip(*rows, strict=True))
    text_array = postgresql.ARRAY(sa.String())
    picked = sa.func.unnest(sa.cast(sa.bindparam("calls", calls), text_array),
                            sa.cast(sa.bindparam("inspectors", inspectors), text_array),
                            sa.cast(sa.bindparam("days", days), text_array),
                            sa.cast(sa.bindparam("reasons", reasons), text_array)
                            ).table_valued("call_id", "inspector", "day", "reason").render_derived(name="picked")
    session.execute(sa.insert(table).from_select(
        ["run_id", "plan_id", "call_id", "inspector", "day", "reason", "state", "created_at"],
        sa.select(sa.literal(run_id), sa.literal(plan_id), picked.c.call_id, picked.c.inspector, picked.c.day,
                  picked.c.reason, sa.literal(AssignmentState.open.value), sa.literal(now, UTCDateTime()))))
