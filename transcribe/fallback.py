"""Re-decode the chunks the batched pipeline got wrong, as Whisper itself would: with temperature fallback.

``BatchedInferencePipeline`` decodes each ≤30 s chunk of packed speech once, at temperature 0, and
keeps whatever comes out. When the decoder falls into a loop ("No. No. No. No. No. No." for 30 s
of a customer explaining a fault), that chunk's speech is lost: measured on the benchmark corpus,
2 of 48 chunks, ~4 WER points. Whisper's own algorithm retries such a window at rising
temperatures until the output is plausible; the batched pipeline does not, so callqc does it for
the few chunks that need it:

- a chunk *failed* when the decoder was unsure (``avg_logprob < -1``) without the chunk being
  silence (``no_speech_prob ≤ 0.6``), or when its words loop (a phrase repeated more than 3 times
  in a row) — Whisper's log-probability rule, and the loop rule of :mod:`transcribe.conversation`
  in place of Whisper's compression ratio, which also flags confident repetitive speech;
- a chunk is also sent back when it is *thin*: far fewer words than its speech could hold (fewer
  than :data:`THIN_WORDS_PER_S` a second of the speech the VAD packed into it). The decoder can end
  a chunk early, sure of itself and without a loop: one line written for five said (a Mandarin
  agent's 21 s of speech came out as the 8 words of 请问您还有其他问题吗, docs/benchmarks.md);
- a failed chunk is found again from the pipeline's own VAD result (the chunk's ``seek`` is its
  offset in the packed speech), its audio re-assembled from those speech spans, and decoded with
  ``WhisperModel.transcribe``: first alone at temperature 0 (deterministic; in a batch the
  padding and the other chunks can be what set off the loop), and only if that fails too at
  temperatures 0.2 … 1.0, one sample per temperature (which recovered the benchmark's failed
  chunks at a third of the CPU of Whisper's five). The samples are drawn from a generator seeded
  from the chunk's own audio (:mod:`transcribe.sampling`), so the same call always gets the same
  words: a call scored again gets the same answers, and a change of one answer in a benchmark is
  not the noise of sampling;
- the new segments' times are mapped back through the same speech spans, so they land where the
  words were said.

What the retry cannot fix is still caught by the filters in :mod:`transcribe.conversation`.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import numpy as np

from storage.segments import Segment, Word
from transcribe.audio import SAMPLE_RATE
from transcribe.conversation import LOW_LOGPROB, MAX_COMPRESSION_RATIO, NO_SPEECH_PROB, clean, collapse_repeats
from transcribe.sampling import SeededSampler, seed_of
from transcribe.vocabulary import echoes

log = logging.getLogger(__name__)

TEMPERATURES = (0.2, 0.4, 0.6, 0.8, 1.0)
BEST_OF = 1  # samples per temperature: Whisper takes 5; 1 recovered the same chunks at a third of the cost
CHUNK_S = 30  # the pipeline's chunk length (the feature extractor's)
# Speech is 2–4 words a second (a Mandarin "word" is one or two characters); under 1 a second the
# decoder skipped most of it. Short chunks are left alone: a word or two drawn out is real.
THIN_WORDS_PER_S = 1.0
THIN_MIN_SPEECH_S = 8.0
_COUNTED = re.compile(r"[\u3400-\u9fff]|[^\W\u3400-\u9fff]+")  # a Han character, or a run of other letters


def failed(seg: Any) -> bool:
    """Whether a batched segment (one whole chunk) needs re-decoding.

    Not on the compression ratio alone: a confident chunk of a script read twice compresses well and
    is real (as the drop rule in :mod:`transcribe.conversation` also holds); a decoder loop shows as
    repeated words, which is checked directly.
    """
    if seg.avg_logprob < LOW_LOGPROB and seg.no_speech_prob <= NO_SPEECH_PROB:
        return True
    words = [Word(w.start, w.end, w.word, w.probability) for w in (seg.words or [])]
    return len(collapse_repeats(words)) != len(words)


def thin(seg: Any, speech_s: float) -> bool:
    """Whether a batched segment (one whole chunk of ``speech_s`` seconds of speech) has far too few
    words for it. Counted on word timestamps when there are some, else on the text (Han characters
    one by one)."""
    if speech_s < THIN_MIN_SPEECH_S:
        return False
    words = len(seg.words) if seg.words else len(_COUNTED.findall(seg.text))
    return words < THIN_WORDS_PER_S * speech_s


def chunk_spans(speech: list[dict], *, frames_per_second: int = 100, max_s: float = CHUNK_S) -> dict[int, list[dict]]:
    """The pipeline's chunks, keyed by their ``seek``: which speech spans each one packed.

    Grouped by the rule of ``faster_whisper.vad.collect_chunks`` (spans in order while their total
    stays within ``max_s``), and keyed as the pipeline computes a segment's seek, so a returned
    segment finds its chunk exactly.
    """
    limit = max_s * SAMPLE_RATE
    out: dict[int, list[dict]] = {}
    group: list[dict] = []
    packed = total = 0
    for span in speech:
        n = span["end"] - span["start"]
        if group and packed + n > limit:
            out[int(total / SAMPLE_RATE * frames_per_second)] = group
            total += packed
            group, packed = [], 0
        group.append(span)
        packed += n
    if group:
        out[int(total / SAMPLE_RATE * frames_per_second)] = group
    return out


def redecode(whisper: Any, audio: np.ndarray, spans: list[dict], *, sampler: SeededSampler, language: str | None,
             beam_size: int, word_timestamps: bool, hotwords: str | None = None,
             coverage: bool = True) -> list[Any]:
    """The chunk made of ``spans`` of ``audio`` (float32, the window) decoded with temperature fallback.

    Segments come back with times in the window's seconds, like the pipeline's. Empty when Whisper
    took the chunk for silence at every temperature (its no-speech rule skips a window whose
    no-speech probability is high while its log-probability is low). The sampled decode is seeded
    from the chunk's samples: the same chunk gives the same segments every time.
    """
    from faster_whisper.transcribe import restore_speech_timestamps

    chunk = np.concatenate([audio[s["start"] : s["end"]] for s in spans])
    common = {"language": language, "beam_size": beam_size, "condition_on_previous_text": False,
              # One 30 s window, one segment, like the batched output (which is then cut at pauses):
              # no second encoder pass to decode from the last timestamp on.
              "without_timestamps": True, "word_timestamps": word_timestamps, "vad_filter": False,
              "hotwords": hotwords}
    # First the chunk alone, at temperature 0: deterministic, and the batch's company (padding,
    # other chunks) is sometimes what sent the decoder into its loop. Sampling only when this fails
    # too (or, with ``coverage``, is thin too: alone the decoder can end early as it did in the batch).
    plain, _info = whisper.transcribe(chunk, temperature=0.0, **common)
    first = list(plain)
    if first and not any(failed(s) for s in first):
        if not (coverage and thin(_Words(first), _speech_s(spans))):
            return list(restore_speech_timestamps(first, spans, SAMPLE_RATE))
        log.info("fallback: thin chunk decoded alone at %.1f s of its window, sampled", spans[0]["start"] / SAMPLE_RATE)
    else:
        log.info("fallback: failed chunk decoded alone at %.1f s of its window, sampled",
                 spans[0]["start"] / SAMPLE_RATE)
    # ``whisper.encode``: the chunk's encoder output, computed once (transcribe/encodings.py).
    sampled = sampler.transcribe(
        chunk, seed=seed_of(chunk), encode=whisper.encode, best_of=BEST_OF, temperature=list(TEMPERATURES),
        compression_ratio_threshold=MAX_COMPRESSION_RATIO, log_prob_threshold=LOW_LOGPROB,
        no_speech_threshold=NO_SPEECH_PROB, **common,
    )
    # The sampled decode ended as "silence" but the deterministic one heard something: keep that.
    return list(restore_speech_timestamps(sampled or first, spans, SAMPLE_RATE))


def kept_words(seg: Any) -> int:
    """How many of a decoded segment's words the filters of :mod:`transcribe.conversation` keep
    (loops cut to one copy first; none when the silence, garbage or unsure-repetition rule drops it)."""
    words = [Word(w.start, w.end, w.word, w.probability) for w in (seg.words or [])]
    left = clean(Segment(speaker="", start=float(seg.start), end=float(seg.end), text=seg.text, words=words,
                         avg_logprob=seg.avg_logprob, no_speech_prob=seg.no_speech_prob,
                         compression_ratio=seg.compression_ratio))
    return 0 if left is None else max(len(left.words), 1)


def improves(seg: Any, again: list[Any]) -> bool:
    """Whether the re-decode ``again`` of a failed chunk should replace its batched segment ``seg``.

    - A re-decode the filters keep nothing of (empty: Whisper's no-speech rule skipped the chunk,
      though the VAD found speech; or all garbage) does not replace words the filters would keep:
      replacing can empty a whole channel (most likely what left call 31/zh-02 of docs/benchmarks.md
      "Default Mandarin pipeline" with no agent speech).
    - A batch that was *unsure* (``avg_logprob`` under :data:`LOW_LOGPROB`) gives way to any other
      re-decode: that is Whisper's own remedy.
    - A batch that failed by looping while sure of itself keeps its words (the loop cut to one copy)
      when the filters keep fewer words of the re-decode: its garbage first half dropped lost a
      Mandarin agent's first 45 s (docs/benchmarks.md, "Mandarin scoring, 2026-12-04").
    """
    mine, theirs = kept_words(seg), sum(kept_words(s) for s in again)
    if theirs == 0:
        return mine == 0
    return seg.avg_logprob < LOW_LOGPROB or theirs >= mine


def _speech_s(spans: list[dict] | None) -> float:
    return sum(s["end"] - s["start"] for s in spans or []) / SAMPLE_RATE


class _Words:
    """Several segments' words and text as one, for :func:`thin`."""

    def __init__(self, segments: list[Any]) -> None:
        self.words = [w for s in segments for w in (s.words or [])]
        self.text = "".join(s.text for s in segments)


