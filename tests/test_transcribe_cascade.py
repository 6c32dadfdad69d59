"""Cascade decoding: greedy first, the beam only on the chunks the greedy pass is unsure of (transcribe/cascade.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from demo.synth import Placement
from transcribe.audio import decode, to_float
from transcribe.cascade import CascadeRule, compression_ratio, repeats, unsure
from transcribe.engine import Transcriber

CONFIDENT = {"avg_logprob": -0.1, "no_speech_prob": 0.05}
TEXT = "thank you for calling the support center my name is alice how can I help you today"


@pytest.mark.parametrize(("output", "text", "seconds", "reason"), [
    (CONFIDENT, TEXT, 5.0, None),
    ({**CONFIDENT, "avg_logprob": -0.6}, TEXT, 5.0, "low log-probability"),
    ({**CONFIDENT, "no_speech_prob": 0.8}, TEXT, 5.0, "no speech"),
    (CONFIDENT, "thank you for calling", 28.0, "too few words"),      # stopped after its first sentence
    (CONFIDENT, "   ", 5.0, "nothing decoded"),
    (CONFIDENT, "press one " * 12, 10.0, "compresses like a loop"),
    (CONFIDENT, "no no no no thanks", 2.0, "repeated phrase"),
], ids=["confident", "unsure", "no-speech", "truncated", "empty", "loop", "repeats"])
def test_a_greedy_chunk_goes_to_the_beam_only_when_unsure(output: dict, text: str, seconds: float,
                                                          reason: str | None) -> None:
    """Each signal alone sends a chunk back to the beam; a confident, dense, varied chunk stays greedy."""
    assert unsure(output, text, CascadeRule(), seconds=seconds) == reason


def test_loop_signals_measure_what_they_say() -> None:
    """A repeated phrase compresses well and counts as repeated; plain varied text does neither."""
    assert compression_ratio("press one " * 12) > 2 * compression_ratio(TEXT)
    assert repeats("the the the the end") and not repeats("the the the end")
    assert repeats("press one press one press one press one") and not repeats(TEXT)


def test_rows_of_an_encoder_output_are_taken_whole() -> None:
    """The beam re-decodes a subset of a batch: the rows taken are exactly those rows of the encoder output."""
    import ctranslate2

    from transcribe.cascade import _rows

    batch = np.arange(3 * 4 * 5, dtype=np.float32).reshape(3, 4, 5)
    taken = np.asarray(_rows(ctranslate2.StorageView.from_array(batch), [0, 2]))
    assert np.array_equal(taken, batch[[0, 2]])


@pytest.fixture(scope="module")
def tiny(tiny_en_transcriber: Transcriber) -> Transcriber:
    return tiny_en_transcriber


@pytest.fixture(scope="module")
def agent(default_call: tuple[Path, list[Placement]]) -> np.ndarray:
    """The agent channel of the default dialogue three times over (~70 s: several 30 s chunks)."""
    path, _placed = default_call
    channel = to_float(decode(path).channels[0])
    return np.concatenate([channel, channel, channel])


def _decode(pipeline, audio: np.ndarray, beam: int) -> list[list[int]]:  # type: ignore[no-untyped-def]
    """Token ids of each chunk (deterministic: temperature 0, batch 1, fixed input)."""
    segs, _info = pipeline.transcribe(audio, language="en", batch_size=1, beam_size=beam, vad_filter=True,
                                      word_timestamps=False)
    by_chunk: dict[int, list[int]] = {}
    for s in segs:
        by_chunk.setdefault(s.seek, []).extend(s.tokens)
    return [by_chunk[k] for k in sorted(by_chunk)]


@pytest.mark.tools("espeak-ng", "sox")  # demo.synth speaks with espeak-ng, writes with sox
def test_unsure_chunks_get_exactly_the_beam_output_and_sure_ones_keep_the_greedy_output(
        tiny: Transcriber, agent: np.ndarray) -> None:
    """With the log-probability bar set between two chunks' greedy scores, the lower chunk is decoded
    again and comes out token for token as the plain beam-5 pipeline decodes it; the higher one is
    not decoded again and keeps the greedy tokens."""
    from faster_whisper import BatchedInferencePipeline

    from transcribe.cascade import CascadePipeline

    greedy = _decode(BatchedInferencePipeline(tiny.whisper), agent, 1)
    beam = _decode(BatchedInferencePipeline(tiny.whisper), agent, 5)
    assert len(greedy) == len(beam) >= 2
    # Each chunk's greedy score, from a cascade that never re-decodes.
    probe = CascadePipeline(tiny.whisper, CascadeRule(min_logprob=-99.0, max_compression_ratio=99.0,
                                                      no_speech_prob=1.1, min_words_per_s=0.0))
    assert _decode(probe, agent, 5) == greedy and probe.redecoded == 0
    scores = _greedy_scores(tiny, agent)
    assert len(scores) == len(greedy) and len(set(scores)) > 1
    bar = (min(scores) + max(scores)) / 2
    cascade = CascadePipeline(tiny.whisper, CascadeRule(min_logprob=bar, max_compression_ratio=99.0,
                                                        no_speech_prob=1.1, min_words_per_s=0.0))
    out = _decode(cascade, agent, 5)
    low = [i for i, s in enumerate(scores) if s < bar]
    assert cascade.decoded == len(scores) and cascade.redecoded == len(low) >= 1
    assert cascade.reasons == ["low log-probability"] * len(low)
    for i, tokens in enumerate(out):
        assert tokens == (beam[i] if i in low else greedy[i]), f"chunk {i}"


def _greedy_scores(tiny: Transcriber, audio: np.ndarray) -> list[float]:
    """The pipeline's avg_logprob of each chunk decoded greedily (one segment per chunk at least)."""
    from faster_whisper import BatchedInferencePipeline

    segs, _info = BatchedInferencePipeline(tiny.whisper).transcribe(audio, language="en", batch_size=1,
                                                                     beam_size=1, vad_filter=True,
                                                                     word_timestamps=False)
    by_chunk: dict[int, float] = {}
    for s in segs:
        by_chunk[s.seek] = s.avg_logprob
    return [by_chunk[k] for k in sorted(by_chunk)]


@pytest.mark.tools("espeak-ng", "sox")
def test_the_engine_decodes_with_the_cascade_when_the_setting_is_on(tiny: Transcriber, agent: np.ndarray,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    """``ComputeSettings.cascade`` routes a window through the cascade (it logs its count of chunks);
    the transcript still has words with times inside the window."""
    import logging
    from dataclasses import replace

    tiny.compute = replace(tiny.compute, cascade=True)
    try:
        with caplog.at_level(logging.DEBUG, logger="transcribe.engine"):
            segs, _found = tiny.transcribe_window((agent * 32767).astype(np.int16), offset_s=0.0, speaker="agent",
                                                  channel=0, language="en")
    finally:
        tiny.compute = replace(tiny.compute, cascade=False)
    assert any("cascade:" in r.getMessage() for r in caplog.records)
    assert segs and all(0.0 <= w.start <= w.end <= len(agent) / 16000 + 0.5 for s in segs for w in s.words)
