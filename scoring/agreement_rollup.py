"""The agreement rollup: the pair counts of scoring.agreement over a window, from per-day counts
(storage/agreement_days.py), exact at the moment of reading.

The raw definition (``agreement.reviewed_pairs``): for a window [s, e) (``until`` e may be open), each
call in the scope and item contributes the pair (auto answer, final answer) of its newest evaluation
(highest id) of kind auto or human that carries an inspector's final answer to the item and was last
updated at or after s, when that update came before e. An evaluation's items never change once
written, but its ``updated_at`` moves (a rescore, a supersede). Per pair, t is its evaluation's
``updated_at`` and lo the latest ``updated_at`` of a newer such evaluation of the same call and item
(none: no lower bound); the pair counts in [s, e) exactly when lo < s <= t < e. The stored rows count
pairs per tenant, team, day of t and day of lo.

Reading (:func:`pair_counts`): whole days of t from the stored rows whose day of lo is before s's,
except the days that may have changed since the last refresh (the old days of calls whose evaluations
or team changed since then, and every day from the watermark's, less ``OVERLAP``, on): those, the part
days at the window's edges, and the pairs whose lo falls on s's own day before s are computed from the
raw rows with the function that computes the stored rows.

Refreshing (:func:`refresh`): the same days are recomputed whole from the raw rows and the watermark
moves under the guard of storage/rollups.py, so each pair is counted once however often it runs.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from storage import agreement_days, rollups
from storage.agreement_days import AgreementCallDay, AgreementDay
from storage.calls import Call
from storage.evaluations import Evaluation, EvaluationItem, EvaluationKind, FinalSource
from storage.models import utcnow
from storage.rollups import OVERLAP, Refreshed

DAY = timedelta(days=1)
Cat = tuple[str, str, str]  # item, auto answer ('' for none), final answer
Row = tuple[str, str, str, str, Cat]  # day of t, day of lo ('' none), tenant, team ('' none), cat
_CHUNK = 500


@dataclass(frozen=True)
class Scope:
    """Whose calls count: one tenant (None: every tenant) and some of its teams (None: every team)."""

    tenant: str | None = None
    teams: tuple[str, ...] | None = None

    def on(self, tenant: Any, team: Any) -> list[Any]:
        out = [] if self.tenant is None else [tenant == self.tenant]
        return out if self.teams is None else [*out, team.in_(self.teams)]


EVERY = Scope()


@dataclass(frozen=True)
class Pair:
    call_id: str
    tenant: str
    team: str  # '' when the call has none
    cat: Cat
    t: datetime  # its evaluation's updated_at
    lo: datetime | None  # the latest updated_at of a newer evaluation of the same call and item

    def counts_in(self, since: datetime, until: datetime | None) -> bool:
        return since <= self.t and (until is None or self.t < until) and (self.lo is None or self.lo < since)


def day_key(when: datetime) -> str:
    return f"{when.astimezone(UTC):%Y-%m-%d}"


def day_start(key: str) -> datetime:
    return datetime.strptime(key, "%Y-%m-%d").replace(tzinfo=UTC)


def _qualifying() -> list:
    return [EvaluationItem.final_source == FinalSource.human, col(EvaluationItem.final_answer).is_not(None),
            col(Evaluation.kind).in_([EvaluationKind.auto, EvaluationKind.human])]


def _touched_calls(a: datetime, b: datetime | None, scope: Scope = EVERY) -> sa.Select:
    """Calls in ``scope`` with an evaluation carrying an inspector's answer that was updated in [a, b)."""
    q = (select(Evaluation.call_id).join(EvaluationItem, col(EvaluationItem.evaluation_id) == Evaluation.id)
         .where(*_qualifying(), col(Evaluation.updated_at) >= a))
    if scope != EVERY:
        q = q.join(Call, col(Call.call_id) == Evaluation.call_id).where(*scope.on(col(Call.tenant), col(Call.team)))
    return (q if b is None else q.where(col(Evaluation.updated_at) < b)).distinct()


