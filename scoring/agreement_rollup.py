"""The agreement rollup: the pair counts of scoring.agreement over a window, from per-day counts
(storage/agreement_days.py), exact at the moment of reading.

The raw definition (``agreement.reviewed_pairs``): for a window starting at ``since`` (and open at
the end), each call and item contributes the pair (auto answer, final answer) of its newest evaluation
(highest id) of kind auto or human that carries an inspector's final answer to the item and was last
updated at or after ``since``. An evaluation's items never change once written, but its
``updated_at`` moves (a rescore, a supersede), so a pair counts for the windows starting in
(lo, t]: t is its evaluation's ``updated_at``, lo the latest ``updated_at`` of a newer such
evaluation of the same call and item (none: no lower bound). Summed per day of t (``counted``) and of
lo (``dropped``), a window from ``since`` counts sum(counted) − sum(dropped) over the days from
``since`` on: a pair with lo < since <= t is counted once, one with since <= lo < t is counted and
dropped.

Reading (:func:`pair_counts`): whole days from the stored rows, except the days that may have
changed since the last refresh (the old days of calls whose evaluations changed since then, and
every day from the watermark's, less ``OVERLAP``, on) and the part day at the window's start: those
are computed from the raw rows with :func:`raw_counts`, the function that computes the stored rows.

Refreshing (:func:`refresh`): the same days are recomputed whole from the raw rows and the watermark
moves under the guard of storage/rollups.py, so each pair is counted once however often it runs.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from storage import agreement_days, rollups
from storage.agreement_days import AgreementCallDay, AgreementDay
from storage.evaluations import Evaluation, EvaluationItem, EvaluationKind, FinalSource
from storage.models import utcnow
from storage.rollups import OVERLAP, Refreshed

DAY = timedelta(days=1)
Cat = tuple[str, str, str]  # item, auto answer ('' for none), final answer
_CHUNK = 500


@dataclass(frozen=True)
class Pair:
    call_id: str
    cat: Cat
    t: datetime  # its evaluation's updated_at
    lo: datetime | None  # the latest updated_at of a newer evaluation of the same call and item


def day_key(when: datetime) -> str:
    return f"{when.astimezone(UTC):%Y-%m-%d}"


def day_start(key: str) -> datetime:
    return datetime.strptime(key, "%Y-%m-%d").replace(tzinfo=UTC)


def _qualifying() -> list:
    return [EvaluationItem.final_source == FinalSource.human, col(EvaluationItem.final_answer).is_not(None),
            col(Evaluation.kind).in_([EvaluationKind.auto, EvaluationKind.human])]


def _touched_calls(a: datetime, b: datetime | None) -> sa.Select:
    """Calls with an evaluation carrying an inspector's answer that was updated in [a, b)."""
    q = (select(Evaluation.call_id).join(EvaluationItem, col(EvaluationItem.evaluation_id) == Evaluation.id)
         .where(*_qualifying(), col(Evaluation.updated_at) >= a))
    return (q if b is None else q.where(col(Evaluation.updated_at) < b)).distinct()


def pairs_of(session: Session, call_ids: Iterable[str]) -> list[Pair]:
    """Every pair of these calls with the span of windows it counts in (see the module doc)."""
    ids = sorted(set(call_ids))
    by_key: dict[tuple[str, str], list[tuple[int, datetime, str, str]]] = defaultdict(list)
    for i in range(0, len(ids), _CHUNK):
        q = (sa.select(col(Evaluation.call_id), col(EvaluationItem.item_id), col(Evaluation.id),
                       col(Evaluation.updated_at), col(EvaluationItem.auto_answer), col(EvaluationItem.final_answer))
             .join(Evaluation, col(Evaluation.id) == EvaluationItem.evaluation_id)
             .where(*_qualifying(), col(Evaluation.call_id).in_(ids[i:i + _CHUNK])))
        for cid, item, ev_id, t, auto, final in session.execute(q):
            by_key[(cid, item)].append((ev_id or 0, t, auto or "", str(final)))
    out = []
    for (cid, item), evs in by_key.items():
        lo: datetime | None = None
        for _, t, auto, final in sorted(evs, reverse=True):  # newest evaluation first
            if lo is None or t > lo:
                out.append(Pair(cid, (item, auto, final), t, lo))
            lo = t if lo is None else max(lo, t)
    return out


@dataclass
class RawCounts:
    counts: dict[tuple[str, Cat], list[int]]  # (day, cat) → [counted, dropped]
    call_days: set[tuple[str, str]]  # (day, call_id)


def raw_counts(session: Session, a: datetime, b: datetime | None) -> RawCounts:
    """The stored rows' figures for the pairs whose t or lo falls in [a, b) (b None: open), from the raw rows."""
    calls = [c for (c,) in session.execute(_touched_calls(a, b))]
    out = RawCounts(defaultdict(lambda: [0, 0]), set())
    for p in pairs_of(session, calls):
        for when, which in ((p.t, 0), (p.lo, 1)):
            if when is not None and a <= when and (b is None or when < b):
                d = day_key(when)
                out.counts[(d, p.cat)][which] += 1
                out.call_days.add((d, p.call_id))
    return out


def _old_days(session: Session, since: datetime, first: str, last: str) -> list[str]:
    """Stored days in [first, last) of the calls whose evaluations changed at or after ``since``."""
    q = (select(AgreementCallDay.day).where(col(AgreementCallDay.call_id).in_(_touched_calls(since, None)),
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


def pair_counts(session: Session, since: datetime, item_ids: Iterable[str] | None = None) -> dict[Cat, int]:
    """How many pairs of each (item, auto, final) count for the window from ``since`` on (see the module doc)."""
    wanted = None if item_ids is None else set(item_ids)
    out: dict[Cat, int] = defaultdict(int)
    mark = rollups.watermark(session, agreement_days.NAME)
    raw: list[tuple[datetime, datetime | None]] = []
    first = day_key(since) if day_start(day_key(since)) == since else day_key(since + DAY)
    if mark is None or first >= day_key(mark - OVERLAP):
        raw.append((since, None))
    else:
        tail = day_key(mark - OVERLAP)
        dirty = _old_days(session, mark - OVERLAP, first, tail)
        raw += [(since, day_start(first))] if since < day_start(first) else []
        raw += [*_day_ranges(dirty), (day_start(tail), None)]
        d = col(AgreementDay.day)
        where = [d >= first, d < tail] + ([d.not_in(dirty)] if dirty else [])
        if wanted is not None:
            where.append(col(AgreementDay.item_id).in_(sorted(wanted)))
        q = (sa.select(col(AgreementDay.item_id), col(AgreementDay.auto_answer), col(AgreementDay.final_answer),
                       func.sum(col(AgreementDay.counted)) - func.sum(col(AgreementDay.dropped)))
             .where(*where).group_by(AgreementDay.item_id, AgreementDay.auto_answer, AgreementDay.final_answer))
        for item, auto, final, n in session.execute(q):
            out[(item, auto, final)] += int(n or 0)
    for a, b in raw:
        for (_, cat), (counted, dropped) in raw_counts(session, a, b).counts.items():
            if wanted is None or cat[0] in wanted:
                out[cat] += counted - dropped
    return {k: v for k, v in out.items() if v}


def _write(session: Session, got: RawCounts) -> int:
    counts = [{"day": d, "item_id": c[0], "auto_answer": c[1], "final_answer": c[2], "counted": n, "dropped": m}
              for (d, c), (n, m) in got.counts.items()]
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
