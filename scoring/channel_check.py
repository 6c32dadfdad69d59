"""Channel check: is the agent really on the channel the call's map says?

A swapped map (the PBX wrote the legs the other way round, a trunk was wired differently) makes every
agent item be scored on what the customer said. The check weighs evidence from the transcript:

- **script phrases**: what agents say ("thank you for calling", "how can I help", 工号, 请稍等) and what
  customers say ("I have a problem", "my bill", 我要投诉), data in ``scoring/channel_cues.yaml``;
  each phrase on the side it belongs to counts its weight *for* the map as it is, on the other side
  *against* it;
- **who speaks first**: on an inbound call the agent answers, on an outbound call the customer does
  (counts 1; nothing when the direction is unknown);
- **other evidence** handed in as :class:`Evidence`: the agent's voice profile
  (scoring/voice_profile.py: which channel sounds like the agent's confirmed calls) and the roles a
  SIPREC recording's metadata gave its streams (:func:`siprec_evidence`).

The sum decides: at least ``DECIDE`` for the map → ``ok``, at most −``DECIDE`` → ``swapped``, else
``unsure``. Confidence grows with the sum's size: 1 − exp(−|sum| / ``DECIDE``), so a bare decision
is 0.63 and 0.9 needs a sum of 4.6 (on the benchmark no verdict at or above 0.9 was wrong). Only
two-channel calls with an agent and a customer channel get a verdict. Measured by ``python -m
bench.channel_check`` (docs/benchmarks.md).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from storage.segments import Segment

CUES_FILE = Path(__file__).with_name("channel_cues.yaml")
DECIDE = 2.0  # evidence needed for a verdict
FIRST_SPEAKER_WEIGHT = 1.0
# A SIPREC recorder names each stream's participant (RFC 7866 metadata); the map was built from that,
# so it is strong but not final evidence (a misconfigured SRC labels the wrong leg).
SIPREC_WEIGHT = 3.0


class Verdict(StrEnum):
    ok = "ok"
    swapped = "swapped"
    unsure = "unsure"


@dataclass(frozen=True)
class Cue:
    side: str  # agent | customer
    phrase: str
    weight: float
    pattern: re.Pattern[str]


@dataclass(frozen=True)
class ChannelCheck:
    verdict: Verdict
    confidence: float  # 0..1
    score: float  # > 0: the map is right, < 0: swapped
    reasons: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["verdict"] = str(self.verdict)
        return out


@dataclass(frozen=True)
class Evidence:
    """Evidence from outside the transcript: ``value`` > 0 for the map as it is, < 0 against it."""

    value: float
    reason: str


def siprec_evidence(meta: dict[str, Any] | None) -> Evidence | None:
    """A SIPREC call whose map the recording metadata decided (recorder/siprec: ``meta.rs_metadata``
    present, ``meta.speaker_map`` not ``"fallback"``, i.e. a participant matched the agent pattern)."""
    if not isinstance(meta, dict) or not isinstance(meta.get("rs_metadata"), dict):
        return None
    if meta.get("speaker_map") == "fallback":
        return None
    return Evidence(SIPREC_WEIGHT, f"SIPREC metadata names the agent's stream ({SIPREC_WEIGHT:+g})")


@cache
def load_cues(path: Path = CUES_FILE) -> tuple[Cue, ...]:
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    cues = []
    for side in ("agent", "customer"):
        for lang, items in (raw.get(side) or {}).items():
            for item in items:
                phrase = str(item["phrase"]).lower()
                # Chinese has no spaces between words: a substring; others: whole words.
                pat = re.escape(phrase) if lang == "zh" else rf"(?<!\w){re.escape(phrase)}(?!\w)"
                cues.append(Cue(side, phrase, float(item.get("weight", 1)), re.compile(pat)))
    return tuple(cues)


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^\w'\s]", " ", text.lower().replace("’", "'")).split())


def check(segments: Sequence[Segment], channel_map: dict[str, int] | None, direction: str | None,
          cues: Sequence[Cue] | None = None, evidence: Sequence[Evidence] = ()) -> ChannelCheck | None:
    """The verdict on ``channel_map`` from the call's transcript; None for calls it does not apply to."""
    cmap = channel_map or {}
    if "agent" not in cmap or "customer" not in cmap:
        return None
    agent_ch, customer_ch = cmap["agent"], cmap["customer"]
    text = {ch: _norm(" ".join(s.text for s in segments if s.channel == ch)) for ch in (agent_ch, customer_ch)}
    score = 0.0
    reasons: list[str] = []
    for cue in cues if cues is not None else load_cues():
        for ch, sign in ((agent_ch, 1.0), (customer_ch, -1.0)):
            n = len(cue.pattern.findall(text[ch]))
            if n:
                where = "agent" if ch == agent_ch else "customer"
                value = sign * cue.weight * min(n, 2) * (1.0 if cue.side == "agent" else -1.0)
                score += value
                reasons.append(f"{cue.side} phrase {cue.phrase!r} on the {where} channel ({value:+g})")
    spoken = [s for s in segments if s.channel in (agent_ch, customer_ch) and s.text.strip()]
    if spoken and direction in ("inbound", "outbound"):
        first = min(spoken, key=lambda s: s.start)
        expected = agent_ch if direction == "inbound" else customer_ch
        value = FIRST_SPEAKER_WEIGHT if first.channel == expected else -FIRST_SPEAKER_WEIGHT
        score += value
        who = "agent" if first.channel == agent_ch else "customer"
        reasons.append(f"the {who} channel speaks first on an {direction} call ({value:+g})")
    for ev in evidence:
        score += ev.value
        reasons.append(ev.reason)
    if score >= DECIDE:
        verdict = Verdict.ok
    elif score <= -DECIDE:
        verdict = Verdict.swapped
    else:
        verdict = Verdict.unsure
    confidence = round(1.0 - math.exp(-abs(score) / DECIDE), 3)
    return ChannelCheck(verdict, confidence, round(score, 2), reasons)
