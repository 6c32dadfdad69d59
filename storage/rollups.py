"""Per-hour pre-aggregates of calls, counted evaluations and reviews (``hour_stats``), refreshed incrementally.

One row per UTC hour of the call's start, tenant, team, agent, queue and rubric of the call's counted
evaluation ('' where there is none): column sums from which the KPI page, the dashboard, the
monthly report and the scorecard's team score are computed (review_app/workflow/rollup.py fills
and reads the rows; this module keeps them, the watermark and the refresh's guard).

Why hours: the pages ask for the user's local days (any time zone) and for UTC days, weeks and
months (the KPI periods). Every whole-hour time zone's day is a sum of 24 hour rows; a window edge
that is not on a whole hour (a +05:30 zone) is read from the raw rows instead (see rollup.py).

Refreshing is incremental and counts every fact exactly once:

- a refresh finds the hours touched since the watermark: calls created or changed, their
  conversation metrics, evaluations added or superseded, reviews submitted, disputes resolved
  (each through a timestamp);
- it recomputes each touched hour wholesale from the raw rows (DELETE the hour, INSERT its
  aggregate): an hour seen twice is recomputed twice, never added to twice;
- it looks back ``OVERLAP`` before the watermark, so a row committed late with an earlier timestamp
  (a transaction that ran long) is still seen;
- refreshers take the state row ``FOR UPDATE`` (one at a time), and the watermark moves in one
  guarded UPDATE from the value read to the new one: zero rows means another refresher moved it,
  and this one raises instead of writing over its work.

A call's ``started_at`` is written once, at ingest; nothing in callqc changes it. A hand edit of it
(or rows imported with past timestamps) must be followed by ``callqc db rollup --all``, since the
hour it left is not found through any timestamp.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, Session, SQLModel, col, func, select

from storage.call_metrics import CallMetricsRow
from storage.calls import Call
from storage.errors import Conflict
from storage.evaluations import Evaluation
from storage.models import UTCDateTime, utcnow
from storage.reviews import Dispute, Review

NAME = "hour_stats"
OVERLAP = timedelta(minutes=10)  # longer than any transaction that writes calls, evaluations or reviews
HOUR = timedelta(hours=1)


class HourStats(SQLModel, table=True):
    __tablename__ = "hour_stats"
    __table_args__ = (sa.Index("ix_hour_stats_tenant_hour", "tenant", "hour"),  # tenant-wide pages
                      sa.Index("ix_hour_stats_tenant_team_hour", "tenant", "team", "hour"),  # a team's pages
                      # covering (index-only reads): the dashboard's tiles and trend, the scorecard's team score
                      sa.Index("ix_hour_stats_team_tiles", "tenant", "team", "hour",
                               postgresql_include=["agent_id", "queue", "calls", "reviews", "review_scored",
                                                   "review_score_sum", "review_pass_known", "review_passed",
                                                   "review_retraining", "autos", "auto_critical_fails",
                                                   "duration_s", "fcr_answers", "fcr_answers_yes"]),
                      sa.Index("ix_hour_stats_team_scores", "tenant", "team", "rubric_id", "hour",
                               postgresql_include=["human_n", "human_sum", "auto_n", "auto_sum"]))

    hour: str = Field(primary_key=True, max_length=13)  # YYYY-MM-DDTHH of the call's start, UTC
    tenant: str = Field(primary_key=True, max_length=64)
    team: str = Field(primary_key=True, max_length=64)  # '' when the call has none
    agent_id: str = Field(primary_key=True, max_length=64)
    queue: str = Field(primary_key=True, max_length=64)
    rubric_id: str = Field(primary_key=True, max_length=64)  # of the counted evaluation ('' when none)
    # scoring/kpi.py: sums over the calls, then over the counted evaluations (newest review, else an
    # active auto-submitted evaluation)
    calls: int = 0
    duration_s: float = 0.0
    talk_s: float = 0.0  # duration − PBX hold time
    human_n: int = 0
    human_sum: float = 0.0
    auto_n: int = 0
    auto_sum: float = 0.0
    held_n: int = 0  # calls whose record carries PBX hold events
    held_hold_s: float = 0.0
    held_duration_s: float = 0.0
    held_count: int = 0
    metric_n: int = 0  # calls with conversation metrics
    metric_non_talk_s: float = 0.0
    metric_overtalk_s: float = 0.0
    metric_duration_s: float = 0.0
    metric_overtalk_count: int = 0
    acw_n: int = 0  # calls whose record carries after-call work time
    acw_s: float = 0.0
    acw_talk_s: float = 0.0
    fcr_item_n: int = 0
    fcr_item_yes: int = 0
    complaint_n: int = 0
    complaint_yes: int = 0
    passed_n: int = 0
    passed_yes: int = 0
    critical_fails: int = 0  # counted evaluations with a critical item answered "no"
    retraining: int = 0  # calls whose newest review sent the agent back to training
    # the dashboard's tiles (review_app/workflow/dashboard.py): every review, active auto-evaluations
    reviews: int = 0
    review_scored: int = 0
    review_score_sum: float = 0.0
    review_pass_known: int = 0
    review_passed: int = 0
    review_retraining: int = 0
    autos: int = 0  # calls with an active auto-evaluation
    auto_critical_fails: int = 0
    fcr_answers: int = 0  # final yes/no answers of the FCR items in reviewed calls' human evaluations
    fcr_answers_yes: int = 0


KEY = ("hour", "tenant", "team", "agent_id", "queue", "rubric_id")
SUMS = tuple(c for c in HourStats.model_fields if c not in KEY)


class RollupState(SQLModel, table=True):
    __tablename__ = "rollup_state"

    name: str = Field(primary_key=True, max_length=32)
    watermark: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime(), nullable=True))
    refreshed_at: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime(), nullable=True))
    # hour_stats' row only: the fcr_days setting its sibling hour_repeats was computed with (None: not
    # known); storage/repeats.py reads the call rows instead while the setting differs
    fcr_days: float | None = None


class RollupMoved(Conflict):
    """another refresh moved the rollup's watermark first; run the refresh again"""