def pairs_of(session: Session, call_ids: Iterable[str]) -> list[Pair]:
    """Every pair of these calls with the span of windows it counts in (see the module doc)."""
    ids = sorted(set(call_ids))
    by_key: dict[tuple[str, str], list[tuple[int, datetime, str, str]]] = defaultdict(list)
    where: dict[str, tuple[str, str]] = {}
    for i in range(0, len(ids), _CHUNK):
        q = (sa.select(col(Evaluation.call_id), col(Call.tenant), col(Call.team), col(EvaluationItem.item_id),
                       col(Evaluation.id), col(Evaluation.updated_at), col(EvaluationItem.auto_answer),
                       col(EvaluationItem.final_answer))
             .join(Evaluation, col(Evaluation.id) == EvaluationItem.evaluation_id)
             .join(Call, col(Call.call_id) == Evaluation.call_id)
             .where(*_qualifying(), col(Evaluation.call_id).in_(ids[i:i + _CHUNK])))
        for cid, tenant, team, item, ev_id, t, auto, final in session.execute(q):
            where[cid] = (tenant, team or "")
            by_key[(cid, item)].append((ev_id or 0, t, auto or "", str(final)))
    out = []
    for (cid, item), evs in by_key.items():
        lo: datetime | None = None
        for _, t, auto, final in sorted(evs, reverse=True):  # newest evaluation first
            if lo is None or t > lo:
                out.append(Pair(cid, *where[cid], (item, auto, final), t, lo))
            lo = t if lo is None else max(lo, t)
    return out


def _pairs_in(session: Session, a: datetime, b: datetime | None, scope: Scope = EVERY) -> list[Pair]:
    """The pairs of calls in ``scope`` whose t falls in [a, b) (b None: open)."""
    calls = [c for (c,) in session.execute(_touched_calls(a, b, scope))]
    return [p for p in pairs_of(session, calls) if a <= p.t and (b is None or p.t < b)]


@dataclass
class RawCounts:
    counts: dict[Row, int]
    call_days: set[tuple[str, str]]  # (day, call_id)


def raw_counts(session: Session, a: datetime, b: datetime | None) -> RawCounts:
    """The stored rows' figures for the pairs whose t falls in [a, b) (b None: open), from the raw rows."""
    out = RawCounts(defaultdict(int), set())
    for p in _pairs_in(session, a, b):
        d = day_key(p.t)
        out.counts[(d, "" if p.lo is None else day_key(p.lo), p.tenant, p.team, p.cat)] += 1
        out.call_days.add((d, p.call_id))
    return out


def _old_days(session: Session, since: datetime, first: str, last: str) -> list[str]:
    """Stored days in [first, last) of the calls whose evaluations (or team: a call moved) changed at or
    after ``since``."""
    changed = sa.union(_touched_calls(since, None), select(Call.call_id).where(col(Call.updated_at) >= since))
    q = (select(AgreementCallDay.day).where(col(AgreementCallDay.call_id).in_(changed),
                                            col(AgreementCallDay.day) >= first, col(AgreementCallDay.day) < last)
         .distinct())
    return sorted(session.exec(q))


def _day_ranges(days: Iterable[str]) -> list[tuple[datetime, datetime]]:
    out: list[tuple[datetime, datetime]] = []
    for d in sorted(days):
        at = day_start(d)
        if out and out[-1][1] == at:
            out[-1] = (out[-1][0], at + DAY)
        else:
            out.append((at, at + DAY))
    return out


