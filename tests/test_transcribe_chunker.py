"""Window edges change nothing: a channel fed window by window gives the chunks (and the text) of
bare faster-whisper over the whole channel (transcribe/chunker.py, issue 19)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from demo.synth import Line, synth_call
from transcribe.audio import SAMPLE_RATE, DecodedAudio, decode, to_float
from transcribe.chunker import VOICED_SLACK, ChannelChunker, Chunk, SileroStream, call_time, packed, word_time
from transcribe.compute import VAD_MIN_SILENCE_MS, VAD_THRESHOLD
from transcribe.engine import Transcriber
from transcribe.vad import vad_options

AGENT = [
    "Thank you for calling the support center, my name is Alice, how can I help you today?",
    "I am sorry to hear that. Can you tell me the account number on your last bill please?",
    "Thank you. I can see the account here, and I can see a fault on the line in your street.",
    "Please hold for a moment while I check the line status from here, it will not take long.",
    "Thank you for waiting. I have restarted your modem from here, the lights should come back.",
    "Your reference number is four five six seven eight, please keep it in case you call again.",
    "Is there anything else I can help you with today? Thank you for calling, have a nice day.",
]


CUSTOMER = ["Hello, my internet stopped working.", "Sure, it is two two one nine.", "Oh, I did not know that.",
            "Alright, I will wait.", "Yes, the lights are green now.", "Great, I wrote it down.", "No, that is all."]


@pytest.fixture(scope="module")
def call(tmp_path_factory: pytest.TempPathFactory) -> DecodedAudio:
    """About 100 s of agent speech in short pauses (several 30 s chunks), the customer answering."""
    folder = tmp_path_factory.mktemp("chunker")
    lines, t = [], 0.5
    for i, text in enumerate(AGENT):
        lines.append(Line("agent", t, text))
        lines.append(Line("customer", t + 7.0, CUSTOMER[i]))
        t += 10.5
    synth_call(lines, folder / "call.wav", tail_s=2.0)
    return decode(folder / "call.wav")


def _bare_chunks(audio: np.ndarray) -> list[np.ndarray]:
    from faster_whisper.vad import collect_chunks, get_speech_timestamps

    chunks, _meta = collect_chunks(audio, get_speech_timestamps(audio, vad_options(VAD_THRESHOLD, VAD_MIN_SILENCE_MS)),
                                   max_duration=30)
    return chunks


def _fed(audio: np.ndarray, cuts: list[int]) -> list[np.ndarray]:
    chunker = ChannelChunker(VAD_THRESHOLD, VAD_MIN_SILENCE_MS)
    got = []
    for a, b in zip([0, *cuts], [*cuts, len(audio)], strict=True):
        got += chunker.feed(audio[a:b])
    got += chunker.feed(np.zeros(0, dtype=np.float32), last=True)
    return [np.concatenate(c.pieces) for c in got]


@pytest.mark.tools("espeak-ng", "sox")
def test_silero_fed_window_by_window_gives_the_probabilities_of_one_run(call: DecodedAudio) -> None:
    from faster_whisper.vad import get_vad_model

    audio = to_float(call.channels[0])
    whole = np.asarray(get_vad_model()(np.pad(audio, (0, 512 - len(audio) % 512)))).reshape(-1)
    stream = SileroStream()
    # Cuts off the 32 ms frame grid, as window cuts at pauses fall.
    parts = [stream.feed(audio[a:b]) for a, b in ((0, 300_001), (300_001, 700_123), (700_123, len(audio) - 5))]
    parts.append(stream.feed(audio[len(audio) - 5 :], last=True))
    fed = np.concatenate(parts)
    assert fed.shape == whole.shape
    assert np.abs(fed - whole).max() < 1e-3


@pytest.mark.tools("espeak-ng", "sox")
@pytest.mark.parametrize("channel", [0, 1])
def test_chunk_packing_across_window_edges_equals_the_packing_without_edges(call: DecodedAudio, channel: int) -> None:
    audio = to_float(call.channels[channel])
    bare = _bare_chunks(audio)
    assert len(bare) >= (2 if channel == 0 else 1)  # the agent's speech fills several chunks
    for cuts in ([], [20 * SAMPLE_RATE + 77], [31 * SAMPLE_RATE, 45 * SAMPLE_RATE + 1600, 83 * SAMPLE_RATE + 3]):
        got = _fed(audio, cuts)
        assert len(got) == len(bare), cuts
        for mine, theirs in zip(got, bare, strict=True):
            assert np.array_equal(mine, theirs), cuts


@pytest.mark.tools("espeak-ng", "sox")
def test_a_cut_inside_a_line_still_packs_as_without_it(call: DecodedAudio) -> None:
    audio = to_float(call.channels[0])
    inside = int(3.0 * SAMPLE_RATE)  # the first agent line is being spoken here
    assert np.abs(audio[inside - 800 : inside + 800]).max() > 0.01
    assert all(np.array_equal(a, b) for a, b in zip(_fed(audio, [inside]), _bare_chunks(audio), strict=True))


def test_audio_kept_stays_bounded_through_long_dead_air() -> None:
    """A word, then ten minutes of comfort noise fed in 3-minute windows: the chunker keeps ~32 s of
    audio, not the whole stretch since the word."""
    rng = np.random.default_rng(3)
    chunker = ChannelChunker(VAD_THRESHOLD, VAD_MIN_SILENCE_MS)
    window = 180 * SAMPLE_RATE
    for _ in range(4):
        chunker.feed(rng.normal(0.0, 4e-4, window).astype(np.float32))
        held = len(chunker.tail) + sum(len(p) for p in chunker.open.pieces)
        held += sum(len(a) for _lo, a in chunker.reach.values())
        assert held <= window + 33 * SAMPLE_RATE


def test_packed_times_map_back_to_the_call() -> None:
    chunk = Chunk([(16_000, 32_000), (160_000, 176_000)], [np.zeros(16_000, np.float32), np.zeros(16_000, np.float32)],
                  [(16_000, 32_000), (160_000, 176_000)])
    audio, spans, where = packed([chunk])
    assert len(audio) == 32_000 and spans == [{"start": 0, "end": 16_000}, {"start": 16_000, "end": 32_000}]
    assert call_time(where, 0.5) == 1.5
    assert call_time(where, 1.0) == 10.0  # on the edge: the second span's first sample
    assert call_time(where, 1.25) == 10.25
    # A word from 0.8 to 1.1 s, its middle in the first span: its end stays with it, at that span's
    # last sample (2.0 s), not in the next span's audio (10.1 s).
    assert call_time(where, 1.1, ref=0.95) == 2.0
    assert call_time(where, 0.9, ref=1.05) == 10.0


def test_a_word_edge_is_held_near_where_silero_heard_speech() -> None:
    """Span 1.0–3.0 s of the call (the 0.4 s pads included), Silero's speech 1.4–2.6 s: a word running
    into the pad is cut back to the speech plus the slack; a word wholly in the pad keeps its times."""
    slack = VOICED_SLACK / SAMPLE_RATE
    chunk = Chunk([(16_000, 48_000)], [np.zeros(32_000, np.float32)], [(22_400, 41_600)])
    _audio, _spans, where = packed([chunk])
    a, b = word_time(where, 1.3, 1.95)  # said 2.3–2.95 s of the call: ends in the pad
    assert (a, b) == (2.3, pytest.approx(2.6 + slack))
    a, b = word_time(where, 0.05, 0.7)  # 1.05–1.7 s: starts in the pad
    assert (a, b) == (pytest.approx(1.4 - slack), 1.7)
    assert word_time(where, 0.5, 0.9) == (1.5, 1.9)  # inside the speech: untouched
    assert word_time(where, 1.85, 1.95) == (2.85, 2.95)  # wholly past the speech and the slack: untouched


def _placements_and_words(call_lines: list[Line], tmp: object, transcriber: Transcriber) -> tuple[list, list]:
    from pathlib import Path

    from demo.synth import synth_call

    out = Path(str(tmp)) / "edge.wav"
    placed = synth_call(call_lines, out, tail_s=3.0)
    got = transcriber.transcribe(decode(out), channel_map={"agent": 0, "customer": 1}, language="en")
    return placed, [w for s in got.segments for w in s.words]


@pytest.mark.slow
@pytest.mark.tools("espeak-ng", "sox")
def test_the_last_word_before_a_pause_ends_where_it_was_said(tmp_path: object,
                                                            tiny_en_transcriber: Transcriber) -> None:
    """Whisper runs a sentence's edge words into the silence around it (up to the 0.4 s pad: "you."
    ended 0.46 s after the voice did here, and the first word began 0.39 s before it); held to
    Silero's edges, each sentence's words lie within the slack, plus Silero's own lag (a few 32 ms
    frames), of where espeak-ng spoke."""
    lines = [Line("agent", 0.5, "Let me look into this for you."),
             Line("agent", 6.0, "Thank you for waiting, I have checked the line."),
             Line("customer", 12.0, "Alright, thank you very much.")]
    placed, words = _placements_and_words(lines, tmp_path, tiny_en_transcriber)
    assert words
    reach = 0.2 + 3 * 512 / SAMPLE_RATE  # VOICED_SLACK, written out: the test holds the product to it
    for p in placed:
        inside = [w for w in words if p.start_s - 1 <= (w.start + w.end) / 2 <= p.end_s + 1]
        assert inside, p
        first, last = min(inside, key=lambda w: w.start), max(inside, key=lambda w: w.end)
        assert first.start >= p.start_s - reach and last.end <= p.end_s + reach, (p, first, last)


@pytest.mark.slow
@pytest.mark.tools("espeak-ng", "sox")
def test_short_windows_write_what_bare_faster_whisper_writes(call: DecodedAudio,
                                                            tiny_en_transcriber: Transcriber) -> None:
    """Every channel's text with 40 s windows (cut wherever the pause rule cuts) is bare
    faster-whisper's over the whole channel, to the word."""
    from faster_whisper import BatchedInferencePipeline

    t = tiny_en_transcriber
    saved = t.compute
    t.compute = dataclasses.replace(saved, window_s=40)
    try:
        got = t.transcribe(call, channel_map={"agent": 0, "customer": 1}, language="en")
    finally:
        t.compute = saved
    for ch in (0, 1):
        segs, _info = BatchedInferencePipeline(t.whisper).transcribe(
            to_float(call.channels[ch]), language="en", batch_size=1, beam_size=5, vad_filter=True,
            word_timestamps=True)
        bare = " ".join(s.text for s in segs).split()
        assert " ".join(s.text for s in got.segments if s.channel == ch).split() == bare
