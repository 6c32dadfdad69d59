"""Temperature fallback for the chunks the batched decoder got wrong (transcribe/fallback.py)."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from demo.synth import Placement
from transcribe.audio import decode, to_float
from transcribe.engine import Transcriber
from transcribe.fallback import chunk_spans, failed, improves, kept_words, redecode, repair, thin


def _seg(text: str = "hello there", *, ratio: float = 1.2, logprob: float = -0.3, no_speech: float = 0.1,
         words: list[str] | None = None) -> SimpleNamespace:
    ws = [SimpleNamespace(start=i * 0.3, end=i * 0.3 + 0.25, word=f" {w}", probability=0.9)
          for i, w in enumerate(words if words is not None else text.split())]
    return SimpleNamespace(text=text, compression_ratio=ratio, avg_logprob=logprob, no_speech_prob=no_speech,
                           words=ws, seek=0, start=0.0, end=max(0.3 * len(ws), 0.3))


@pytest.mark.parametrize(("seg", "expected"), [
    (_seg(), False),
    (_seg(ratio=3.1), False),                                  # confident repetitive speech is real
    (_seg(ratio=3.1, words=["web", "page"] * 5), True),        # a loop: repeated words
    (_seg(logprob=-1.4), True),                                # the decoder was unsure about speech
    (_seg(logprob=-1.4, no_speech=0.9), False),                # unsure because it is silence: no retry
    (_seg(words=["no", "no", "no", "no", "no", "no"]), True),  # a short loop the ratio misses
    (_seg(words=["no", "no", "thanks"]), False),
], ids=["good", "repetitive", "ratio-loop", "unsure", "silence", "word-loop", "two-nos"])
def test_a_chunk_is_retried_on_a_loop_or_low_confidence_only(seg: SimpleNamespace, expected: bool) -> None:
    """Word loops and low confidence on speech send a chunk back; silence and confident repetition do not."""
    assert failed(seg) is expected


@pytest.fixture(scope="module")
def tiny(tiny_en_transcriber: Transcriber) -> Transcriber:
    return tiny_en_transcriber


@pytest.fixture(scope="module")
def channel(default_call: tuple[Path, list[Placement]]) -> tuple[np.ndarray, list]:  # type: ignore[type-arg]
    """The agent channel of the default dialogue repeated to ~70 s (several chunks), and its placements."""
    path, placed = default_call
    agent = to_float(decode(path).channels[0])
    return np.concatenate([agent, agent, agent]), [p for p in placed if p.speaker == "agent"]


@pytest.fixture(scope="module")
def batched(channel, tiny: Transcriber) -> tuple[np.ndarray, list, list, list]:  # type: ignore[no-untyped-def,type-arg]
    """The channel through the batched pipeline once: audio, placements, segments, VAD speech spans."""
    from faster_whisper import BatchedInferencePipeline

    audio, placed = channel
    segs, info = BatchedInferencePipeline(tiny.whisper).transcribe(audio, language="en", batch_size=1,
                                                                   vad_filter=True, word_timestamps=True)
    segs = list(segs)
    return audio, placed, segs, info.transcription_options.clip_timestamps


@pytest.mark.tools("espeak-ng", "sox")  # demo.synth speaks with espeak-ng, writes with sox
def test_every_batched_segment_finds_the_speech_its_chunk_packed(batched, tiny: Transcriber) -> None:  # type: ignore[no-untyped-def]
    """chunk_spans rebuilds the pipeline's chunks: each segment's seek names one, with the same audio."""
    from faster_whisper.vad import collect_chunks

    audio, _placed, segs, speech = batched
    chunks = chunk_spans(speech, frames_per_second=tiny.whisper.frames_per_second)
    library_audio, _meta = collect_chunks(audio, speech, max_duration=30)
    assert len(chunks) == len(library_audio) >= 2
    assert {s.seek for s in segs} <= set(chunks)
    for (_seek, spans), lib in zip(sorted(chunks.items()), library_audio, strict=True):
        assert np.array_equal(np.concatenate([audio[s["start"]:s["end"]] for s in spans]), lib)


@pytest.mark.tools("espeak-ng", "sox")  # demo.synth speaks with espeak-ng, writes with sox
def test_a_redecoded_chunk_lands_where_its_words_were_said(batched, tiny: Transcriber) -> None:  # type: ignore[no-untyped-def]
    """The fallback decode of the second chunk gives its lines' words at their times in the channel."""
    audio, placed, _segs, speech = batched
    _seek, spans = sorted(chunk_spans(speech).items())[1]
    lo, hi = spans[0]["start"] / 16000, spans[-1]["end"] / 16000
    again = redecode(tiny.whisper, audio, spans, sampler=tiny.sampler, language="en", beam_size=5, word_timestamps=True)
    words = [w for s in again for w in s.words]
    assert words and all(lo - 0.5 <= w.start <= w.end <= hi + 0.5 for w in words)
    period = len(audio) / 3 / 16000
    said = [(p.start_s + k * period, p.end_s + k * period, p.text) for k in range(3) for p in placed]
    inside = [t for a, b, t in said if lo <= a and b <= hi]
    heard = set(re.findall(r"[a-z']+", " ".join(s.text for s in again).lower()))
    assert inside
    for text in inside:
        ref = set(re.findall(r"[a-z']+", text.lower()))
        assert len(ref & heard) >= 0.6 * len(ref), (text, heard)


