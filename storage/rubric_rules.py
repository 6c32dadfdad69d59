"""Which rubric scores which call: selection rules as rows (a rubric per queue, campaign or direction).

A rule names a stored rubric version (storage/rubrics.py) and what a call must match: tenant, and
any of queue, direction and campaign (``meta.campaign`` of the call record); an empty field matches
every call. The most specific matching rule wins (most fields given, then the newest rule); a call
no rule matches is scored with the active rubric (``CALLQC_RUBRIC_PATH`` or the bundled default).
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Column, Field, Session, SQLModel, col, select

from storage.calls import Call
from storage.models import UTCDateTime, utcnow


class RubricRule(SQLModel, table=True):
    __tablename__ = "rubric_rules"

    id: int | None = Field(default=None, primary_key=True)
    tenant: str = Field(default="default", max_length=64, index=True)
    queue: str | None = Field(default=None, max_length=64)
    direction: str | None = Field(default=None, max_length=16)
    campaign: str | None = Field(default=None, max_length=64)
    rubric_id: str = Field(max_length=64)
    rubric_version: int
    active: bool = True
    created_by: str = Field(max_length=128)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


def _matches(rule: RubricRule, call: Call) -> bool:
    campaign = call.meta.get("campaign") if isinstance(call.meta, dict) else None
    return ((rule.queue is None or rule.queue == call.queue)
            and (rule.direction is None or rule.direction == str(call.direction))
            and (rule.campaign is None or rule.campaign == campaign))


def rule_for(session: Session, call: Call) -> RubricRule | None:
    """The most specific active rule matching ``call`` (None: score with the active rubric)."""
    rules = session.exec(select(RubricRule).where(RubricRule.tenant == call.tenant, col(RubricRule.active).is_(True))
                         .order_by(col(RubricRule.id).desc())).all()
    matching = [r for r in rules if _matches(r, call)]
    if not matching:
        return None
    return max(matching, key=lambda r: (sum(x is not None for x in (r.queue, r.direction, r.campaign)), r.id or 0))


def add_rule(session: Session, *, rubric_id: str, rubric_version: int, created_by: str, tenant: str = "default",
             queue: str | None = None, direction: str | None = None, campaign: str | None = None) -> RubricRule:
    rule = RubricRule(tenant=tenant, queue=queue or None, direction=direction or None, campaign=campaign or None,
                      rubric_id=rubric_id, rubric_version=rubric_version, created_by=created_by)
    session.add(rule)
    session.flush()
    return rule


def list_rules(session: Session) -> list[RubricRule]:
    return list(session.exec(select(RubricRule).order_by(col(RubricRule.tenant), col(RubricRule.id))))
