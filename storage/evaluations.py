"""Evaluations as stored: auto/human/calibration evaluations, their per-item answers and evidence.

Every evaluation keeps the rubric id + version it used (rubric versions: storage/rubrics.py). Per
item, the automatic answer, the inspector's answer and the final answer are separate columns;
``final_source`` says who gave the final one (``human``, or ``auto`` when the item was allowed to
auto-submit). A rescore adds a new evaluation and marks the old one inactive (``superseded_by``);
nothing is overwritten. This module stores and loads; the arithmetic that fills these rows is in
scoring/ (``scoring/evaluations.py``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm import attributes
from sqlmodel import JSON, Column, Field, Session, SQLModel, col, select

from storage.models import UTCDateTime, utcnow


class EvaluationKind(StrEnum):
    auto = "auto"
    human = "human"
    calibration = "calibration"


class FinalSource(StrEnum):
    human = "human"
    auto = "auto"  # the item was allowed to auto-submit (agreement κ over the bar)


class EvidenceKind(StrEnum):
    match = "match"
    searched = "searched"
    span = "span"
    unsure = "unsure"


@dataclass(frozen=True)
class Evidence:
    kind: EvidenceKind
    start: float
    end: float
    speaker: str | None = None
    quote: str | None = None
    segment: int | None = None  # index into the call's time-ordered segments
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["kind"] = str(self.kind)
        d["start"], d["end"] = round(self.start, 3), round(self.end, 3)
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Evidence:
        return cls(**{**d, "kind": EvidenceKind(d["kind"])})

    @property
    def label(self) -> str:
        """What to show for it: the quote, else the note."""
        return self.quote or self.note or ""


def _ts() -> Any:
    return Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class EvaluationBase(SQLModel):
    call_id: str = Field(foreign_key="calls.call_id", max_length=128, index=True)
    rubric_id: str = Field(max_length=64)
    rubric_version: int
    kind: EvaluationKind = Field(default=EvaluationKind.auto, sa_type=sa.String(16), index=True)
    evaluator: str = Field(default="auto", max_length=64, index=True)
    total: float | None = None
    passed: bool | None = None
    critical_score: float | None = None
    pass_mark: float = 80.0
    needs_review: bool = False
    # every answered item trusted, no critical fail, no insufficient evidence: it counts without a human
    auto_submitted: bool = False
    active: bool = Field(default=True, index=True)  # the newest of its kind (and evaluator) for the call
    superseded_by: int | None = None
    sections: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    comment: str | None = Field(default=None, sa_type=sa.Text)
    # its items' auto answers "insufficient", and "no" on a critical item: what makes a call uncertain to a
    # sampling pool, stored so the pool reads one index entry per call instead of counting the answers.
    # Kept right on every flush that writes items (_keep_flag_counts below); bulk loaders count them.
    auto_insufficient: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    auto_critical_no: int = Field(default=0, sa_column_kwargs={"server_default": "0"})


class Evaluation(EvaluationBase, table=True):
    __tablename__ = "evaluations"
    __table_args__ = (sa.Index("ix_evaluations_call_kind_active", "call_id", "kind", "active"),
                      sa.Index("ix_evaluations_updated_at", "updated_at"),
                      # a sampling pool: each call's newest active auto-evaluation, index-only on PostgreSQL
                      sa.Index("ix_evaluations_auto_active", "call_id", "id",
                               postgresql_include=["total", "passed", "pass_mark", "auto_insufficient",
                                                   "auto_critical_no"],
                               postgresql_where=sa.text("kind = 'auto' AND active"),
                               sqlite_where=sa.text("kind = 'auto' AND active")),
                      # the scorecard's counted auto-scores: the few auto-submitted ones, index-only
                      sa.Index("ix_evaluations_auto_submitted", "call_id",
                               postgresql_include=["id", "total", "rubric_id", "created_at", "passed"],
                               postgresql_where=sa.text("kind = 'auto' AND active AND auto_submitted"),
                               sqlite_where=sa.text("kind = 'auto' AND active AND auto_submitted")))

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = _ts()
    updated_at: datetime = _ts()
    # per item, the trust figures (κ, reviewed calls, definition hash) when the auto answers were
    # stored: what an auto-submitted evaluation shows as its warrant (scoring/trust.py)
    trust: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))


class EvaluationItem(SQLModel, table=True):
    __tablename__ = "evaluation_items"
    __table_args__ = (
        sa.UniqueConstraint("evaluation_id", "item_id", name="uq_evaluation_items_item"),
        # the inspectors' answers (a few in a hundred rows), which agreement and κ read for a window
        sa.Index("ix_evaluation_items_human", "evaluation_id", postgresql_where=sa.text("final_source = 'human'"),
                 sqlite_where=sa.text("final_source = 'human'")),
        # the auto answers that make a call uncertain, which a sampling run counts for a month's calls
        sa.Index("ix_evaluation_items_auto_flags", "evaluation_id", "auto_answer", "critical",
                 postgresql_where=sa.text("auto_answer IN ('insufficient', 'no')"),
                 sqlite_where=sa.text("auto_answer IN ('insufficient', 'no')")),
    )

    id: int | None = Field(default=None, primary_key=True)
    evaluation_id: int = Field(foreign_key="evaluations.id", index=True)
    item_id: str = Field(max_length=64, index=True)
    section_id: str = Field(max_length=64)
    check_kind: str = Field(max_length=32)
    critical: str = Field(default="", max_length=16)  # "", "call" or "section"
    points: float  # the item's points in the rubric
    earned: float = 0.0
    possible: float = 0.0  # 0 when the answer does not count (n/a, insufficient, unanswered)
    auto_answer: str | None = Field(default=None, max_length=16)
    human_answer: str | None = Field(default=None, max_length=16)
    final_answer: str | None = Field(default=None, max_length=16)
    final_source: str | None = Field(default=None, max_length=16)
    reason: str = Field(default="", sa_type=sa.Text)
    # Evidence.to_json() values; evidence_of() reads them back
    evidence: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    confidence: float | None = None
    model_version: str | None = Field(default=None, max_length=64)
    comment: str | None = Field(default=None, sa_type=sa.Text)


# --- the stored answer counts ----------------------------------------------------------------------------
_COUNTED = ("evaluation_id", "auto_answer", "critical")


def _touched_evaluations(session: Any) -> set[int]:
    """The evaluations whose counted answers this flush may change: items added, removed, or with a new
    auto answer, critical flag or evaluation (both the old and the new one)."""
    ids: set[int] = set()
    for obj in (*session.new, *session.deleted):
        if isinstance(obj, EvaluationItem) and obj.evaluation_id is not None:
            ids.add(obj.evaluation_id)
    for obj in session.dirty:
        if not isinstance(obj, EvaluationItem):
            continue
        state = sa.inspect(obj)
        for name in _COUNTED:
            h = state.attrs[name].history
            if h.has_changes():
                ids.add(obj.evaluation_id)
                ids.update(v for v in h.deleted if name == "evaluation_id" and v is not None)
    return ids


def flag_counts_update(ids: Any) -> Any:
    """One UPDATE setting the stored counts of evaluations ``ids`` (a list or a subquery) from their items,
    returning (id, auto_insufficient, auto_critical_no)."""
    ev, it = Evaluation.__table__, EvaluationItem.__table__  # type: ignore[attr-defined]

    def count(*where: Any) -> Any:
        return (sa.select(sa.func.count()).select_from(it).where(it.c.evaluation_id == ev.c.id, *where)
                .scalar_subquery())

    return (sa.update(ev).where(ev.c.id.in_(ids))
            .values(auto_insufficient=count(it.c.auto_answer == "insufficient"),
                    auto_critical_no=count(it.c.auto_answer == "no", it.c.critical != ""))
            .returning(ev.c.id, ev.c.auto_insufficient, ev.c.auto_critical_no))


@sa.event.listens_for(OrmSession, "after_flush")
def _keep_flag_counts(session: Any, _context: Any) -> None:
    """Every ORM write of evaluation items (scoring, a rescore, an inspector's or a supervisor's answers,
    tests) leaves the evaluation's stored counts equal to its counted answers, in the same transaction."""
    ids = _touched_evaluations(session)
    if not ids:
        return
    rows = session.connection().execute(flag_counts_update(sorted(ids))).all()
    for ev_id, n_ins, n_crit in rows:  # loaded evaluations show the stored values without a reload
        ev = session.identity_map.get(sa.inspect(Evaluation).identity_key_from_primary_key((ev_id,)))
        if ev is not None:
            attributes.set_committed_value(ev, "auto_insufficient", n_ins)
            attributes.set_committed_value(ev, "auto_critical_no", n_crit)


