"""What `callqc show` and the ingest API return about a call: one documented, stable JSON shape.

Shape (``schema`` bumps when a field changes meaning; fields are only ever added):

    {"schema": 1,
     "call": {call_id, tenant, agent_id, team, queue, direction, caller, callee, started_at,
              ended_at, duration_s, codec, sample_rate, channels, channel_map, meta, audio_key,
              size_bytes, sha256, status, last_error, hot_present, archived_at, created_at},
     "transcript": null | {...}   # storage.transcripts.transcript_json, see docs/transcription.md
     "metrics": null | {...}      # storage.call_metrics.metrics_json, see docs/scoring.md
     "evaluation": null | {...},  # storage.evaluations.evaluation_json, see docs/scoring.md
     "channel_check": null | {verdict, confidence, score, reasons, flips}}  # scoring.channel_map, docs/scoring.md

``null`` means that step has not happened yet (the call's ``status`` says how far it got).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlmodel import Session, col, select

from scoring.channel_map import call_check
from scoring.evaluations import evaluation_json
from storage.call_metrics import metrics_json
from storage.calls import Call, CallPublic
from storage.errors import NotFound
from storage.keys import validate_call_id
from storage.segments import Segment
from storage.transcripts import transcript_json

SCHEMA_VERSION = 1


class CallNotFound(NotFound):
    """no such call"""


def get_call(session: Session, call_id: str) -> Call:
    call = session.get(Call, validate_call_id(call_id))
    if call is None:
        raise CallNotFound(call_id)
    return call


def call_public(call: Call) -> dict[str, Any]:
    return CallPublic.model_validate(call, from_attributes=True).model_dump(mode="json")


def call_json(session: Session, call_id: str) -> dict[str, Any]:
    """The whole public record of one call."""
    call = get_call(session, call_id)
    return {
        "schema": SCHEMA_VERSION,
        "call": call_public(call),
        "transcript": transcript_json(session, call.call_id),
        "metrics": metrics_json(session, call.call_id),
        "evaluation": evaluation_json(session, call.call_id),
        "channel_check": channel_check_json(session, call),
    }


def channel_check_json(session: Session, call: Call, *, transcript: Sequence[Segment] | None = None
                       ) -> dict[str, Any] | None:
    """The channel check's verdict on a transcribed two-channel call (worked out when asked, so a rule
    change or a grown voice profile applies to old calls too); ``flips``: how often its map was flipped.
    ``transcript``: the call's stored segments, when the caller has them (not read again)."""
    result = call_check(session, call, transcript=transcript)
    return {**result.as_dict(), "flips": call.channel_flips} if result else None


def list_calls(session: Session, *, limit: int = 50, offset: int = 0, status: str | None = None) -> list[Call]:
    """Newest calls first, a page at a time."""
    q = select(Call).order_by(col(Call.started_at).desc(), col(Call.call_id)).offset(offset).limit(limit)
    if status:
        q = q.where(Call.status == status)
    return list(session.exec(q))
