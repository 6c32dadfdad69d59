"""Trust per rubric item: may the machine's answer to this item stand without an inspector?

An item is *trusted* while Cohen's κ between its automatic answers and inspectors' final answers,
over the last ``auto_submit_min_reviews`` reviewed calls inside ``agreement_window_days``, is at
least ``auto_submit_kappa`` (and there are that many calls). Manual items are never trusted.

Trust belongs to an item's *definition*, not to its id: every stored version of the rubric is
parsed and only reviews of versions whose definition of the item hashes the same as the version
being scored count. A new rubric version therefore keeps the trust of the items it did not change
and starts the changed (or new) items from zero.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from scoring.agreement import LABELS, cohen_kappa
from scoring.rubric import LoadedRubric, Rubric
from scoring.versions import stored_rubric
from storage.evaluations import Evaluation, EvaluationItem, EvaluationKind, FinalSource
from storage.models import utcnow
from storage.rubrics import RubricRow
from storage.settings import get_settings


@dataclass(frozen=True)
class ItemTrust:
    item_id: str
    item_hash: str
    reviewed: int  # decided (auto yes/no/n-a) reviewed calls counted, at most the sample size
    kappa: float | None
    agree_pct: float | None
    trusted: bool

    def to_json(self) -> dict[str, Any]:
        return {"hash": self.item_hash[:16], "reviewed": self.reviewed, "trusted": self.trusted,
                "kappa": None if self.kappa is None else round(self.kappa, 3),
                "agree_pct": None if self.agree_pct is None else round(self.agree_pct, 1)}


def item_hashes(rubric: Rubric) -> dict[str, str]:
    """SHA-256 of each item's definition (check, points, critical, titles, applicability)."""
    out = {}
    for _, it in rubric.items():
        data = it.model_dump(mode="json", by_alias=True, exclude_none=True)
        out[it.id] = hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
    return out


def same_definition_versions(session: Session, loaded: LoadedRubric) -> dict[str, set[int]]:
    """Per item of ``loaded``: the stored versions of the rubric that define the item identically."""
    current = item_hashes(loaded.rubric)
    out: dict[str, set[int]] = {k: {loaded.rubric.version} for k in current}
    versions = session.exec(select(RubricRow.version).where(RubricRow.rubric_id == loaded.rubric.id))
    for v in versions:
        if v == loaded.rubric.version:
            continue
        old = item_hashes(stored_rubric(session, loaded.rubric.id, v).rubric)
        for item_id, h in current.items():
            if old.get(item_id) == h:
                out[item_id].add(v)
    return out


def _newest_pairs(session: Session, rubric_id: str, *, since: datetime) -> list[tuple[str, str, int, str | None, str]]:
    """(call, item, version, auto, final) of reviewed items, newest evaluation first."""
    stmt = (sa.select(col(Evaluation.call_id), col(EvaluationItem.item_id), col(Evaluation.rubric_version),
                      col(EvaluationItem.auto_answer), col(EvaluationItem.final_answer))
            .join(Evaluation, col(Evaluation.id) == EvaluationItem.evaluation_id)
            .where(col(Evaluation.rubric_id) == rubric_id, col(EvaluationItem.final_source) == FinalSource.human,
                   col(EvaluationItem.final_answer).is_not(None),
                   col(Evaluation.kind).in_([EvaluationKind.auto, EvaluationKind.human]),
                   col(Evaluation.updated_at) >= since)
            .order_by(col(Evaluation.id).desc()))
    return [(c, i, v, a, str(f)) for c, i, v, a, f in session.execute(stmt)]


def trust_for(session: Session, loaded: LoadedRubric, *, now: datetime | None = None) -> dict[str, ItemTrust]:
    """The trust of every item of ``loaded`` right now."""
    s = get_settings()
    n_max, bar = s.auto_submit_min_reviews, s.auto_submit_kappa
    since = (now or utcnow()) - timedelta(days=s.agreement_window_days)
    versions = same_definition_versions(session, loaded)
    hashes = item_hashes(loaded.rubric)
    seen: set[tuple[str, str]] = set()
    pairs: dict[str, list[tuple[str, str]]] = {k: [] for k in hashes}
    for call_id, item_id, version, auto, final in _newest_pairs(session, loaded.rubric.id, since=since):
        if item_id not in pairs or version not in versions[item_id] or (call_id, item_id) in seen:
            continue
        seen.add((call_id, item_id))  # one pair per call: its newest review
        if auto in LABELS and len(pairs[item_id]) < n_max:
            pairs[item_id].append((str(auto), final))
    out = {}
    for _, it in loaded.rubric.items():
        p = pairs[it.id]
        kappa = cohen_kappa(p)
        agree = None if not p else 100.0 * sum(a == b for a, b in p) / len(p)
        trusted = it.check.kind != "manual" and len(p) >= n_max and kappa is not None and kappa >= bar
        out[it.id] = ItemTrust(it.id, hashes[it.id], len(p), kappa, agree, trusted)
    return out


def trust_summary(trust: dict[str, Any] | None) -> str:
    """One line for an auto-submitted evaluation: the weakest trusted item's κ and sample size."""
    trusted = [v for v in (trust or {}).values() if v.get("trusted")]
    if not trusted:
        return ""
    kappa = min(float(v["kappa"]) for v in trusted)
    n = min(int(v["reviewed"]) for v in trusted)
    return f"κ ≥ {kappa:.2f} · n ≥ {n} · {len(trusted)} items"
