"""PCI pauses of live calls are silenced on every channel of the redacted copy, like the hits."""

from __future__ import annotations

import io
import wave
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from storage import pauses
from storage.calls import Call
from storage.db import session
from storage.pauses import CallPause
from storage.redactions import CallRedaction
from storage.settings import get_settings
from storage.stores import get_store
from tests.redaction_helpers import RATE, SECONDS, add_transcribed_call, stereo_wav
from transcribe.redaction.pipeline import redact_call, store_audio_copy

STARTED = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # add_recorded_call's start


def _pcm(data: bytes) -> np.ndarray:
    with wave.open(io.BytesIO(data)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), np.int16).reshape(-1, w.getnchannels())


def test_a_pause_is_silenced_on_both_channels_and_nothing_else_changes(sqlite_db: str) -> None:
    """The card read out is covered on the customer channel; the pause (16–18 s, from call_pauses)
    is silence on both; everything else is byte-identical and the length unchanged."""
    original = add_transcribed_call("p-1")
    with session() as s:
        s.add(CallPause(call_id="p-1", started_at=STARTED + timedelta(seconds=16),
                        ended_at=STARTED + timedelta(seconds=18), paused_by="api", resumed_by="api"))
    with session() as s:
        call = s.get(Call, "p-1")
        assert call is not None
        assert pauses.in_recording(s, call) == [(16.0, 18.0)]
    redact_call("p-1", actor="test")
    with session() as s:
        head = s.get(CallRedaction, "p-1")
        assert head is not None and head.audio_key
    copy = _pcm(get_store().get_range(get_settings().bucket_recordings, head.audio_key))
    assert copy.shape == original.shape
    margin = get_settings().redaction_margin_s
    lo, hi = int((16 - margin) * RATE) + 1, int((18 + margin) * RATE) - 1
    assert not copy[lo:hi].any()  # both channels silent
    assert original[lo:hi].any()
    untouched = slice(int(14.5 * RATE), int(15.5 * RATE))  # after the card, before the pause
    assert np.array_equal(copy[untouched], original[untouched])


def test_a_call_with_only_a_pause_gets_a_redacted_copy(sqlite_db: str, tmp_path: Path) -> None:
    data, pcm = stereo_wav()
    path = tmp_path / "call.wav"
    path.write_bytes(data)
    assert store_audio_copy("p-2", STARTED, path, []) is None
    copy = store_audio_copy("p-2", STARTED, path, [], paused=[(2.0, 3.0)])
    assert copy is not None
    out = _pcm(get_store().get_range(get_settings().bucket_recordings, copy.key))
    assert out.shape == pcm.shape == (RATE * SECONDS, 2)
    assert not out[int(2.0 * RATE) : int(3.0 * RATE)].any()
    assert np.array_equal(out[int(5 * RATE) :], pcm[int(5 * RATE) :])


def test_pause_spans_prefer_the_recorders_placement_in_the_file(sqlite_db: str) -> None:
    call = Call(call_id="p-3", started_at=STARTED, duration_s=30.0, audio_key="k", size_bytes=1, sha256="0" * 64,
                meta={"live": {"pauses": [{"start_s": 4.5, "end_s": 9.0, "by": "api"},
                                          {"start_s": 20.0, "end_s": None, "by": "siprec"}]}})
    with session() as s:
        assert pauses.in_recording(s, call) == [(4.5, 9.0), (20.0, 30.0)]
