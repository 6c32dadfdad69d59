"""Building word-timestamped segments for redaction tests, the way Whisper writes words."""

from __future__ import annotations

import hashlib
import io
import wave
from datetime import UTC, datetime

import numpy as np

from storage.calls import Call, CallStatus
from storage.db import session
from storage.keys import recording_key
from storage.segments import Segment, Word
from storage.settings import get_settings
from storage.stores import get_store
from storage.transcripts import Transcript, TranscriptSegment
from storage.users import Principal, Role


def en(speaker: str, t0: float, text: str, *, channel: int = 0, step: float = 0.5) -> Segment:
    """An English segment: one word per space-separated token, each with its leading space."""
    words, t = [], t0
    for tok in text.split():
        words.append(Word(round(t, 3), round(t + step * 0.8, 3), " " + tok))
        t += step
    return Segment(speaker=speaker, start=t0, end=round(t, 3), text=text, words=tuple(words), channel=channel)


def zh(speaker: str, t0: float, tokens: list[str], *, channel: int = 1, step: float = 0.35) -> Segment:
    """A Mandarin segment: words as given, without spaces."""
    words, t = [], t0
    for tok in tokens:
        words.append(Word(round(t, 3), round(t + step * 0.8, 3), tok))
        t += step
    return Segment(speaker=speaker, start=t0, end=round(t, 3), text="".join(tokens), words=tuple(words),
                   channel=channel)


RATE = 8000
SECONDS = 20
INSPECTOR = Principal(name="insp", role=Role.inspector)
ADMIN = Principal(name="boss", role=Role.admin)
CARD_WORDS = "four one one one one one one one one one one one one one one one"


def conversation() -> list[Segment]:
    return [en("agent", 0.5, "Good morning, thank you for calling. May I have your card number?", channel=0),
            en("customer", 6.0, CARD_WORDS, channel=1, step=0.4),
            en("agent", 13.0, "Thank you, goodbye.", channel=0)]


def stereo_wav() -> tuple[bytes, np.ndarray]:
    t = np.arange(RATE * SECONDS) / RATE
    rng = np.random.default_rng(7)
    pcm = np.stack([(np.sin(2 * np.pi * 300 * t) * 8000), rng.standard_normal(len(t)) * 4000], axis=1)
    pcm = pcm.astype(np.int16)
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm.tobytes())
    return buf.getvalue(), pcm


def add_recorded_call(call_id: str) -> tuple[bytes, np.ndarray]:
    data, pcm = stereo_wav()
    started = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    key = recording_key(call_id, started, "wav")
    get_store().put_stream(get_settings().bucket_recordings, key, io.BytesIO(data), length=len(data))
    with session() as s:
        s.add(Call(call_id=call_id, started_at=started, duration_s=SECONDS, codec="pcm_s16le", sample_rate=RATE,
                   channels=2, channel_map={"agent": 0, "customer": 1}, audio_key=key, size_bytes=len(data),
                   sha256=hashlib.sha256(data).hexdigest(), status=CallStatus.recorded))
    return data, pcm




def add_transcribed_call(call_id: str, *, audio: bool = True) -> np.ndarray:
    """A recorded call with its (unredacted) transcript rows, as stored before redaction existed."""
    pcm = add_recorded_call(call_id)[1] if audio else np.zeros((0, 2), dtype=np.int16)
    with session(write=True) as s:
        s.add(Transcript(call_id=call_id, language="en", model_name="test", model_version="0", model_source="test",
                         duration_s=SECONDS))
        for i, seg in enumerate(conversation()):
            s.add(TranscriptSegment(call_id=call_id, idx=i, speaker=seg.speaker, channel=seg.channel or 0,
                                    start_s=seg.start, end_s=seg.end, text=seg.text,
                                    words=[{"start": w.start, "end": w.end, "word": w.word, "probability": 1.0}
                                           for w in seg.words], avg_logprob=0.0, no_speech_prob=0.0))
    return pcm
