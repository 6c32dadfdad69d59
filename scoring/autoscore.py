"""One call scored against one rubric: every item's answer with evidence, the metrics, the score."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from scoring import checks, verification
from scoring.applicability import na_reason
from scoring.checks import CheckResult, Env
from scoring.conversation import Conversation
from scoring.metrics import CallMetrics, compute
from scoring.rubric import Answer, LoadedRubric
from scoring.score import ScoreResult, score

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ItemResult:
    section_id: str
    item_id: str
    result: CheckResult

    @property
    def answer(self) -> Answer | None:
        return self.result.answer


@dataclass(frozen=True)
class AutoEvaluation:
    rubric: LoadedRubric
    items: tuple[ItemResult, ...]
    metrics: CallMetrics
    score: ScoreResult

    def answers(self) -> dict[str, Answer | None]:
        return {r.item_id: r.answer for r in self.items}

    def item(self, item_id: str) -> ItemResult:
        return next(r for r in self.items if r.item_id == item_id)


def evaluate(loaded: LoadedRubric, conv: Conversation, *, env: Env | None = None) -> AutoEvaluation:
    """Answer every item of ``loaded`` for ``conv`` and score the answers."""
    env = env or Env()
    if not env.rivals:  # the look-alike rule of phrase checks and forced verification both use them
        env = replace(env, rivals=verification.rivals_of(loaded.rubric))
    metrics = compute(conv)
    out: list[ItemResult] = []
    for sec in loaded.rubric.sections:
        sec_na = na_reason(sec, conv.facts)
        for it in sec.items:
            res = CheckResult(Answer.na, sec_na) if sec_na else checks.run_item(it, conv, metrics, env)
            out.append(ItemResult(sec.id, it.id, res))
    result = score(loaded.rubric, {r.item_id: r.answer for r in out})
    log.info("evaluate: rubric %s v%s total=%s", loaded.rubric.id, loaded.rubric.version, result.total)
    return AutoEvaluation(rubric=loaded, items=tuple(out), metrics=metrics, score=result)
