"""Encoder outputs kept for the fallback: a chunk decoded again is not encoded again.

The batched pipeline encodes each ≤30 s chunk once; when :mod:`transcribe.fallback` sends a failed
or thin chunk back, ``WhisperModel.transcribe`` computes the same log-mel features from the same
samples (both cut the extractor's last frame and pad to 30 s) and encoded them again, and the
seeded sampled decode after it (:mod:`transcribe.sampling`) a third time — ~0.3 s of CPU each for a
30 s chunk with tiny.en. :func:`remembering` gives a copy of the model whose ``encode`` keeps its
outputs by their input features, so those later decodes read the one the batch computed.

Same output by construction: an output is reused only for features equal to the byte (shape and
every value, by digest) to those it was computed from, and CTranslate2's encoder gives the same
output for the same features on any replica of the same weights (checked: bit-equal across
replicas and a freshly loaded one, int8 on CPU, docs/benchmarks.md). A batch of several chunks is
kept as a whole, so with ``asr_batch_size`` > 1 only the sampled decode reads the plain re-decode's
output.
"""

from __future__ import annotations

import copy
import hashlib
import threading
from collections import OrderedDict
from typing import Any

import numpy as np

# Outputs kept per copy: one decode task's chunks (a channel's ≤180 s window packs ≤7 chunks) with
# room to spare; ~2.3 MB each for tiny.en, ~3 MB for base (1,500 frames × width, float32).
KEEP = 16


class Encodings:
    """``whisper.encode`` with its outputs kept, keyed by the features they were computed from."""

    def __init__(self, whisper: Any, *, keep: int = KEEP) -> None:
        self.whisper = whisper
        self.keep = keep
        self._kept: OrderedDict[bytes, Any] = OrderedDict()
        self._lock = threading.Lock()

    def encode(self, features: np.ndarray) -> Any:
        feats = np.ascontiguousarray(features, dtype=np.float32)
        key = _key(feats)
        with self._lock:
            hit = self._kept.get(key)
        if hit is not None:
            return hit
        out = self.whisper.encode(features)
        with self._lock:
            self._kept[key] = out
            while len(self._kept) > self.keep:
                self._kept.popitem(last=False)
        return out


def remembering(whisper: Any, *, keep: int = KEEP) -> Any:
    """A shallow copy of the ``faster_whisper.WhisperModel`` ``whisper`` (same weights, replicas and
    tokenizer) whose ``encode`` is an :class:`Encodings`'s; that object is its ``encodings``."""
    clone = copy.copy(whisper)
    clone.encodings = Encodings(whisper, keep=keep)
    clone.encode = clone.encodings.encode
    return clone


def _key(features: np.ndarray) -> bytes:
    # A 2-D segment (transcribe) and a batch of one (the pipeline) are the same input to the encoder.
    shape = features.shape[1:] if features.ndim == 3 and features.shape[0] == 1 else features.shape
    h = hashlib.blake2b(repr(shape).encode(), digest_size=16)
    h.update(features.data)
    return h.digest()
