"""Live transcription: one speaker's audio cut into short windows at pauses, and a window transcribed.

A window ends as soon as the speaker stops (:data:`PAUSE_S` of quiet after speech), so a line is
ready about half a second after it was said instead of after a fixed window; continuous speech is
cut at :data:`WINDOW_S`, at its quietest moment in the last second (no word cut in two). "Quiet" is
a 20 ms frame below :data:`SPEECH_RMS`: a cheap energy rule that only decides where windows end;
what is speech is decided by the engine's voice-activity filter when the window is transcribed. On
a line whose noise is louder than that, no pause is found and windows end at :data:`WINDOW_S`.
Quiet before speech is dropped (but :data:`LEAD_S`), so silence costs no transcription.

The model is its own: :func:`live_transcriber` loads ``live_asr_model`` (small: ``tiny.en`` by
default); :func:`transcribe_live` decodes the windows ready at once as one batch, with a short
encoder context, greedily, without timestamps (a quarter to a sixth of the full transcription's work
per window). Its replicas (``asr_num_workers``) let that many batches run at once; the caller runs
one thread per replica (callqc/live_transcriber.py). The audio comes from the recorder's live tap; this package
does not read it (recorder and transcribe meet only through storage): anything with ``position``,
``samples`` and ``rate`` is a chunk.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from storage.segments import Segment
from transcribe.audio import SAMPLE_RATE, quietest_cut, to_float
from transcribe.compute import ComputeSettings
from transcribe.engine import Transcriber
from transcribe.models import resolve_model

RATE = 8000  # the tap's rate: positions count 8 kHz samples since the call was answered
FRAME = 160  # 20 ms
WINDOW_S = 3.5  # the longest window: continuous speech is cut after this
PAUSE_S = 0.5  # this much quiet after speech ends the window at once (a breath between words is shorter)
TAIL_S = 0.2  # quiet kept after speech in a window (the word's last sound)
LEAD_S = 0.2  # quiet kept before speech (the word's onset)
CUT_SEARCH_S = 1.0  # continuous speech is cut at the quietest moment of the window's last second
SPEECH_RMS = 300.0  # a 20 ms frame louder than this (16-bit RMS, about -40 dBFS) may be speech
MIN_LOUD_FRAMES = 3  # a window with fewer loud frames (a click) is not transcribed

_PAUSE, _TAIL, _LEAD = (round(x * RATE / FRAME) for x in (PAUSE_S, TAIL_S, LEAD_S))


class Chunk(Protocol):
    """A piece of one speaker's live audio (recorder.siprec.journal.TapChunk is one)."""

    @property
    def position(self) -> int: ...

    @property
    def samples(self) -> list[int]: ...

    @property
    def rate(self) -> int: ...