def pair_counts(session: Session, since: datetime, item_ids: Iterable[str] | None = None, *,
                until: datetime | None = None, scope: Scope = EVERY) -> dict[Cat, int]:
    """How many pairs of each (item, auto, final) of calls in ``scope`` count for the window [since,
    until) (None: open; see the module doc)."""
    wanted = None if item_ids is None else set(item_ids)
    out: dict[Cat, int] = defaultdict(int)
    mark = rollups.watermark(session, agreement_days.NAME)
    first = day_key(since) if day_start(day_key(since)) == since else day_key(since + DAY)
    stop = None if mark is None else day_key(mark - OVERLAP)
    if stop is not None and until is not None:
        stop = min(stop, day_key(until))  # the days wholly before ``until``
    raw: list[tuple[datetime, datetime | None]] = []
    if stop is None or first >= stop:
        raw.append((since, until))
    else:
        assert mark is not None
        dirty = _old_days(session, mark - OVERLAP, first, stop)
        raw += [(since, day_start(first))] if since < day_start(first) else []
        raw += _day_ranges(dirty)
        raw += [(day_start(stop), until)] if until is None or day_start(stop) < until else []
        d, lo_day = col(AgreementDay.day), col(AgreementDay.lo_day)
        where = [d >= first, d < stop, sa.or_(lo_day == "", lo_day < day_key(since)),
                 *scope.on(col(AgreementDay.tenant), col(AgreementDay.team))]
        where += [d.not_in(dirty)] if dirty else []
        if wanted is not None:
            where.append(col(AgreementDay.item_id).in_(sorted(wanted)))
        q = (sa.select(col(AgreementDay.item_id), col(AgreementDay.auto_answer), col(AgreementDay.final_answer),
                       func.sum(col(AgreementDay.n)))
             .where(*where).group_by(AgreementDay.item_id, AgreementDay.auto_answer, AgreementDay.final_answer))
        for item, auto, final, n in session.execute(q):
            out[(item, auto, final)] += int(n or 0)
        midnight = day_start(day_key(since))
        if since != midnight:
            # the stored rows whose lo falls on since's own day were left out (lo may be before or after
            # since): the pairs among them whose lo is before since, from the calls changed then
            calls = [c for (c,) in session.execute(_touched_calls(midnight, since, scope))]
            for p in pairs_of(session, calls):
                if (p.lo is not None and midnight <= p.lo < since and first <= day_key(p.t) < stop
                        and day_key(p.t) not in dirty and (wanted is None or p.cat[0] in wanted)):
                    out[p.cat] += 1
    for a, b in raw:
        for p in _pairs_in(session, a, b, scope):
            if p.counts_in(since, until) and (wanted is None or p.cat[0] in wanted):
                out[p.cat] += 1
    return {k: v for k, v in out.items() if v}


def _write(session: Session, got: RawCounts) -> int:
    counts = [{"day": d, "lo_day": lo, "tenant": tenant, "team": team, "item_id": c[0], "auto_answer": c[1],
               "final_answer": c[2], "n": n} for (d, lo, tenant, team, c), n in got.counts.items()]
    agreement_days.replace_days(session, [], None, counts, [{"day": d, "call_id": c} for d, c in got.call_days])
    return len(counts)


def refresh(session: Session, *, now: datetime | None = None, full: bool = False) -> Refreshed:
    """Recompute every day that changed since the last refresh (``full``: every day); move the watermark."""
    state = rollups.lock_state(session, agreement_days.NAME)
    old = state.watermark
    upto = now or utcnow()
    days = rows = 0
    if old is None or full:
        agreement_days.clear(session)
        first, last = session.exec(select(func.min(Evaluation.updated_at), func.max(Evaluation.updated_at))
                                   .join(EvaluationItem, col(EvaluationItem.evaluation_id) == Evaluation.id)
                                   .where(*_qualifying())).one()
        at = None if first is None else day_start(day_key(first))
        while at is not None and last is not None and at <= last:
            nxt = at + timedelta(days=31)
            rows += _write(session, raw_counts(session, at, nxt))
            days += 31
            at = nxt
    else:
        tail = day_key(old - OVERLAP)
        dirty = _old_days(session, old - OVERLAP, "", tail)
        agreement_days.replace_days(session, dirty, tail, [], [])
        for a, b in [*_day_ranges(dirty), (day_start(tail), None)]:
            rows += _write(session, raw_counts(session, a, b))
        days = len(dirty) + (upto - day_start(tail)) // DAY + 1
    rollups.move_watermark(session, old, upto, agreement_days.NAME)
    session.expire(state)
    return Refreshed(days, rows, upto)
