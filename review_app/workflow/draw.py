"""The seeded draw of asynchronous sampling, without the database: quotas, which calls fill them
(least-sure first, then at random from the seed), spreading picks over inspectors under a daily cap,
and how many reviews a margin of error needs. ``sampling.py`` feeds it calls and stores its picks.
"""

from __future__ import annotations

import math
import random
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from statistics import NormalDist

from storage.errors import InvalidInput
from storage.reviews import SamplingMode


@dataclass(frozen=True)
class Candidate:
    call_id: str
    agent_id: str
    started_at: datetime
    score: float | None = None
    uncertainty: float = 0.0  # 0 = the AI is sure, higher = less sure


@dataclass(frozen=True)
class Pick:
    call_id: str
    reason: str


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
    """The calls to review, deterministically from ``seed``; the least-sure calls fill each quota first."""
    rng = random.Random(seed)
    groups: dict[str, list[Candidate]] = defaultdict(list)
    for c in sorted(candidates, key=lambda c: c.call_id):
        key = (
            f"{c.agent_id} {_bucket(c.started_at, period_days)}" if mode == SamplingMode.per_agent else "all"
        )
        groups[key].append(c)
    picks: list[Pick] = []
    for key in sorted(groups):
        group = groups[key]
        n = quota(len(group), mode=mode, count=count, percent=percent, minimum=minimum)
        shuffled = group[:]
        rng.shuffle(shuffled)
        unsure = sorted((c for c in shuffled if c.uncertainty > 0), key=lambda c: -c.uncertainty)
        n_unsure = min(len(unsure), math.ceil(n * uncertain_share))
        chosen = unsure[:n_unsure]
        taken = {c.call_id for c in chosen}
        where = "" if key == "all" else f" for {key}"
        picks += [Pick(c.call_id, f"least sure (uncertainty {c.uncertainty:.2f}){where}") for c in chosen]
        rest = [c for c in shuffled if c.call_id not in taken][: n - n_unsure]
        picks += [Pick(c.call_id, f"random {n} of {len(group)}{where}") for c in rest]
    return picks


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
