"""The hour rollup (storage/rollups.py): how its rows are computed, refreshed and read by the pages.

A row's sums come from the same per-call facts the KPIs read (kpi_calls.load: the counted evaluation,
conversation metrics, PBX holds and after-call work, the FCR and complaint items) plus the
dashboard's own (every review, the active auto-evaluation's critical fail, the FCR items' final
answers). :func:`window_sums` gives a page the sums of a window ``[start, end)`` that are exact at
the moment of reading:

- whole UTC days of the window that no row touched since the last refresh come from the day layer
  above the hours (``day_stats``, storage/day_rollups.py) when the page asks for no queue or rubric;
- other whole UTC hours that no row touched since then come from ``hour_stats``;
- hours touched since then (the live tail: new calls, late evaluations and reviews, a rescore, a
  resolved dispute) and a window edge that is not on a whole hour are computed from the raw rows,
  with the very function that computes the rollup's rows;
- before the first refresh (or after ``recompute_all``) everything comes from the raw rows.

So a page's figures equal those computed from the raw rows whether or not a refresh ran; the
refresh (`callqc db rollup`, by cron or a timer) only keeps the raw part small.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any, Literal

import sqlalchemy as sa
from sqlmodel import Session, col, select

from review_app.workflow import evalview, rollup_sql
from review_app.workflow.kpi_calls import FCR_ITEMS, load
from storage import agent_items, day_rollups, item_stats, repeats, rollups, windows
from storage.access import Perm, can
from storage.day_rollups import hour_stats
from storage.evaluations import Evaluation, EvaluationItem, EvaluationKind
from storage.models import utcnow
from storage.reviews import Review, Verdict
from storage.rollups import HOUR, SUMS, HourStats, Refreshed, hour_key
from storage.settings import get_settings
from storage.users import Principal, Role

Sums = dict[str, float]
Key = tuple[str, str, str, str, str, str]  # rollups.KEY
_CHUNK = 500
_EVERYONE = Principal("rollup", Role.admin)


def _chunks(ids: list[str]) -> Iterable[list[str]]:
    for i in range(0, len(ids), _CHUNK):
        yield ids[i:i + _CHUNK]


def _rubrics(session: Session, ev_ids: list[int]) -> dict[int, str]:
    out: dict[int, str] = {}
    for i in range(0, len(ev_ids), _CHUNK):
        q = select(Evaluation.id, Evaluation.rubric_id).where(col(Evaluation.id).in_(ev_ids[i:i + _CHUNK]))
        out.update((eid, rid) for eid, rid in session.exec(q) if eid is not None)
    return out


def _fcr_answers(session: Session, call_ids: list[str]) -> dict[str, list[str]]:
    """Per call: final answers of the FCR items in its active human evaluations (as dashboard._fcr)."""
    out: dict[str, list[str]] = defaultdict(list)
    for chunk in _chunks(call_ids):
        q = (select(Evaluation.call_id, EvaluationItem.final_answer)
             .join(Evaluation, col(Evaluation.id) == EvaluationItem.evaluation_id)
             .where(col(Evaluation.call_id).in_(chunk), Evaluation.kind == EvaluationKind.human,
                    col(Evaluation.active).is_(True), col(EvaluationItem.item_id).in_(FCR_ITEMS),
                    col(EvaluationItem.final_answer).is_not(None)))
        for cid, answer in session.exec(q):
            out[cid].append(str(answer))
    return out


def raw_rows(session: Session, who: Principal, start: datetime, end: datetime, *, team: str | None = None,
             queue: str | None = None) -> dict[Key, Sums]:
    """The rollup's rows for [start, end) computed from the raw rows ``who`` may see."""
    got = load(session, who, start=start, end=end, team=team, queue=queue)
    ids = [c.call_id for c, _ in got.calls]
    rubric_of = _rubrics(session, [r.evaluation_id for r in got.reviews.values()])
    every: dict[str, list[Review]] = defaultdict(list)
    for chunk in _chunks(ids):
        for r in session.exec(select(Review).where(col(Review.call_id).in_(chunk))):
            every[r.call_id].append(r)
    autos = evalview.auto_summaries(session, ids)
    fcr = _fcr_answers(session, [cid for cid in ids if cid in every])
    out: dict[Key, Sums] = defaultdict(lambda: dict.fromkeys(SUMS, 0.0))
    for c, k in got.calls:
        review, auto = got.reviews.get(c.call_id), got.autos.get(c.call_id)
        rubric = ""
        if k.score is not None:
            rubric = rubric_of.get(review.evaluation_id, "") if review else (auto.rubric_id if auto else "")
        s = out[(hour_key(c.started_at), c.tenant, c.team or "", c.agent_id or "", c.queue or "", rubric)]
        s["calls"] += 1
        s["duration_s"] += k.duration_s
        s["talk_s"] += k.talk_s
        if k.human_score is not None:
            s["human_n"] += 1
            s["human_sum"] += k.human_score
        elif k.auto_score is not None:
            s["auto_n"] += 1
            s["auto_sum"] += k.auto_score
        if k.hold_s is not None:
            s["held_n"] += 1
            s["held_hold_s"] += k.hold_s
            s["held_duration_s"] += k.duration_s
            s["held_count"] += k.hold_count or 0
        if k.non_talk_s is not None:
            s["metric_n"] += 1
            s["metric_non_talk_s"] += k.non_talk_s
            s["metric_overtalk_s"] += k.overtalk_s or 0.0
            s["metric_duration_s"] += k.duration_s
            s["metric_overtalk_count"] += k.overtalk_count or 0
        if k.acw_s is not None:
            s["acw_n"] += 1
            s["acw_s"] += k.acw_s
            s["acw_talk_s"] += k.talk_s
        for name, value in (("fcr_item", k.fcr_item), ("complaint", k.complaint)):
            if value is not None:
                s[f"{name}_n"] += 1
                s[f"{name}_yes"] += value
        if k.score is not None:
            if k.passed is not None:
                s["passed_n"] += 1
                s["passed_yes"] += k.passed
            s["critical_fails"] += k.critical_fail
        s["retraining"] += k.retraining
        for r in every.get(c.call_id, ()):
            s["reviews"] += 1
            if r.score is not None:
                s["review_scored"] += 1
                s["review_score_sum"] += r.score
            if r.passed is not None:
                s["review_pass_known"] += 1
                s["review_passed"] += r.passed
            s["review_retraining"] += r.verdict == Verdict.retraining
        if (a := autos.get(c.call_id)) is not None:
            s["autos"] += 1
            s["auto_critical_fails"] += a.critical_fail
        decided = [x for x in fcr.get(c.call_id, ()) if x in ("yes", "no")]
        s["fcr_answers"] += len(decided)
        s["fcr_answers_yes"] += decided.count("yes")
    return dict(out)


