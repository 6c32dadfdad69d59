"""The pool a sampling plan draws from: the window's calls that match the plan's filters, each with
what its quota's strata need (agent, start, the auto-evaluation's score and how unsure it is).

One query: the calls of the window and the newest active auto-evaluation of each, with its insufficient
and critical "no" answers as counted when it was written (``evaluations.auto_insufficient`` and
``auto_critical_no``, kept by storage.evaluations), so a month of a team's calls costs one index-only probe
of ``ix_evaluations_auto_active`` per call and no read of the answers. On
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
from storage.evaluations import Evaluation, EvaluationKind
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
        # the table's size (a plain join let it hash every evaluation on a small database); the stored
        # answer counts are in the index's INCLUDE, so the probe is index-only and no answer is read
        ev: Any = (sa.select(col(auto.id), col(auto.total), col(auto.pass_mark), col(auto.auto_insufficient),
                             col(auto.auto_critical_no))
                   .where(*mine).order_by(col(auto.id).desc()).limit(1).lateral("auto"))
        on: Any = sa.true()
    else:
        newer = aliased(Evaluation)
        ev = auto
        on = sa.and_(*mine, ~sa.exists().where(col(newer.call_id) == col(auto.call_id), col(newer.kind) == auto.kind,
                                               col(newer.active) == sa.true(), col(newer.id) > col(auto.id)))
    cols = ev.c if postgresql else ev
    # a call not scored yet has no evaluation: its counts are 0, as counting no answers gave
    n_ins, n_crit = sa.func.coalesce(cols.auto_insufficient, 0), sa.func.coalesce(cols.auto_critical_no, 0)
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
        .select_from(joined)
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
    # per call of the window, one probe of the assignments' (call_id, run_id) index (LIMIT 1 in a lateral:
    # the planner cannot turn it into a merge or hash over every assignment ever made, which grows with
    # the years kept); call_id is never NULL, so it keeps the calls NOT IN kept
    other_run = col(Assignment.run_id) != (ignore_run or -1)
    if postgresql:
        taken: Any = (sa.select(sa.literal(1).label("taken")).where(col(Assignment.call_id) == col(Call.call_id),
                                                                    other_run).limit(1).lateral("taken"))
        q = q.outerjoin(taken, sa.true()).where(taken.c.taken.is_(None))
        return q.order_by(col(Call.call_id))
    assigned = sa.exists().where(col(Assignment.call_id) == col(Call.call_id), other_run)
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
