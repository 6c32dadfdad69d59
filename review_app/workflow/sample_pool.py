"""The pool a sampling plan draws from: the window's calls that match the plan's filters, each with
what its quota's strata need (agent, start, the auto-evaluation's score and how unsure it is).

One query: the calls of the window, the newest active auto-evaluation of each, and its insufficient
and critical "no" answers counted from a narrow partial index (``ix_evaluation_items_auto_flags``,
migration 0033), so a month of a team's calls costs index probes, not a read of every answer. On
PostgreSQL the query also computes each call's uncertainty (the very float evalview.auto_uncertainty
gives), so without a score filter its rows are the candidates as they are. The seeded draw itself
(draw.select_calls) stays in Python: its shuffle consumes the generator by every group's size, so the
same seed over the same pool picks the same calls as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import aliased
from sqlmodel import Session, col

from review_app.workflow import evalview
from review_app.workflow.draw import Candidate
from storage.calls import Call
from storage.errors import InvalidInput
from storage.evaluations import Evaluation, EvaluationItem, EvaluationKind
from storage.reviews import Assignment


@dataclass
class Filters:
    queues: list[str] = field(default_factory=list)
    agents: list[str] = field(default_factory=list)
    direction: str | None = None
    min_duration_s: float | None = None
    max_duration_s: float | None = None
    date_from: str | None = None  # YYYY-MM-DD, inclusive
    date_to: str | None = None  # YYYY-MM-DD, inclusive
    score_below: float | None = None
    critical_fail: bool = False
    insufficient_evidence: bool = False
    words: list[str] = field(default_factory=list)  # any of these in the transcript

    @classmethod
    def of(cls, raw: dict[str, Any] | None) -> Filters:
        raw = dict(raw or {})
        unknown = set(raw) - set(cls.__dataclass_fields__)
        if unknown:
            raise InvalidInput(f"sampling filter {sorted(unknown)[0]!r} is not known")
        return cls(**raw)


def _uncertainty(total: Any, pass_mark: Any, n_ins: Any, n_crit: Any) -> Any:
    """evalview.auto_uncertainty in SQL (PostgreSQL): float(insufficient) + ((1.0 if a critical fail else
    0.0) + max(0.0, 1.0 - |score - pass mark| / 10.0)), in double precision, in the same order of the
    same IEEE operations, so the very same float (tests/test_sampling_pool.py compares them)."""
    f8: Any = postgresql.DOUBLE_PRECISION()

    def c(x: float) -> Any:
        return sa.cast(sa.literal(x), f8)

    crit = sa.case((n_crit > 0, c(1.0)), else_=c(0.0))
    near = sa.case((sa.or_(total.is_(None), pass_mark.is_(None)), c(0.0)),
                   else_=sa.func.greatest(c(0.0), c(1.0) - sa.func.abs(total - pass_mark) / c(10.0)))
    # the inner sum in a (no-op) CAST: SQLAlchemy drops the parentheses of a + (b + c) even when asked to
    # keep them, and float addition is not associative
    return sa.cast(n_ins, f8) + sa.cast(crit + near, f8)


def _calls_query(f: Filters, *, start: datetime, end: datetime, ignore_run: int | None, scope: Any,
                 postgresql: bool, lean: bool = False) -> Any:
    """The window's calls matching the plan's call filters and not assigned by another run, each with its
    newest active auto-evaluation (if any) and that evaluation's counted answers; ``lean`` (PostgreSQL):
    the candidates' five columns only."""
    auto = aliased(Evaluation)
    # "active = true", not "IS true": PostgreSQL folds it to the partial index's own predicate
    mine = (col(auto.call_id) == col(Call.call_id), col(auto.kind) == EvaluationKind.auto,
            col(auto.active) == sa.true())
    if postgresql:
        # one backward probe of ix_evaluations_auto_active per call, whatever the planner thinks of
        # the table's size (a plain join let it hash every evaluation on a small database)
        ev: Any = (sa.select(col(auto.id), col(auto.total), col(auto.pass_mark)).where(*mine)
                   .order_by(col(auto.id).desc()).limit(1).lateral("auto"))
        on: Any = sa.true()
    else:
        newer = aliased(Evaluation)
        ev = auto
        on = sa.and_(*mine, ~sa.exists().where(col(newer.call_id) == col(auto.call_id), col(newer.kind) == auto.kind,
                                               col(newer.active) == sa.true(), col(newer.id) > col(auto.id)))
    item = aliased(EvaluationItem)
    cols = ev.c if postgresql else ev
    flags: Any = None
    if postgresql:
        # both counts from one probe of the partial index ix_evaluation_items_auto_flags (it holds only
        # the "insufficient" and "no" answers): index-only, a third fewer buffer reads than two probes
        flags = (sa.select(sa.func.count().filter(col(item.auto_answer) == "insufficient").label("n_ins"),
                           sa.func.count().filter(col(item.auto_answer) == "no", col(item.critical) != "")
                           .label("n_crit"))
                 .where(col(item.evaluation_id) == cols.id, col(item.auto_answer).in_(("insufficient", "no")))
                 .lateral("flags"))
        n_ins, n_crit = flags.c.n_ins, flags.c.n_crit
    else:
        def answers(*where: Any) -> Any:
            # both conditions imply the partial index's predicate: index-only probes
            return (sa.select(sa.func.count()).select_from(item)
                    .where(col(item.evaluation_id) == cols.id, *where).scalar_subquery())

        n_ins = answers(col(item.auto_answer) == "insufficient")
        n_crit = answers(col(item.auto_answer) == "no", col(item.critical) != "")
    joined = sa.outerjoin(Call, ev, on)
    # PostgreSQL gives an aware timestamp already: not converted again to UTC row by row (the draw's day
    # is the UTC date whatever the zone of the value); SQLite's naive text needs UTCDateTime's reading
    started: Any = sa.type_coerce(col(Call.started_at), sa.DateTime(timezone=True)) if postgresql else col(
        Call.started_at)
    q = (
        # the first five columns are a Candidate's fields
        sa.select(col(Call.call_id), col(Call.agent_id), started.label("started_at"), cols.total.label("total"),
                  (_uncertainty(cols.total, cols.pass_mark, n_ins, n_crit) if postgresql else sa.null())
                  .label("uncertainty"),
                  *(() if lean else (cols.id.label("eval_id"), cols.pass_mark.label("pass_mark"),
                                     n_ins.label("n_insufficient"), n_crit.label("n_critical_no"))))
        .select_from(joined if flags is None else joined.outerjoin(flags, sa.true()))
        .where(col(Call.started_at) >= start, col(Call.started_at) < end, col(Call.agent_id).is_not(None),
               sa.true() if scope is None else scope)
    )
    if f.queues:
        q = q.where(col(Call.queue).in_(f.queues))
    if f.agents:
        q = q.where(col(Call.agent_id).in_(f.agents))
    if f.direction:
        q = q.where(col(Call.direction) == f.direction)
    if f.min_duration_s is not None:
        q = q.where(col(Call.duration_s) >= f.min_duration_s)
    if f.max_duration_s is not None:
        q = q.where(col(Call.duration_s) <= f.max_duration_s)
    if f.date_from:
        q = q.where(col(Call.started_at) >= datetime.fromisoformat(f.date_from).replace(tzinfo=UTC))
    if f.date_to:
        q = q.where(
            col(Call.started_at) < datetime.fromisoformat(f.date_to).replace(tzinfo=UTC) + timedelta(days=1)
        )
    # NOT EXISTS, not NOT IN: an anti-join on the assignments' call_id index instead of hashing every
    # assignment ever made (call_id is never NULL, so both keep the same calls)
    assigned = sa.exists().where(col(Assignment.call_id) == col(Call.call_id),
                                 col(Assignment.run_id) != (ignore_run or -1))
    return q.where(~assigned).order_by(col(Call.call_id))


