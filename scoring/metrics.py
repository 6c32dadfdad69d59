"""Conversation metrics of one call, from segment times (pure).

Speech is the union of a speaker's segment intervals. Silence is time when nobody speaks; the
*longest silence* is the longest gap between two stretches of speech (lead-in before the first
word and the tail after the last are excluded: recordings often start with ringing and end after
hang-up), while *non-talk time* is the whole call minus all speech. Paused spans (PCI pauses of a
live call, ``CallFacts.paused``) are neither: their silence was written in place of the
conversation, so they are cut out of every silence and out of non-talk time (``paused_s`` says how
much). Overtalk is time when the agent
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


def gaps(speech: list[Interval], paused: Iterable[Interval] = ()) -> list[Interval]:
    """Silences between consecutive stretches of speech, less the ``paused`` spans (a silence a pause
    interrupts becomes the pieces before and after it)."""
    between = [(speech[k][1], speech[k + 1][0]) for k in range(len(speech) - 1)]
    return subtract(between, union(paused))


def subtract(xs: list[Interval], ys: list[Interval]) -> list[Interval]:
    """The parts of ``xs`` outside the merged intervals ``ys``."""
    out: list[Interval] = []
    for a, b in xs:
        for c, d in ys:
            if d <= a or c >= b:
                continue
            if c > a:
                out.append((a, c))
            a = max(a, d)
            if a >= b:
                break
        if b > a:
            out.append((a, b))
    return out


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
    paused_s: float = 0.0  # PCI-paused seconds: in the duration, in no silence

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
    by_speaker = {sp: union((s.start, s.end) for s in conv.of(sp)) for sp in sorted(conv.channels)}
    speech = union((s.start, s.end) for s in conv.segments)
    paused = union(conv.facts.paused)
    silences = gaps(speech, paused)
    longest = max(silences, key=lambda g: g[1] - g[0], default=None)
    agent, customer = Speaker.agent.value, Speaker.customer.value
    over = intersect(by_speaker.get(agent, []), by_speaker.get(customer, [])) if conv.is_stereo else []
    talk = {sp: total(iv) for sp, iv in by_speaker.items()}
    both = talk.get(agent, 0.0) + talk.get(customer, 0.0)
    return CallMetrics(
        duration_s=conv.duration,
        talk_s=talk,
        speech_s=total(speech),
        non_talk_s=max(0.0, conv.duration - total(union([*speech, *paused]))),
        longest_silence_s=(longest[1] - longest[0]) if longest else 0.0,
        longest_silence_at=longest,
        overtalk_count=len(over),
        overtalk_s=total(over),
        longest_overtalk_s=max((b - a for a, b in over), default=0.0),
        overtalk_spans=over,
        rate={sp: speaker_rate(conv, sp) for sp in by_speaker},
        talk_ratio=(talk.get(agent, 0.0) / both) if conv.is_stereo and both > 0 else None,
        paused_s=total(paused),
    )
