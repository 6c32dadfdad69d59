"""The review-day rollup (storage/review_days.py): the scorecard's daily score trend of an agent and of
the agent's team, summed per day instead of averaged over every review of the team.

Exact at the moment of reading, as the hour rollup (rollup.py): the stored days are used except the
days touched since the last refresh (a review submitted, a dispute resolved that changed a score, a
call of a review changed, e.g. moved to another team), which are computed from the raw rows with
:func:`raw_rows`, the very function that computes the stored rows. A refresh recomputes those days
whole and moves the watermark under the guard of storage/rollups.py, so each review counts once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from storage import review_days, rollups
from storage.calls import Call
from storage.models import utcnow
from storage.review_days import ReviewDay
from storage.reviews import Dispute, Review
from storage.rollups import OVERLAP, Refreshed

DAY = timedelta(days=1)
Key = tuple[str, str, str, str]  # day, tenant, team, agent


def day_key(when: datetime) -> str:
    return f"{when.astimezone(UTC):%Y-%m-%d}"


def _day_start(key: str) -> datetime:
    return datetime.strptime(key, "%Y-%m-%d").replace(tzinfo=UTC)


def raw_rows(session: Session, a: datetime, b: datetime, where: Iterable[Any] = ()) -> dict[Key, list[float]]:
    """Per (day, tenant, team, agent): [reviews with a score, their sum], of reviews submitted in [a, b)."""
    out: dict[Key, list[float]] = defaultdict(lambda: [0, 0.0])
    q = (sa.select(col(Review.created_at), col(Call.tenant), col(Call.team), col(Call.agent_id), col(Review.score))
         .join(Call, col(Call.call_id) == Review.call_id)
         .where(col(Review.created_at) >= a, col(Review.created_at) < b, col(Review.score).is_not(None), *where))
    for at, tenant, team, agent, score in session.execute(q):
        s = out[(day_key(at), tenant, team or "", agent or "")]
        s[0] += 1
        s[1] += score
    return out


def touched_days(session: Session, since: datetime) -> set[str]:
    """Days (of review submission) whose rows changed at or after ``since``."""
    created = col(Review.created_at)
    queries = [
        select(created).where(created >= since),
        select(created).join(Call, col(Call.call_id) == Review.call_id).where(col(Call.updated_at) >= since),
        select(created).join(Dispute, col(Dispute.review_id) == Review.id).where(col(Dispute.resolved_at) >= since),
    ]
    return {day_key(t) for t in session.scalars(sa.union(*queries))}  # one statement, read by every page


def _ranges(days: Iterable[str]) -> list[tuple[datetime, datetime]]:
    out: list[tuple[datetime, datetime]] = []
    for d in sorted(days):
        at = _day_start(d)
        if out and out[-1][1] == at:
            out[-1] = (out[-1][0], at + DAY)
        else:
            out.append((at, at + DAY))
    return out


def _every_day(session: Session) -> list[str]:
    first, last = session.exec(select(func.min(Review.created_at), func.max(Review.created_at))).one()
    out = []
    at = None if first is None else _day_start(day_key(first))
    while at is not None and last is not None and at <= last:
        out.append(day_key(at))
        at += DAY
    return out


def refresh(session: Session, *, now: datetime | None = None, full: bool = False) -> Refreshed:
    """Recompute every day touched since the last refresh (``full``: every day); move the watermark."""
    state = rollups.lock_state(session, review_days.NAME)
    old = state.watermark
    upto = now or utcnow()
    days = _every_day(session) if old is None or full else sorted(touched_days(session, old - OVERLAP))
    rows = []
    for a, b in _ranges(days):
        rows += [{"day": k[0], "tenant": k[1], "team": k[2], "agent_id": k[3], "scored": int(v[0]),
                  "score_sum": v[1]} for k, v in raw_rows(session, a, b).items()]
    review_days.replace_days(session, days, rows, everything=old is None or full)
    rollups.move_watermark(session, old, upto, review_days.NAME)
    session.expire(state)
    return Refreshed(len(days), len(rows), upto)


def daily_means_of(session: Session, series: list[tuple[list[Any], list[Any]]]) -> list[list[tuple[str, float]]]:
    """Per series: (day, mean score) of the reviews that ``where`` selects on the rollup's columns and
    ``raw_where`` on the calls' (the same condition), oldest day first; days without a scored review are
    left out. The series share one look-up of the live tail."""
    mark = rollups.watermark(session, review_days.NAME)
    dirty = None if mark is None else sorted(touched_days(session, mark - OVERLAP))
    out = []
    for where, raw_where in series:
        sums: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
        if dirty is None:  # never refreshed: every day from the raw rows
            raw = _ranges(_every_day(session))
        else:
            d = col(ReviewDay.day)
            q = (sa.select(col(ReviewDay.day), func.sum(col(ReviewDay.scored)), func.sum(col(ReviewDay.score_sum)))
                 .where(*where, *([d.not_in(dirty)] if dirty else [])).group_by(ReviewDay.day))
            for day, n, total in session.execute(q):
                sums[day][0] += int(n or 0)
                sums[day][1] += float(total or 0.0)
            raw = _ranges(dirty)
        for a, b in raw:
            for k, (n, total) in raw_rows(session, a, b, raw_where).items():
                sums[k[0]][0] += n
                sums[k[0]][1] += total
        out.append([(day, total / n) for day, (n, total) in sorted(sums.items()) if n])
    return out
