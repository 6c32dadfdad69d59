"""A call's channel map, checked and corrected: the check with all its evidence, the flip, enrolment.

- :func:`call_check`: the channel check (scoring/channel_check.py) on a stored call, with the evidence
  beyond its transcript: SIPREC metadata and the agent's voice profile (scoring/voice_profile.py).
- :func:`flip_map`: swap agent and customer in the map, one guarded statement (``UPDATE calls SET
  channel_map=…, channel_flips=n+1 WHERE call_id=:id AND channel_flips=n AND status IN
  ('transcribed','scored') RETURNING``; zero rows → :class:`FlipRaced`), then the stored segments'
  speakers follow their channels, and an audit row says who, why and from which map. Two inspectors
  flipping the same view of a call therefore flip it once, never back and forth unseen. Rescoring is
  the caller's (scoring/handler.py ``flip_channels``).
- :func:`confirm`: a call whose map is confirmed enrols its agent channel's voice print in the agent's
  profile (by an inspector's flip or review, or by a confident verdict from the transcript alone).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from scoring.channel_check import ChannelCheck, Evidence, Verdict, check, siprec_evidence
from scoring.voice_profile import ENROL_CONFIDENCE, PROFILE_CALLS, profile_of, voice_evidence
from storage import audit
from storage.calls import Call, CallStatus
from storage.errors import Conflict, NotFound
from storage.models import AuditAction, utcnow
from storage.segments import Segment, Speaker
from storage.transcripts import TranscriptSegment, segments
from storage.voices import agent_vectors, channel_voices, enrol
from transcribe.voiceprint import VoicePrint

FLIPPABLE = (CallStatus.transcribed, CallStatus.scored)


class NotFlippable(Conflict):
    """channel map cannot be flipped"""


class FlipRaced(Conflict):
    """the call changed meanwhile (flipped again, or not transcribed); look at it again"""


@dataclass(frozen=True)
class Flip:
    call_id: str
    before: dict[str, int]
    after: dict[str, int]
    relabelled: int  # segments whose speaker changed
    flips: int  # the call's flip count now


def _prints(session: Session, call_id: str) -> dict[int, VoicePrint]:
    out = {}
    for ch, raw in channel_voices(session, call_id).items():
        p = VoicePrint.from_json(raw)
        if p is not None:
            out[ch] = p
    return out


def voice_check_evidence(session: Session, call: Call) -> Evidence | None:
    """Which channel sounds like the call's agent, from the agent's profile (never this call's own print)."""
    cmap = call.channel_map or {}
    if not call.agent_id or "agent" not in cmap or "customer" not in cmap:
        return None
    prints = _prints(session, call.call_id)
    vectors = agent_vectors(session, call.tenant, call.agent_id, limit=PROFILE_CALLS, exclude_call=call.call_id)
    profile = profile_of(call.agent_id, [VoicePrint(tuple(v), 0.0) for v in vectors])
    return voice_evidence(profile, prints.get(cmap["agent"]), prints.get(cmap["customer"]))


def call_check(session: Session, call: Call, *, transcript_only: bool = False,
               transcript: Sequence[Segment] | None = None) -> ChannelCheck | None:
    """The verdict on the call's map; None for a call it does not apply to or without a transcript.
    ``transcript``: the call's stored segments when the caller has read them already (words not needed)."""
    if call.channels != 2:
        return None
    segs = list(transcript) if transcript is not None else segments(session, call.call_id, words=False)
    if not segs:
        return None
    evidence: list[Evidence] = []
    if not transcript_only:
        evidence = [e for e in (siprec_evidence(call.meta), voice_check_evidence(session, call)) if e is not None]
    return check(segs, call.channel_map, call.direction, evidence=evidence)


def flip_map(session: Session, call_id: str, *, actor: str, reason: str, seen_flips: int | None = None,
             verdict: ChannelCheck | None = None) -> Flip:
    """Swap the call's agent and customer channels (see the module docstring). ``seen_flips``: the flip
    count the caller looked at (default: the one read now)."""
    call = session.get(Call, call_id)
    if call is None:
        raise NotFound(f"call {call_id}")
    before = dict(call.channel_map or {})
    if call.channels != 2 or "agent" not in before or "customer" not in before:
        raise NotFlippable(f"{call_id}: not a two-channel call with an agent and a customer channel")
    seen = call.channel_flips if seen_flips is None else seen_flips
    after = {**before, "agent": before["customer"], "customer": before["agent"]}
    row = session.execute(
        sa.update(Call).where(col(Call.call_id) == call_id, col(Call.channel_flips) == seen,
                              col(Call.status).in_([s.value for s in FLIPPABLE]))
        .values(channel_map=after, channel_flips=seen + 1, updated_at=utcnow()).returning(col(Call.call_id))
    ).first()
    if row is None:
        raise FlipRaced(f"{call_id}: expected {seen} earlier flip(s) and status transcribed or scored")
    res = session.execute(
        sa.update(TranscriptSegment)
        .where(col(TranscriptSegment.call_id) == call_id,
               col(TranscriptSegment.channel).in_([after["agent"], after["customer"]]),
               col(TranscriptSegment.speaker).in_([Speaker.agent.value, Speaker.customer.value]))
        .values(speaker=sa.case((col(TranscriptSegment.channel) == after["agent"], Speaker.agent.value),
                                else_=Speaker.customer.value))
    )
    relabelled = int(getattr(res, "rowcount", 0) or 0)
    detail: dict[str, Any] = {"before": before, "after": after, "reason": reason[:500], "flips": seen + 1}
    if verdict is not None:
        detail["check"] = {"verdict": str(verdict.verdict), "confidence": verdict.confidence, "score": verdict.score}
    audit.record(session, actor, AuditAction.channel_flip, call_id=call_id, detail=detail)
    session.flush()
    session.expire(call)
    return Flip(call_id, before, after, relabelled, seen + 1)


def confirm(session: Session, call: Call, *, source: str, agent_channel: int | None = None) -> bool:
    """Enrol the call's agent print (channel ``agent_channel``, default the map's) in its agent's
    profile; False when the call has no agent or no print for that channel."""
    cmap = call.channel_map or {}
    channel = cmap.get("agent") if agent_channel is None else agent_channel
    if not call.agent_id or channel is None:
        return False
    p = _prints(session, call.call_id).get(channel)
    if p is None:
        return False
    enrol(session, tenant=call.tenant, agent_id=call.agent_id, call_id=call.call_id, channel=channel,
          vector=list(p.vector), source=source)
    return True


def confirm_reviewed(session: Session, call: Call) -> bool:
    """A reviewed call's map is taken as right, unless the check says it is swapped (the reviewer may
    not have noticed; the flip, not the review, confirms such a call)."""
    result = call_check(session, call)
    if result is not None and result.verdict is Verdict.swapped:
        return False
    return confirm(session, call, source="review")


def confirm_from_transcript(session: Session, call: Call) -> bool:
    """A confident verdict from the transcript alone confirms which channel is the agent's (the voice
    evidence is left out: a profile must not confirm itself)."""
    result = call_check(session, call, transcript_only=True)
    if result is None or result.verdict is Verdict.unsure or result.confidence < ENROL_CONFIDENCE:
        return False
    cmap = call.channel_map or {}
    agent = cmap["agent"] if result.verdict is Verdict.ok else cmap["customer"]
    return confirm(session, call, source="check", agent_channel=agent)
