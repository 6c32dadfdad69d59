"""The plan's KPIs (docs/scoring.md, "KPIs"), computed from call records and evaluations (pure).

Each call is one :class:`KpiCall`; :func:`compute` turns a group of them (an agent's, a team's or a
queue's calls of one period) into :class:`Kpis`. A figure the records cannot give is None, and
the pages say why ("needs ACD data", "needs PBX hold events") instead of showing a bare dash.

- monitoring score: mean score; *human* over reviewed calls, *auto* over auto-submitted
  evaluations of calls nobody reviewed, *combined* over both (a review replaces the auto score).
- average talk time: mean of (duration − hold time where the PBX reported holds).
- hold share and count: hold seconds ÷ duration, and holds per call, over calls whose record carries
  PBX hold events (``meta.holds``).
- silence share: non-talk seconds ÷ duration; overtalk share: overtalk seconds ÷ duration, and
  overtalks per call.
- AHT and ACW: mean after-call work (``meta.acw_s``, from the ACD) and mean talk time + after-call
  work, over calls whose record carries it.
- calls per hour: calls ÷ hours worked, the hours being each agent's *shifts*: runs of calls in
  which the gap from one call's end to the next call's start is at most ``shift_gap_s``; a shift
  lasts from its first call's start to its last call's end. Breaks between shifts do not count.
- first-contact resolution (repeat calls): share of calls with a known customer number after which
  the same number did not call again within ``fcr_days`` (later calls outside the period count:
  the caller of the 31st who calls back on the 2nd was not helped on the 31st). The rubric item's
  answer is given apart (``fcr_item``).
- complaint share: calls flagged as complaints (rubric item ``complaint`` answered yes, or a
  ``complaint`` tag in the call record) ÷ calls where it is known.
- pass rate and critical-fail rate: over counted evaluations (reviewed or auto-submitted);
  back-to-retraining count: reviews with the verdict *retraining*.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class KpiCall:
    call_id: str
    started_at: datetime
    duration_s: float
    agent_id: str | None = None
    customer: str | None = None  # the customer's number: caller of an inbound call, callee of an outbound one
    non_talk_s: float | None = None
    overtalk_s: float | None = None
    overtalk_count: int | None = None
    hold_s: float | None = None  # None: the record has no PBX hold events
    hold_count: int | None = None
    acw_s: float | None = None  # None: the record carries no after-call work time
    human_score: float | None = None
    auto_score: float | None = None  # an auto-submitted evaluation's total (counted without a review)
    passed: bool | None = None  # of the counted evaluation
    critical_fail: bool = False
    retraining: bool = False
    complaint: bool | None = None
    fcr_item: bool | None = None  # the rubric's first-contact-resolution item, when answered

    @property
    def ended_at(self) -> datetime:
        return self.started_at + timedelta(seconds=self.duration_s)

    @property
    def talk_s(self) -> float:
        return max(0.0, self.duration_s - (self.hold_s or 0.0))

    @property
    def score(self) -> float | None:
        return self.human_score if self.human_score is not None else self.auto_score


@dataclass(frozen=True)
class Kpis:
    calls: int
    evaluated: int
    score_human: float | None
    score_auto: float | None
    score_combined: float | None
    avg_talk_s: float | None
    hold_share: float | None
    holds_per_call: float | None
    silence_share: float | None
    overtalk_share: float | None
    overtalks_per_call: float | None
    aht_s: float | None
    acw_s: float | None
    calls_per_hour: float | None
    fcr_rate: float | None
    fcr_item_rate: float | None
    complaint_share: float | None
    pass_rate: float | None
    critical_fail_rate: float | None
    retraining: int


def _mean(xs: Sequence[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


def _pct(part: int, whole: int) -> float | None:
    return 100.0 * part / whole if whole else None


def _share(parts: Iterable[tuple[float, float]]) -> float | None:
    num = den = 0.0
    for a, b in parts:
        num, den = num + a, den + b
    return 100.0 * num / den if den > 0 else None


def shift_hours(calls: Sequence[KpiCall], *, shift_gap_s: float) -> float:
    """Hours worked by one agent: the sum of the lengths of their shifts (see the module doc)."""
    total = 0.0
    shift_start = shift_end = None
    for c in sorted(calls, key=lambda c: c.started_at):
        if shift_end is not None and (c.started_at - shift_end).total_seconds() <= shift_gap_s:
            shift_end = max(shift_end, c.ended_at)
            continue
        if shift_start is not None and shift_end is not None:
            total += (shift_end - shift_start).total_seconds()
        shift_start, shift_end = c.started_at, c.ended_at
    if shift_start is not None and shift_end is not None:
        total += (shift_end - shift_start).total_seconds()
    return total / 3600.0


def calls_per_hour(calls: Sequence[KpiCall], *, shift_gap_s: float) -> float | None:
    """Calls ÷ shift hours, the hours summed over each agent's own shifts."""
    by_agent: dict[str | None, list[KpiCall]] = defaultdict(list)
    for c in calls:
        by_agent[c.agent_id].append(c)
    hours = sum(shift_hours(cs, shift_gap_s=shift_gap_s) for cs in by_agent.values())
    return len(calls) / hours if hours > 0 else None


