"""Per-agent voice profiles: the channel check's evidence learned from calls whose map is confirmed.

Every transcribed two-channel call stores a voice print per channel (transcribe/voiceprint.py,
``storage/voices.py``). A call's agent print joins the agent's profile when its map is confirmed:

- an inspector flipped the map by hand, or reviewed the call (a human evaluation exists);
- the channel check said ``ok`` or ``swapped`` with confidence ≥ ``ENROL_CONFIDENCE`` from the
  transcript alone (a swapped call enrols the print of the channel that really is the agent).

The profile is the mean of the agent's newest ``PROFILE_CALLS`` confirmed prints; it speaks once it
has ``MIN_CALLS``. At check time the channel nearer the profile is the agent: the evidence is
``VOICE_WEIGHT`` × (d_customer − d_agent) / (d_customer + d_agent) / ``VOICE_SCALE``, clipped to
±``VOICE_WEIGHT`` (d: :func:`transcribe.voiceprint.distance`). ``VOICE_SCALE`` was set on the
benchmark's development seed (docs/benchmarks.md, "Channel check").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from scoring.channel_check import Evidence
from transcribe.voiceprint import VoicePrint, distance

MIN_CALLS = 2
PROFILE_CALLS = 50
ENROL_CONFIDENCE = 0.9
VOICE_WEIGHT = 3.0  # at most as strong as a script phrase such as "thank you for calling"
VOICE_SCALE = 0.15  # relative margin that earns the full weight


@dataclass(frozen=True)
class Profile:
    agent_id: str
    mean: tuple[float, ...]
    calls: int


def profile_of(agent_id: str, prints: Sequence[VoicePrint]) -> Profile | None:
    """The agent's profile from its confirmed prints; None below ``MIN_CALLS``."""
    if len(prints) < MIN_CALLS:
        return None
    mean = np.mean(np.asarray([p.vector for p in prints[-PROFILE_CALLS:]], dtype=np.float64), axis=0)
    return Profile(agent_id, tuple(float(x) for x in mean), min(len(prints), PROFILE_CALLS))


def voice_evidence(profile: Profile | None, agent: VoicePrint | None, customer: VoicePrint | None) -> Evidence | None:
    """Which of the two channels sounds like the agent; None without a profile or either print."""
    if profile is None or agent is None or customer is None:
        return None
    da, dc = distance(agent.vector, profile.mean), distance(customer.vector, profile.mean)
    if da + dc <= 0:
        return None
    rel = (dc - da) / (da + dc)
    value = round(VOICE_WEIGHT * float(np.clip(rel / VOICE_SCALE, -1.0, 1.0)), 2)
    nearer = "agent" if da <= dc else "customer"
    return Evidence(value, f"the {nearer} channel sounds like {profile.agent_id}'s voice profile "
                           f"({profile.calls} calls; distance {da:.2f} vs {dc:.2f}) ({value:+g})")
