"""When a rubric section or item applies to a call: ``applies_when`` / ``na_when`` against the call's facts.

A condition's fields (``direction``, ``queue``, ``meta`` keys) must all match; each value is one
allowed value or a list of them, compared as given or as text (YAML ``1`` matches metadata ``"1"``).
"""

from __future__ import annotations

from typing import Any

from scoring.conversation import CallFacts
from scoring.rubric import Applicability, Condition


def _one_of(value: Any, allowed: Any) -> bool:
    options = allowed if isinstance(allowed, list) else [allowed]
    return any(value == o or (value is not None and str(value) == str(o)) for o in options)


def matches(cond: Condition, facts: CallFacts) -> bool:
    """Whether the call matches every field of ``cond``."""
    if cond.direction is not None and not _one_of(facts.direction, cond.direction):
        return False
    if cond.queue is not None and not _one_of(facts.queue, cond.queue):
        return False
    return all(_one_of(facts.meta.get(k), v) for k, v in cond.meta.items())


def _shown(cond: Condition) -> dict[str, Any]:
    return cond.model_dump(exclude_none=True, exclude_defaults=True)


def na_reason(app: Applicability, facts: CallFacts) -> str | None:
    """Why ``app`` (a section or item) does not apply to this call, or None when it does."""
    if app.applies_when is not None and not matches(app.applies_when, facts):
        return f"N/A: applies only when {_shown(app.applies_when)}"
    if app.na_when is not None and matches(app.na_when, facts):
        return f"N/A: call matches {_shown(app.na_when)}"
    return None
