"""The review-day rollup's table: per UTC day of a review's submission, tenant, team and agent of its
call, how many reviews carry a score and their sum (``review_days``), for the scorecard's score trend.

review_app/workflow/review_days.py computes, refreshes and reads it; the state row is ``rollup_state``
under the name ``review_days`` (storage/rollups.py). A day is always rewritten whole, never added to.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, Session, SQLModel, col

NAME = "review_days"


class ReviewDay(SQLModel, table=True):
    __tablename__ = "review_days"
    __table_args__ = (sa.Index("ix_review_days_tenant_agent", "tenant", "agent_id"),  # an agent's trend
                      sa.Index("ix_review_days_tenant_team", "tenant", "team"))  # the team's

    day: str = Field(primary_key=True, max_length=10)  # YYYY-MM-DD of reviews.created_at, UTC
    tenant: str = Field(primary_key=True, max_length=64)
    team: str = Field(primary_key=True, max_length=64)  # '' when the call has none
    agent_id: str = Field(primary_key=True, max_length=64)  # '' when the call has none
    scored: int = 0  # reviews with a score
    score_sum: float = 0.0


def replace_days(session: Session, days: list[str], rows: list[dict[str, Any]], *, everything: bool = False) -> None:
    """Delete the rows of ``days`` (``everything``: every row), then write ``rows`` (column → value)."""
    if everything:
        session.execute(sa.delete(ReviewDay))
    for i in range(0, len(days), 500):
        session.execute(sa.delete(ReviewDay).where(col(ReviewDay.day).in_(days[i:i + 500])))
    if rows:
        session.execute(sa.insert(ReviewDay), rows)
