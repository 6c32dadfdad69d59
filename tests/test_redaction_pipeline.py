"""Redaction inside the real transcribe job: spoken card and phone numbers leave the stored text, the
redacted audio copy no longer says them (re-transcribed), and the agent channel is untouched."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from sqlmodel import select

from demo.synth import Line, synth_call
from storage.calls import Call
from storage.db import session
from storage.jobs import JobContext, JobKind
from storage.keys import recording_key
from storage.queue import enqueue
from storage.redactions import CallRedaction, Redaction
from storage.retrieval import AudioVariant, open_recording
from storage.settings import get_settings, reset_settings
from storage.stores import make_store
from storage.transcripts import segments
from transcribe.audio import AudioStream
from transcribe.engine import get_transcriber
from transcribe.handler import handle
from transcribe.redaction.audio import decode
from transcribe.redaction.spoken_numbers import words_to_digits

pytestmark = pytest.mark.slow
CARD = "4556737586899855"
MOBILE = "13912345678"


def _said(number: str) -> str:
    words = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    return ", ".join(" ".join(words[int(c)] for c in number[i:i + 4]) for i in range(0, len(number), 4))


def _longest_common_run(a: str, b: str) -> int:
    return max((n for i in range(len(a)) for n in range(1, len(a) - i + 1) if a[i:i + n] in b), default=0)


@pytest.mark.tools("espeak-ng", "sox")  # demo.synth speaks with espeak-ng, writes with sox
def test_the_transcribe_job_stores_redacted_text_and_a_copy_that_no_longer_says_the_numbers(
    sqlite_db: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CALLQC_ASR_MODEL", "tiny.en")
    reset_settings()
    wav = tmp_path / "call.wav"
    synth_call([Line("agent", 0.3, "Thank you for calling. Can I have the long number on your card please?"),
                Line("customer", 5.0, f"Sure, it is {_said(CARD)}."),
                Line("agent", 16.0, "Thank you. And a phone number to reach you?"),
                Line("customer", 20.0, f"My mobile is {_said(MOBILE)}.")], wav, speed=150)
    started = datetime(2026, 11, 3, 10, 0, tzinfo=UTC)
    key = recording_key("e2e-1", started, "wav")
    info = make_store().put_file(get_settings().bucket_recordings, key, wav)
    with session() as s:
        s.add(Call(call_id="e2e-1", started_at=started, codec="pcm_mulaw", sample_rate=8000, channels=2,
                   channel_map={"agent": 0, "customer": 1}, audio_key=key, size_bytes=info.size, sha256="0" * 64))
        s.flush()
        job = enqueue(s, JobKind.transcribe, call_id="e2e-1")
    handle(JobContext(job_id=job, kind="transcribe", call_id="e2e-1", worker_id="test"))

    with session() as s:
        text = " ".join(seg.text for seg in segments(s, "e2e-1") if seg.speaker == "customer")
        kinds = sorted(r.kind for r in s.exec(select(Redaction)))
        head = s.get(CallRedaction, "e2e-1")
    # the answer windows may add a hit that carries a number's audio cut further (answer.py)
    assert set(kinds) == {"card", "phone"} and kinds.count("card") >= 1, text
    assert _longest_common_run(CARD, words_to_digits(text)) < 4 and "[CARD:" in text and "[PHONE:" in text
    assert head is not None and head.audio_key is not None

    red = open_recording("e2e-1", actor="test", source="test", variant=AudioVariant.redacted)
    original, copy = decode(wav.read_bytes()), decode(red.data)
    a = np.frombuffer(original.raw_data, dtype=np.int16).reshape(-1, 2)
    b = np.frombuffer(copy.raw_data, dtype=np.int16).reshape(-1, 2)
    assert a.shape == b.shape and np.array_equal(a[:, 0], b[:, 0])
    with AudioStream(io.BytesIO(red.data), name="redacted") as stream:
        again = get_transcriber("tiny.en").transcribe(stream, channel_map={"agent": 0, "customer": 1},
                                                      language="en")
    heard = words_to_digits(" ".join(s.text for s in again.segments if s.speaker == "customer"))
    assert _longest_common_run(CARD, heard) < 4 and _longest_common_run(MOBILE, heard) < 4, heard
