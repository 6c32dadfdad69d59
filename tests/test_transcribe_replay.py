"""A short call is decoded once: the windows transcription read are handed to the voice prints."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from storage.segments import Segment, Word
from transcribe.audio import AudioStream
from transcribe.redaction.audio import TONE_DBFS, TONE_HZ, _sine
from transcribe.replay import KeptWindows
from transcribe.voiceprint import call_prints


def _call(path: Path, seconds: float) -> Path:
    """Stereo 8 kHz noise-like speech stand-in: reproducible, different on each channel."""
    rng = np.random.default_rng(19)
    n = int(seconds * 8000)
    stereo = (rng.normal(0, 2000, size=(n, 2)) * np.sin(np.linspace(0, 40, n))[:, None]).astype(np.int16)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(stereo.tobytes())
    return path


def _segments(seconds: float) -> list[Segment]:
    out = []
    for ch, sp in ((0, "agent"), (1, "customer")):
        for a in np.arange(1.0, seconds - 3, 7.0):
            words = [Word(float(a), float(a) + 2.0, " hello", 0.9)]
            out.append(Segment(speaker=sp, channel=ch, start=float(a), end=float(a) + 2.0, text="hello", words=words))
    return out


def test_kept_windows_equal_a_fresh_decode_even_after_the_reader_changed_them(tmp_path: Path) -> None:
    path = _call(tmp_path / "call.wav", 40.0)
    with AudioStream(path) as stream:
        kept = KeptWindows(stream)
        for w in kept.windows(window_s=15.0):
            w.channels[0][:] = 0  # the engine silences PCI pauses in place
        windows = kept.kept()
    with AudioStream(path) as again:
        fresh = list(again.windows(window_s=15.0))
    assert windows is not None and len(windows) == len(fresh) > 1
    for a, b in zip(windows, fresh, strict=True):
        assert a.start == b.start
        assert all(np.array_equal(x, y) for x, y in zip(a.channels, b.channels, strict=True))
    assert any(np.any(c[0]) for c in (w.channels for w in windows))


def test_voice_prints_from_kept_windows_are_those_of_a_second_decode(tmp_path: Path) -> None:
    path = _call(tmp_path / "call.wav", 40.0)
    segs = _segments(40.0)
    with AudioStream(path) as stream:
        kept = KeptWindows(stream)
        for _w in kept.windows(window_s=15.0):
            pass
        windows = kept.kept()
    with AudioStream(path) as again:
        expected = call_prints(again.windows(window_s=15.0), segs, [0, 1])
    assert windows is not None
    got = call_prints(windows, segs, [0, 1])
    assert set(got) == {0, 1}
    assert got == expected


def test_a_call_longer_than_the_budget_keeps_nothing(tmp_path: Path) -> None:
    path = _call(tmp_path / "call.wav", 40.0)
    with AudioStream(path) as stream:
        kept = KeptWindows(stream, max_s=20.0)
        assert sum(w.samples for w in kept.windows(window_s=15.0)) > 0
        assert kept.kept() is None


def test_a_read_stopped_part_way_keeps_nothing(tmp_path: Path) -> None:
    path = _call(tmp_path / "call.wav", 40.0)
    with AudioStream(path) as stream:
        kept = KeptWindows(stream)
        reader = kept.windows(window_s=15.0)
        next(reader)
        reader.close()
        assert kept.kept() is None


@pytest.mark.parametrize("rate", [8000, 16000])
def test_the_redaction_tone_is_pydubs_sine_sample_for_sample(rate: int) -> None:
    from pydub.generators import Sine

    n = 3 * rate + 7
    ref = Sine(TONE_HZ, sample_rate=rate, bit_depth=16).to_audio_segment(duration=n * 1000 / rate + 1,
                                                                           volume=TONE_DBFS)
    expected = np.frombuffer(ref.raw_data, dtype=np.int16)[:n]
    assert np.array_equal(_sine(n, rate), expected)
