"""The scoring job: score a transcribed call against the active rubric, store it, mark the call scored.

Before scoring, the channel check (scoring/channel_map.py) looks at a two-channel call: with
``channel_auto_flip`` on, a ``swapped`` verdict of at least ``channel_flip_confidence`` flips the map
first (audited, actor ``auto``), so the call is scored with speech attributed to the right speaker;
a confident verdict from the transcript alone enrols the agent's voice print. :func:`flip_channels`
is the inspector's flip: the map flipped, and a scored call scored again under the same rubric.

Idempotent: a call that already has an automatic evaluation under the rubric version asked for is
left as it is (a job run twice changes nothing), unless its transcript is newer than that evaluation
(the call was transcribed again because a late leg joined it: recorder/late_legs.py). The call moves
``transcribed → scored`` with one guarded UPDATE in the same transaction as the evaluation; if
another worker got there first the UPDATE matches no row and the whole transaction is rolled back.
"""

from __future__ import annotations

import logging

from sqlmodel import Session

from scoring import verification
from scoring.autoscore import evaluate
from scoring.channel_check import Verdict
from scoring.channel_map import Flip, call_check, confirm, confirm_from_transcript, flip_map
from scoring.check_base import ForcedScore
from scoring.checks import Env
from scoring.conversation import TranscriptNotReady, load_conversation
from scoring.evaluations import store_auto_evaluation
from scoring.learned import ModelPredictor
from scoring.routing import route_evaluation
from scoring.rubric import LoadedRubric, active_rubric
from scoring.trust import trust_for
from scoring.variants import active_variants
from scoring.versions import stored_rubric
from storage import calls
from storage.call_metrics import CallMetricsRow, save_metrics
from storage.calls import Call, CallStatus
from storage.db import session as db_session
from storage.errors import Conflict
from storage.evaluations import Evaluation, auto_evaluation_for
from storage.jobs import JobContext, PermanentError
from storage.keys import validate_call_id
from storage.rubric_rules import rule_for
from storage.settings import get_settings
from storage.transcripts import Transcript

log = logging.getLogger(__name__)


class CallNotScorable(PermanentError):
    """call cannot be scored"""


def _mark_scored(session: Session, call_id: str) -> None:
    try:
        calls.move(session, call_id, CallStatus.scored)
    except calls.CallMoved as exc:
        raise Conflict(f"call {call_id} is no longer 'transcribed'; another worker scored it") from exc


def score_call(session: Session, call_id: str, loaded: LoadedRubric, *, env: Env | None = None,
               again: bool = False) -> Evaluation:
    """Score one call under ``loaded`` (or the rubric its ``languages_from`` names for the call's
    language), or return its existing evaluation under that version, unless ``again``: the
    transcript changed, e.g. its speakers after a channel flip."""

    call = session.get(Call, call_id)
    if call is None:
        raise CallNotScorable(f"{call_id}: no such call")
    if call.status == CallStatus.recorded:
        raise TranscriptNotReady(call_id)
    if call.status == CallStatus.failed:
        raise CallNotScorable(f"{call_id}: call failed earlier ({call.last_error})")
    transcript = session.get(Transcript, call_id)
    # a rubric may name another for the call's language (the bundled default: zh.yaml for Mandarin)
    loaded = loaded.for_language(transcript.language if transcript is not None else None)
    rid, version = loaded.key
    existing = auto_evaluation_for(session, call_id, rid, version)
    if existing is not None and transcript is not None and existing.created_at < transcript.created_at:
        again = True  # transcribed again since (new audio: a late leg joined): the old score is stale
    if existing is not None and not again:
        if call.status == CallStatus.transcribed:
            _mark_scored(session, call_id)
        log.info("score: call %s already scored with %s v%s (evaluation %s)", call_id, rid, version,
                 existing.id)
        return existing
    conv = load_conversation(session, call)
    s = get_settings()
    env = env or Env(low_logprob=s.low_confidence_logprob, predictor=ModelPredictor(), variants=active_variants(),
                     forced=_forced(session, call, loaded) if s.score_forced_verification else None)
    auto = evaluate(loaded, conv, env=env)
    ev = store_auto_evaluation(session, call_id, auto, trust=trust_for(session, loaded))
    save_metrics(session, _with_channel_check(session, call, auto.metrics.row(call_id)))
    route_evaluation(session, call, ev)
    if call.status == CallStatus.transcribed:
        _mark_scored(session, call_id)
    log.info("score: call %s rubric %s v%s total=%s needs_review=%s", call_id, rid, version, ev.total,
             ev.needs_review)
    return ev


