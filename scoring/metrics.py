"""Conversation metrics of one call, from segment times (pure).

Speech is the union of a speaker's segment intervals. Silence is time when nobody speaks; the
*longest silence* is the longest gap between two stretches of speech (lead-in before the first
word and the tail after the last are excluded: recordings often start with ringing and end after
hang-up), while *non-talk time* is the whole call minus all speech. Music on hold and tones the
transcriber found (``CallFacts.nonspeech``) are neither talk nor silence: they are cut out of both,
so a customer on hold is not dead air (``nonspeech_s`` says how long they lasted). Overtalk is time when the agent
and the customer speak at once (needs one channel each). Talk speed is words a minute, except when
a speaker's text is mostly Chinese: then characters a minute (Chinese has no word spaces; the
usual conversational range is about 200-300 characters a minute).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from scoring.conversation import Conversation, count_units
from storage.call_metrics import CallMetricsRow
from storage.models import utcnow
from storage.segments import Speaker

Interval = tuple[float, float]


def union(intervals: Iterable[Interval]) -> list[Interval]:
    """Merge overlapping or touching intervals."""
    out: list[Interval] = []
    for a, b in sorted((a, b) for a, b in intervals if b > a):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def intersect(xs: list[Interval], ys: list[Interval]) -> list[Interval]:
    """Intersection of two merged interval lists."""
    out: list[Interval] = []
    i = j = 0
    while i < len(xs) and j < len(ys):
        a, b = max(xs[i][0], ys[j][0]), min(xs[i][1], ys[j][1])
        if b > a:
            out.append((a, b))
        if xs[i][1] < ys[j][1]:
            i += 1
        else:
            j += 1
    return out


def total(intervals: Iterable[Interval]) -> float:
    return sum(b - a for a, b in intervals)


def minus(xs: list[Interval], cuts: list[Interval]) -> list[Interval]:
    """Merged intervals ``xs`` with the merged ``cuts`` removed."""
    out: list[Interval] = []
    for a, b in xs:
        pieces = [(a, b)]
        for x, y in cuts:
            pieces = [p for lo, hi in pieces for p in ((lo, min(hi, x)), (max(lo, y), hi)) if p[1] > p[0]]
        out.extend(pieces)
    return out


def gaps(speech: list[Interval]) -> list[Interval]:
    """Silences between consecutive stretches of speech."""
    return [(speech[k][1], speech[k + 1][0]) for k in range(len(speech) - 1)]


@dataclass(frozen=True)
class SpeakerRate:
    per_minute: float | None
    unit: str  # "wpm" or "cpm"
    units: int
    speech_s: float


def speaker_rate(conv: Conversation, speaker: str) -> SpeakerRate:
    segs = conv.of(speaker)
    latin = cjk = 0
    for s in segs:
        lw, cc = count_units(s.text)
        latin, cjk = latin + lw, cjk + cc
    speech = total(union((s.start, s.end) for s in segs))
    unit, n = ("cpm", cjk + latin) if cjk > latin else ("wpm", latin + cjk)
    rate = n / (speech / 60.0) if speech > 0 else None
    return SpeakerRate(per_minute=rate, unit=unit, units=n, speech_s=speech)


@dataclass
class CallMetrics:
    duration_s: float
    talk_s: dict[str, float]
    speech_s: float
    non_talk_s: float
    longest_silence_s: float
    longest_silence_at: Interval | None
    overtalk_count: int
    overtalk_s: float
    longest_overtalk_s: float
    overtalk_spans: list[Interval] = field(default_factory=list)
    rate: dict[str, SpeakerRate] = field(default_factory=dict)
    talk_ratio: float | None = None  # agent share of agent + customer talk, 0..1
    nonspeech_s: float = 0.0  # music on hold and tones: neither talk nor silence

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["rate"] = {k: asdict(v) for k, v in self.rate.items()}
        d["longest_silence_at"] = list(self.longest_silence_at) if self.longest_silence_at else None
        d["overtalk_spans"] = [list(x) for x in self.overtalk_spans]
        return _rounded(d)

    def row(self, call_id: str) -> CallMetricsRow:
        """The call's stored form: headline figures as columns (for SQL aggregates), the rest as JSON."""
        return CallMetricsRow(
            call_id=call_id, duration_s=round(self.duration_s, 3), agent_talk_s=self.talk_s.get("agent"),
            customer_talk_s=self.talk_s.get("customer"), non_talk_s=round(self.non_talk_s, 3),
            longest_silence_s=round(self.longest_silence_s, 3), overtalk_count=self.overtalk_count,
            overtalk_s=round(self.overtalk_s, 3),
            agent_rate=self.rate["agent"].per_minute if "agent" in self.rate else None,
            customer_rate=self.rate["customer"].per_minute if "customer" in self.rate else None,
            talk_ratio=self.talk_ratio, metrics=self.to_json(), updated_at=utcnow(),
        )


def _rounded(v: Any) -> Any:
    if isinstance(v, float):
        return round(v, 3)
    if isinstance(v, dict):
        return {k: _rounded(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_rounded(x) for x in v]
    return v


def compute(conv: Conversation) -> CallMetrics:
    """All metrics of ``conv``."""
    other = union(conv.facts.nonspeech)
    by_speaker = {sp: minus(union((s.start, s.end) for s in conv.of(sp)), other) for sp in sorted(conv.channels)}
    speech = minus(union((s.start, s.end) for s in conv.segments), other)
    silences = [p for g in gaps(speech) for p in minus([g], other)]
    longest = max(silences, key=lambda g: g[1] - g[0], default=None)
    agent, customer = Speaker.agent.value, Speaker.customer.value
    over = intersect(by_speaker.get(agent, []), by_speaker.get(customer, [])) if conv.is_stereo else []
    talk = {sp: total(iv) for sp, iv in by_speaker.items()}
    both = talk.get(agent, 0.0) + talk.get(customer, 0.0)
    return CallMetrics(
        duration_s=conv.duration,
        talk_s=talk,
        speech_s=total(speech),
        non_talk_s=max(0.0, conv.duration - total(speech) - total(other)),
        longest_silence_s=(longest[1] - longest[0]) if longest else 0.0,
        longest_silence_at=longest,
        overtalk_count=len(over),
        overtalk_s=total(over),
        longest_overtalk_s=max((b - a for a, b in over), default=0.0),
        overtalk_spans=over,
        rate={sp: speaker_rate(conv, sp) for sp in by_speaker},
        talk_ratio=(talk.get(agent, 0.0) / both) if conv.is_stereo and both > 0 else None,
        nonspeech_s=total(other),
    )
