"""The checks that measure time rather than words: longest silence, overtalk, pace, talk ratio and
holds (the PBX's hold events, else long silences). Same contract as scoring/checks.py."""

from __future__ import annotations

from scoring import evidence as ev
from scoring.check_base import CheckResult, Env, channel_problem, dead_channels
from scoring.conversation import Conversation
from scoring.metrics import CallMetrics, gaps, union
from scoring.rubric import (
    Answer,
    HoldCheck,
    MaxOvertalkCheck,
    MaxSilenceCheck,
    TalkRatioCheck,
    TalkSpeedCheck,
)
from storage.evaluations import Evidence


def _whole(conv: Conversation, note: str) -> Evidence:
    """The whole call as the span searched, for an answer decided by finding nothing to measure."""
    return ev.searched(None, 0.0, conv.duration, note)


def _quotes_in(conv: Conversation, a: float, b: float) -> tuple[Evidence, ...]:
    return tuple(ev.of_segment(s, i) for i, s in enumerate(conv.segments) if s.start < b and s.end > a)


def max_silence(check: MaxSilenceCheck, conv: Conversation, metrics: CallMetrics, env: Env) -> CheckResult:
    if problem := dead_channels(conv):
        return CheckResult(Answer.insufficient, problem)
    at, longest = metrics.longest_silence_at, metrics.longest_silence_s
    pbx = _pbx_holds(conv)
    if pbx:  # an announced hold is judged by the hold item, not counted again as dead air
        speech = union((s.start, s.end) for s in conv.segments)
        quiet = [g for g in gaps(speech) if not any(a < g[1] and g[0] < b for a, b in pbx)]
        at = max(quiet, key=lambda g: g[1] - g[0], default=None)
        longest = (at[1] - at[0]) if at else 0.0
    note = f"longest silence {longest:.1f} s" + (" outside holds" if pbx else "")
    evid = (ev.span(at[0], at[1], note),) if at else (_whole(conv, "no silence between speech"),)
    ok = longest <= check.seconds
    return CheckResult(Answer.yes if ok else Answer.no, f"{note} (limit {check.seconds:g} s)", evid)


def max_overtalk(check: MaxOvertalkCheck, conv: Conversation, metrics: CallMetrics, env: Env) -> CheckResult:
    if not conv.is_stereo:
        return CheckResult(Answer.insufficient, "overtalk needs one channel per speaker")
    if problem := dead_channels(conv):
        return CheckResult(Answer.insufficient, problem)
    spans = metrics.overtalk_spans
    longest = max(spans, key=lambda x: x[1] - x[0], default=None)
    note = f"longest overtalk {metrics.longest_overtalk_s:.1f} s, {metrics.overtalk_s:.1f} s in all"
    evid: tuple[Evidence, ...] = (_whole(conv, "no overtalk"),)
    if longest:
        evid = (ev.span(longest[0], longest[1], note), *_quotes_in(conv, *longest))
    ok = metrics.longest_overtalk_s <= check.seconds and (
        check.max_total_s is None or metrics.overtalk_s <= check.max_total_s)
    return CheckResult(Answer.yes if ok else Answer.no, note, evid)


def talk_speed(check: TalkSpeedCheck, conv: Conversation, metrics: CallMetrics, env: Env) -> CheckResult:
    if problem := channel_problem(conv, check.speaker):
        return CheckResult(Answer.insufficient, problem)
    rate = metrics.rate.get(check.speaker)
    if rate is None or rate.per_minute is None or rate.speech_s < check.min_speech_s:
        return CheckResult(Answer.insufficient, f"too little {check.speaker} speech to measure pace")
    lo_b, hi_b = (check.min_cpm, check.max_cpm) if rate.unit == "cpm" else (check.min_wpm, check.max_wpm)
    if lo_b is None and hi_b is None:
        return CheckResult(Answer.na, f"N/A: no {rate.unit} range in the rubric for this language")
    segs = conv.of(check.speaker)
    note = f"{rate.per_minute:.0f} {rate.unit}"
    evid = (ev.span(segs[0].start, segs[-1].end, note),)
    ok = (lo_b is None or rate.per_minute >= lo_b) and (hi_b is None or rate.per_minute <= hi_b)
    return CheckResult(Answer.yes if ok else Answer.no, f"{check.speaker} speaks at {note}", evid)


def talk_ratio(check: TalkRatioCheck, conv: Conversation, metrics: CallMetrics, env: Env) -> CheckResult:
    if not conv.is_stereo or metrics.talk_ratio is None:
        return CheckResult(Answer.insufficient, "talk ratio needs agent and customer channels with speech")
    r = metrics.talk_ratio
    ok = (check.min is None or r >= check.min) and (check.max is None or r <= check.max)
    note = f"agent talks {r:.0%} of the time"
    return CheckResult(Answer.yes if ok else Answer.no, note, (ev.span(0.0, conv.duration, note),))


def _pbx_holds(conv: Conversation) -> list[tuple[float, float]]:
    """The PBX's hold events (``meta["holds"]``: [[start, end], ...]); malformed entries are skipped."""
    given = conv.facts.meta.get("holds")
    out: list[tuple[float, float]] = []
    for pair in given if isinstance(given, list) else []:
        try:
            a, b = (float(x) for x in pair)
        except (TypeError, ValueError):
            continue  # metadata comes from the PBX: one bad entry must not fail the whole evaluation
        if b > a:
            out.append((a, b))
    return out


def holds(conv: Conversation, min_gap_s: float) -> list[tuple[float, float]]:
    """Holds from the PBX's events (``meta["holds"]``: [[start, end], ...]) or else long silences."""
    if isinstance(conv.facts.meta.get("holds"), list):
        return _pbx_holds(conv)
    speech = union((s.start, s.end) for s in conv.segments)
    return [g for g in gaps(speech, conv.facts.paused) if g[1] - g[0] >= min_gap_s]


def hold(check: HoldCheck, conv: Conversation, metrics: CallMetrics, env: Env) -> CheckResult:
    if "holds" not in conv.facts.meta and (problem := dead_channels(conv)):
        return CheckResult(Answer.insufficient, problem)
    found = holds(conv, check.min_gap_s)
    longest = max(found, key=lambda x: x[1] - x[0], default=None)
    longest_s = (longest[1] - longest[0]) if longest else 0.0
    note = f"{len(found)} hold(s), longest {longest_s:.0f} s"
    evid = tuple(ev.span(a, b, "hold") for a, b in found[:10]) or (_whole(conv, "no hold"),)
    ok = (check.max_s is None or longest_s <= check.max_s) and (
        check.max_count is None or len(found) <= check.max_count)
    return CheckResult(Answer.yes if ok else Answer.no, note, evid)