@pytest.mark.tools("espeak-ng", "sox")  # demo.synth speaks with espeak-ng, writes with sox
def test_repair_replaces_only_failed_chunks(batched, tiny: Transcriber) -> None:  # type: ignore[no-untyped-def]
    """A good transcript passes through untouched; a chunk marked as looping is replaced by a re-decode."""
    audio, _placed, segs, speech = batched
    kw = {"sampler": tiny.sampler, "language": "en", "beam_size": 5, "word_timestamps": True}
    assert all(not failed(s) for s in segs)
    assert repair(tiny.whisper, audio, segs, speech, **kw) == segs
    looping = [*segs]
    looping[0] = _seg("No. No. No. No. No. No.", words=["No."] * 6)
    looping[0].seek = segs[0].seek
    fixed = repair(tiny.whisper, audio, looping, speech, **kw)
    assert fixed[-(len(segs) - 1):] == segs[1:]
    head = fixed[: len(fixed) - (len(segs) - 1)]
    assert head and "no. no. no." not in " ".join(s.text for s in head).lower()
    assert len(" ".join(s.text for s in head).split()) >= 10


@pytest.mark.tools("espeak-ng", "sox")
def test_a_chunk_that_copies_the_hotword_prompt_is_decoded_again_without_it(batched, tiny: Transcriber) -> None:  # type: ignore[no-untyped-def]
    """A chunk whose text is the prompt's phrases in a row is replaced by a decode of its audio; the
    others pass untouched; with ``unprime=False`` the copy stays (and with ``coverage=False``: the
    copy's few words are thin for its chunk's speech too)."""
    audio, _placed, segs, speech = batched
    prompt = "quality inspection, rubric aware, hotword prompt, echo catch"
    kw = {"sampler": tiny.sampler, "language": "en", "beam_size": 5, "word_timestamps": True, "hotwords": prompt}
    copied = [*segs]
    copied[0] = _seg("Quality inspection, rubric aware, hotword prompt.")
    copied[0].seek = segs[0].seek
    assert repair(tiny.whisper, audio, copied, speech, **kw, unprime=False, coverage=False) == copied
    fixed = repair(tiny.whisper, audio, copied, speech, **kw)
    assert fixed[-(len(segs) - 1):] == segs[1:]
    head = " ".join(s.text for s in fixed[: len(fixed) - (len(segs) - 1)]).lower()
    assert "rubric aware" not in head and len(head.split()) >= 10


@pytest.fixture(scope="module")
def hiss() -> tuple[np.ndarray, list[dict]]:
    """8 s of faint noise as one chunk of 'speech': Whisper's no-speech rule skips it at every
    temperature, so its re-decode comes back empty."""
    audio = (np.random.default_rng(0).standard_normal(16000 * 8) * 0.003).astype(np.float32)
    return audio, [{"start": 0, "end": len(audio)}]


def test_a_failed_chunk_whose_redecode_is_empty_keeps_its_words(hiss, tiny: Transcriber) -> None:  # type: ignore[no-untyped-def]
    """An empty re-decode does not empty the channel: the batched segment stays for the filters to judge
    (it used to be dropped, which left a Mandarin call's agent channel with no speech at all)."""
    audio, spans = hiss
    kw = {"sampler": tiny.sampler, "language": "en", "beam_size": 5, "word_timestamps": True}
    assert redecode(tiny.whisper, audio, spans, **kw) == []
    looping = _seg("No. No. No. No. No. No.", words=["No."] * 6, logprob=-1.2)
    assert failed(looping)
    assert repair(tiny.whisper, audio, [looping], spans, **kw) == [looping]