def candidates(
    session: Session, plan_filters: dict[str, Any] | None, *, start: datetime, end: datetime,
    ignore_run: int | None = None, scope: Any = None,
) -> list[Candidate]:
    """Calls in [start, end) that match the plan's filters and are not already assigned (by another run),
    among those ``scope`` (a WHERE clause: the runner's access scope) allows, in call-ID order."""
    f = Filters.of(plan_filters)
    postgresql = session.get_bind().dialect.name == "postgresql"
    by_summary = f.score_below is not None or f.critical_fail or f.insufficient_evidence
    lean = postgresql and not by_summary
    q = _calls_query(f, start=start, end=end, ignore_run=ignore_run, scope=scope, postgresql=postgresql, lean=lean)
    # Core on the session's connection, not the ORM's execute: the same statement and rows, less overhead
    rows: Sequence[Any] = session.connection().execute(q).all()
    if f.words:
        with_words = evalview.calls_with_words(session, [r[0] for r in rows], f.words)
        rows = [r for r in rows if r[0] in with_words]
    make = tuple.__new__  # a Candidate without its Python-level __new__: thousands per run
    if lean:  # the rows are the candidates' fields, the uncertainty computed by PostgreSQL
        return [make(Candidate, r) for r in rows]
    # the uncertainty is float(insufficient) + the part from the score and a critical fail; that part is
    # computed once per distinct (score, pass mark, critical fail), the very same float for every call
    # sharing them, so the sums (and the draw's ties) are those of evalview.auto_uncertainty
    known: dict[tuple[Any, Any, bool], float] = {}
    out: list[Candidate] = []
    for call_id, agent_id, started_at, total, _, eval_id, pass_mark, n_ins, n_crit in rows:
        if eval_id is None:  # not scored yet: no score, sure of nothing, and no summary filter holds
            if not by_summary:
                out.append(make(Candidate, (call_id, agent_id or "", started_at, None, 0.0)))
            continue
        insufficient, critical_fail = int(n_ins or 0), bool(n_crit)
        if by_summary:
            if f.score_below is not None and (total is None or total >= f.score_below):
                continue
            if f.critical_fail and not critical_fail:
                continue
            if f.insufficient_evidence and insufficient == 0:
                continue
        key = (total, pass_mark, critical_fail)
        part = known.get(key)
        if part is None:
            part = known[key] = evalview.auto_uncertainty(total, pass_mark, insufficient=0, critical_fail=critical_fail)
        out.append(make(Candidate, (call_id, agent_id or "", started_at, total, float(insufficient) + part)))
    return out
