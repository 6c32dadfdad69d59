"""Score arithmetic (pure): item points, section weights, N/A, critical items, pass mark.

- An item answered *yes* earns its points; *no* earns 0; both count as possible.
- *n/a*, *insufficient* and no answer (manual items before review) are out of the numerator and the
  denominator alike. Insufficient evidence never counts as "no": it sets ``needs_review``.
- A section's percent is earned / possible; a section with nothing possible does not apply, and the
  weights are renormalised over the sections that do: total = sum(w_s * pct_s) / sum(w_s).
- A critical item answered *no* sets the total to 0 (``critical: true``) or its section's percent
  to 0 (``critical: section``).
- ``passed`` is total >= pass mark. The *critical score* is kept apart: the percent of answered
  critical items that were *yes* (None when no critical item was answered).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from scoring.rubric import Answer, Rubric


@dataclass(frozen=True)
class ItemScore:
    earned: float
    possible: float


@dataclass(frozen=True)
class SectionScore:
    id: str
    weight: float
    earned: float
    possible: float
    percent: float | None  # None: the section does not apply
    zeroed: bool = False  # a section-scoped critical item failed


@dataclass(frozen=True)
class ScoreResult:
    total: float | None
    passed: bool | None
    critical_score: float | None
    needs_review: bool
    pass_mark: float
    critical_failed: tuple[str, ...] = ()
    sections: tuple[SectionScore, ...] = ()
    items: dict[str, ItemScore] = field(default_factory=dict)


def _clamp(x: float) -> float:
    return min(100.0, max(0.0, x))


def score(rubric: Rubric, answers: Mapping[str, Answer | str | None]) -> ScoreResult:
    """Score ``answers`` (item id → answer; missing ids count as unanswered) against ``rubric``."""
    items: dict[str, ItemScore] = {}
    sections: list[SectionScore] = []
    critical_failed: list[str] = []
    crit_yes = crit_answered = 0
    needs_review = False
    call_zeroed = False
    for sec in rubric.sections:
        earned = possible = 0.0
        zeroed = False
        for it in sec.items:
            raw = answers.get(it.id)
            ans = Answer(raw) if raw is not None else None
            needs_review |= ans is Answer.insufficient
            counted = ans in (Answer.yes, Answer.no)
            got = it.points if ans is Answer.yes else 0.0
            items[it.id] = ItemScore(earned=got, possible=it.points if counted else 0.0)
            if counted:
                earned += got
                possible += it.points
            if it.critical and counted:
                crit_answered += 1
                crit_yes += ans is Answer.yes
                if ans is Answer.no:
                    critical_failed.append(it.id)
                    if it.critical == "section":
                        zeroed = True
                    else:
                        call_zeroed = True
        pct = None if possible == 0 else (0.0 if zeroed else _clamp(100.0 * earned / possible))
        sections.append(SectionScore(sec.id, sec.weight, earned, possible, pct, zeroed))
    applying = [s for s in sections if s.percent is not None]
    weight = sum(s.weight for s in applying)
    total: float | None = None
    if applying and weight > 0:
        total = _clamp(sum(s.weight * (s.percent or 0.0) for s in applying) / weight)
    if call_zeroed:
        total = 0.0
    return ScoreResult(
        total=total,
        passed=None if total is None else total >= rubric.pass_mark,
        critical_score=None if crit_answered == 0 else 100.0 * crit_yes / crit_answered,
        needs_review=needs_review,
        pass_mark=rubric.pass_mark,
        critical_failed=tuple(critical_failed),
        sections=tuple(sections),
        items=items,
    )
