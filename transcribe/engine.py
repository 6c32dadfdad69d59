"""The Transcriber: one Whisper model per worker process, its replicas kept busy across calls.

Throughput comes from these (measured in docs/benchmarks.md):
- the model is loaded once per process (:func:`get_transcriber`) and shared by the process's job
  slots (``worker_slots``), so one call is fetched, decoded and stored while another is in the model;
- all those calls queue their work in one pool of ``asr_num_workers`` threads, one per CTranslate2
  replica: the replicas never idle between calls or while one channel of a call waits for the
  other, and never run more streams than there are replicas (no oversubscription);
- a call is decoded and transcribed window by window (:data:`~transcribe.audio.WINDOW_S`, two
  windows in flight per call), so memory stays flat however long the call is and a long mono call
  still keeps two replicas busy; each channel of a window is listened to once (music on hold and
  tones found by :mod:`transcribe.nonspeech`), its speech found by Silero over the whole channel
  and packed into ≤30 s chunks across window edges (:mod:`transcribe.chunker`, ``exact_chunks``:
  the chunks bare faster-whisper decodes, so window cuts never change the text), and each batch of
  complete chunks is one task through faster-whisper's ``BatchedInferencePipeline``; with
  ``exact_chunks`` off, each channel of a window is one task, speech found by the gated VAD of
  :mod:`transcribe.vad` (less VAD CPU, other chunk edges);
- ``asr_cascade``: greedy first, the beam only where that is unsure (:mod:`transcribe.cascade`);
- ``asr_batch_size`` 1: one-thread replicas on a CPU batch slower (``python -m bench.asr_batch``);
  failed or thin chunks are decoded again with seeded temperature fallback (:mod:`transcribe.fallback`),
  from the encoder output the batch computed (:mod:`transcribe.encodings`).
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from storage.errors import Conflict
from storage.segments import UNKNOWN_SPEAKER, Segment, Word
from transcribe.audio import SAMPLE_RATE, AudioWindow, to_float
from transcribe.chunker import ChannelChunker, Chunk, call_time, packed, word_time
from transcribe.compute import ComputeSettings
from transcribe.conversation import merge
from transcribe.encodings import remembering
from transcribe.fallback import repair
from transcribe.language import channel_votes, decide
from transcribe.models import ModelSource, ResolvedModel, resolve_model
from transcribe.nonspeech import NonSpeech, classify, merge_across_windows
from transcribe.paused import drop_paused, silence_paused
from transcribe.prompts import PromptBook, Said
from transcribe.sampling import SeededSampler
from transcribe.vad import KnownSpeech, Span, install, speech_spans, vad_options

log = logging.getLogger(__name__)

WINDOWS_IN_FLIGHT = 2  # per call: the next window is decoded and queued while the current one runs


_pool_numbers = itertools.count(1)


class TranscriptionStopped(Conflict):
    """transcription stopped before the end of the call"""


class Audio(Protocol):
    """What the engine transcribes: :class:`~transcribe.audio.DecodedAudio` or an ``AudioStream``."""

    @property
    def n_channels(self) -> int: ...

    @property
    def duration_s(self) -> float: ...

    def windows(self, *, window_s: float) -> Iterator[AudioWindow]: ...


@dataclass
class Transcript:
    language: str | None  # None when nothing was said
    language_probability: float
    model: ResolvedModel
    compute: ComputeSettings
    duration_s: float
    mono: bool  # one channel: every segment's speaker is "unknown"
    segments: list[Segment] = field(default_factory=list)
    nonspeech: list[NonSpeech] = field(default_factory=list)  # music on hold and tones, every channel

    @property
    def words(self) -> int:
        return sum(len(s.words) if s.words else len(s.text.split()) for s in self.segments)


def speakers_by_channel(channel_map: Mapping[str, int], n_channels: int) -> dict[int, str]:
    """Channel number → speaker; mono is always ``unknown``; unmapped channels are ``ch<N>``."""
    if n_channels == 1:
        return {0: UNKNOWN_SPEAKER}
    by_ch = {int(ch): speaker for speaker, ch in channel_map.items() if 0 <= int(ch) < n_channels}
    return {ch: by_ch.get(ch, f"ch{ch}") for ch in range(n_channels)}


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
        self.sampler = SeededSampler(self.whisper, model.path, cpu_threads=compute.cpu_threads)
        self._t2s = None
        if simplified_chinese:
            from opencc import OpenCC

            self._t2s = OpenCC("t2s")
        install()  # the batched pipeline takes the speech this engine found (transcribe/vad.py)
        # One pool per loaded model, one thread per replica, shared by every call in this process.
        self.pool_name = f"asr{next(_pool_numbers)}"
        self._pool = ThreadPoolExecutor(max_workers=max(1, compute.num_workers), thread_name_prefix=self.pool_name)
        log.info("load model %s (%s) %s", model.name, model.version, compute)

    def close(self) -> None:
        """Stop this model's thread pool (a process's cached Transcriber lives as long as the process)."""
        self._pool.shutdown(wait=True)

    def speech(self, audio: np.ndarray, found: Sequence[NonSpeech] = (), *, offset_s: float = 0.0) -> list[Span]:
        """Speech spans of one channel of a window (float audio), outside the ``found`` music and tones:
        found once, used by everything after."""
        skip = [(int((x.start - offset_s) * SAMPLE_RATE), int((x.end - offset_s) * SAMPLE_RATE)) for x in found]
        return speech_spans(audio, vad_options(self.compute.vad_threshold, self.compute.vad_min_silence_ms),
                            gate=self.compute.vad_gate, skip=skip)

    def listen(self, audio: np.ndarray, *, channel: int, offset_s: float) -> tuple[list[Span], list[NonSpeech]]:
        """One channel of a window: its speech spans, and the music on hold and tones in it."""
        found = classify(audio, channel=channel, offset_s=offset_s) if self.compute.nonspeech else []
        return self.speech(audio, found, offset_s=offset_s), found

    def _detect_channel(self, samples: np.ndarray) -> dict[str, float]:
        """Seconds of speech per language (probability-weighted) in up to DETECT_CHUNKS stretches."""
        audio = to_float(samples)
        speech, _found = self.listen(audio, channel=0, offset_s=0.0)  # hold music votes for no language
        return channel_votes(audio, speech, self.whisper.detect_language)

    def detect_language(self, window: AudioWindow, *, languages: Sequence[str] = (),
                        agent_channel: int | None = None) -> tuple[str | None, float]:
        """The language spoken most in ``window``; (None, 0) if silent.

        ``languages``: the languages the center speaks (``CALLQC_ASR_LANGUAGES``); the choice is
        made among those, so 8 kHz Mandarin is not taken for Cantonese or Japanese.
        ``agent_channel``: when the agent's channel holds at least ``AGENT_DECIDES_S`` of speech it
        decides alone: IVR prompts and hold announcements play on the customer's side of a call,
        and a call is in the language its agent speaks.
        """
        if not self.whisper.model.is_multilingual:
            return "en", 1.0
        per_channel = [f.result() for f in [self._pool.submit(self._detect_channel, ch) for ch in window.channels]]
        return decide(per_channel, languages=languages, agent_channel=agent_channel)

    def transcribe_window(self, samples: np.ndarray, *, offset_s: float, speaker: str, channel: int,
                          language: str | None, hotwords: str | None = None
                          ) -> tuple[list[Segment], list[NonSpeech]]:
        """Segments of one channel (one speaker) of one window, times in seconds from the call's start;
        and the music on hold and tones found there (never sent to Whisper)."""
        audio = to_float(samples)
        spans, found = self.listen(audio, channel=channel, offset_s=offset_s)
        if not spans:
            return [], found
        out = self._decode(audio, spans, language=language, hotwords=hotwords, at=lambda t, _ref: t + offset_s,
                           word_at=lambda a, b: (a + offset_s, b + offset_s), speaker=speaker, channel=channel)
        log.debug("transcribe channel %d (%s) at %.0f s: %d segments", channel, speaker, offset_s, len(out))
        return out, found

    def transcribe_chunks(self, chunks: Sequence[Chunk], *, speaker: str, channel: int, language: str | None,
                          hotwords: str | None = None) -> list[Segment]:
        """Segments of chunks a :class:`~transcribe.chunker.ChannelChunker` packed: each decoded as the
        pipeline decodes a chunk, times in seconds from the call's start."""
        audio, spans, where = packed(chunks)
        if not spans:
            return []
        return self._decode(audio, spans, language=language, hotwords=hotwords, speaker=speaker, channel=channel,
                            at=lambda t, ref: call_time(where, t, ref=ref), word_at=lambda a, b: word_time(where, a, b))

    def _decode(self, audio: np.ndarray, spans: list[Span], *, language: str | None, hotwords: str | None,
                speaker: str, channel: int, at: Callable[..., float],
                word_at: Callable[[float, float], tuple[float, float]]) -> list[Segment]:
        from faster_whisper import BatchedInferencePipeline

        known = KnownSpeech(spans)
        # The chunks' encoder outputs kept for this task: a chunk the fallback decodes again is not
        # encoded again (transcribe/encodings.py).
        whisper = remembering(self.whisper)
        # A pipeline per task: it keeps per-stream state (last word time) while it runs.
        cascade = None
        if self.compute.cascade and self.compute.beam_size > 1:
            from transcribe.cascade import CascadePipeline

            cascade = CascadePipeline(whisper)
        segs, info = (cascade or BatchedInferencePipeline(whisper)).transcribe(
            audio, language=language, batch_size=self.compute.batch_size,
            beam_size=self.compute.beam_size, vad_filter=True, vad_parameters=known,
            word_timestamps=self.compute.word_timestamps, hotwords=hotwords or None,
        )
        decoded = list(segs)
        if cascade is not None:
            log.debug("cascade: %d of %d chunks decoded again with the beam (%s)", cascade.redecoded,
                      cascade.decoded, ", ".join(cascade.reasons))
        if self.compute.fallback or (hotwords and self.compute.unprime):
            decoded = repair(whisper, audio, decoded, info.transcription_options.clip_timestamps or [],
                             sampler=self.sampler, language=language, beam_size=self.compute.beam_size,
                             word_timestamps=self.compute.word_timestamps, hotwords=hotwords or None,
                             fallback=self.compute.fallback, unprime=self.compute.unprime,
                             coverage=self.compute.coverage)
        return [self._segment(s, at=at, word_at=word_at, speaker=speaker, channel=channel, language=language)
                for s in decoded]

    def _listen_whole(self, chunkers: dict[int, ChannelChunker], window: AudioWindow | None,
                      heard: list[NonSpeech], said: Said | None = None) -> dict[int, list[Chunk]]:
        """Every channel's chunks completed by ``window`` (None: the call has ended); the music on
        hold and tones found in it go to ``heard``. ``said``: the window before its known prompts were
        silenced, and their sample ranges: Silero hears the prompt (its state runs on as bare
        faster-whisper's does) and the prompt, with the padding left at its edges, is cut from the
        spans before they are packed."""
        out = {}
        for ch, chunker in chunkers.items():
            if window is None:
                out[ch] = chunker.feed(np.zeros(0, dtype=np.float32), last=True)
                continue
            audio = to_float(window.channels[ch])
            found = classify(audio, channel=ch, offset_s=window.offset_s) if self.compute.nonspeech else []
            heard.extend(found)
            skip = [(int(x.start * SAMPLE_RATE), int(x.end * SAMPLE_RATE)) for x in found]
            cuts = said.ranges.get(ch, []) if said is not None else []
            if said is not None and cuts:
                audio = to_float(said.window.channels[ch])
            out[ch] = chunker.feed(audio, skip=skip, cuts=cuts)
        return out

    def _feed_silent(self, chunkers: dict[int, ChannelChunker], window: AudioWindow,
                     heard: list[NonSpeech], said: Said | None) -> None:
        for ch, chunks in self._listen_whole(chunkers, window, heard, said).items():
            if chunks:  # the language detector heard nobody where Silero over the whole channel did
                log.info("channel %d: %d chunk(s) before the language was known, not decoded", ch, len(chunks))

    def _feed(self, chunkers: dict[int, ChannelChunker], window: AudioWindow | None, speakers: Mapping[int, str],
              heard: list[NonSpeech], *, language: str | None, hotwords: str | None, said: Said | None = None
              ) -> list[tuple[int, Future[tuple[list[Segment], list[NonSpeech]]]]]:
        def task(ch: int, chunks: list[Chunk]) -> tuple[list[Segment], list[NonSpeech]]:
            return self.transcribe_chunks(chunks, speaker=speakers[ch], channel=ch, language=language,
                                          hotwords=hotwords), []

        return [(ch, self._pool.submit(task, ch, chunks))
                for ch, chunks in self._listen_whole(chunkers, window, heard, said).items() if chunks]

    def _segment(self, s: Any, *, at: Callable[..., float], word_at: Callable[[float, float], tuple[float, float]],
                 speaker: str, channel: int, language: str | None) -> Segment:
        def t(x: float, ref: float) -> float:
            return round(at(float(x), float(ref)), 3)

        def word(w: Any) -> Word:
            a, b = word_at(float(w.start), float(w.end))
            return Word(round(a, 3), round(b, 3), self.output_text(w.word, language), round(float(w.probability), 4))

        words = [word(w) for w in (s.words or [])]
        start = words[0].start if words else t(s.start, s.start)
        end = words[-1].end if words else t(s.end, float(s.end) - 1e-3)
        return Segment(
            speaker=speaker, channel=channel, start=start, end=end,
            text=self.output_text(s.text, language).strip(), words=words,
            avg_logprob=round(float(s.avg_logprob), 4), no_speech_prob=round(float(s.no_speech_prob), 4),
            compression_ratio=round(float(s.compression_ratio), 3),
        )

    def output_text(self, text: str, language: str | None) -> str:
        """``text`` as stored: Chinese converted to Simplified when configured (Whisper mixes scripts)."""
        return self._t2s.convert(text) if self._t2s and language == "zh" else text

    def transcribe(self, audio: Audio, *, channel_map: Mapping[str, int] | None = None,
                   language: str | None = None, stop: threading.Event | None = None,
                   hotwords: Mapping[str, str] | None = None, languages: Sequence[str] = (),
                   paused: Sequence[tuple[float, float]] = (), prompts: PromptBook | None = None) -> Transcript:
        """The whole call: language fixed or detected, every channel as its speaker, merged and cleaned.

        ``hotwords``: language → text to prime the decoder with (:mod:`transcribe.vocabulary`), used
        for the call's language. ``languages``: the languages detection chooses among (empty: any).
        ``stop`` (e.g. the job's lease-lost event) ends the work at the next window with
        :class:`TranscriptionStopped`. ``paused``: [start, end) seconds of PCI pauses; their samples
        are zeroed before anything reaches the model (VAD finds no speech in them, so Whisper never
        decodes them) and no segment or word is kept there (:func:`drop_paused`).
        ``prompts``: known recorded prompts; where one plays, the
        channel gets its stored text as a ``system`` segment and Whisper never hears it
        (:mod:`transcribe.prompts`).
        """
        prob = 1.0
        if not self.whisper.model.is_multilingual:
            language = "en"
        detect = language is None
        speakers = speakers_by_channel(channel_map or {}, audio.n_channels)
        found: dict[int, list[Segment]] = {ch: [] for ch in speakers}
        system: list[Segment] = []
        heard: list[NonSpeech] = []
        inflight: deque[list[tuple[int, Future[tuple[list[Segment], list[NonSpeech]]]]]] = deque()
        chunkers = ({ch: ChannelChunker(self.compute.vad_threshold, self.compute.vad_min_silence_ms)
                     for ch in speakers} if self.compute.exact_chunks else {})

        def collect() -> None:
            for ch, fut in inflight.popleft():
                segs, other = fut.result()
                found[ch].extend(segs)
                heard.extend(other)

        try:
            for window in audio.windows(window_s=self.compute.window_s):
                if stop is not None and stop.is_set():
                    raise TranscriptionStopped(f"at {window.offset_s:.0f} s")
                silence_paused(window, paused)
                said = None
                if prompts:
                    window, segments, said = prompts.take(window, speakers)
                    system.extend(segments)
                if detect:
                    # Detected on the first window anyone speaks in; silent windows hold nothing to transcribe.
                    agent = next((ch for ch, sp in speakers.items() if sp == "agent"), None)
                    language, prob = self.detect_language(window, languages=languages, agent_channel=agent)
                    if language is None:
                        if chunkers:  # Silero's state runs through every window, silent ones too
                            self._feed_silent(chunkers, window, heard, said)
                        continue
                    detect = False
                primed = (hotwords or {}).get(language or "")
                if chunkers:
                    inflight.append(self._feed(chunkers, window, speakers, heard, language=language, hotwords=primed,
                                               said=said))
                else:
                    inflight.append([(ch, self._pool.submit(
                        self.transcribe_window, window.channels[ch], offset_s=window.offset_s, speaker=sp,
                        channel=ch, language=language, hotwords=primed)) for ch, sp in speakers.items()])
                if len(inflight) >= WINDOWS_IN_FLIGHT:
                    collect()
            if chunkers:
                inflight.append(self._feed(chunkers, None, speakers, heard, language=language,
                                           hotwords=(hotwords or {}).get(language or "")))
            while inflight:
                collect()
        finally:
            for group in inflight:  # an error part-way: don't leave this call's windows in the queue
                for _ch, fut in group:
                    fut.cancel()
        return Transcript(language=language, language_probability=round(float(prob), 4), model=self.model,
                          compute=self.compute, duration_s=audio.duration_s, mono=audio.n_channels == 1,
                          segments=sorted(drop_paused(merge(found.values()), paused) + system,
                                           key=lambda s: (s.start, s.channel, s.end)),
                          nonspeech=merge_across_windows(heard))


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
