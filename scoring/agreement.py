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

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from storage.evaluations import Evaluation, EvaluationItem, EvaluationKind, FinalSource
from storage.models import utcnow
from storage.settings import get_settings

LABELS = ("yes", "no", "n/a")


def cohen_kappa(pairs: Sequence[tuple[str, str]]) -> float | None:
    """Cohen's κ of two raters over ``pairs``; None when undefined (no pairs, or p_e = 1)."""
    n = len(pairs)
    if n == 0:
        return None
    p_o = sum(a == b for a, b in pairs) / n
    first, second = Counter(a for a, _ in pairs), Counter(b for _, b in pairs)
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
    decided: list[tuple[str, str]] = []
    undecided = 0
    for auto, final in pairs:
        if auto in LABELS:
            decided.append((auto, final))
        else:
            undecided += 1
    n = len(decided)
    kappa = cohen_kappa(decided)
    return ItemAgreement(
        item_id=item_id, reviewed=n,
        agree_pct=None if n == 0 else 100.0 * sum(a == b for a, b in decided) / n,
        kappa=kappa, confusion=dict(Counter(decided)), undecided=undecided,
        auto_submit=kappa is not None and n >= min_reviews and kappa >= kappa_bar,
    )


def reviewed_pairs(session: Session, *, since: datetime,
                   item_ids: Iterable[str] | None = None) -> dict[str, list[tuple[str | None, str]]]:
    """Per item, (auto answer, inspector's final answer) of the newest review of each call since ``since``."""
    stmt = (select(Evaluation.call_id, EvaluationItem.item_id, EvaluationItem.auto_answer,
                   EvaluationItem.final_answer)
            .join(Evaluation, col(Evaluation.id) == EvaluationItem.evaluation_id)
            .where(EvaluationItem.final_source == FinalSource.human,
                   col(EvaluationItem.final_answer).is_not(None),
                   col(Evaluation.kind).in_([EvaluationKind.auto, EvaluationKind.human]),
                   Evaluation.updated_at >= since)
            .order_by(col(Evaluation.id)))
    if item_ids is not None:
        stmt = stmt.where(col(EvaluationItem.item_id).in_(list(item_ids)))
    newest: dict[tuple[str, str], tuple[str | None, str]] = {}
    for call_id, item_id, auto, final in session.exec(stmt):
        newest[(call_id, item_id)] = (auto, str(final))  # later rows (newer reviews) win
    out: dict[str, list[tuple[str | None, str]]] = {}
    for (_, item_id), pair in newest.items():
        out.setdefault(item_id, []).append(pair)
    return out


def item_agreements(session: Session, *, now: datetime | None = None, days: int | None = None,
                    item_ids: Iterable[str] | None = None) -> list[ItemAgreement]:
    """Agreement per item over the rolling window, sorted by item id."""
    s = get_settings()
    since = (now or utcnow()) - timedelta(days=days or s.agreement_window_days)
    pairs = reviewed_pairs(session, since=since, item_ids=item_ids)
    return [agreement_of(k, v, kappa_bar=s.auto_submit_kappa, min_reviews=s.auto_submit_min_reviews)
            for k, v in sorted(pairs.items())]