_INTS = {c for c in SUMS if HourStats.model_fields[c].annotation is int}


def _rows(sums: dict[Key, Sums]) -> list[dict[str, Any]]:
    out = []
    for k, v in sums.items():
        values: dict[str, Any] = dict(zip(rollups.KEY, k, strict=True))
        values |= {c: int(x) if c in _INTS else x for c, x in v.items()}
        out.append(values)
    return out


def _python_rows(session: Session, a: datetime, b: datetime) -> int:
    fresh = _rows(raw_rows(session, _EVERYONE, a, b))
    rollups.replace_hours(session, [(a, b)], fresh)
    return len(fresh)


def _set_based_rows(session: Session, a: datetime, b: datetime) -> int:
    """PostgreSQL: the rows of [a, b) by one INSERT … SELECT (rollup_sql.py), the odd hours in Python."""
    rollups.replace_hours(session, [(a, b)], [])
    odd = rollup_sql.odd_hours(session, a, b)
    written = rollup_sql.insert_rows(session, a, b, skip=odd)
    return written + sum(_python_rows(session, x, y) for x, y in rollups.hour_ranges(set(odd)))


def refresh(session: Session, *, now: datetime | None = None, full: bool = False,
            progress: Callable[[str], None] | None = None) -> Refreshed:
    """Recompute every hour touched since the last refresh (``full``: every hour); move the watermark.

    A full refresh on PostgreSQL computes each month in the database (rollup_sql.py); the touched hours
    of an incremental refresh, and everything on SQLite, are computed by :func:`raw_rows`. ``progress``
    is told of each range of a full refresh as it is written, and of a recompute of ``hour_repeats``
    because the ``fcr_days`` setting changed."""
    state = rollups.lock_state(session)
    old = state.watermark
    upto = now or utcnow()
    since = None if old is None or full else old - rollups.OVERLAP
    if since is None:
        ranges = rollups.all_hours(session)
        session.execute(sa.delete(HourStats))
    else:
        ranges = rollups.hour_ranges(rollups.touched_hours(session, since))
    set_based = since is None and session.get_bind().dialect.name == "postgresql"
    hours = rows = 0
    for a, b in ranges:
        clock = time.perf_counter()
        written = _set_based_rows(session, a, b) if set_based else _python_rows(session, a, b)
        hours += round((b - a) / HOUR)
        rows += written
        if since is None and progress is not None:
            progress(f"hour_stats {a:%Y-%m-%d %H:00} to {b:%Y-%m-%d %H:00}: {written} rows "
                     f"in {time.perf_counter() - clock:.1f} s")
    # hour_repeats and hour_items: the same lock and watermark; hour_repeats also depends on fcr_days,
    # so a change of the setting since it was computed makes this refresh recompute all of it
    fcr_days = get_settings().fcr_days
    repeats_since = since if state.fcr_days == fcr_days else None
    if since is not None and repeats_since is None and progress is not None:
        progress(f"hour_repeats: fcr_days was {state.fcr_days}, is {fcr_days}: every hour recomputed")
    repeated = repeats.refresh(session, repeats_since)
    item_stats.refresh(session, since)
    agent_items.refresh(session, since)  # the scorecard's item rates: whole days with a touched hour
    # the day layer over the hours just written: every day with a recomputed hour, whole (storage/day_rollups.py)
    day_rollups.refresh(session, None if since is None or repeated is None else ranges + repeated)
    rollups.move_watermark(session, old, upto, fcr_days=fcr_days)
    session.expire(state)
    return Refreshed(hours, rows, upto)


