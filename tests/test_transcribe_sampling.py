"""Repeatable sampled re-decodes (transcribe/sampling.py) and the fallback that uses them (transcribe/fallback.py)."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from demo.synth import Placement
from transcribe.audio import decode, to_float
from transcribe.engine import Transcriber
from transcribe.fallback import BEST_OF, TEMPERATURES, chunk_spans, failed, redecode
from transcribe.sampling import seed_of

pytestmark = pytest.mark.tools("espeak-ng", "sox")  # demo.synth speaks with espeak-ng, writes with sox

PLAIN = {"language": "en", "beam_size": 5, "condition_on_previous_text": False, "without_timestamps": True,
         "vad_filter": False}


@pytest.fixture(scope="module")
def tiny(tiny_en_transcriber: Transcriber) -> Transcriber:
    return tiny_en_transcriber


@pytest.fixture(scope="module")
def unreadable(mandarin_call: tuple[Path, list[Placement]]) -> list[np.ndarray]:
    """Both channels of the Mandarin demo call: speech that tiny.en (English only) decodes unsure at
    temperature 0, so the fallback samples it."""
    path, _placed = mandarin_call
    return [to_float(ch) for ch in decode(path).channels]


def _words(segments: list) -> list[tuple[str, float, float]]:  # type: ignore[type-arg]
    return [(w.word, w.start, w.end) for s in segments for w in (s.words or [])]


def _sampled(tiny: Transcriber, audio: np.ndarray, seed: int) -> str:
    segs = tiny.sampler.transcribe(audio, seed=seed, temperature=1.0, best_of=1, **PLAIN)
    return " ".join(s.text for s in segs)


def test_setting_the_seed_before_each_decode_does_not_repeat_a_sampled_decode(unreadable, tiny: Transcriber) -> None:  # type: ignore[no-untyped-def]
    """Why the sampler exists: CTranslate2's generator is per worker thread and takes the process's
    seed once, so ``set_random_seed`` before every decode of a loaded model still gives other words."""
    import ctranslate2

    texts = set()
    for _ in range(3):
        ctranslate2.set_random_seed(7)
        segs, _info = tiny.whisper.transcribe(unreadable[0], temperature=1.0, best_of=1, **PLAIN)
        texts.add(" ".join(s.text for s in segs))
    assert len(texts) > 1


def test_a_seed_gives_the_same_sample_and_another_seed_another(unreadable, tiny: Transcriber) -> None:  # type: ignore[no-untyped-def]
    audio = unreadable[0]
    first = _sampled(tiny, audio, 11)
    assert first and _sampled(tiny, audio, 11) == first
    assert _sampled(tiny, audio, 12) != first  # it really samples: the seed decides the words


def test_a_seeded_replica_ignores_seeds_set_after_it_was_made(unreadable, tiny: Transcriber) -> None:  # type: ignore[no-untyped-def]
    """The lock is held only until the new worker thread has drawn: a seed another thread sets later
    does not reach the replica's draws."""
    import copy

    import ctranslate2

    audio = unreadable[0]
    clone = copy.copy(tiny.whisper)
    clone.model = tiny.sampler.replica(11)
    ctranslate2.set_random_seed(12)
    segs, _info = clone.transcribe(audio, temperature=1.0, best_of=1, **PLAIN)
    assert " ".join(s.text for s in segs) == _sampled(tiny, audio, 11) != _sampled(tiny, audio, 12)


def test_the_seed_is_the_audios() -> None:
    rng = np.random.default_rng(3)
    a = rng.standard_normal(16000).astype(np.float32)
    assert seed_of(a) == seed_of(a.copy()) != seed_of(a[1:])
    assert 0 <= seed_of(a) < 2**32 - 1


def test_a_failed_chunk_redecoded_twice_gives_the_same_words(unreadable, tiny: Transcriber) -> None:  # type: ignore[no-untyped-def]
    """A chunk the plain decode fails on goes to sampling; decoding it again gives the same words at
    the same times."""
    audio = unreadable[0]
    plain, _info = tiny.whisper.transcribe(audio, temperature=0.0, **PLAIN)
    assert any(failed(s) for s in plain)  # so redecode samples
    spans = [{"start": 0, "end": len(audio)}]
    kw = {"sampler": tiny.sampler, "language": "en", "beam_size": 5, "word_timestamps": True}
    first = redecode(tiny.whisper, audio, spans, **kw)
    assert _words(first)
    assert _words(redecode(tiny.whisper, audio, spans, **kw)) == _words(first)


def test_failed_chunks_redecoded_in_two_threads_at_once_give_the_words_of_one_at_a_time(  # type: ignore[no-untyped-def]
        unreadable, tiny: Transcriber) -> None:
    """The worker's two replicas re-decode at the same time: neither's seed leaks into the other's draws."""
    kw = {"sampler": tiny.sampler, "language": "en", "beam_size": 5, "word_timestamps": True}

    def again(audio: np.ndarray) -> list[tuple[str, float, float]]:
        return _words(redecode(tiny.whisper, audio, [{"start": 0, "end": len(audio)}], **kw))

    alone = [again(a) for a in unreadable]
    assert alone[0] != alone[1] and all(alone)
    with ThreadPoolExecutor(max_workers=2) as pool:
        together = list(pool.map(again, [unreadable[0], unreadable[1], unreadable[1], unreadable[0]]))
    assert together == [alone[0], alone[1], alone[1], alone[0]]


def test_a_seeded_fallback_decode_still_hears_the_chunks_lines(tiny: Transcriber,  # type: ignore[no-untyped-def]
                                                              default_call: tuple[Path, list[Placement]]) -> None:
    """Seeding keeps what sampling recovers: the fallback's sampled decode (temperatures 0.2 … 1.0, one
    sample each) of a chunk of clear speech has most words of each line said in it."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    path, placed = default_call
    audio = to_float(decode(path).channels[0])
    speech = get_speech_timestamps(audio, VadOptions())
    spans = sorted(chunk_spans(speech).items())[0][1]
    chunk = np.concatenate([audio[s["start"]:s["end"]] for s in spans])
    segs = tiny.sampler.transcribe(chunk, seed=seed_of(chunk), temperature=list(TEMPERATURES), best_of=BEST_OF,
                                   **PLAIN)
    heard = set(re.findall(r"[a-z']+", " ".join(s.text for s in segs).lower()))
    lines = [p.text for p in placed if p.speaker == "agent" and p.end_s * 16000 <= spans[-1]["end"]]
    assert lines
    for text in lines:
        ref = set(re.findall(r"[a-z']+", text.lower()))
        assert len(ref & heard) >= 0.6 * len(ref), (text, heard)