def first_contact_resolved(calls: Sequence[KpiCall], later: Mapping[str, Sequence[datetime]], *,
                           fcr_days: float) -> list[bool]:
    """Per call with a known customer number: True when that number made no other call within
    ``fcr_days`` after it. ``later`` holds every call start per number (this group's calls and
    calls after the period), sorted."""
    out = []
    window = timedelta(days=fcr_days)
    for c in calls:
        if not c.customer:
            continue
        starts = later.get(c.customer, ())
        i = bisect_right(starts, c.started_at)  # the first call strictly after this one
        out.append(not (i < len(starts) and starts[i] <= c.started_at + window))
    return out


def compute(calls: Sequence[KpiCall], later: Mapping[str, Sequence[datetime]], *, fcr_days: float,
            shift_gap_s: float) -> Kpis:
    """The KPIs of one group of calls."""
    human = [c.human_score for c in calls if c.human_score is not None]
    auto = [c.auto_score for c in calls if c.human_score is None and c.auto_score is not None]
    counted = [c for c in calls if c.score is not None]
    held = [c for c in calls if c.hold_s is not None]
    acw = [c for c in calls if c.acw_s is not None]
    fcr = first_contact_resolved(calls, later, fcr_days=fcr_days)
    fcr_item = [c.fcr_item for c in calls if c.fcr_item is not None]
    complaint = [c.complaint for c in calls if c.complaint is not None]
    passed = [c.passed for c in counted if c.passed is not None]
    metric = [c for c in calls if c.non_talk_s is not None]
    return Kpis(
        calls=len(calls),
        evaluated=len(counted),
        score_human=_mean(human),
        score_auto=_mean(auto),
        score_combined=_mean(human + auto),
        avg_talk_s=_mean([c.talk_s for c in calls]),
        hold_share=_share((c.hold_s or 0.0, c.duration_s) for c in held),
        holds_per_call=_mean([float(c.hold_count or 0) for c in held]),
        silence_share=_share((c.non_talk_s or 0.0, c.duration_s) for c in metric),
        overtalk_share=_share((c.overtalk_s or 0.0, c.duration_s) for c in metric),
        overtalks_per_call=_mean([float(c.overtalk_count or 0) for c in metric]),
        aht_s=_mean([c.talk_s + (c.acw_s or 0.0) for c in acw]),
        acw_s=_mean([c.acw_s or 0.0 for c in acw]),
        calls_per_hour=calls_per_hour(calls, shift_gap_s=shift_gap_s),
        fcr_rate=_pct(sum(fcr), len(fcr)),
        fcr_item_rate=_pct(sum(fcr_item), len(fcr_item)),
        complaint_share=_pct(sum(complaint), len(complaint)),
        pass_rate=_pct(sum(passed), len(passed)),
        critical_fail_rate=_pct(sum(c.critical_fail for c in counted), len(counted)),
        retraining=sum(c.retraining for c in calls),
    )
