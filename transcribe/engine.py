"""The Transcriber: one Whisper model per worker process, channels transcribed in parallel.

Throughput comes from three things (measured in docs/benchmarks.md): the model is loaded once per
process (:func:`get_transcriber`); each channel goes through faster-whisper's
``BatchedInferencePipeline`` (VAD cuts speech into ≤30 s chunks decoded ``asr_batch_size`` at a
time); and the channels of a call run in threads against the same model, which CTranslate2 serves
with ``asr_num_workers`` replicas of ``asr_cpu_threads`` threads each. Long calls are processed in
windows of :data:`WINDOW_S` cut at a quiet point, so memory stays flat however long the call is.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from transcribe.audio import SAMPLE_RATE, DecodedAudio, quietest_cut, to_float
from transcribe.conversation import UNKNOWN_SPEAKER, Segment, Word, merge
from transcribe.models import ModelSource, ResolvedModel, resolve_model

log = logging.getLogger(__name__)

WINDOW_S = 180  # longest audio handed to the pipeline at once: VAD and decoding scratch memory grows with it
# (measured on a 2-hour call: 600 s windows peaked ~470 MB higher than 150 s, at the same speed)
DETECT_S = 120  # language detection looks at the first speech within this many seconds
VAD_MIN_SILENCE_MS = 160  # the batched pipeline's own default
VAD_THRESHOLD = 0.5


@dataclass(frozen=True)
class ComputeSettings:
    device: str = "cpu"
    compute_type: str = "int8"
    cpu_threads: int = 1
    num_workers: int = 2
    batch_size: int = 8
    beam_size: int = 5
    word_timestamps: bool = True
    vad_threshold: float = VAD_THRESHOLD
    vad_min_silence_ms: int = VAD_MIN_SILENCE_MS

    @classmethod
    def from_settings(cls) -> ComputeSettings:
        from storage.settings import get_settings

        s = get_settings()
        return cls(device=s.asr_device, compute_type=s.asr_compute_type, cpu_threads=s.asr_cpu_threads,
                   num_workers=s.asr_num_workers, batch_size=s.asr_batch_size)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Transcript:
    language: str | None  # None when nothing was said
    language_probability: float
    model: ResolvedModel
    compute: ComputeSettings
    duration_s: float
    mono: bool  # one channel: every segment's speaker is "unknown"
    segments: list[Segment] = field(default_factory=list)

    @property
    def words(self) -> int:
        return sum(len(s.words) if s.words else len(s.text.split()) for s in self.segments)


def speakers_by_channel(channel_map: Mapping[str, int], n_channels: int) -> dict[int, str]:
    """Channel number → speaker; mono is always ``unknown``; unmapped channels are ``ch<N>``."""
    if n_channels == 1:
        return {0: UNKNOWN_SPEAKER}
    by_ch = {int(ch): speaker for speaker, ch in channel_map.items() if 0 <= int(ch) < n_channels}
    return {ch: by_ch.get(ch, f"ch{ch}") for ch in range(n_channels)}


def windows(samples: np.ndarray, *, window_s: float = WINDOW_S) -> list[tuple[int, int]]:
    """[start, end) sample ranges of at most ~window_s, cut at quiet points."""
    size = int(window_s * SAMPLE_RATE)
    out, start = [], 0
    while len(samples) - start > size:
        cut = quietest_cut(samples, start + size - 5 * SAMPLE_RATE)
        out.append((start, cut))
        start = cut
    out.append((start, len(samples)))
    return out


class Transcriber:
    """A loaded Whisper model and the settings it decodes with."""

    def __init__(self, model: ResolvedModel, compute: ComputeSettings, *, download_root: str | None = None,
                 simplified_chinese: bool = True) -> None:
        from faster_whisper import WhisperModel

        self.model = model
        self.compute = compute
        self.whisper = WhisperModel(
            model.path, device=compute.device, compute_type=compute.compute_type,
            cpu_threads=compute.cpu_threads, num_workers=compute.num_workers,
            download_root=download_root, local_files_only=model.source != ModelSource.hub,
        )
        self._t2s = None
        if simplified_chinese:
            from opencc import OpenCC

            self._t2s = OpenCC("t2s")
        log.info("load model %s (%s) %s", model.name, model.version, compute)

    def _vad(self) -> Any:
        from faster_whisper.vad import VadOptions

        return VadOptions(threshold=self.compute.vad_threshold,
                          min_silence_duration_ms=self.compute.vad_min_silence_ms, max_speech_duration_s=30)

    def _streams(self, n_channels: int) -> int:
        # Channels in flight: one per model replica, never more than there are channels.
        return max(1, min(n_channels, self.compute.num_workers))

    def _detect_channel(self, samples: np.ndarray) -> tuple[str | None, float]:
        from faster_whisper.vad import collect_chunks, get_speech_timestamps

        head = to_float(samples[: DETECT_S * SAMPLE_RATE])
        speech = get_speech_timestamps(head, self._vad())
        if not speech:
            return None, 0.0
        chunks, _ = collect_chunks(head, speech)
        lang, prob, _ = self.whisper.detect_language(audio=np.concatenate(chunks))
        return lang, float(prob)

    def detect_language(self, audio: DecodedAudio) -> tuple[str | None, float]:
        """The call's language from the first speech of each channel; (None, 0) if nobody spoke."""
        if not self.whisper.model.is_multilingual:
            return "en", 1.0
        # Channels in parallel, like transcription: each detection is one encoder pass on a replica.
        with ThreadPoolExecutor(max_workers=self._streams(len(audio.channels)),
                                thread_name_prefix="asr-detect") as pool:
            found = list(pool.map(self._detect_channel, audio.channels))
        return max(found, key=lambda lp: lp[1], default=(None, 0.0))

    def transcribe_channel(self, samples: np.ndarray, *, speaker: str, channel: int,
                           language: str | None) -> list[Segment]:
        """Segments of one channel (one speaker), times in seconds from the call's start."""
        from faster_whisper import BatchedInferencePipeline

        # One pipeline per channel: it keeps per-stream state (last word time) between batches.
        pipeline = BatchedInferencePipeline(self.whisper)
        out: list[Segment] = []
        for start, end in windows(samples):
            offset = start / SAMPLE_RATE
            segs, _info = pipeline.transcribe(
                to_float(samples[start:end]), language=language, batch_size=self.compute.batch_size,
                beam_size=self.compute.beam_size, vad_filter=True,
                vad_parameters={"threshold": self.compute.vad_threshold,
                                "min_silence_duration_ms": self.compute.vad_min_silence_ms},
                word_timestamps=self.compute.word_timestamps,
            )
            out.extend(self._segment(s, offset=offset, speaker=speaker, channel=channel, language=language)
                       for s in segs)
        log.debug("transcribe channel %d (%s): %d segments", channel, speaker, len(out))
        return out

    def _segment(self, s: Any, *, offset: float, speaker: str, channel: int, language: str | None) -> Segment:
        def t(x: float) -> float:
            return round(float(x) + offset, 3)

        words = [Word(t(w.start), t(w.end), self.output_text(w.word, language), round(float(w.probability), 4))
                 for w in (s.words or [])]
        return Segment(
            speaker=speaker, channel=channel, start=t(s.start), end=t(s.end),
            text=self.output_text(s.text, language).strip(), words=words,
            avg_logprob=round(float(s.avg_logprob), 4), no_speech_prob=round(float(s.no_speech_prob), 4),
            compression_ratio=round(float(s.compression_ratio), 3),
        )

    def output_text(self, text: str, language: str | None) -> str:
        """``text`` as stored: Chinese converted to Simplified when configured (Whisper mixes scripts)."""
        return self._t2s.convert(text) if self._t2s and language == "zh" else text

    def transcribe(self, audio: DecodedAudio, *, channel_map: Mapping[str, int] | None = None,
                   language: str | None = None) -> Transcript:
        """The whole call: language fixed or detected, every channel as its speaker, merged and cleaned."""
        prob = 1.0
        if not self.whisper.model.is_multilingual:
            language = "en"
        elif language is None:
            language, prob = self.detect_language(audio)
        speakers = speakers_by_channel(channel_map or {}, len(audio.channels))
        segments: list[list[Segment]] = []
        if language is not None:
            with ThreadPoolExecutor(max_workers=self._streams(len(speakers)),
                                    thread_name_prefix="asr-channel") as pool:
                futures = [pool.submit(self.transcribe_channel, audio.channels[ch], speaker=sp, channel=ch,
                                       language=language) for ch, sp in speakers.items()]
                segments = [f.result() for f in futures]
        return Transcript(language=language, language_probability=round(float(prob), 4), model=self.model,
                          compute=self.compute, duration_s=audio.duration_s, mono=len(audio.channels) == 1,
                          segments=merge(segments))


_lock = threading.Lock()
_cache: dict[tuple[Any, ...], Transcriber] = {}


def get_transcriber(model_name: str | None = None) -> Transcriber:
    """This process's Transcriber for the configured (or named) model, loaded on first use."""
    from storage.settings import get_settings

    s = get_settings()
    compute = ComputeSettings.from_settings()
    key = (model_name or s.asr_model, compute, s.asr_simplified_chinese)
    with _lock:
        if key not in _cache:
            model = resolve_model(model_name)
            _cache[key] = Transcriber(model, compute, download_root=str(s.model_cache_dir),
                                      simplified_chinese=s.asr_simplified_chinese)
        return _cache[key]


def language_for(queue: str | None) -> str | None:
    """The language settings fix for calls of ``queue`` (None: detect per call)."""
    from storage.settings import get_settings

    s = get_settings()
    if queue and queue in s.asr_language_by_queue:
        return s.asr_language_by_queue[queue] or None
    return s.asr_language or None
