"""Cascade decoding: every chunk greedily first, the wide beam only where the greedy pass is unsure.

Beam search (``asr_beam_size`` 5) is what keeps tiny.en's WER down on phone audio, but most chunks
of a call come out of a greedy decode (beam 1, temperature 0) with the same words; the beam matters
on the hard ones (an IVR voice, a name, digits), and those are the chunks whose greedy decode is
unsure. :class:`CascadePipeline` is faster-whisper's ``BatchedInferencePipeline`` with one step
changed, the decode of a batch of chunks:

1. the chunks' audio is encoded once;
2. every chunk is decoded greedily;
3. a chunk the greedy pass is unsure of (:func:`unsure`: a low mean token log-probability, fewer
   words than its seconds of speech call for — greedy decoding sometimes ends a chunk after its first
   sentence —, text that compresses like a loop, a phrase repeated, or nothing decoded) is decoded again with the
   wide beam **from the same encoder output**, so the re-decode costs the beam's search alone, and
   its tokens are exactly those the plain pipeline at that beam would have produced for the chunk.

Everything after (segments cut at timestamps, word timestamps, the fallback of
:mod:`transcribe.fallback`, the filters) sees the chosen output as if one decode had made it. The
thresholds are measured on the PBX corpus (``python -m bench.asr_cascade``, docs/benchmarks.md).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from faster_whisper import BatchedInferencePipeline  # this module is imported when cascade decoding is first used

from transcribe.conversation import MAX_REPEATS

MIN_LOGPROB = -0.25  # greedy chunks below this mean token log-probability are decoded again with the beam
MAX_COMPRESSION_RATIO = 1.8  # greedy text that compresses better than this looks like a loop
NO_SPEECH_PROB = 0.5  # greedy text over what the model thinks is no speech: let the beam decide
MIN_WORDS_PER_S = 1.0  # fewer words than this per second of speech: the greedy decode stopped early


@dataclass(frozen=True)
class CascadeRule:
    """When a greedy chunk is decoded again with the beam (any one of these is enough)."""

    min_logprob: float = MIN_LOGPROB
    max_compression_ratio: float = MAX_COMPRESSION_RATIO
    no_speech_prob: float = NO_SPEECH_PROB
    min_words_per_s: float = MIN_WORDS_PER_S


def compression_ratio(text: str) -> float:
    """Whisper's compression ratio: bytes of ``text`` over bytes of its zlib compression."""
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 0.0


def repeats(text: str, *, limit: int = MAX_REPEATS, longest: int = 12) -> bool:
    """Whether a phrase of 1–``longest`` words comes more than ``limit`` times in a row."""
    words = text.lower().split()
    for n in range(1, longest + 1):
        run = 1
        for i in range(n, len(words) - n + 1, n):
            run = run + 1 if words[i : i + n] == words[i - n : i] else 1
            if run > limit:
                return True
    return False


def unsure(output: dict[str, Any], text: str, rule: CascadeRule, *, seconds: float = 0.0) -> str | None:
    """Why the greedy decode of a chunk (``output``: the pipeline's dict, ``text`` its words,
    ``seconds`` of speech in the chunk) is not to be trusted; None: keep it."""
    if not text.strip():
        return "nothing decoded"
    if len(text.split()) < rule.min_words_per_s * seconds:
        return "too few words"
    if output["avg_logprob"] < rule.min_logprob:
        return "low log-probability"
    if output["no_speech_prob"] > rule.no_speech_prob:
        return "no speech"
    if compression_ratio(text) > rule.max_compression_ratio:
        return "compresses like a loop"
    if repeats(text):
        return "repeated phrase"
    return None


class CascadePipeline(BatchedInferencePipeline):
    """``BatchedInferencePipeline`` decoding greedily first and with ``beam_size`` only where unsure.

    ``decoded`` and ``redecoded`` count the chunks this pipeline decoded and those it decoded again;
    ``reasons`` keeps why, per re-decoded chunk.
    """

    def __init__(self, model: Any, rule: CascadeRule | None = None) -> None:
        super().__init__(model)
        self.rule = rule or CascadeRule()
        self.decoded = 0
        self.redecoded = 0
        self.reasons: list[str] = []
        self._seconds: list[float] = []

    def forward(self, features: Any, tokenizer: Any, chunks_metadata: list[dict], options: Any) -> Any:
        self._seconds = [float(m["duration"]) for m in chunks_metadata]  # speech per chunk, for unsure()
        return super().forward(features, tokenizer, chunks_metadata, options)

    def generate_segment_batched(self, features: np.ndarray, tokenizer: Any, options: Any) -> tuple[Any, list[dict]]:
        model = self.model
        prompt = model.get_prompt(
            tokenizer,
            previous_tokens=tokenizer.encode(options.initial_prompt) if options.initial_prompt is not None else [],
            without_timestamps=options.without_timestamps, hotwords=options.hotwords,
        )
        max_length = len(prompt) + options.max_new_tokens if options.max_new_tokens is not None else model.max_length
        encoder_output = model.encode(features)
        prompts = [prompt.copy() for _ in range(features.shape[0])]
        if options.multilingual:
            index = prompt.index(tokenizer.language)
            for i, langs in enumerate(model.model.detect_language(encoder_output)):
                prompts[i][index] = tokenizer.tokenizer.token_to_id(langs[0][0])
        outputs = self._generate(encoder_output, prompts, replace(options, beam_size=1), max_length)
        again = []
        for i, out in enumerate(outputs):
            text = tokenizer.decode([t for t in out["tokens"] if t < tokenizer.eot])
            seconds = self._seconds[i] if i < len(self._seconds) else 0.0
            why = unsure(out, text, self.rule, seconds=seconds)
            if why is not None:
                again.append(i)
                self.reasons.append(why)
        self.decoded += len(outputs)
        self.redecoded += len(again)
        if again and options.beam_size > 1:
            subset = encoder_output if len(again) == len(outputs) else _rows(encoder_output, again)
            for i, out in zip(again, self._generate(subset, [prompts[i] for i in again], options, max_length),
                              strict=True):
                outputs[i] = out
        return encoder_output, outputs

    def _generate(self, encoder_output: Any, prompts: list[list[int]], options: Any, max_length: int) -> list[dict]:
        """The pipeline's own decode call and scoring (faster-whisper 1.2's generate_segment_batched)."""
        results = self.model.model.generate(
            encoder_output, prompts, beam_size=options.beam_size, patience=options.patience,
            length_penalty=options.length_penalty, max_length=max_length, suppress_blank=options.suppress_blank,
            suppress_tokens=options.suppress_tokens, return_scores=True, return_no_speech_prob=True,
            sampling_temperature=options.temperatures[0], repetition_penalty=options.repetition_penalty,
            no_repeat_ngram_size=options.no_repeat_ngram_size,
        )
        out = []
        for result in results:
            seq_len = len(result.sequences_ids[0])
            cum_logprob = result.scores[0] * (seq_len**options.length_penalty)
            out.append({"avg_logprob": cum_logprob / (seq_len + 1), "no_speech_prob": result.no_speech_prob,
                        "tokens": result.sequences_ids[0]})
        return out


def _rows(encoder_output: Any, rows: list[int]) -> Any:
    """The given batch rows of an encoder output (a CTranslate2 StorageView on the CPU)."""
    import ctranslate2

    return ctranslate2.StorageView.from_array(np.ascontiguousarray(np.asarray(encoder_output)[rows]))