# --- evaluations --------------------------------------------------------------------------------------
def auto_evaluation_for(session: Session, call_id: str, rubric_id: str, version: int) -> Evaluation | None:
    """The call's automatic evaluation under that rubric version, if one was stored."""
    stmt = (select(Evaluation).where(Evaluation.call_id == call_id, Evaluation.kind == EvaluationKind.auto,
                                     Evaluation.rubric_id == rubric_id, Evaluation.rubric_version == version)
            .order_by(col(Evaluation.id).desc()))
    return session.exec(stmt).first()


def supersede(session: Session, call_id: str, kind: str, evaluator: str, new_id: int) -> None:
    session.execute(
        sa.update(Evaluation)
        .where(col(Evaluation.call_id) == call_id, col(Evaluation.kind) == kind,
               col(Evaluation.evaluator) == evaluator, col(Evaluation.active).is_(True),
               col(Evaluation.id) != new_id)
        .values(active=False, superseded_by=new_id, updated_at=utcnow()))


def items_of(session: Session, evaluation_id: int) -> list[EvaluationItem]:
    return list(session.exec(select(EvaluationItem).where(EvaluationItem.evaluation_id == evaluation_id)
                             .order_by(col(EvaluationItem.id))))


def current_evaluation(session: Session, call_id: str, *, kind: str | None = None) -> Evaluation | None:
    """The call's active evaluation of ``kind`` (None: the newest human one, else the automatic one)."""
    kinds = [kind] if kind else [EvaluationKind.human, EvaluationKind.auto]
    for k in kinds:
        stmt = (select(Evaluation).where(Evaluation.call_id == call_id, Evaluation.kind == k,
                                         col(Evaluation.active).is_(True))
                .order_by(col(Evaluation.id).desc()))
        if (ev := session.exec(stmt).first()) is not None:
            return ev
    return None