@dataclass(frozen=True)
class Refreshed:
    hours: int
    rows: int
    watermark: datetime


def hour_key(when: datetime) -> str:
    return f"{when.astimezone(UTC):%Y-%m-%dT%H}"


def hour_start(key: str) -> datetime:
    return datetime.strptime(key, "%Y-%m-%dT%H").replace(tzinfo=UTC)


def lock_state(session: Session, name: str = NAME) -> RollupState:
    """The state row of rollup ``name``, locked until the transaction ends (made on first use)."""
    q = select(RollupState).where(RollupState.name == name).with_for_update()
    state = session.exec(q).first()
    if state is None:
        try:
            with session.begin_nested():
                session.add(RollupState(name=name))
        except sa.exc.IntegrityError:
            pass  # another refresher made it a moment ago
        state = session.exec(q.execution_options(populate_existing=True)).one()
    return state


def watermark(session: Session, name: str = NAME) -> datetime | None:
    """Up to when the rollup is complete (None: never refreshed, or told to recompute everything)."""
    return session.exec(select(RollupState.watermark).where(RollupState.name == name)).first()


def repeats_watermark(session: Session, fcr_days: float) -> datetime | None:
    """The watermark for reading ``hour_repeats``: None (read the call rows) while its rows were computed
    with another ``fcr_days`` than ``fcr_days`` (the setting now), or with one not known."""
    row = session.exec(select(RollupState.watermark, RollupState.fcr_days).where(RollupState.name == NAME)).first()
    return row[0] if row is not None and row[1] == fcr_days else None


def touched_hours(session: Session, since: datetime) -> set[str]:
    """Hours (of call start) whose rows changed at or after ``since``."""
    started = col(Call.started_at)
    on_call = col(Call.call_id)
    queries = [
        # updated_at is set on insert and by the writers that change a call (calls.move, the archive,
        # disposal), so it alone finds new calls too, through its index (an OR with created_at would not)
        select(started).where(col(Call.updated_at) >= since),
        select(started).join(CallMetricsRow, col(CallMetricsRow.call_id) == on_call)
        .where(col(CallMetricsRow.updated_at) >= since),
        select(started).join(Evaluation, col(Evaluation.call_id) == on_call).where(col(Evaluation.updated_at) >= since),
        select(started).join(Review, col(Review.call_id) == on_call).where(col(Review.created_at) >= since),
        select(started).join(Review, col(Review.call_id) == on_call)
        .join(Dispute, col(Dispute.review_id) == Review.id).where(col(Dispute.resolved_at) >= since),
    ]
    # one statement (UNION), not five: every page read pays this lookup
    return {hour_key(s) for s in session.scalars(sa.union(*queries))}


def all_hours(session: Session) -> list[tuple[datetime, datetime]]:
    """Month-long ranges covering every call's hour, for a full recompute."""
    first, last = session.exec(select(func.min(Call.started_at), func.max(Call.started_at))).one()
    if first is None or last is None:
        return []
    out = []
    at = hour_start(hour_key(first))
    while at <= last:
        nxt = min(at + timedelta(days=31), hour_start(hour_key(last)) + HOUR)
        out.append((at, nxt))
        at = nxt
    return out


def hour_ranges(hours: set[str]) -> list[tuple[datetime, datetime]]:
    """Touched hours as runs of consecutive hours (one query per run instead of one per hour)."""
    out: list[tuple[datetime, datetime]] = []
    for h in sorted(hours):
        at = hour_start(h)
        if out and out[-1][1] == at:
            out[-1] = (out[-1][0], at + HOUR)
        else:
            out.append((at, at + HOUR))
    return out


def replace_hours(session: Session, ranges: list[tuple[datetime, datetime]], rows: list[dict[str, Any]],
                  table: Any = HourStats) -> None:
    """Delete the rows of ``table`` (an hour-keyed rollup) in these hour ranges and write ``rows`` (their
    fresh aggregate, column → value)."""
    for a, b in ranges:
        h = table.hour
        session.execute(sa.delete(table).where(h >= hour_key(a), h < hour_key(b)))
    if rows:
        # one executemany: a month is tens of thousands of rows, too many for ORM objects
        session.execute(sa.insert(table), rows)


def move_watermark(session: Session, old: datetime | None, new: datetime, name: str = NAME, *,
                   fcr_days: float | None = None) -> None:
    """The guarded step: from the value this refresh read to ``new`` (and to the ``fcr_days`` the rows
    were computed with, when given); zero rows → RollupMoved."""
    same = col(RollupState.watermark).is_(None) if old is None else col(RollupState.watermark) == old
    values: dict[str, Any] = {"watermark": new, "refreshed_at": utcnow()}
    values |= {"fcr_days": fcr_days} if fcr_days is not None else {}
    moved = session.execute(sa.update(RollupState).where(col(RollupState.name) == name, same)
                            .values(**values).returning(col(RollupState.name))).first()
    if moved is None:
        raise RollupMoved()


def recompute_all(session: Session) -> None:
    """Make the next refresh of every rollup (this one and its siblings: scoring/agreement_rollup.py,
    review_app/workflow/review_days.py) recompute everything: after rows were written with past
    timestamps (``callqc dev populate``, an import), which the watermarks would not look back to."""
    session.execute(sa.update(RollupState).values(watermark=None))
