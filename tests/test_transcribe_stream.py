"""Window-by-window decoding and transcription: long calls in flat memory, shared model replicas."""

from __future__ import annotations

import re
import threading
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from demo.synth import Line, silence, synth_call, tone
from transcribe.audio import SAMPLE_RATE, AudioStream, decode
from transcribe.compute import ComputeSettings
from transcribe.engine import Transcriber, TranscriptionStopped
from transcribe.models import resolve_model

STEREO = {"agent": 0, "customer": 1}


@pytest.fixture(scope="module")
def call(default_call: tuple[Path, list]) -> tuple[Path, list]:  # type: ignore[type-arg]
    return default_call


@pytest.fixture(scope="module")
def tiny(tiny_en_transcriber: Transcriber) -> Transcriber:
    return tiny_en_transcriber


DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def _words(text: str) -> list[str]:
    # Whisper writes spoken digits either way ("four five" or "4-5"); count them as the same words
    text = re.sub(r"\d", lambda m: f" {DIGITS[int(m.group())]} ", text.lower())
    return re.findall(r"[a-z']+", text)


@pytest.mark.tools("espeak-ng", "sox")  # demo.synth speaks with espeak-ng, writes with sox
def test_windows_add_up_to_the_whole_call_and_are_cut_between_turns(call: tuple[Path, list]) -> None:  # type: ignore[type-arg]
    """Streamed windows concatenate to exactly what decode() gives, and every cut falls where nobody speaks."""
    path, _placements = call
    whole = decode(path)
    with AudioStream(path, name="c") as stream:
        windows = list(stream.windows(window_s=12))
        assert stream.duration_s == pytest.approx(whole.duration_s)
    assert len(windows) >= 2
    for ch in range(2):
        assert np.array_equal(np.concatenate([w.channels[ch] for w in windows]), whole.channels[ch])
    assert [w.start for w in windows] == list(np.cumsum([0] + [w.samples for w in windows[:-1]]))
    loud = max(float(np.sqrt(np.mean(ch.astype(np.float64) ** 2))) for ch in whole.channels)
    for w in windows[1:]:
        around = [ch[w.start - SAMPLE_RATE // 20 : w.start + SAMPLE_RATE // 20].astype(np.float64)
                  for ch in whole.channels]
        assert all(np.sqrt(np.mean(a**2)) < 0.05 * loud for a in around), f"cut at {w.offset_s:.2f} s is not quiet"


@pytest.mark.tools("sox")  # demo.synth writes its WAV with sox
def test_streaming_a_long_call_holds_a_window_not_the_call(tmp_path: Path) -> None:
    """A 10-minute stereo call streamed in 60 s windows never holds more than a few windows of samples."""
    path = tmp_path / "long.wav"
    tone(path, seconds=600, level=0.05)
    whole_bytes = 600 * SAMPLE_RATE * 2 * 2  # int16, two channels: 38 MB if decoded whole
    tracemalloc.start()
    try:
        with AudioStream(path, name="long") as stream:
            sizes = [w.samples for w in stream.windows(window_s=60)]
        _now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sum(sizes) == pytest.approx(600 * SAMPLE_RATE, abs=SAMPLE_RATE // 10)
    assert max(sizes) <= 60 * SAMPLE_RATE and len(sizes) >= 10
    assert peak < whole_bytes / 3, f"peak {peak / 1e6:.1f} MB while streaming {whole_bytes / 1e6:.0f} MB"


@pytest.mark.tools("espeak-ng", "sox")  # demo.synth speaks with espeak-ng, writes with sox
def test_a_call_transcribed_in_several_windows_keeps_each_line_at_its_time(
    call: tuple[Path, list], tiny: Transcriber  # type: ignore[type-arg]
) -> None:
    """With 8 s windows the dialogue still comes back line by line, on the right speaker, within 1 s."""
    path, placements = call
    small = Transcriber(tiny.model, ComputeSettings(window_s=8))
    with AudioStream(path, name="c") as stream:
        transcript = small.transcribe(stream, channel_map=STEREO)
    assert transcript.duration_s == pytest.approx(decode(path).duration_s)
    for p in placements:
        mine = " ".join(s.text for s in transcript.segments
                        if s.speaker == p.speaker and p.start_s - 1 <= s.start and s.end <= p.end_s + 1)
        ref = set(_words(p.text))
        assert len(ref & set(_words(mine))) >= 0.6 * len(ref), (p, mine)


@pytest.mark.tools("espeak-ng", "sox")  # demo.synth speaks with espeak-ng, writes with sox
def test_concurrent_calls_share_the_replicas_and_get_their_own_results(
    call: tuple[Path, list], tiny: Transcriber, tmp_path: Path  # type: ignore[type-arg]
) -> None:
    """Two calls transcribed at once from two threads equal their one-at-a-time results; the pool stays at
    one thread per replica."""
    path, _ = call
    other = tmp_path / "other.wav"
    synth_call([Line("customer", 0.4, "I would like to cancel my subscription please.")], other)
    alone = {p: [s.text for s in tiny.transcribe(decode(p), channel_map=STEREO).segments] for p in (path, other)}
    together: dict[Path, list[str]] = {}

    def run(p: Path) -> None:
        with AudioStream(p, name=p.stem) as stream:
            together[p] = [s.text for s in tiny.transcribe(stream, channel_map=STEREO).segments]

    threads = [threading.Thread(target=run, args=(p,)) for p in (path, other) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert together == alone
    assert "cancel" in " ".join(alone[other]).lower()
    asr_threads = [t for t in threading.enumerate() if t.name.startswith(tiny.pool_name + "_")]
    assert 0 < len(asr_threads) <= tiny.compute.num_workers


@pytest.mark.tools("espeak-ng", "sox")  # demo.synth speaks with espeak-ng, writes with sox
def test_transcription_stops_at_the_next_window_when_asked(call: tuple[Path, list], tiny: Transcriber) -> None:  # type: ignore[type-arg]
    """A set stop event (the job's lease was lost) ends the work with TranscriptionStopped."""
    path, _ = call
    stop = threading.Event()
    stop.set()
    with AudioStream(path, name="c") as stream, pytest.raises(TranscriptionStopped):
        tiny.transcribe(stream, channel_map=STEREO, stop=stop)


@pytest.mark.slow
@pytest.mark.tools("espeak-ng", "sox")  # demo.synth speaks with espeak-ng, writes with sox
def test_language_is_detected_where_speech_starts_not_only_in_the_first_window(tmp_path: Path) -> None:
    """A call that opens with 30 s of silence is detected as English from its first speaking window."""
    path = tmp_path / "late.wav"
    lines = [Line("agent", 30.5, "Thank you for holding, I have found your order."),
             Line("customer", 35.0, "Great, when will it arrive at my house?")]
    synth_call(lines, path)
    base = Transcriber(resolve_model("base"), ComputeSettings(window_s=12))
    with AudioStream(path, name="late") as stream:
        transcript = base.transcribe(stream, channel_map=STEREO)
    assert transcript.language == "en"
    assert {s.speaker for s in transcript.segments} == {"agent", "customer"}
    assert "order" in " ".join(s.text.lower() for s in transcript.segments)
    assert all(s.start >= 29 for s in transcript.segments)


@pytest.mark.tools("sox")  # demo.synth writes its WAV with sox
def test_silence_streams_to_an_empty_transcript(tiny: Transcriber, tmp_path: Path) -> None:
    """A silent call streamed window by window has no segments and its full duration."""
    path = tmp_path / "quiet.wav"
    silence(path, seconds=30)
    with AudioStream(path, name="quiet") as stream:
        transcript = Transcriber(tiny.model, ComputeSettings(window_s=10)).transcribe(stream, channel_map=STEREO)
    assert transcript.segments == [] and transcript.duration_s == pytest.approx(30, abs=0.1)
