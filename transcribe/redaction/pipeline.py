"""Redacting one call: its transcript before it is stored, its audio as a second object, and
re-running both later (`callqc redact`) after a rule change or for calls transcribed before.

The transcribe job calls :func:`redact_transcript` and :func:`store_audio_copy` and stores their
results with the transcript in one transaction. :func:`redact_call` does the same for a call that
already has a transcript; it starts from the original text when it was kept (else from the stored,
already redacted text, carrying the spans found before: a placeholder's count ([CARD:16]) is not
read as digits, so nothing is found twice) and from the original recording, and replaces the call's
redaction rows as a whole: running it twice changes nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from storage import audit, pauses
from storage.calls import Call
from storage.db import session
from storage.errors import Conflict, NotFound
from storage.keys import redacted_key, validate_call_id
from storage.models import AuditAction
from storage.objectstore import ObjectNotFound
from storage.redactions import (
    AudioCopy,
    Span,
    original_words,
    originals_of,
    redaction_of,
    replace_redaction,
    spans_of,
)
from storage.segments import Segment
from storage.settings import get_settings
from storage.stores import get_store
from storage.transcripts import Transcript, as_segment, replace_segment_texts, segments_of
from transcribe.redaction.answer import AnswerWindow
from transcribe.redaction.audio import Cut, decode, redact
from transcribe.redaction.detect import Hit, detect
from transcribe.redaction.redecode import Decoder, WhisperDecoder, call_channels, redecode_hits
from transcribe.redaction.rules import load_rules
from transcribe.redaction.transcript import redact_segments

log = logging.getLogger(__name__)


class NoTranscript(Conflict):
    """call has no transcript yet: it is redacted when it is transcribed"""


@dataclass(frozen=True)
class Redacted:
    segments: list[Segment]  # the text everyone reads
    hits: list[Hit]
    changed: dict[int, Segment]  # segment idx → its original, for each segment that changed

    @property
    def spans(self) -> list[Span]:
        return [Span(str(h.kind), h.speaker, h.channel, h.start, h.end, h.digits, h.rule) for h in self.hits]

    def originals(self) -> dict[int, Segment] | None:
        """What to keep of the original text, per the ``redaction_keep_original`` setting."""
        return dict(self.changed) if get_settings().redaction_keep_original else None


def redact_transcript(segments: Sequence[Segment], decoder: Decoder | None = None) -> Redacted:
    """Find and cut personal data out of a conversation (nothing is cut when redaction is off).
    ``decoder``: decodes stretches of the call's audio again, primed for digits (redecode.py); used
    on answer windows when ``redaction_redecode`` is on."""
    settings = get_settings()
    if not settings.redaction_enabled:
        return Redacted(list(segments), [], {})
    answer = AnswerWindow(settings.redaction_answer_pause_s, settings.redaction_answer_max_s) \
        if settings.redaction_answer_window else None
    rules = load_rules(settings.redaction_rules_dir)
    hits = detect(segments, rules, answer, uncued_units=settings.redaction_soundalike_uncued_units)
    if answer is not None and decoder is not None and settings.redaction_redecode:
        hits, _added = redecode_hits(segments, rules, hits, answer, decoder)
    out = redact_segments(segments, hits)
    changed = {i: seg for i, (seg, new) in enumerate(zip(segments, out, strict=True)) if seg is not new}
    return Redacted(out, hits, changed)


def store_audio_copy(call_id: str, started_at: datetime, audio_path: Path, spans: Sequence[Span | Hit],
                     audio_format: Mapping[str, Any] | None = None, *,
                     paused: Sequence[tuple[float, float]] = ()) -> AudioCopy | None:
    """Write the redacted copy of the call's audio as its own object: each hit covered on its channel
    (tone or silence, the setting), each PCI pause silenced on every channel (what the recorder let
    through before the pause reached it). None when there is nothing to cut."""
    if not spans and not paused:
        return None
    settings = get_settings()
    audio = decode(audio_path, name=call_id, audio_format=audio_format)  # headerless PBX formats too
    red = redact(audio, [Cut(sp.channel, sp.start, sp.end) for sp in spans], margin_s=settings.redaction_margin_s,
                 mode=settings.redaction_audio, fade_ms=settings.redaction_fade_ms)
    if paused:
        red = redact(red, [Cut(None, a, b) for a, b in paused], margin_s=settings.redaction_margin_s,
                     mode="silence", fade_ms=settings.redaction_fade_ms)
    buf = io.BytesIO()
    red.export(buf, format="wav")
    data = buf.getvalue()
    key = redacted_key(call_id, started_at)
    sha = hashlib.sha256(data).hexdigest()
    get_store().put_stream(settings.bucket_recordings, key, io.BytesIO(data), length=len(data), sha256=sha,
                           content_type="audio/wav")
    return AudioCopy(key, sha, len(data))


@dataclass(frozen=True)
class _Source:
    segments: list[Segment]
    started_at: datetime
    audio_key: str
    hot: bool
    carried: list[Span]
    paused: list[tuple[float, float]]
    language: str | None


def _source_segments(call_id: str) -> _Source:
    with session() as s:
        call = s.get(Call, call_id)
        if call is None:
            raise NotFound(f"call {call_id}")
        transcript = s.get(Transcript, call_id)
        if transcript is None:
            raise NoTranscript(call_id)
        originals = originals_of(s, call_id)
        segs = []
        for r in segments_of(s, call_id):
            seg = as_segment(r)
            if r.idx in originals:
                o = originals[r.idx]
                seg = replace(seg, text=o.text, words=original_words(o))
            segs.append(seg)
        head = redaction_of(s, call_id)
        # Without the original text a redacted number cannot be found again: its span is carried over
        carried = [] if head is None or head.original_kept else [
            Span(r.kind, r.speaker, r.channel, r.start_s, r.end_s, r.digits, r.rule) for r in spans_of(s, call_id)]
        return _Source(segs, call.started_at, call.audio_key, call.hot_present, carried,
                       list(pauses.in_recording(s, call)), transcript.language)


def redact_call(call_id: str, *, actor: str) -> list[Span]:
    """Re-run redaction of a stored call (see module docstring); audited. The call's spans."""
    cid = validate_call_id(call_id)
    src = _source_segments(cid)
    segs, started_at, carried, paused = src.segments, src.started_at, src.carried, src.paused
    copy = None
    with tempfile.NamedTemporaryFile(prefix="callqc-redact-", suffix=".audio") as tmp:
        fetched: list[Path] = []

        def audio() -> Path:
            """The original recording, fetched once, when first needed."""
            if not fetched:
                if not src.hot:
                    raise Conflict(f"{cid}: the original audio is archived only; retrieve it to the hot store first")
                for chunk in get_store().iter_chunks(get_settings().bucket_recordings, src.audio_key):
                    tmp.write(chunk)
                tmp.flush()
                fetched.append(Path(tmp.name))
            return fetched[0]

        decoder = None
        if get_settings().redaction_redecode and src.hot and src.language:
            from transcribe.engine import get_transcriber  # the model only when re-decoding is on

            decoder = WhisperDecoder(get_transcriber().whisper,
                                     lambda: call_channels(audio(), name=cid, paused=paused), src.language)
        result = redact_transcript(segs, decoder)
        spans = sorted(set(carried) | set(result.spans), key=lambda sp: (sp.start, sp.speaker, sp.kind))
        if spans or paused:
            copy = store_audio_copy(cid, started_at, audio(), spans, paused=paused)
        else:
            # a rule change can leave nothing to cut: the old copy must not outlive its row
            with contextlib.suppress(ObjectNotFound):
                get_store().delete(get_settings().bucket_recordings, redacted_key(cid, started_at))
    with session(write=True) as s:
        replace_segment_texts(s, cid, {i: result.segments[i] for i in range(len(segs))})
        replace_redaction(s, cid, spans, originals=result.originals(), audio=copy)
        audit.record(s, actor, AuditAction.redact, call_id=cid, source="cli",
                     detail={"hits": len(spans), "kinds": sorted({sp.kind for sp in spans})})
    log.info("redact %s: %d hits (%d new)", cid, len(spans), len(result.hits))
    return spans
