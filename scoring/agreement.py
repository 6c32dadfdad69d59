"""Agreement between the automatic answers and inspectors' final answers, per item.

Over a rolling window (``settings.agreement_window_days``) each reviewed call contributes one pair
(auto answer, the inspector's final answer) per item; answers are yes / no / n/a. Pairs whose auto
answer was *insufficient* (or absent) are counted apart: the machine did not answer, so they say
nothing about its agreement. Cohen's κ = (p_o − p_e) / (1 − p_e); when p_e = 1 (both sides used a
single answer throughout) κ is undefined and reported as None, which never allows auto-submit.
These figures are what the dashboard shows; whether an item's answer may stand without an inspector
is decided per item definition, over the last ``auto_submit_min_reviews`` reviewed calls, in
scoring/trust.py.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col

from scoring.agreement_rollup import EVERY, Scope, pair_counts
from storage.calls import Call
from storage.evaluations import Evaluation, EvaluationItem, EvaluationKind, FinalSource
from storage.models import utcnow
from storage.settings import get_settings

LABELS = ("yes", "no", "n/a")


def cohen_kappa(pairs: Sequence[tuple[str, str]]) -> float | None:
    """Cohen's κ of two raters over ``pairs``; None when undefined (no pairs, or p_e = 1)."""
    return _kappa(Counter(pairs))


def _kappa(confusion: Mapping[tuple[str, str], int]) -> float | None:
    """Cohen's κ from pair counts (the same integer sums as over the pairs, so the same float)."""
    n = sum(confusion.values())
    if n == 0:
        return None
    p_o = sum(k for (a, b), k in confusion.items() if a == b) / n
    first: Counter[str] = Counter()
    second: Counter[str] = Counter()
    for (a, b), k in confusion.items():
        first[a] += k
        second[b] += k
    p_e = sum(first[k] * second[k] for k in set(first) | set(second)) / (n * n)
    if p_e >= 1.0:
        return None
    return (p_o - p_e) / (1.0 - p_e)


@dataclass
class ItemAgreement:
    item_id: str
    reviewed: int  # pairs with a yes/no/n-a auto answer
    agree_pct: float | None
    kappa: float | None
    confusion: dict[tuple[str, str], int] = field(default_factory=dict)  # (auto, final) → count
    undecided: int = 0  # reviewed calls where the auto answer was insufficient or absent
    auto_submit: bool = False


def agreement_of(item_id: str, pairs: Iterable[tuple[str | None, str]], *, kappa_bar: float,
                 min_reviews: int) -> ItemAgreement:
    """Agreement statistics of one item from (auto, final) answer pairs (pure)."""
    return agreement_of_counts(item_id, Counter(pairs), kappa_bar=kappa_bar, min_reviews=min_reviews)


def agreement_of_counts(item_id: str, counts: Mapping[tuple[str | None, str], int], *, kappa_bar: float,
                        min_reviews: int) -> ItemAgreement:
    """Agreement statistics of one item from how many times each (auto, final) pair occurred (pure)."""
    decided: Counter[tuple[str, str]] = Counter()
    undecided = 0
    for (auto, final), k in counts.items():
        if auto in LABELS:
            decided[(auto, final)] += k
        else:
            undecided += k
    n = sum(decided.values())
    kappa = _kappa(decided)
    return ItemAgreement(
        item_id=item_id, reviewed=n,
        agree_pct=None if n == 0 else 100.0 * sum(k for (a, b), k in decided.items() if a == b) / n,
        kappa=kappa, confusion={p: k for p, k in decided.items() if k}, undecided=undecided,
        auto_submit=kappa is not None and n >= min_reviews and kappa >= kappa_bar,
    )


def reviewed_pairs(session: Session, *, since: datetime, until: datetime | None = None,
                   item_ids: Iterable[str] | None = None,
                   scope: Scope = EVERY) -> dict[str, list[tuple[str | None, str]]]:
    """Per item, (auto answer, inspector's final answer) of the newest review of each call in ``scope``
    since ``since``, when that review was last updated before ``until`` (None: open)."""
    stmt = (sa.select(col(Evaluation.call_id), col(EvaluationItem.item_id), col(EvaluationItem.auto_answer),
                      col(EvaluationItem.final_answer), col(Evaluation.updated_at))
            .join(Evaluation, col(Evaluation.id) == EvaluationItem.evaluation_id)
            .join(Call, col(Call.call_id) == Evaluation.call_id)
            .where(col(EvaluationItem.final_source) == FinalSource.human,
                   col(EvaluationItem.final_answer).is_not(None),
                   col(Evaluation.kind).in_([EvaluationKind.auto, EvaluationKind.human]),
                   col(Evaluation.updated_at) >= since, *scope.on(col(Call.tenant), col(Call.team)))
            .order_by(col(Evaluation.id)))
    if item_ids is not None:
        stmt = stmt.where(col(EvaluationItem.item_id).in_(list(item_ids)))
    newest: dict[tuple[str, str], tuple[str | None, str, datetime]] = {}
    for call_id, item_id, auto, final, t in session.execute(stmt):
        newest[(call_id, item_id)] = (auto, str(final), t)  # later rows (newer reviews) win
    out: dict[str, list[tuple[str | None, str]]] = {}
    for (_, item_id), (auto, final, t) in newest.items():
        if until is None or t < until:
            out.setdefault(item_id, []).append((auto, final))
    return out


def item_agreements(session: Session, *, now: datetime | None = None, days: int | None = None,
                    item_ids: Iterable[str] | None = None) -> list[ItemAgreement]:
    """Agreement per item over the rolling window (every tenant), sorted by item id: the pairs of
    :func:`reviewed_pairs`, counted through the agreement rollup (scoring/agreement_rollup.py; exact)."""
    since = (now or utcnow()) - timedelta(days=days or get_settings().agreement_window_days)
    return window_agreements(session, since, None, item_ids=item_ids)


def window_agreements(session: Session, since: datetime, until: datetime | None, *,
                      item_ids: Iterable[str] | None = None, scope: Scope = EVERY) -> list[ItemAgreement]:
    """Agreement per item of the calls in ``scope`` over [since, until) (None: open), sorted by item id:
    the pairs of :func:`reviewed_pairs`, counted through the agreement rollup (exact)."""
    s = get_settings()
    per_item: dict[str, dict[tuple[str | None, str], int]] = defaultdict(dict)
    for (item, auto, final), k in pair_counts(session, since, item_ids, until=until, scope=scope).items():
        per_item[item][(auto, final)] = k
    return [agreement_of_counts(k, v, kappa_bar=s.auto_submit_kappa, min_reviews=s.auto_submit_min_reviews)
            for k, v in sorted(per_item.items())]