def repair(whisper: Any, audio: np.ndarray, segments: list[Any], speech: list[dict], *, sampler: SeededSampler,
           language: str | None, beam_size: int, word_timestamps: bool, hotwords: str | None = None,
           fallback: bool = True, unprime: bool = True, coverage: bool = True) -> list[Any]:
    """``segments`` with every failed chunk replaced by its re-decoded segments (order kept).

    A chunk that copies the hotword prompt (:func:`transcribe.vocabulary.echoes`) is re-decoded
    without hotwords: the decoder fell into its prompt there, and only an unprimed decode says what
    was spoken. ``fallback=False``: only those; ``unprime=False``: only the failed ones;
    ``coverage=False``: a :func:`thin` chunk is not sent back.

    A failed chunk keeps its batched segment when the re-decode does not :func:`improve <improves>` on
    it; a prompt copy is always replaced (its words are the prompt's, not the speaker's).
    """
    chunks = chunk_spans(speech, frames_per_second=whisper.frames_per_second)
    copied = [unprime and echoes(s.text, hotwords) for s in segments]
    thins = [fallback and coverage and thin(s, _speech_s(chunks.get(int(s.seek)))) for s in segments]
    bad = [c or t or (fallback and failed(s)) for s, c, t in zip(segments, copied, thins, strict=True)]
    if not any(bad):
        return segments
    out: list[Any] = []
    for seg, is_bad, is_copy, is_thin in zip(segments, bad, copied, thins, strict=True):
        spans = chunks.get(int(seg.seek)) if is_bad else None
        if spans is None:  # no chunk to go back to: keep it for the filters to judge
            out.append(seg)
            continue
        if is_thin:
            log.info("fallback: thin chunk at %.1f s of its window: %d words for %.1f s of speech",
                     spans[0]["start"] / SAMPLE_RATE, len(seg.words or []), _speech_s(spans))
        again = redecode(whisper, audio, spans, sampler=sampler, language=language, beam_size=beam_size,
                         word_timestamps=word_timestamps, hotwords=None if is_copy else hotwords, coverage=coverage)
        if not is_copy and not improves(seg, again):
            log.info("fallback: chunk at %.1f s of its window kept as decoded: its re-decode came back %s",
                     spans[0]["start"] / SAMPLE_RATE, "with fewer words the filters keep" if again else "empty")
            out.append(seg)
            continue
        log.info("fallback: chunk at %.1f s of its window re-decoded%s (ratio %.2f, logprob %.2f, %d words for "
                 "%.1f s of speech): %d segment(s)", spans[0]["start"] / SAMPLE_RATE,
                 " without hotwords (prompt copied)" if is_copy else "", seg.compression_ratio, seg.avg_logprob,
                 len(seg.words or []), _speech_s(spans), len(again))
        out.extend(again)
    return out
