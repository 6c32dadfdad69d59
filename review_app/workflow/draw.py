"""The seeded draw of asynchronous sampling, without the database: quotas, which calls fill them
(least-sure first, then at random from the seed), spreading picks over inspectors under a daily cap,
and how many reviews a margin of error needs. ``sampling.py`` feeds it calls and stores its picks.
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from operator import itemgetter
from statistics import NormalDist
from typing import NamedTuple

from storage.errors import InvalidInput
from storage.reviews import SamplingMode


class Candidate(NamedTuple):
    """A call in a plan's pool. A named tuple, not a dataclass: a team's month is thousands of them, and
    a tuple is built (and its fields read) several times faster."""

    call_id: str
    agent_id: str
    started_at: datetime
    score: float | None = None
    uncertainty: float = 0.0  # 0 = the AI is sure, higher = less sure


@dataclass(frozen=True)
class Pick:
    call_id: str
    reason: str


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DAY = timedelta(days=1)


def _bucket(when: datetime, period_days: int) -> str:
    d = when.astimezone(UTC).date()
    if period_days >= 7:
        monday = d - timedelta(days=d.weekday())
        return f"week of {monday.isoformat()}"
    return d.isoformat()


def quota(total: int, *, mode: SamplingMode, count: int, percent: float, minimum: int) -> int:
    """How many of ``total`` matching calls one group must give up for review."""
    if mode == SamplingMode.per_agent:
        return min(total, count)
    return min(total, max(minimum, math.ceil(total * percent / 100.0)))


def _groups(candidates: Iterable[Candidate], *, per_agent: bool, period_days: int) -> dict[str, list[Candidate]]:
    """The draw's groups, each in call-ID order: "<agent> <day or week>" per agent, else one "all".
    The label is made once per (agent, UTC day), not once per call."""
    ordered = sorted(candidates, key=itemgetter(0))  # the pool comes sorted: a linear check
    if not per_agent:
        return {"all": ordered} if ordered else {}
    groups: dict[str, list[Candidate]] = {}
    by_day: dict[tuple[str, int], list[Candidate]] = {}
    epoch, day = _EPOCH, _DAY
    for c in ordered:
        # (agent, days since 1970-01-01 of the UTC date): exact integer arithmetic on the timedelta, the
        # same date as started_at.astimezone(UTC).date() at a fraction of its cost
        k = (c[1], (c[2] - epoch) // day)
        group = by_day.get(k)
        if group is None:
            label = _bucket(_EPOCH + k[1] * _DAY, period_days)
            group = by_day[k] = groups.setdefault(f"{k[0]} {label}", [])
        group.append(c)
    return groups


def select_calls(
    candidates: Iterable[Candidate],
    *,
    mode: SamplingMode,
    seed: int,
    count: int = 0,
    percent: float = 0.0,
    minimum: int = 0,
    period_days: int = 1,
    uncertain_share: float = 0.5,
) -> list[Pick]:
    """The calls to review, deterministically from ``seed``; the least-sure calls fill each quota first.

    Groups are drawn in key order; each group (in call-ID order) is shuffled once by the one generator,
    so every group's size decides what the next group gets: the same seed over the same pool gives the
    same picks in the same order (tests/test_sampling_draw.py holds the picks of the first version)."""
    if not 0 <= uncertain_share <= 1:
        raise InvalidInput("uncertain_share must be between 0 and 1")
    rng = random.Random(seed)
    groups = _groups(candidates, per_agent=mode == SamplingMode.per_agent, period_days=period_days)
    picks: list[Pick] = []
    for key in sorted(groups):
        group = groups[key]
        n = quota(len(group), mode=mode, count=count, percent=percent, minimum=minimum)
        shuffled = group[:]
        rng.shuffle(shuffled)
        # sorted() is stable: among equal uncertainties the shuffled order decides
        unsure = sorted((c for c in shuffled if c.uncertainty > 0), key=_less_sure)
        n_unsure = min(len(unsure), math.ceil(n * uncertain_share))
        chosen = unsure[:n_unsure]
        where = "" if key == "all" else f" for {key}"
        picks += [Pick(c.call_id, f"least sure (uncertainty {c.uncertainty:.2f}){where}") for c in chosen]
        rest = n - n_unsure
        if rest > 0:
            taken = {c.call_id for c in chosen}
            reason = f"random {n} of {len(group)}{where}"
            for c in shuffled:
                if c.call_id not in taken:
                    picks.append(Pick(c.call_id, reason))
                    rest -= 1
                    if rest == 0:
                        break
    return picks


def _less_sure(c: Candidate) -> float:
    return -c.uncertainty


def spread(
    picks: Sequence[Pick],
    inspectors: Sequence[str],
    *,
    first_day: date,
    daily_cap: int,
    load: dict[tuple[str, str], int] | None = None,
) -> list[tuple[Pick, str, str]]:
    """(pick, inspector, day): fewest-loaded inspector first, at most ``daily_cap`` a day each."""
    if not inspectors:
        raise InvalidInput("a sampling plan needs at least one inspector")
    if daily_cap < 1:
        raise InvalidInput("daily cap must be at least 1")
    load = dict(load or {})
    out: list[tuple[Pick, str, str]] = []
    day = first_day
    for pick in picks:
        while True:
            d = day.isoformat()
            free = [i for i in inspectors if load.get((i, d), 0) < daily_cap]
            if free:
                who = min(free, key=lambda i: (load.get((i, d), 0), inspectors.index(i)))
                load[(who, d)] = load.get((who, d), 0) + 1
                out.append((pick, who, d))
                break
            day += timedelta(days=1)
    return out


def reviews_needed(scores: Sequence[float], *, margin: float, confidence: float) -> int | None:
    """Reviews giving a mean score within ±``margin`` points at ``confidence``: n = (z·σ/E)²."""
    if margin <= 0 or not 0 < confidence < 1:
        raise InvalidInput("margin must be > 0 and confidence between 0 and 1")
    if len(scores) < 2:
        return None  # no variance yet
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    return max(1, math.ceil((z * statistics.stdev(scores) / margin) ** 2))