def current_totals(session: Session, call_ids: Iterable[str] | None = None) -> dict[str, float | None]:
    """Per call, the total of its current evaluation (the rule of :func:`current_evaluation`), in bulk.

    ``call_ids`` None means every call with an evaluation; calls without one are left out.
    Calibration evaluations never count.
    """
    base = (select(Evaluation.call_id, Evaluation.kind, Evaluation.total)
            .where(col(Evaluation.kind).in_((EvaluationKind.human, EvaluationKind.auto)),
                   col(Evaluation.active).is_(True))
            .order_by(col(Evaluation.id)))
    ids = None if call_ids is None else list(call_ids)
    queries = [base] if ids is None else [base.where(col(Evaluation.call_id).in_(ids[i:i + 500]))
                                          for i in range(0, len(ids), 500)]
    out: dict[str, float | None] = {}
    reviewed: set[str] = set()
    for q in queries:
        for call_id, kind, total in session.exec(q):
            if kind == EvaluationKind.human:  # ascending ids: the newest human evaluation wins
                out[call_id] = total
                reviewed.add(call_id)
            elif call_id not in reviewed:
                out[call_id] = total
    return out


def evidence_of(item: EvaluationItem) -> tuple[Evidence, ...]:
    """An item's stored evidence as :class:`Evidence` values (a malformed entry is left out)."""
    out = []
    for d in item.evidence or []:
        try:
            out.append(Evidence.from_json(d))
        except (KeyError, TypeError, ValueError):
            continue
    return tuple(out)
