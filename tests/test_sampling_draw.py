"""The seeded draw (review_app/workflow/draw.py) picks the same calls, in the same order and for the same
reasons, as its first version: a copy of that version is kept here, and digests of its picks over a
varied pool (taken from a run of the first version) are fixed below, so neither the copy nor the draw
can drift unnoticed. Pure Python, no database."""

from __future__ import annotations

import hashlib
import math
import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from review_app.workflow import draw
from review_app.workflow.draw import Candidate, Pick, quota, select_calls
from storage.errors import InvalidInput
from storage.reviews import SamplingMode

ZONES = (UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-5)), timezone(timedelta(hours=5, minutes=30)))


def _first_version(candidates: Any, *, mode: Any, seed: int, count: int = 0, percent: float = 0.0,
                   minimum: int = 0, period_days: int = 1, uncertain_share: float = 0.5) -> list[Pick]:
    """draw.select_calls as it was before the scale work (commit 0e3c52d), unchanged."""

    def bucket(when: datetime) -> str:
        d = when.astimezone(UTC).date()
        if period_days >= 7:
            return f"week of {(d - timedelta(days=d.weekday())).isoformat()}"
        return d.isoformat()

    rng = random.Random(seed)
    groups: dict[str, list[Any]] = defaultdict(list)
    for c in sorted(candidates, key=lambda c: c.call_id):
        key = f"{c.agent_id} {bucket(c.started_at)}" if mode == SamplingMode.per_agent else "all"
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


def _pool(seed: int, size: int = 1500) -> list[Candidate]:
    """Calls of a dozen agents over six weeks across a year's end, in four time zones (so the local and
    the UTC date differ near midnight), some on a UTC midnight to the microsecond, uncertainties with
    many ties, unscored calls, in no particular order."""
    rng = random.Random(seed)
    start = datetime(2025, 12, 15, tzinfo=UTC)
    out = []
    for n in range(size):
        when = start + timedelta(seconds=rng.randrange(42 * 86400), microseconds=rng.randrange(10**6))
        if n % 97 == 0:
            when = when.replace(hour=0, minute=0, second=0, microsecond=0)
        if n % 89 == 0:
            when = when.replace(hour=23, minute=59, second=59, microsecond=999_999)
        r = rng.random()
        score, u = ((None, 0.0) if r < 0.1 else
                    (round(rng.uniform(50, 100), 1), 0.0) if r < 0.4 else
                    (round(rng.uniform(50, 100), 1), rng.choice((0.5, 1.0, 1.0, 2.0)) + rng.choice((0.0, 0.25))))
        out.append(Candidate(f"call-{rng.randrange(10**9):09d}-{n}", f"agent{rng.randrange(12):02d}",
                             when.astimezone(rng.choice(ZONES)), score, u))
    rng.shuffle(out)
    return out


PLANS: list[dict[str, Any]] = [
    {"mode": SamplingMode.per_agent, "count": 2, "period_days": 7},
    {"mode": SamplingMode.per_agent, "count": 5, "period_days": 7},
    {"mode": SamplingMode.per_agent, "count": 1, "period_days": 1},
    {"mode": SamplingMode.per_agent, "count": 3, "period_days": 1},
    {"mode": "per_agent", "count": 40, "period_days": 7},  # more than some groups hold: the whole group
    {"mode": SamplingMode.percent, "percent": 10, "minimum": 3},
    {"mode": SamplingMode.percent, "percent": 0.1, "minimum": 7},
    {"mode": "percent", "percent": 100, "minimum": 0},
]
SEEDS = (0, 7, 11, 2**31 - 1)


def _digest(picks: list[Pick]) -> str:
    return hashlib.sha256("\n".join(f"{p.call_id}|{p.reason}" for p in picks).encode()).hexdigest()[:16]


