"""The ``transcribe`` job: audio of one call → stored transcript → call ``transcribed`` → ``score`` job.

Idempotent: the transcript is replaced (never duplicated) and the call's move to ``transcribed``,
the transcript and the scoring job are written in one transaction, so a worker killed at any point
leaves either the old state or the new one. Audio that cannot be decoded ends the call as
``failed`` with the reason and the job as dead (PermanentError): retrying cannot fix it.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlmodel import Session, col, select

from storage import calls, live_segments, pauses
from storage.calls import Call, CallStatus
from storage.db import session
from storage.errors import Conflict, NotFound
from storage.jobs import Job, JobContext, JobKind, JobState, PermanentError
from storage.keys import validate_call_id
from storage.objectstore import ObjectNotFound
from storage.queue import enqueue
from storage.redactions import AudioCopy, replace_redaction
from storage.settings import get_settings
from storage.stores import get_store
from storage.transcripts import TranscriptBase, replace_transcript
from storage.voices import save_channel_voices
from transcribe.audio import AudioStream, CorruptAudio
from transcribe.engine import Transcriber, Transcript, TranscriptionStopped, get_transcriber
from transcribe.forcing import ForcedScorer
from transcribe.language import language_for
from transcribe.paused import silence_paused
from transcribe.prompts import PromptBook, prompt_book
from transcribe.redaction.audio import UndecodableAudio
from transcribe.redaction.pipeline import Redacted, redact_transcript, store_audio_copy
from transcribe.redaction.redecode import WhisperDecoder, call_channels
from transcribe.replay import KeptWindows
from transcribe.vocabulary import decoding_hotwords
from transcribe.voiceprint import VoicePrint, call_prints

log = logging.getLogger(__name__)

_TRANSCRIBABLE = {s.value for s in calls.sources_of(CallStatus.transcribed)}


class CallNotTranscribable(Conflict):
    """call cannot be transcribed in its current state"""


class AudioReplaced(Conflict):
    """the call's audio was replaced while it was transcribed (a late leg joined); result not stored"""


class LeaseGone(Conflict):
    """job lease lost while transcribing; result not stored"""


@dataclass(frozen=True)
class _CallInfo:
    audio_key: str
    channel_map: dict[str, int]
    queue: str | None
    status: str
    started_at: datetime
    numbers: tuple[str | None, str | None] = (None, None)  # (callee, caller): language by number
    audio_format: dict[str, Any] | None = None  # set for headerless recordings (raw μ-law, GSM, …)
    paused: tuple[tuple[float, float], ...] = ()  # PCI pauses, seconds of the recording: not transcribed
    prompts: PromptBook = PromptBook()  # known prompts (the process's cached book)


def _load_call(call_id: str) -> _CallInfo:
    with session() as s:
        call = s.get(Call, call_id)
        if call is None:
            raise NotFound(f"call {call_id}")
        hint = (call.meta or {}).get("audio_format")
        return _CallInfo(call.audio_key, dict(call.channel_map or {}), call.queue, str(call.status), call.started_at,
                         (call.callee, call.caller), dict(hint) if isinstance(hint, dict) else None,
                         tuple(pauses.in_recording(s, call)), prompt_book(s))


def _mark_failed(call_id: str, reason: str) -> None:
    try:
        with session(write=True) as s:
            calls.move(s, call_id, CallStatus.failed, last_error=reason[:2000])
    except calls.CallMoved:
        log.warning("mark failed %s: call no longer recorded/transcribed; left as is", call_id)


def _score_job_pending(s: Session, call_id: str) -> bool:
    stmt = select(Job.id).where(Job.call_id == call_id, Job.kind == JobKind.score.value,
                                col(Job.state).in_([JobState.queued.value, JobState.running.value]))
    return s.exec(stmt).first() is not None


def store_result(call_id: str, transcript: Transcript, *, redacted: Redacted | None = None,
                 audio_copy: AudioCopy | None = None, prints: dict[int, VoicePrint] | None = None,
                 audio_key: str | None = None) -> int:
    """Replace the transcript (redacted, with what was redacted) and the channels' voice prints, move
    the call to ``transcribed`` and queue scoring, in one transaction; ``audio_key``: the audio that
    was transcribed, which must still be the call's (a late leg may have replaced it meanwhile)."""
    if redacted is None:
        redacted = redact_transcript(transcript.segments)
    with session(write=True) as s:
        # The guarded UPDATE comes first: it locks the call row, so two workers racing on one call
        # (after a stall requeue) write their transcripts one after the other, never interleaved.
        try:
            calls.move(s, call_id, CallStatus.transcribed, last_error=None)
        except calls.CallMoved as exc:
            raise CallNotTranscribable(f"{call_id} is no longer recorded or transcribed") from exc
        if audio_key is not None and s.exec(select(Call.audio_key).where(Call.call_id == call_id)).one() != audio_key:
            raise AudioReplaced(call_id)  # rolls the move back; the job queued with the new audio transcribes it
        n = replace_transcript(s, TranscriptBase(
            call_id=call_id, language=transcript.language, language_probability=transcript.language_probability,
            model_name=transcript.model.name, model_version=transcript.model.version,
            model_source=str(transcript.model.source), compute=transcript.compute.as_dict(),
            duration_s=round(transcript.duration_s, 3), mono=transcript.mono, word_count=transcript.words,
            nonspeech=[x.as_json() for x in transcript.nonspeech],
        ), redacted.segments)
        replace_redaction(s, call_id, redacted.spans, originals=redacted.originals(), audio=audio_copy)
        live_segments.drop(s, call_id)  # the full transcript replaces the live one (never redacted)
        save_channel_voices(s, call_id, {ch: p.as_json() for ch, p in (prints or {}).items()})
        if not _score_job_pending(s, call_id):
            enqueue(s, JobKind.score, call_id=call_id)
    return n


