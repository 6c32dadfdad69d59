"""What every check returns and is given (:class:`CheckResult`, :class:`Env`), and the channel
conditions under which a check about a speaker cannot run (see scoring/checks.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from scoring.conversation import Conversation
from scoring.rubric import Answer, ModelCheck
from scoring.variants import WordForms
from storage.evaluations import Evidence


@dataclass(frozen=True)
class CheckResult:
    answer: Answer | None  # None: no automatic answer (manual items)
    reason: str
    evidence: tuple[Evidence, ...] = ()
    confidence: float | None = None
    model_version: str | None = None


class Predictor(Protocol):
    def __call__(self, check: ModelCheck, conv: Conversation) -> CheckResult: ...


class ForcedScore(Protocol):
    """Log-probability of each text as the transcript of ``channel`` from ``start`` to ``end`` s
    (transcribe.forcing.ForcedScorer; scoring/verification.py)."""

    def __call__(self, channel: int, start: float, end: float, texts: Sequence[str]) -> list[float]: ...


@dataclass(frozen=True)
class Env:
    low_logprob: float = -1.0
    predictor: Predictor | None = None
    variants: dict[str, WordForms] | None = None  # forbidden words' forms; None: the bundled file
    # the call's audio through the model, to verify phrases the transcript missed (verification.py);
    # None: the transcript alone decides
    forced: ForcedScore | None = None
    # the rubric's Chinese phrases, the rivals a verified phrase must beat (verification.rivals_of;
    # evaluate() fills it in when ``forced`` is set)
    rivals: tuple[str, ...] = ()
    prompt_echo: bool = False  # doubt phrases that look copied from the hotword prompt (prompt_echo.py; measured, off)
    extra: dict[str, Any] = field(default_factory=dict)


def channel_problem(conv: Conversation, speaker: str | None) -> str | None:
    if speaker in (None, "any"):
        return None if conv.of(None) else "no speech in the call"
    if speaker not in conv.channels:
        return f"no {speaker} channel (mono or unattributed recording)"
    if not conv.of(speaker):
        return f"the {speaker} channel holds no speech"
    return None


def dead_channels(conv: Conversation) -> str | None:
    dead = sorted(c for c in conv.channels if not conv.of(c))
    if not conv.of(None):
        return "no speech in the call"
    return f"no speech on the {', '.join(dead)} channel" if dead else None