# sha-256 (first 16 hex digits) of the first version's picks over _pool(5) for PLANS x SEEDS, in order
FIRST_VERSION = [
    '24f031c2f2b8349a', 'f8c72db5a401ca14', '0ebaa92c1067e6c6', 'ad89b6b0b664e55d',
    '37dbf08502f104f0', '2046f624b4ca2e0e', '0f47b30d4c2ba68a', 'a3789cec5fe18343',
    '6daff8a4acdc00ea', '3243d2df6d755aea', '5c694d42b481b20f', '7611571185d1ec35',
    '59595cc57c4406fe', 'a2fda95f7f3a8a70', 'b8b3e63565cb3f0d', '0a578fc5b77c6938',
    'c22331b3aafd2929', '4e620eca8eacece7', '6fe0099f3ff24cab', '132679b7843cc751',
    'b6c43b18d7351b85', 'e091adbd5e30d332', 'eb8c50bd58f1f4c3', '2d4d6b3844c5ee36',
    'd72fda522a91475e', '8260ce5f235fbb29', 'f3fb9ac84fea9c25', 'a310136ccad5183a',
    '318117101d9d6936', 'b95b2b9631a39e4f', 'a6624af37dc704c7', 'b18275cb806eddd3',
]


def test_the_draw_picks_what_the_first_version_picked_for_every_plan_and_seed() -> None:
    """Same calls, same order, same reasons as the first version, for per-agent day and week quotas and
    percentages, several seeds and pools; and the first version's own picks are the fixed ones."""
    for pool_seed in (1, 2, 3):
        pool = _pool(pool_seed, size=600)
        for plan in PLANS:
            for seed in SEEDS:
                assert select_calls(pool, seed=seed, **plan) == _first_version(pool, seed=seed, **plan), plan
    pool = _pool(5)
    got = [_digest(select_calls(pool, seed=seed, **plan)) for plan in PLANS for seed in SEEDS]
    assert got == [_digest(_first_version(pool, seed=seed, **plan)) for plan in PLANS for seed in SEEDS]
    assert got == FIRST_VERSION


def test_each_group_gives_its_quota_least_sure_first() -> None:
    """Per agent and week: min(count, calls) picks each, the least-sure half first, none twice."""
    pool = _pool(9)
    by_id = {c.call_id: c for c in pool}
    picks = select_calls(pool, mode=SamplingMode.per_agent, seed=3, count=4, period_days=7)
    assert len({p.call_id for p in picks}) == len(picks)
    sizes: dict[tuple[str, str], int] = defaultdict(int)
    for c in pool:
        sizes[(c.agent_id, draw._bucket(c.started_at, 7))] += 1
    got: dict[tuple[str, str], list[Pick]] = defaultdict(list)
    for p in picks:
        c = by_id[p.call_id]
        got[(c.agent_id, draw._bucket(c.started_at, 7))].append(p)
    assert {k: len(v) for k, v in got.items()} == {k: min(4, n) for k, n in sizes.items()}
    for (agent, week), group in got.items():
        assert all(p.reason.endswith(f" for {agent} {week}") for p in group)
        unsure = [by_id[p.call_id].uncertainty for p in group if p.reason.startswith("least sure")]
        assert unsure == sorted(unsure, reverse=True)
        assert len(unsure) <= math.ceil(len(group) / 2)
    assert any(p.reason.startswith("least sure") for p in picks) and any(p.reason.startswith("random") for p in picks)


def test_day_buckets_are_utc_dates_whatever_the_zone() -> None:
    """A call at 07:30 in +08:00 belongs to the previous UTC day; one at 23:59:59.999999 UTC to its own."""
    local = datetime(2026, 3, 2, 7, 30, tzinfo=timezone(timedelta(hours=8)))  # 2026-03-01 23:30 UTC, a Sunday
    last = datetime(2026, 3, 1, 23, 59, 59, 999_999, tzinfo=UTC)
    first = datetime(2026, 3, 2, tzinfo=UTC)
    pool = [Candidate("a", "A", local), Candidate("b", "A", last), Candidate("c", "A", first)]
    days = select_calls(pool, mode=SamplingMode.per_agent, seed=1, count=5, period_days=1)
    assert sorted(p.reason for p in days) == ["random 1 of 1 for A 2026-03-02", "random 2 of 2 for A 2026-03-01",
                                              "random 2 of 2 for A 2026-03-01"]
    weeks = select_calls(pool, mode=SamplingMode.per_agent, seed=1, count=5, period_days=7)
    assert sorted(p.reason for p in weeks) == ["random 1 of 1 for A week of 2026-03-02",
                                               "random 2 of 2 for A week of 2026-02-23",
                                               "random 2 of 2 for A week of 2026-02-23"]


def test_an_uncertain_share_outside_zero_to_one_is_refused() -> None:
    with pytest.raises(InvalidInput):
        select_calls(_pool(1, size=10), mode=SamplingMode.percent, seed=1, percent=50, uncertain_share=1.5)
