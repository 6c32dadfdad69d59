"""Encoder outputs kept for the fallback's re-decodes (transcribe/encodings.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from demo.synth import Placement
from transcribe import engine
from transcribe.audio import decode
from transcribe.encodings import Encodings, remembering
from transcribe.engine import Transcriber


class _Encoder:
    """Stands in for a WhisperModel: each encode returns a new object and is counted."""

    def __init__(self) -> None:
        self.inputs: list[tuple[int, ...]] = []

    def encode(self, features: np.ndarray) -> object:
        self.inputs.append(features.shape)
        return object()


def _features(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((80, 3000)).astype(np.float32)


def test_equal_features_are_encoded_once_whatever_array_holds_them() -> None:
    model = _Encoder()
    enc = Encodings(model)
    first = enc.encode(_features(1))
    assert enc.encode(_features(1).copy()) is first
    assert enc.encode(_features(1)[None]) is first  # a batch of one is the same input to the encoder
    assert enc.encode(_features(2)) is not first
    assert model.inputs == [(80, 3000), (80, 3000)]


def test_features_one_value_apart_are_encoded_again() -> None:
    enc = Encodings(_Encoder())
    a = _features(1)
    b = a.copy()
    b[40, 1500] = np.nextafter(b[40, 1500], np.float32(np.inf))
    assert enc.encode(a) is not enc.encode(b)


def test_a_batch_of_several_chunks_is_not_served_for_one_of_them() -> None:
    """Its rows are not kept apart: a batched encoder's row need not equal the chunk encoded alone."""
    model = _Encoder()
    enc = Encodings(model)
    enc.encode(np.stack([_features(1), _features(2)]))
    enc.encode(_features(1))
    assert model.inputs == [(2, 80, 3000), (80, 3000)]


def test_only_the_latest_outputs_are_kept() -> None:
    model = _Encoder()
    enc = Encodings(model, keep=2)
    for seed in (1, 2, 3, 1):
        enc.encode(_features(seed))
    assert len(model.inputs) == 4  # the first was dropped when the third came
    enc.encode(_features(3))
    assert len(model.inputs) == 4


def test_the_copy_shares_the_model_and_encodes_through_its_memory(tiny_en_transcriber: Transcriber) -> None:
    whisper = tiny_en_transcriber.whisper
    clone = remembering(whisper)
    assert clone.model is whisper.model and clone.hf_tokenizer is whisper.hf_tokenizer
    assert clone.encode == clone.encodings.encode
    assert not hasattr(whisper, "encodings")  # the shared model is left as it was


@pytest.mark.tools("espeak-ng", "sox")
def test_chunks_decoded_again_are_not_encoded_again_and_come_out_the_same(  # type: ignore[no-untyped-def]
        tiny_en_transcriber: Transcriber, mandarin_call: tuple[Path, list[Placement]], monkeypatch) -> None:
    """Mandarin through tiny.en: its chunks fail, so the fallback decodes them again alone and then
    sampled. With the batch's encoder outputs kept, the words are those of encoding every decode
    afresh, with fewer encoder passes."""
    from faster_whisper import WhisperModel

    path, _placed = mandarin_call
    passes: list[tuple[int, ...]] = []
    real = WhisperModel.encode

    def counted(self: Any, features: np.ndarray) -> Any:
        passes.append(features.shape)
        return real(self, features)

    monkeypatch.setattr(WhisperModel, "encode", counted)

    def words() -> list[tuple[str, str, float, float]]:
        out = tiny_en_transcriber.transcribe(decode(path), channel_map={"agent": 0, "customer": 1}, language="en")
        return [(s.speaker, w.word, w.start, w.end) for s in out.segments for w in s.words]

    kept = words()
    with_memory = len(passes)
    passes.clear()
    monkeypatch.setattr(engine, "remembering", lambda whisper: whisper)
    afresh = words()
    assert kept and kept == afresh
    assert with_memory < len(passes)
