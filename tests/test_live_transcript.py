"""The live transcript: a call's journal followed window by window with the real model; segments are
stored while the call runs, per speaker, with times of the call; silence costs no transcription;
the pages show the live transcript until the full one exists."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from callqc.live_transcriber import LiveTranscriber
from recorder.siprec.journal import Journal, Tap, TapChunk
from recorder.siprec.rtp import Placed
from review_app.workflow.inspection import segments_for
from storage.calls import Call, CallStatus
from storage.db import session
from storage.live_segments import LiveSegment, for_call
from storage.models import utcnow
from storage.settings import reset_settings
from storage.transcripts import TranscriptSegment
from storage.users import Principal, Role
from tests.live_peers import speech
from transcribe.live import WINDOW_S, SpeakerBuffer

pytestmark = [pytest.mark.integration, pytest.mark.tools("espeak-ng", "sox")]
WORDS = {"thank", "thanks", "calling", "help", "desk", "name", "anna", "today"}


def _journal(data_dir: Path, call_id: str) -> Journal:
    streams = [{"index": 0, "label": "a", "role": "agent", "channel": 0},
               {"index": 1, "label": "b", "role": "customer", "channel": 1}]
    return Journal(data_dir / "live" / call_id, {"version": 1, "call_id": call_id, "state": "live",
                                                 "answered_unix": time.time(), "streams": streams}, 2)


def _packets(data: bytes, first: int, last: int) -> list[Placed]:
    return [Placed(k * 160, 0, data[k * 160:(k + 1) * 160], 0.0) for k in range(first, last)]


def test_a_live_call_is_transcribed_while_it_runs(sqlite_db: str, data_dir: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLQC_ASR_MODEL", "tiny.en")
    reset_settings()
    said = speech(tmp_path / "agent.ul", "Thank you for calling the help desk. My name is Anna. "
                  "How can I help you today? I will look up your order and check the delivery date for you.")
    said += b"\xff" * (len(said) % 160 and 160 - len(said) % 160)
    packets = len(said) // 160
    silence = b"\xff" * len(said)  # the customer says nothing (μ-law 0xFF is zero)
    journal = _journal(data_dir, "live-tx")
    try:
        _follow(journal, data_dir, said, silence, packets)
    finally:
        journal.release(remove=True)


def _follow(journal: Journal, data_dir: Path, said: bytes, silence: bytes, packets: int) -> None:
    follower = LiveTranscriber(Tap(data_dir, "live-tx"), "live-tx")
    half = packets * 2 // 3
    journal.add(0, _packets(said, 0, half))
    journal.add(1, _packets(silence, 0, half))
    journal.flush()
    assert half * 160 / 8000 > WINDOW_S + 1  # enough for a first window while the call runs
    early = follower.step()
    assert early, "nothing transcribed while the call was still running"
    journal.add(0, _packets(said, half, packets))
    journal.add(1, _packets(silence, half, packets))
    journal.flush()
    journal.update(state="ended")
    follower.run()  # the rest, then the remainder once the call has ended
    with session() as s:
        rows = for_call(s, "live-tx")
    assert {r.speaker for r in rows} == {"agent"} and {r.channel for r in rows} == {0}
    assert all(0 <= r.start_s <= r.end_s <= packets * 160 / 8000 + 0.5 for r in rows)
    words = set(re.findall(r"[a-z]+", " ".join(r.text for r in rows).lower()))
    assert words & WORDS, words


def test_speaker_buffer_places_chunks_by_position_and_cuts_windows() -> None:
    buf = SpeakerBuffer()
    buf.put(TapChunk("agent", 8000, [1000] * 8000 * 3))
    buf.put(TapChunk("agent", 8000 + 8000 * 4, [1000] * 8000))  # a second of gap, then more
    assert buf.take(final=False) is not None  # 5 s buffered: a window
    assert buf.start is not None and buf.start > 8000
    late = TapChunk("agent", 8000, [5] * 160)  # before what was transcribed: dropped
    before = len(buf.samples)
    buf.put(late)
    assert len(buf.samples) == before
    rest = buf.take(final=True)
    assert rest is not None and buf.take(final=True) is None


def test_pages_show_the_live_transcript_until_the_full_one_exists(sqlite_db: str) -> None:
    who = Principal("insp", Role.inspector)
    with session() as s:
        s.add(Call(call_id="c-live", started_at=utcnow(), codec="pcm_mulaw", sample_rate=8000, channels=2,
                   audio_key="live/c-live", size_bytes=0, sha256="0" * 64, status=CallStatus.in_progress))
        s.add(LiveSegment(call_id="c-live", speaker="agent", channel=0, start_s=1.0, end_s=2.0, text="hello live"))
    with session() as s:
        assert [x.text for x in segments_for(s, who, "c-live")] == ["hello live"]
        s.add(TranscriptSegment(call_id="c-live", idx=0, speaker="agent", channel=0, start_s=1.0, end_s=2.0,
                                text="hello final", words=[], avg_logprob=0.0, no_speech_prob=0.0))
    with session() as s:
        assert [x.text for x in segments_for(s, who, "c-live")] == ["hello final"]
