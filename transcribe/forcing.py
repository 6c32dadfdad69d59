"""Forced decoding: how likely the Whisper model finds a given text for a stretch of a call's audio.

The recogniser writes 等到现为您服务 for a spoken 很高兴为您服务, but the same model, asked how
likely 很高兴为您服务 is over that audio, can still tell it from 很高兴认识您. :class:`ForcedScorer`
answers that question: the audio of one channel between two times is encoded once (a stretch of at
most 30 s, Whisper's window), and every text asked about it is fed to the decoder token by token
(teacher forcing, CTranslate2's ``Whisper.align``); the answer is the sum of the log-probabilities
the decoder gave the text's tokens. Comparing two texts over the same audio (the heard text and the
heard text with a rubric phrase put in) is the keyword verification of scoring/verification.py.

The encoded stretches are kept for the scorer's life (one call), so checking ten phrases over the
same greeting costs one encoder pass. Texts are scored as they are written: the decoder prefers the
punctuation it writes itself ("," not "，"), so callers compare texts that differ only where it
matters.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from transcribe.audio import SAMPLE_RATE, to_float

log = logging.getLogger(__name__)

CHUNK_S = 30.0  # Whisper's window: one encoder pass sees at most this much audio
PAD_S = 0.3  # audio kept either side of the asked span (word and segment times jitter by a few tenths)
_FLOOR = 1e-12  # a token probability of 0 would be -inf


class ForcedScorer:
    """Teacher-forced log-probabilities of texts over spans of one call's audio (see the module)."""

    def __init__(self, whisper: Any, channels: Sequence[np.ndarray], *, language: str) -> None:
        """``whisper``: a loaded faster-whisper model; ``channels``: the call's audio, one 16 kHz array
        per channel (int16, or float32 in [-1, 1]); ``language``: the call's language (the decoder's
        start sequence)."""
        from faster_whisper.tokenizer import Tokenizer

        self.whisper = whisper
        self.channels = list(channels)
        self.tokenizer = Tokenizer(whisper.hf_tokenizer, whisper.model.is_multilingual, task="transcribe",
                                   language=language)
        self._encoded: dict[tuple[int, float, float], tuple[Any, int]] = {}
        self._scored: dict[tuple[int, float, float, str], float] = {}
        self._lock = threading.Lock()
        self.cpu_s = 0.0  # CPU time spent in this scorer (encoder and decoder), for the benchmark
        self.encodes = 0

    def _encode(self, channel: int, start: float, end: float) -> tuple[Any, int]:
        from faster_whisper.audio import pad_or_trim

        key = (channel, round(start, 2), round(end, 2))
        if key not in self._encoded:
            audio = self.channels[channel]
            lo = max(0, int((start - PAD_S) * SAMPLE_RATE))
            hi = min(len(audio), int((end + PAD_S) * SAMPLE_RATE), lo + int(CHUNK_S * SAMPLE_RATE))
            piece = audio[lo:hi]
            features = self.whisper.feature_extractor(to_float(piece) if piece.dtype == np.int16 else piece)[..., :-1]
            frames = int(features.shape[-1])
            self._encoded[key] = (self.whisper.encode(pad_or_trim(features)), frames)
            self.encodes += 1
        return self._encoded[key]

    def __call__(self, channel: int, start: float, end: float, texts: Sequence[str]) -> list[float]:
        """Log-probability of each of ``texts`` as the transcript of ``channel`` from ``start`` to
        ``end`` seconds (at most :data:`CHUNK_S` of it is heard)."""
        import ctranslate2

        key = (channel, round(start, 2), round(end, 2))
        with self._lock:  # one call's checks run one after another; the lock only guards the caches
            for t in texts:
                if not t.strip():
                    self._scored[(*key, "")] = 0.0
            new = list(dict.fromkeys(t.strip() for t in texts if (*key, t.strip()) not in self._scored))
            if new:
                c0 = time.process_time()
                encoded, frames = self._encode(channel, start, end)
                tokens = [self.tokenizer.encode(t) for t in new]
                batch = ctranslate2.StorageView.from_array(np.repeat(np.asarray(encoded), len(new), axis=0))
                results = self.whisper.model.align(batch, self.tokenizer.sot_sequence, tokens, [frames] * len(new))
                for t, r, tk in zip(new, results, tokens, strict=True):
                    probs = np.maximum(np.asarray(r.text_token_probs, dtype=np.float64), _FLOOR)
                    self._scored[(*key, t)] = float(np.sum(np.log(probs))) if len(tk) else 0.0
                self.cpu_s += time.process_time() - c0
            return [self._scored[(*key, t.strip())] for t in texts]