@contextmanager
def _open_audio(key: str, call_id: str,
                audio_format: dict[str, Any] | None = None) -> Iterator[tuple[AudioStream, Path]]:
    """The call's audio, copied from the object store to a temporary file and decoded from there as it
    is transcribed, window by window (a long call never sits in memory whole); and the file's path,
    for the redacted copy."""
    store = get_store()
    bucket = get_settings().bucket_recordings
    with tempfile.NamedTemporaryFile(prefix="callqc-asr-", suffix=".audio") as tmp:
        for chunk in store.iter_chunks(bucket, key):
            tmp.write(chunk)
        tmp.flush()
        with AudioStream(Path(tmp.name), name=call_id, audio_format=audio_format) as stream:
            yield stream, Path(tmp.name)


def _prints(path: Path, call_id: str, info: _CallInfo, transcript: Transcript,
            kept: KeptWindows | None = None) -> dict[int, VoicePrint]:
    """Voice prints of the agent and customer channels (the channel check's voice evidence), from the
    original audio over each channel's segments; none for a call without both roles. ``kept``: the
    windows transcription decoded, when the call was short enough to keep them (else decoded again)."""
    cmap = info.channel_map
    if "agent" not in cmap or "customer" not in cmap:
        return {}
    windows = kept.kept() if kept is not None else None
    if windows is not None:
        return call_prints(windows, transcript.segments, [cmap["agent"], cmap["customer"]])
    with AudioStream(path, name=call_id, audio_format=info.audio_format) as again:
        return call_prints(again.windows(), transcript.segments, [cmap["agent"], cmap["customer"]])


def _redecoder(transcriber: Transcriber, path: Path, call_id: str, info: _CallInfo,
               language: str | None) -> WhisperDecoder | None:
    """Primed re-decoding of answer windows (transcribe/redaction/redecode.py), when configured; the
    audio is read again only if a window needs it."""
    if not get_settings().redaction_redecode or not language:
        return None
    return WhisperDecoder(transcriber.whisper, lambda: call_channels(
        path, name=call_id, audio_format=info.audio_format, paused=info.paused), language)


def handle(ctx: JobContext) -> None:
    """Transcribe the job's call (see module docstring)."""
    call_id = validate_call_id(ctx.call_id or ctx.payload.get("call_id"))
    info = _load_call(call_id)
    if info.status not in _TRANSCRIBABLE:
        # Scored or failed already: a duplicate or late job must not move the call backwards.
        log.info("transcribe %s: call is %s, nothing to do", call_id, info.status)
        return
    transcriber = get_transcriber()  # a missing model fails (and retries) before the call is touched
    try:
        with _open_audio(info.audio_key, call_id, info.audio_format) as (stream, path):
            audio = KeptWindows(stream)
            transcript = transcriber.transcribe(
                audio, channel_map=info.channel_map, language=language_for(info.queue, *info.numbers),
                stop=ctx.lease_lost, hotwords=decoding_hotwords(), languages=get_settings().asr_languages,
                paused=info.paused, prompts=info.prompts)
            # Personal data is cut out before anything is stored: the text here, the audio as a
            # second object (docs/redaction.md)
            redacted = redact_transcript(transcript.segments, _redecoder(transcriber, path, call_id, info,
                                                                         transcript.language))
            audio_copy = store_audio_copy(call_id, info.started_at, path, redacted.hits, info.audio_format,
                                          paused=info.paused)
            prints = _prints(path, call_id, info, transcript, audio)
    except (CorruptAudio, UndecodableAudio, ObjectNotFound) as exc:
        _mark_failed(call_id, str(exc))
        raise PermanentError(str(exc)) from exc
    except TranscriptionStopped as exc:
        raise LeaseGone(f"job {ctx.job_id} for call {call_id}") from exc
    if ctx.lease_lost.is_set():
        # Another worker owns the job now; it will store the same result, so store nothing here.
        raise LeaseGone(f"job {ctx.job_id} for call {call_id}")
    try:
        n = store_result(call_id, transcript, redacted=redacted, audio_copy=audio_copy, prints=prints,
                         audio_key=info.audio_key)
    except AudioReplaced:
        log.info("transcribe %s: audio replaced meanwhile (a late leg); the newer job transcribes it", call_id)
        return
    log.info("transcribe %s: %d segments, %d words, language %s, %.1f s audio (job %d, attempt %d)", call_id,
             n, transcript.words, transcript.language, transcript.duration_s, ctx.job_id, ctx.attempt)


def forced_scorer(call_id: str, language: str) -> ForcedScorer:
    """The call's audio, decoded whole (16 kHz int16 per channel, PCI pauses silenced as for
    transcription), ready for forced decoding with this process's model (scoring/verification.py)."""
    info = _load_call(call_id)
    with _open_audio(info.audio_key, call_id, info.audio_format) as (audio, _path):
        windows = []
        for window in audio.windows(window_s=600.0):
            silence_paused(window, info.paused)
            windows.append(window)
    size = max((w.start + len(w.channels[0]) for w in windows), default=0)
    channels = [np.zeros(size, dtype=np.int16) for _ in range(audio.n_channels)]
    for w in windows:
        for ch, samples in enumerate(w.channels):
            channels[ch][w.start:w.start + len(samples)] = samples
    return ForcedScorer(get_transcriber().whisper, channels, language=language)