def scope(who: Principal, table: sa.Table = hour_stats) -> list[Any]:
    """``access.calls_clause`` on a rollup's columns ('' stands for none)."""
    if who.role == Role.admin:
        return []
    tenant = table.c.tenant == who.tenant
    if can(who, Perm.view_all_calls):
        return [tenant] if who.teams is None else [tenant, table.c.team.in_(who.teams)]
    if who.role == Role.agent and who.agent_id:
        return [tenant, table.c.agent_id == who.agent_id]
    return [sa.false()]


def touched(session: Session, start: datetime, end: datetime) -> set[str] | None:
    """The hours touched since the last refresh (None: never refreshed), looked up only when the window
    holds a whole hour."""
    mark = rollups.watermark(session)
    if mark is None:
        return None
    return rollups.touched_hours(session, mark - rollups.OVERLAP) if end - start >= HOUR else set()


def _add(out: dict[tuple[str, str], Sums], q: Any, session: Session, sums: tuple[str, ...] = SUMS) -> None:
    for d, g, *vals in session.execute(q):
        s = out[(d, g or "")]
        for c, v in zip(sums, vals, strict=True):
            s[c] += float(v or 0)


def window_sums(session: Session, who: Principal, start: datetime, end: datetime, *, by: str | None = None,
                team: str | None = None, queue: str | None = None, rubric: str | None = None,
                sums: tuple[str, ...] = SUMS,
                known: set[str] | None | Literal[True] = True) -> dict[tuple[str, str], Sums]:
    """Sums per (UTC day, value of ``by``) of the calls ``who`` may see that started in [start, end).

    ``by``: a rollup column (agent_id, team, queue) or None (one group, ''). See the module doc; whole
    UTC days come from the day layer (``day_stats``) when neither queues nor rubrics are asked for.
    ``sums``: the columns the page shows (the others stay 0), so that a covering index serves the read.
    ``known``: what :func:`touched` returned for this window, when the caller has it (True: look it up)."""
    out: dict[tuple[str, str], Sums] = defaultdict(lambda: dict.fromkeys(SUMS, 0.0))
    if end <= start:
        return {}
    cut = windows.split(start, end, touched(session, start, end) if known is True else known,
                        days=by != "queue" and queue is None and rubric is None)
    for q in windows.rolled_reads(cut, (hour_stats, day_rollups.day_stats), lambda table: scope(who, table), sums,
                                  by=by, team=team, queue=queue, rubric=rubric):
        _add(out, q, session, sums)
    for a, b in cut.raw:
        for k, v in raw_rows(session, who, a, b, team=team, queue=queue).items():
            if rubric is not None and k[5] != rubric:
                continue
            s = out[(k[0][:10], {"agent_id": k[3], "team": k[2], "queue": k[4]}.get(by or "", ""))]
            for c in sums:
                s[c] += v[c]
    return dict(out)


def total(sums: Iterable[Sums]) -> Sums:
    out = dict.fromkeys(SUMS, 0.0)
    for s in sums:
        for c in SUMS:
            out[c] += s[c]
    return out


def week_of(day: str) -> str:
    d = datetime.strptime(day, "%Y-%m-%d").date()
    return (d - timedelta(days=d.weekday())).isoformat()
