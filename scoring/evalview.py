"""The review app's view of transcripts and evaluations: an adapter over their storage modules.

Transcripts (storage/transcripts.py) and evaluations (storage/evaluations.py) belong to other rooms;
this module turns them into the small frozen records the review workflow needs, so the pages and
the review, sampling and dashboard logic depend on one narrow interface here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Segment:
    speaker: str
    start_s: float
    end_s: float
    text: str


@dataclass(frozen=True)
class Evidence:
    speaker: str | None
    start_s: float
    end_s: float
    quote: str = ""


@dataclass(frozen=True)
class ItemView:
    item_id: str
    section: str
    title: str
    points: float
    critical: bool
    auto_answer: str | None
    human_answer: str | None = None
    final_answer: str | None = None
    comment: str = ""
    evidence: tuple[Evidence, ...] = ()


@dataclass(frozen=True)
class EvaluationView:
    id: int
    call_id: str
    kind: str  # auto / human / calibration
    rubric_id: str
    rubric_version: int
    score: float | None
    passed: bool | None
    critical_fail: bool
    created_at: datetime | None
    by: str | None = None
    items: tuple[ItemView, ...] = ()
    comment: str = ""

    @property
    def insufficient(self) -> int:
        return sum(1 for i in self.items if i.auto_answer == "insufficient")


@dataclass(frozen=True)
class AutoSummary:
    score: float | None
    passed: bool | None
    critical_fail: bool
    insufficient: int
    uncertainty: float  # 0 = sure; grows with insufficient items, critical fails, a score near the pass mark


@dataclass
class HumanAnswers:
    """What an inspector submits for one call: answer and comment per item, overall comment."""

    answers: dict[str, str | None] = field(default_factory=dict)  # None = keep the auto answer
    comments: dict[str, str] = field(default_factory=dict)
    comment: str = ""


def uncertainty(ev: EvaluationView, *, pass_mark: float | None = None) -> float:
    """How unsure the auto-evaluation is, for filling sampling quotas where the AI is least sure."""
    u = float(ev.insufficient)
    if ev.critical_fail:
        u += 1.0
    if ev.score is not None and pass_mark is not None:
        u += max(0.0, 1.0 - abs(ev.score - pass_mark) / 10.0)  # within 10 points of the mark
    return u


def _impl() -> Any:
    from scoring import evalstore  # noqa: PLC0415 - the concrete adapter; see evalstore's docstring

    return evalstore


def segments(session: Session, call_id: str) -> list[Segment]:
    return _impl().segments(session, call_id)


def evaluations(session: Session, call_id: str, *, kinds: tuple[str, ...] = ("auto", "human")) -> list[EvaluationView]:
    """Evaluations of one call, newest first."""
    return _impl().evaluations(session, call_id, kinds=kinds)


def latest_auto(session: Session, call_id: str) -> EvaluationView | None:
    evs = evaluations(session, call_id, kinds=("auto",))
    return evs[0] if evs else None


def auto_summaries(session: Session, call_ids: list[str]) -> dict[str, AutoSummary]:
    return _impl().auto_summaries(session, call_ids)


def calls_with_words(session: Session, call_ids: list[str], words: list[str]) -> set[str]:
    return _impl().calls_with_words(session, call_ids, words)


def final_answers(session: Session, call_ids: list[str], item_ids: tuple[str, ...]) -> list[str]:
    """Final answers of these items in the calls' active human evaluations (one query per 500 calls)."""
    return _impl().final_answers(session, call_ids, item_ids)


def agent_scores(session: Session) -> dict[str, list[float]]:
    """Per agent, the final scores of reviewed calls (auto where none is reviewed); no calibration."""
    return _impl().agent_scores(session)


def save_human(
    session: Session,
    call_id: str,
    *,
    inspector: str,
    auto: EvaluationView | None,
    human: HumanAnswers,
    kind: str = "human",
) -> EvaluationView:
    """Store a human (or calibration) evaluation keeping auto, human and final answers apart."""
    return _impl().save_human(session, call_id, inspector=inspector, auto=auto, human=human, kind=kind)


def rubric_items(session: Session, call_id: str) -> list[ItemView]:
    """The items to answer for a call: those of its auto-evaluation, else of the active rubric."""
    return _impl().rubric_items(session, call_id)
