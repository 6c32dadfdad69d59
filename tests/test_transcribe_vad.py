"""The gated voice detection (transcribe/vad.py) finds the speech plain Silero finds, on PBX-like audio."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from demo.synth import RATE, Line, synth_call
from transcribe.audio import SAMPLE_RATE, decode, to_float
from transcribe.compute import VAD_MIN_SILENCE_MS, VAD_THRESHOLD
from transcribe.vad import KnownSpeech, heard, install, seconds, speech_spans, vad_options

OPTS = vad_options(VAD_THRESHOLD, VAD_MIN_SILENCE_MS)
EDGE_S = 0.3  # a gated span may start or end this much away from plain Silero's


def _with_noise_floor(path: Path, out: Path) -> None:
    """The call with comfort noise (about -68 dBFS) on both channels, as a PBX records dead air."""
    from demo.synth import write_ulaw

    audio = decode(path)
    rng = np.random.default_rng(7)
    stereo = np.stack([ch[:: SAMPLE_RATE // RATE] for ch in audio.channels], axis=1).astype(np.float32)
    stereo += rng.normal(0.0, 12.0, size=stereo.shape)
    write_ulaw(np.clip(stereo, -32768, 32767).astype(np.int16), out)


@pytest.fixture(scope="module")
def channels(tmp_path_factory: pytest.TempPathFactory) -> list[np.ndarray]:
    """A stereo call with long pauses (each channel is mostly silence) over a noise floor, as float audio."""
    folder = tmp_path_factory.mktemp("vad")
    lines = [Line("agent", 0.5, "Thank you for calling the support center, my name is Alice."),
             Line("customer", 6.0, "Hello, my internet connection stopped working this morning."),
             Line("agent", 18.0, "I am sorry to hear that. Can you tell me your account number?"),
             Line("customer", 27.0, "Yes, it is four five six seven eight."),
             Line("agent", 40.0, "Thank you. I will restart your modem from here.")]
    synth_call(lines, folder / "clean.wav", tail_s=4.0)
    _with_noise_floor(folder / "clean.wav", folder / "call.wav")
    return [to_float(ch) for ch in decode(folder / "call.wav").channels]


def _union(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Touching spans as one (Silero splits a long stretch where it pleases; the speech is the same)."""
    out: list[tuple[float, float]] = []
    for a, b in spans:
        if out and a <= out[-1][1] + 0.05:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _match(plain: list[tuple[float, float]], gated: list[tuple[float, float]]) -> None:
    plain, gated = _union(plain), _union(gated)
    assert len(gated) == len(plain), (plain, gated)
    for (a, b), (c, d) in zip(plain, gated, strict=True):
        assert abs(a - c) <= EDGE_S and abs(b - d) <= EDGE_S, (plain, gated)


@pytest.mark.tools("espeak-ng", "sox")
def test_gated_vad_finds_the_same_speech_spans_as_plain_silero(channels: list[np.ndarray]) -> None:
    """Each channel: the same stretches of speech, each edge within EDGE_S of plain Silero's."""
    for audio in channels:
        plain = seconds(speech_spans(audio, OPTS, gate=False))
        assert plain, "the fixture has speech on every channel"
        _match(plain, seconds(speech_spans(audio, OPTS, gate=True)))


@pytest.mark.tools("espeak-ng", "sox")
def test_gate_leaves_most_of_a_mostly_silent_channel_out(channels: list[np.ndarray]) -> None:
    """Silero is run on less than the whole channel: the gaps between a speaker's turns are skipped."""
    for audio in channels:
        seen = sum(b - a for a, b in heard(audio))
        assert 0 < seen < 0.7 * len(audio)


def test_gate_hears_nothing_in_comfort_noise_and_digital_silence() -> None:
    """A line with only its noise floor (or nothing) sends nothing to Silero."""
    noise = np.random.default_rng(1).normal(0.0, 12.0 / 32768, size=10 * SAMPLE_RATE).astype(np.float32)
    assert heard(np.zeros(10 * SAMPLE_RATE, dtype=np.float32)) == []
    assert heard(noise) == [] or sum(b - a for a, b in heard(noise)) < 0.2 * len(noise)
    assert speech_spans(np.zeros(0, dtype=np.float32), OPTS) == []


def test_known_speech_reaches_the_batched_pipeline_instead_of_silero() -> None:
    """With the hook installed, faster-whisper's VAD call returns the spans it is given."""
    import faster_whisper.transcribe as fwt

    install()
    spans = [{"start": 1600, "end": 32000}]
    got = fwt.get_speech_timestamps(np.zeros(48000, dtype=np.float32), KnownSpeech(spans=spans))
    assert got == spans and got[0] is not spans[0]
    assert fwt.get_speech_timestamps(np.zeros(48000, dtype=np.float32), OPTS) == []  # plain options: Silero