def test_a_prompt_copy_whose_redecode_is_empty_is_dropped(hiss, tiny: Transcriber) -> None:  # type: ignore[no-untyped-def]
    """A copy of the hotword prompt is never kept, even when the unprimed re-decode hears nothing."""
    audio, spans = hiss
    prompt = "quality inspection, rubric aware, hotword prompt, echo catch"
    copied = _seg("Quality inspection, rubric aware, hotword prompt.")
    kw = {"sampler": tiny.sampler, "language": "en", "beam_size": 5, "word_timestamps": True, "hotwords": prompt}
    assert repair(tiny.whisper, audio, [copied], spans, **kw) == []


@pytest.mark.parametrize(("again", "expected"), [
    ([], False),                                                             # Whisper called it silence
    ([_seg("a real sentence here and more", logprob=-0.5)], True),           # a good re-decode
    ([_seg("a real sentence here and more", logprob=-1.3)], True),           # unsure, but kept by the filters
    ([_seg("la la la", ratio=3.0, words=["la", "di", "da"], logprob=-1.3)], False),  # an unsure loop: dropped
    ([_seg("mumble", logprob=-2.5)], False),                                 # garbage: dropped
    ([_seg("one two three four five six", logprob=-2.5), _seg("real one", logprob=-0.4)], False),  # mostly dropped
    ([_seg("mumble", logprob=-2.5), _seg("a real sentence here and more", logprob=-0.4)], True),
], ids=["empty", "good", "unsure", "unsure-loop", "garbage", "mostly-garbage", "garbage-and-good"])
def test_a_redecode_replaces_the_batch_unless_the_filters_keep_less_of_it(again: list, expected: bool) -> None:  # type: ignore[type-arg]
    """A loop the batch wrote surely keeps its words (cut to one copy, 3 words here) rather than give
    way to a re-decode the filters keep less of."""
    batched = _seg(words=["对待", "是", "高兴"] * 5, logprob=-0.44)
    assert failed(batched) and kept_words(batched) == 3
    assert improves(batched, again) is expected


def test_an_unsure_batch_gives_way_to_any_redecode_the_filters_keep_but_not_to_nothing() -> None:
    """Low confidence is Whisper's own reason to decode again: the re-decode stands even when shorter."""
    unsure = _seg("one two three four five six", logprob=-1.6)
    assert failed(unsure) and kept_words(unsure) == 6
    assert improves(unsure, [_seg("real one", logprob=-0.4)])
    assert not improves(unsure, [])
    assert not improves(unsure, [_seg("mumble", logprob=-2.5)])


def test_a_batched_chunk_the_filters_drop_anyway_is_replaced_even_by_nothing() -> None:
    garbage = _seg("mumble", logprob=-2.5)
    assert failed(garbage) and kept_words(garbage) == 0
    assert improves(garbage, [])


@pytest.mark.parametrize(("seg", "speech_s", "expected"), [
    (_seg(words=["one"] * 30), 20.0, False),                 # 1.5 words a second: speech
    (_seg(words=["请问", "您", "还有", "其他", "问题", "吗"]), 21.2, True),  # one line for a chunk of five
    (_seg(words=["thanks"]), 6.0, False),                    # a short chunk: a word drawn out is real
    (_seg("请问您还有其他问题吗", words=[]), 21.2, True),        # no word timestamps: Han characters counted
    (_seg("请问您还有其他问题吗请问您还有其他问题吗好的", words=[]), 21.2, False),
], ids=["speech", "one-line", "short", "characters", "enough-characters"])
def test_a_chunk_is_thin_when_its_words_are_far_too_few_for_its_speech(seg: SimpleNamespace, speech_s: float,
                                                                       expected: bool) -> None:
    assert thin(seg, speech_s) is expected


@pytest.mark.tools("espeak-ng", "sox")
def test_a_thin_chunk_is_decoded_again_unless_coverage_is_off(batched, tiny: Transcriber) -> None:  # type: ignore[no-untyped-def]
    """A chunk the batch wrote as two words for its whole speech, sure of itself and without a loop,
    is replaced by a re-decode that hears its lines; ``coverage=False`` keeps it."""
    audio, _placed, segs, speech = batched
    kw = {"sampler": tiny.sampler, "language": "en", "beam_size": 5, "word_timestamps": True}
    short = [*segs]
    short[0] = _seg("Thank you.", logprob=-0.3)
    short[0].seek = segs[0].seek
    assert not failed(short[0])
    assert repair(tiny.whisper, audio, short, speech, **kw, coverage=False) == short
    fixed = repair(tiny.whisper, audio, short, speech, **kw)
    assert fixed[-(len(segs) - 1):] == segs[1:]
    head = " ".join(s.text for s in fixed[: len(fixed) - (len(segs) - 1)])
    assert len(head.split()) >= 10
