"""Calibration between inspectors: the same calls scored blind, compared item by item with an expert.

A supervisor picks calls, inspectors and the expert whose answers are the baseline. Participants
see neither the auto answers nor each other's. Answers are stored in ``calibration_entries`` only
(never as reviews), so calibration never reaches an agent's scorecard or score statistics.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, select

from review_app.workflow import evalview
from review_app.workflow.text import checked_text
from storage.access import Perm, require, visible_call
from storage.errors import Forbidden, InvalidInput, NotFound
from storage.reviews import CalibrationEntry, CalibrationSession
from storage.users import Principal

log = logging.getLogger(__name__)
ANSWERS = ("yes", "no", "n/a")


class CalibrationNeedsCallsAndInspectors(InvalidInput):
    """a calibration needs at least one call and one inspector"""


class NotInCalibration(Forbidden):
    """you are not a participant of this calibration"""


class CallNotInCalibration(InvalidInput):
    """the call is not part of this calibration"""


class NoCalibrationAnswers(InvalidInput):
    """answer at least one item before submitting"""


class BadCalibrationAnswer(InvalidInput):
    """unknown item, or an answer other than yes, no or n/a"""


@dataclass(frozen=True)
class Deviation:
    inspector: str
    item_id: str
    compared: int  # calls both the inspector and the expert answered
    mismatches: int
    points_diff: float  # mean (inspector − expert) points on this item; + means more lenient
    item_title: str = ""  # the item's title in the configured locale

    @property
    def agreement(self) -> float:
        return 1.0 - self.mismatches / self.compared if self.compared else 0.0


def create_session(
    session: Session, who: Principal, *, title: str, call_ids: list[str], inspectors: list[str], expert: str
) -> CalibrationSession:
    require(who, Perm.calibrate)
    if not call_ids or not inspectors:
        raise CalibrationNeedsCallsAndInspectors()
    for cid in call_ids:
        visible_call(session, who, cid)
    cs = CalibrationSession(
        title=checked_text(title, field="title", limit=200, one_line=True) or "calibration",
        created_by=who.name,
        expert=expert,
        call_ids=list(dict.fromkeys(call_ids)),
        inspectors=[i for i in inspectors if i != expert],
    )
    session.add(cs)
    session.flush()
    return cs


def _session(session: Session, session_id: int) -> CalibrationSession:
    cs = session.get(CalibrationSession, session_id)
    if cs is None:
        raise NotFound(f"calibration session {session_id}")
    return cs


def my_sessions(session: Session, who: Principal) -> list[CalibrationSession]:
    """Open sessions ``who`` takes part in (or, for supervisors, all)."""
    rows = list(
        session.exec(
            select(CalibrationSession)
            .where(col(CalibrationSession.closed).is_(False))
            .order_by(col(CalibrationSession.id).desc())
        )
    )
    if who.role in ("supervisor", "admin"):
        return rows
    return [r for r in rows if who.name in r.inspectors or who.name == r.expert]


def blind_items(session: Session, who: Principal, session_id: int, call_id: str) -> list[tuple[str, str]]:
    """(item id, title) to answer, without the auto answers."""
    cs = _session(session, session_id)
    if who.name not in cs.inspectors and who.name != cs.expert:
        raise NotInCalibration(f"{who.name}, calibration {session_id}")
    if call_id not in cs.call_ids:
        raise CallNotInCalibration(f"call {call_id}, calibration {session_id}")
    visible_call(session, who, call_id)
    return [(i.item_id, i.title) for i in evalview.rubric_items(session, call_id)]


def submit(
    session: Session, who: Principal, session_id: int, call_id: str, *, answers: dict[str, str | None]
) -> CalibrationEntry:
    """Store a participant's blind answers; items left unanswered stay unanswered (no default)."""
    items = dict(blind_items(session, who, session_id, call_id))
    given: dict[str, str] = {k: v for k, v in answers.items() if v is not None}
    if not given:
        raise NoCalibrationAnswers()
    bad = [k for k, v in given.items() if k not in items or v not in ANSWERS]
    if bad:
        raise BadCalibrationAnswer(f"item {bad[0]!r}")
    entry = session.exec(
        select(CalibrationEntry).where(
            CalibrationEntry.session_id == session_id,
            CalibrationEntry.call_id == call_id,
            CalibrationEntry.inspector == who.name,
        )
    ).first()
    if entry is None:
        entry = CalibrationEntry(session_id=session_id, call_id=call_id, inspector=who.name, answers=given)
    else:
        entry.answers = dict(given)  # a participant may correct their own blind answers until closed
    # also kept as a kind=calibration evaluation, which scorecards and score statistics never read
    ev = evalview.save_human(
        session,
        call_id,
        inspector=who.name,
        auto=evalview.latest_auto(session, call_id),
        human=evalview.HumanAnswers(answers=dict(given)),
        kind="calibration",
    )
    entry.evaluation_id = ev.id
    session.add(entry)
    session.flush()
    return entry


def deviations(session: Session, who: Principal, session_id: int) -> list[Deviation]:
    """Each inspector's deviation per item from the expert's answers."""
    require(who, Perm.calibrate)
    cs = _session(session, session_id)
    entries = list(session.exec(select(CalibrationEntry).where(CalibrationEntry.session_id == session_id)))
    expert = {e.call_id: e.answers for e in entries if e.inspector == cs.expert}
    points: dict[str, float] = {}
    titles: dict[str, str] = {}
    for cid in cs.call_ids:
        for i in evalview.rubric_items(session, cid):
            points.setdefault(i.item_id, i.points)
            titles.setdefault(i.item_id, i.title)
    acc: dict[tuple[str, str], list[Any]] = defaultdict(lambda: [0, 0, 0.0])
    for e in entries:
        if e.inspector == cs.expert or e.call_id not in expert:
            continue
        for item, answer in e.answers.items():
            base = expert[e.call_id].get(item)
            if base is None:
                continue
            a = acc[(e.inspector, item)]
            a[0] += 1
            a[1] += answer != base
            a[2] += _earned(answer, points.get(item, 0.0)) - _earned(base, points.get(item, 0.0))
    return [
        Deviation(insp, item, n, mis, round(diff / n, 2), titles.get(item, item))
        for (insp, item), (n, mis, diff) in sorted(acc.items())
    ]


def _earned(answer: str, points: float) -> float:
    return points if answer == "yes" else 0.0


def close(session: Session, who: Principal, session_id: int) -> None:
    require(who, Perm.calibrate)
    cs = _session(session, session_id)
    cs.closed = True
    session.add(cs)
