"""The scoring job: score a transcribed call against the active rubric, store it, mark the call scored.

Idempotent: a call that already has an automatic evaluation under the rubric version asked for is
left as it is (a job run twice changes nothing). The call moves ``transcribed → scored`` with one
guarded UPDATE in the same transaction as the evaluation; if another worker got there first the
UPDATE matches no row and the whole transaction is rolled back.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlmodel import Session

from scoring.autoscore import evaluate
from scoring.checks import Env
from scoring.conversation import CallFacts, Conversation, Segment, Word
from scoring.rubric import LoadedRubric, active_rubric
from storage import calls
from storage.call_metrics import store_metrics
from storage.calls import Call, CallStatus
from storage.db import session as db_session
from storage.errors import CallqcError, Conflict
from storage.evaluations import (
    Evaluation,
    auto_evaluation_for,
    store_auto_evaluation,
)
from storage.jobs import JobContext, PermanentError
from storage.keys import validate_call_id
from storage.rubrics import stored_rubric
from storage.settings import get_settings
from storage.transcripts import Transcript, segments_of

log = logging.getLogger(__name__)


class TranscriptNotReady(CallqcError):
    """call has no transcript yet"""


class CallNotScorable(PermanentError):
    """call cannot be scored"""


def _words(raw: Any) -> tuple[Word, ...]:
    out = []
    for w in raw or []:
        try:
            prob = float(w.get("probability", 1.0))
            out.append(Word(float(w["start"]), float(w["end"]), str(w["word"]), prob))
        except (KeyError, TypeError, ValueError):
            continue  # a malformed word loses its timing, not the segment
    return tuple(out)


def load_conversation(session: Session, call: Call) -> Conversation:
    """The call's stored segments and facts as a :class:`Conversation` (TranscriptNotReady if none)."""
    if session.get(Transcript, call.call_id) is None:
        raise TranscriptNotReady(call.call_id)
    segs = [Segment(speaker=r.speaker, channel=r.channel, start=r.start_s, end=r.end_s, text=r.text or "",
                    words=_words(r.words), avg_logprob=r.avg_logprob, no_speech_prob=r.no_speech_prob)
            for r in segments_of(session, call.call_id)]
    channels = frozenset(call.channel_map or {}) or frozenset(s.speaker for s in segs)
    facts = CallFacts(direction=str(call.direction), queue=call.queue, duration_s=call.duration_s,
                      meta=dict(call.meta or {}), channels=channels)
    return Conversation.build(segs, facts)


def _mark_scored(session: Session, call_id: str) -> None:
    try:
        calls.move(session, call_id, CallStatus.scored)
    except calls.CallMoved as exc:
        raise Conflict(f"call {call_id} is no longer 'transcribed'; another worker scored it") from exc


def score_call(session: Session, call_id: str, loaded: LoadedRubric, *, env: Env | None = None) -> Evaluation:
    """Score one call under ``loaded`` (or return its existing evaluation under that version)."""
    from scoring.agreement import auto_submit_items
    from scoring.learned import ModelPredictor

    call = session.get(Call, call_id)
    if call is None:
        raise CallNotScorable(f"{call_id}: no such call")
    if call.status == CallStatus.recorded:
        raise TranscriptNotReady(call_id)
    if call.status == CallStatus.failed:
        raise CallNotScorable(f"{call_id}: call failed earlier ({call.last_error})")
    rid, version = loaded.key
    existing = auto_evaluation_for(session, call_id, rid, version)
    if existing is not None:
        if call.status == CallStatus.transcribed:
            _mark_scored(session, call_id)
        log.info("score: call %s already scored with %s v%s (evaluation %s)", call_id, rid, version,
                 existing.id)
        return existing
    conv = load_conversation(session, call)
    s = get_settings()
    env = env or Env(low_logprob=s.low_confidence_logprob, predictor=ModelPredictor())
    auto = evaluate(loaded, conv, env=env)
    ev = store_auto_evaluation(session, call_id, auto, auto_submit=auto_submit_items(session, loaded.rubric))
    store_metrics(session, call_id, auto.metrics)
    if call.status == CallStatus.transcribed:
        _mark_scored(session, call_id)
    log.info("score: call %s rubric %s v%s total=%s needs_review=%s", call_id, rid, version, ev.total,
             ev.needs_review)
    return ev


def handle(ctx: JobContext) -> None:
    """Handler of ``score`` jobs; the payload may name a stored rubric (``rubric_id``, ``rubric_version``)."""
    call_id = validate_call_id(ctx.call_id)
    with db_session(write=True) as session:
        rid, ver = ctx.payload.get("rubric_id"), ctx.payload.get("rubric_version")
        if rid and ver and not (isinstance(ver, int) or str(ver).isdigit()):
            raise CallNotScorable(f"{call_id}: job payload rubric_version {ver!r} is not a number")
        loaded = stored_rubric(session, str(rid), int(ver)) if rid and ver else active_rubric()
        score_call(session, call_id, loaded)