def _with_channel_check(session: Session, call: Call, row: CallMetricsRow) -> CallMetricsRow:
    """The metrics row carrying the channel check's verdict, so layers below scoring (the recorder
    API) can show it; scoring runs again after every flip, so the stored verdict follows the map."""
    verdict = call_check(session, call)
    if verdict is not None:
        row.metrics = {**row.metrics, "channel_check": {**verdict.as_dict(), "flips": call.channel_flips}}
    return row


def _forced(session: Session, call: Call, loaded: LoadedRubric) -> ForcedScore | None:
    """The call's audio through the ASR model for phrase verification (scoring/verification.py):
    only for Mandarin calls under a rubric with Chinese phrases; None when the audio cannot be read
    (the transcript alone decides then)."""
    transcript = session.get(Transcript, call.call_id)
    language = transcript.language if transcript is not None else None
    if language not in verification.ACCEPT or not verification.applies(loaded.rubric):
        return None
    from transcribe.handler import forced_scorer

    try:
        return forced_scorer(call.call_id, language)
    except Exception as exc:  # verification is an aid: scoring goes on without it, whatever failed
        log.warning("score: call %s: no forced verification (%s)", call.call_id, exc)
        return None


def handle(ctx: JobContext) -> None:
    """Handler of ``score`` jobs; the payload may name a stored rubric (``rubric_id``, ``rubric_version``)."""
    call_id = validate_call_id(ctx.call_id)
    with db_session(write=True) as session:
        rid, ver = ctx.payload.get("rubric_id"), ctx.payload.get("rubric_version")
        if rid and ver and not (isinstance(ver, int) or str(ver).isdigit()):
            raise CallNotScorable(f"{call_id}: job payload rubric_version {ver!r} is not a number")
        loaded = stored_rubric(session, str(rid), int(ver)) if rid and ver else rubric_for_call(session, call_id)
        check_channels(session, call_id)
        score_call(session, call_id, loaded)


def check_channels(session: Session, call_id: str) -> Flip | None:
    """Before the first scoring: flip a confidently swapped map when ``channel_auto_flip`` is on; enrol
    the agent's voice when the transcript alone is sure which channel is the agent's."""
    call = session.get(Call, call_id)
    if call is None or call.status != CallStatus.transcribed:
        return None
    s = get_settings()
    flipped = None
    if s.channel_auto_flip:
        verdict = call_check(session, call)
        sure = verdict is not None and verdict.confidence >= s.channel_flip_confidence
        if verdict is not None and sure and verdict.verdict is Verdict.swapped:
            flipped = flip_map(session, call_id, actor="auto", reason="channel check: swapped", verdict=verdict)
            log.info("score: call %s channel map flipped (%s, confidence %s)", call_id, verdict.score,
                     verdict.confidence)
            call = session.get(Call, call_id)
            assert call is not None
    confirm_from_transcript(session, call)
    return flipped


def flip_channels(session: Session, call_id: str, *, actor: str, reason: str,
                  seen_flips: int | None = None) -> tuple[Flip, Evaluation | None]:
    """An inspector's flip: the map and the segments' speakers swapped, the agent's voice enrolled from
    the corrected map, and a scored call scored again (its rubric; earlier evaluations stay, inactive).
    A call still ``transcribed`` is scored by its pending job."""
    flip = flip_map(session, call_id, actor=actor, reason=reason, seen_flips=seen_flips)
    call = session.get(Call, call_id)
    assert call is not None
    confirm(session, call, source="inspector")
    if call.status != CallStatus.scored:
        return flip, None
    return flip, score_call(session, call_id, rubric_for_call(session, call_id), again=True)


def rubric_for_call(session: Session, call_id: str) -> LoadedRubric:
    """The rubric a selection rule (storage/rubric_rules.py) names for the call, else the active one."""
    call = session.get(Call, call_id)
    rule = rule_for(session, call) if call is not None else None
    if rule is None:
        return active_rubric()
    return stored_rubric(session, rule.rubric_id, rule.rubric_version)
