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


def test_voice_print_frames_cut_from_a_view_are_the_whole_window_gathered() -> None:
    """Printer.add cuts the spans' frames from a strided view of the int16 window: the same print,
    to the bit, as converting the whole window to float64 and gathering every frame first."""
    from transcribe.voiceprint import Printer

    rng = np.random.default_rng(7)
    window = (rng.normal(0, 3000, 16000 * 20) * np.sin(np.linspace(0, 60, 16000 * 20))).astype(np.int16)
    window[16000 * 4:16000 * 5] = 0  # digital silence inside a span: those frames are dropped
    spans = [(100.5, 103.2), (103.9, 109.0), (112.0, 125.0)]
    got = Printer(16000)
    got.add(window, spans, offset_s=100.0)

    ref = Printer(16000)
    x = np.asarray(window, dtype=np.float64)
    n = 1 + (len(x) - ref.frame) // ref.hop
    t = 100.0 + (np.arange(n) * ref.hop + ref.frame / 2) / 16000
    at = np.flatnonzero(np.any([(t >= a) & (t < b) for a, b in spans], axis=0))
    frames = x[np.arange(ref.frame)[None, :] + ref.hop * at[:, None]]
    frames = frames[(frames**2).mean(axis=1) > 0]
    power = np.abs(np.fft.rfft(frames * np.hamming(ref.frame), ref.n_fft)) ** 2
    ceps = np.log(power @ ref._bank.T + 1e-6) @ ref._dct.T
    assert got.frames == len(frames) < len(at)
    assert got.result() is not None
    assert np.array_equal(got._sum, ceps.sum(axis=0)) and np.array_equal(got._sq, (ceps**2).sum(axis=0))
