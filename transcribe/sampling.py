"""Sampled decoding that gives the same words for the same audio: the fallback's re-decodes made repeatable.

Whisper's temperature fallback (:mod:`transcribe.fallback`) samples, so two transcriptions of one
call could differ wherever a chunk needed it, and re-scoring a call could change its answers. A
sampled re-decode here draws from a random generator seeded from the chunk's own samples, so the
same audio always gives the same words, whichever thread or replica decodes it and whatever ran before.

How CTranslate2 (4.x, ``src/random.cc``) draws, and why ``ctranslate2.set_random_seed`` alone does
not do this:

- the seed is one process-wide value; the generator is ``thread_local`` and takes that value the
  first time *its* thread samples, never again. Setting the seed before each decode changes nothing
  for a thread that has sampled before (OpenNMT/CTranslate2 issue #1757 reports the same), and
  every later draw depends on all the earlier ones of that thread;
- the thread that samples is not the caller's: it is the worker thread of the model replica that
  runs the job (``num_workers`` of them per model), so a caller cannot even tell which generator
  it gets.

So each sampled re-decode gets a model of its own (a new replica, hence a new worker thread whose
generator has never drawn): the process's seed is set and that thread made to draw once, under a
lock, so that no other thread's seed can slip in between; the decode itself then runs outside the
lock, its draws coming only from its own thread's generator. The price is loading the model once
per sampled re-decode (base: 0.3 s of CPU, against the seconds of decoding a 30 s
chunk at up to five temperatures), and a second copy of the weights in memory while it runs.
A replica is not kept for the next sampled decode: its thread's generator has drawn, and setting the
seed then drawing once more only advances it (tried: three decodes, three texts, none the fresh
replica's; docs/benchmarks.md, branch speed19c). The encoder output, which needs no draw, is read
from the batch's (``encode``, :mod:`transcribe.encodings`).
Measured on CPU only; GPU sampling was not looked at.
"""

from __future__ import annotations

import copy
import hashlib
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

# CTranslate2's "no seed set" value (draw from std::random_device): a seed must never be it.
_UNSEEDED = 2**32 - 1

# Held from setting the process-wide seed until the new worker thread has taken it.
_seeding = threading.Lock()


def seed_of(audio: np.ndarray) -> int:
    """A seed that only the audio decides: the same samples give the same seed in any process."""
    digest = hashlib.blake2b(np.ascontiguousarray(audio, dtype=np.float32).tobytes(), digest_size=4).digest()
    return int.from_bytes(digest, "little") % _UNSEEDED


class SeededSampler:
    """Sampled decodes of a Whisper model whose random draws come from a given seed only.

    ``whisper`` is the loaded ``faster_whisper.WhisperModel`` (its tokenizer and feature extractor
    are shared); ``path`` is where its weights were loaded from, as CTranslate2 does not keep it.
    """

    def __init__(self, whisper: Any, path: str, *, cpu_threads: int) -> None:
        self.whisper = whisper
        self.path = path
        self.cpu_threads = cpu_threads

    def replica(self, seed: int) -> Any:
        """A new one-replica CTranslate2 model whose worker thread's generator was seeded with ``seed``."""
        import ctranslate2

        main = self.whisper.model
        # Loaded outside the lock: its worker thread takes the process's seed only when it first samples.
        fresh = ctranslate2.models.Whisper(self.path, device=main.device, device_index=main.device_index,
                                           compute_type=main.compute_type, intra_threads=self.cpu_threads,
                                           inter_threads=1)
        start = self.whisper.hf_tokenizer.token_to_id("<|startoftranscript|>")
        two_frames = ctranslate2.StorageView.from_array(np.zeros((1, fresh.n_mels, 2), np.float32))
        with _seeding:
            ctranslate2.set_random_seed(seed)
            # One sampled token: the worker thread draws now, so its generator is made from this seed.
            fresh.generate(two_frames, [[start]], max_length=2, beam_size=1, sampling_topk=0,
                           sampling_temperature=1.0)
        return fresh

    def transcribe(self, audio: np.ndarray, *, seed: int, encode: Callable[[np.ndarray], Any] | None = None,
                   **options: Any) -> list[Any]:
        """``WhisperModel.transcribe(audio, **options)``'s segments, sampled from ``seed``'s draws.

        ``encode``: the encoder to use instead of the new replica's (one that keeps outputs already
        computed, :mod:`transcribe.encodings`): only the draws need the replica, and the encoder
        output of the same weights is the same on any replica.
        """
        clone = copy.copy(self.whisper)
        clone.model = self.replica(seed)
        if encode is not None:
            clone.encode = encode
        segments, _info = clone.transcribe(audio, **options)
        return list(segments)