def to_8k(samples: np.ndarray, rate: int) -> np.ndarray:
    """16 kHz (G.722, Opus) → 8 kHz by averaging sample pairs; 8 kHz unchanged."""
    if rate == RATE:
        return samples
    pairs = samples[: len(samples) // 2 * 2].astype(np.int32).reshape(-1, 2)
    return (pairs.sum(axis=1) // 2).astype(np.int16)


class SpeakerBuffer:
    """One speaker's samples not yet transcribed, from sample position ``start`` on (gaps are silence)."""

    def __init__(self) -> None:
        self.start: int | None = None
        self.samples = np.zeros(0, dtype=np.int16)

    def put(self, chunk: Chunk) -> None:
        data = to_8k(np.asarray(chunk.samples, dtype=np.int16), chunk.rate)
        if self.start is None:
            self.start = chunk.position
        at = chunk.position - self.start
        if at + len(data) <= 0:
            return  # already transcribed: a late packet
        if at < 0:
            data, at = data[-at:], 0
        end = at + len(data)
        if end > len(self.samples):
            self.samples = np.concatenate([self.samples, np.zeros(end - len(self.samples), dtype=np.int16)])
        self.samples[at:end] = data

    def _drop(self, n: int) -> np.ndarray:
        assert self.start is not None
        out, self.samples, self.start = self.samples[:n], self.samples[n:], self.start + n
        return out

    def take(self, *, final: bool) -> tuple[np.ndarray, int] | None:
        """The next window to transcribe and its first sample position; None while the speaker is
        still talking (or nothing was said). ``final``: the call ended, everything left goes."""
        while (got := self._next(final=final)) is not None:
            window, start, loud = got
            if loud >= MIN_LOUD_FRAMES:
                return window, start
            # a click, not a word: skipped, the rest looked at
        return None

    def _next(self, *, final: bool) -> tuple[np.ndarray, int, int] | None:
        if self.start is None or not len(self.samples):
            return None
        frames = len(self.samples) // FRAME
        rms = np.sqrt((self.samples[: frames * FRAME].astype(np.float32).reshape(-1, FRAME) ** 2).mean(axis=1))
        loud = np.flatnonzero(rms >= SPEECH_RMS)
        if not len(loud):  # nothing said: keep only what a word starting now needs before it
            self._drop(len(self.samples) if final else max(0, frames - _LEAD) * FRAME)
            return None
        first = max(0, int(loud[0]) - _LEAD)
        self._drop(first * FRAME)
        loud, frames = loud - first, frames - first
        # the end of the first quiet run of PAUSE_S or more after speech (or of the speech so far)
        ends = np.flatnonzero(np.diff(np.append(loud, frames + _PAUSE)) > _PAUSE)
        last = int(loud[ends[0]])
        limit = int(WINDOW_S * RATE)
        if frames - 1 - last >= _PAUSE and (last + 1) * FRAME <= limit:
            cut = (last + 1 + _TAIL) * FRAME  # the speaker stopped: the window ends here, now
        elif len(self.samples) >= limit:
            cut = quietest_cut(self.samples[None, :limit], limit, search=int(CUT_SEARCH_S * RATE))
        elif final:
            cut = len(self.samples)
        else:
            return None
        cut = max(FRAME, min(cut, len(self.samples)))
        start = self.start
        assert start is not None
        return self._drop(cut), start, int(np.count_nonzero(loud < cut // FRAME))


def upsample(samples: np.ndarray) -> np.ndarray:
    """8 kHz → 16 kHz by linear interpolation (the model's rate)."""
    n = len(samples)
    return np.interp(np.arange(2 * n) / 2, np.arange(n), samples.astype(np.float32)).astype(np.int16)


CONTEXT_S = 10.0  # the encoder hears this much (the window, then silence), not Whisper's usual 30 s
TOKENS_PER_S = 8  # a window's text is at most this many tokens per second of speech (+ MIN_TOKENS)
MIN_TOKENS = 12
REPETITION_PENALTY = 1.1  # a short context makes a small model loop on a phrase more often
NO_SPEECH = 0.6  # Whisper's own rule: no speech when this likely and the text is unlikely (< LOGPROB)
LOGPROB = -1.0

_cache: dict[tuple[str, ComputeSettings], Transcriber] = {}
_lock = threading.Lock()


def live_transcriber() -> Transcriber:
    """This process's live model (``live_asr_model``), loaded on first use, ``asr_num_workers`` replicas."""
    from storage.settings import get_settings

    s = get_settings()
    compute = dataclasses.replace(ComputeSettings.from_settings(), beam_size=1, word_timestamps=False,
                                  fallback=False)
    key = (s.live_asr_model, compute)
    with _lock:
        if key not in _cache:
            _cache[key] = Transcriber(resolve_model(s.live_asr_model), compute,
                                      download_root=str(s.model_cache_dir),
                                      simplified_chinese=s.asr_simplified_chinese)
        return _cache[key]


def _languages(t: Transcriber, encoded: Any, n: int) -> list[str]:
    from storage.settings import get_settings

    s = get_settings()
    if not t.whisper.model.is_multilingual:
        return ["en"] * n
    if s.asr_language:
        return [s.asr_language] * n
    out = []
    for ranked in t.whisper.model.detect_language(encoded):
        codes = [(tok.strip("<|>"), p) for tok, p in ranked]
        allowed = [c for c in codes if not s.asr_languages or c[0] in s.asr_languages] or codes
        out.append(max(allowed, key=lambda c: c[1])[0])
    return out


@dataclasses.dataclass(frozen=True)
class Said:
    """One window to transcribe: one speaker's samples (8 kHz int16) from ``offset_s`` of the call."""

    samples: np.ndarray
    offset_s: float
    speaker: str
    channel: int


def transcribe_live(windows: Sequence[Said]) -> list[list[Segment]]:
    """Each window's line (none when nobody spoke), times in seconds of the call, in one batched call
    of the model. Safe from several threads at once: each batch runs on one of the model's replicas.

    Cheaper than the full transcription (transcribe/engine.py), for short windows: music on hold and
    tones are found and kept from the model the same way, speech by the same voice-activity filter,
    but the encoder hears :data:`CONTEXT_S` instead of 30 s (about a quarter of the work for a
    3 s window: the encoder is most of it), the windows ready at once (of any calls) are encoded and
    decoded as one batch (a third less work each, measured with 4), decoding is greedy without
    timestamps, and the line spans the window's speech (no word timings: the live page shows lines).
    """
    import ctranslate2
    from faster_whisper.tokenizer import Tokenizer

    t = live_transcriber()
    frames = int(CONTEXT_S * 100)
    heard: list[tuple[int, float, float]] = []  # (window, first, last second of speech in it)
    features = []
    for k, w in enumerate(windows):
        audio = to_float(upsample(w.samples))
        spans, _found = t.listen(audio, channel=w.channel, offset_s=0.0)
        if not spans:
            continue
        first, last = spans[0]["start"], spans[-1]["end"]
        mel = t.whisper.feature_extractor(audio[first:last])[:, :frames]
        padded = np.zeros((mel.shape[0], frames), dtype=np.float32)
        padded[:, : mel.shape[1]] = mel
        features.append(padded)
        heard.append((k, first / SAMPLE_RATE, last / SAMPLE_RATE))
    out: list[list[Segment]] = [[] for _ in windows]
    if not heard:
        return out
    encoded = t.whisper.model.encode(ctranslate2.StorageView.from_array(np.stack(features)), to_cpu=False)
    languages = _languages(t, encoded, len(heard))
    tokenizers = [Tokenizer(t.whisper.hf_tokenizer, t.whisper.model.is_multilingual, task="transcribe",
                            language=lang) for lang in languages]
    longest = max(hi - lo for _k, lo, hi in heard)
    results = t.whisper.model.generate(
        encoded, [[*tok.sot_sequence, tok.no_timestamps] for tok in tokenizers], beam_size=1,
        max_length=MIN_TOKENS + int(TOKENS_PER_S * longest), repetition_penalty=REPETITION_PENALTY,
        suppress_blank=True, return_scores=True, return_no_speech_prob=True)
    for (k, lo, hi), tok, lang, r in zip(heard, tokenizers, languages, results, strict=True):
        ids = [x for x in r.sequences_ids[0] if x < tok.eot][: MIN_TOKENS + int(TOKENS_PER_S * (hi - lo))]
        if not ids or (r.no_speech_prob > NO_SPEECH and r.scores[0] < LOGPROB):
            continue
        text = t.output_text(tok.decode(ids), lang).strip()
        w = windows[k]
        if text:
            out[k] = [Segment(speaker=w.speaker, channel=w.channel, start=round(w.offset_s + lo, 3),
                              end=round(w.offset_s + hi, 3), text=text, avg_logprob=round(float(r.scores[0]), 4),
                              no_speech_prob=round(float(r.no_speech_prob), 4))]
    return out
