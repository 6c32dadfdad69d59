"""Builders of synthetic transcripts for the scoring tests (segments with evenly spaced word times)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from scoring.conversation import CallFacts, Conversation
from storage.segments import Segment, Word

CJK = re.compile(r"[\u4e00-\u9fff]")


def seg(speaker: str, start: float, end: float, text: str, *, logprob: float = -0.2) -> Segment:
    """A segment whose words share its time evenly (Chinese: one word per character)."""
    tokens = re.findall(r"[\u4e00-\u9fff]|[^\s\u4e00-\u9fff]+", text)
    step = (end - start) / max(1, len(tokens))
    words = tuple(
        Word(start + k * step, start + (k + 1) * step, tok if CJK.match(tok) else f" {tok}")
        for k, tok in enumerate(tokens)
    )
    return Segment(speaker=speaker, start=start, end=end, text=text, words=words, avg_logprob=logprob)


def call(segments: Iterable[Segment], *, duration: float | None = None, direction: str = "inbound",
         meta: dict[str, Any] | None = None, stereo: bool = True) -> Conversation:
    segs = list(segments)
    dur = duration if duration is not None else max((s.end for s in segs), default=0.0)
    channels = frozenset({"agent", "customer"}) if stereo else frozenset({"unknown"})
    return Conversation.build(segs, CallFacts(direction=direction, duration_s=dur, meta=meta or {},
                                              channels=channels))


def good_call(**changes: Any) -> list[Segment]:
    """A polite ~2-minute English call that passes the default rubric's automatic items."""
    return [
        seg("agent", 0.5, 4.5, "Thank you for calling Acme, my name is Anna, how can I help you?"),
        seg("customer", 5.0, 9.0, "Hi, my card was charged twice and I want it fixed."),
        seg("agent", 9.5, 14.0, "I am sorry to hear that. Could you confirm your account number please?"),
        seg("customer", 14.5, 18.0, "Sure, it is one two three four five six."),
        seg("agent", 18.5, 26.0, "Thank you. I can see the double charge and I have refunded it, "
                                 "it will show within three business days."),
        seg("customer", 26.5, 29.0, "Great, thanks a lot."),
        seg("agent", 29.5, 33.0, "Is there anything else I can help you with today?"),
        seg("customer", 33.5, 35.0, "No, that is all."),
        seg("agent", 35.5, 38.0, "Thank you for calling, have a nice day, goodbye."),
    ]


def store_call(session: Any, call_id: str, segments: list[Segment], *, status: str = "transcribed",
               direction: str = "inbound", meta: dict[str, Any] | None = None, mono: bool = False,
               language: str = "en") -> None:
    """Register a call with its transcript rows, as the recorder and the transcription worker would."""
    from datetime import UTC, datetime

    from storage.calls import Call
    from storage.transcripts import Transcript, TranscriptSegment

    duration = max((s.end for s in segments), default=0.0) + 1.0
    session.add(Call(
        call_id=call_id, direction=direction, started_at=datetime(2026, 11, 2, 9, 0, tzinfo=UTC),
        duration_s=duration, codec="pcm_s16le", sample_rate=8000, channels=1 if mono else 2,
        channel_map={"unknown": 0} if mono else {"agent": 0, "customer": 1}, meta=meta or {},
        audio_key=f"recordings/2026/11/02/{call_id}.wav", size_bytes=1, sha256="0" * 64, status=status,
    ))
    session.flush()
    session.add(Transcript(call_id=call_id, language=language, model_name="test", model_version="0",
                           model_source="test", duration_s=duration, mono=mono))
    for i, s in enumerate(sorted(segments, key=lambda s: s.start)):
        session.add(TranscriptSegment(
            call_id=call_id, idx=i, speaker=s.speaker, channel=1 if s.speaker == "customer" else 0,
            start_s=s.start, end_s=s.end, text=s.text,
            words=[{"start": w.start, "end": w.end, "word": w.word, "probability": w.probability}
                   for w in s.words],
            avg_logprob=s.avg_logprob, no_speech_prob=s.no_speech_prob))
    session.flush()
