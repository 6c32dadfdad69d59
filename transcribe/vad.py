"""Voice detection, once per channel: a cheap energy gate, then Silero VAD only where something is heard.

Silero VAD costs the same on every 32 ms of audio, silent or not; on PBX calls most of a channel
is the other party talking, dead air, or comfort noise (measured with ``python -m bench.vad_cost``).
:func:`speech_spans` first finds the stretches *heard* — frames louder than the channel's own noise
floor by ``GATE_ABOVE_FLOOR_DB`` (never quieter than ``GATE_MIN_DBFS``, never more demanding than
``GATE_MAX_DBFS``), widened by ``GATE_PAD_S`` so Silero sees each word's onset and tail — and runs
Silero on those alone, with the same options the batched pipeline would use.

The result is computed once per channel of a window and handed to faster-whisper's batched
pipeline instead of it running Silero again (:class:`KnownSpeech`, :func:`install`), to language
detection, and to the non-speech classifier (:mod:`transcribe.nonspeech`), which removes music on
hold and tones from it before anything reaches Whisper.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from transcribe.audio import SAMPLE_RATE

if TYPE_CHECKING:  # faster-whisper is imported when first used: importing the engine stays cheap
    from faster_whisper.vad import VadOptions

FRAME = 512  # Silero's window at 16 kHz (32 ms); the gate works in the same frames
GATE_ABOVE_FLOOR_DB = 10.0
GATE_MIN_DBFS = -60.0  # below this nothing is heard, however quiet the line
GATE_MAX_DBFS = -40.0  # at or above this a frame is always heard, however noisy the line
GATE_PAD_S = 0.6  # Silero pads speech by 0.4 s; the gate pads more so the pad lies inside what it sees
GATE_JOIN_S = 1.0  # heard stretches closer than this are one stretch (one Silero call)
FLOOR_PERCENTILE = 10

Span = dict[str, int]  # {"start": sample, "end": sample}, as faster-whisper's VAD returns


def frame_dbfs(audio: np.ndarray) -> np.ndarray:
    """Level of each FRAME of float audio in dBFS (a partial last frame counts)."""
    n = -(-len(audio) // FRAME)
    padded = np.zeros(n * FRAME, dtype=np.float32)
    padded[: len(audio)] = audio
    power = (padded.reshape(n, FRAME) ** 2).mean(axis=1)
    return 10.0 * np.log10(power + 1e-12)


def heard(audio: np.ndarray) -> list[tuple[int, int]]:
    """Sample ranges where something louder than the line's noise floor is heard, padded and joined."""
    if len(audio) == 0:
        return []
    db = frame_dbfs(audio)
    floor = float(np.percentile(db, FLOOR_PERCENTILE))
    threshold = min(max(floor + GATE_ABOVE_FLOOR_DB, GATE_MIN_DBFS), GATE_MAX_DBFS)
    loud = np.flatnonzero(db >= threshold)
    if loud.size == 0:
        return []
    pad, join = int(GATE_PAD_S * SAMPLE_RATE / FRAME), int(GATE_JOIN_S * SAMPLE_RATE / FRAME)
    out: list[tuple[int, int]] = []
    start = prev = int(loud[0])
    for f in loud[1:]:
        if f - prev > join + 2 * pad:
            out.append((start, prev))
            start = int(f)
        prev = int(f)
    out.append((start, prev))
    n = len(audio)
    return [(max(0, (a - pad) * FRAME), min(n, (b + 1 + pad) * FRAME)) for a, b in out]


def vad_options(threshold: float, min_silence_ms: int, *, max_speech_s: float = 30) -> VadOptions:
    """The options the batched pipeline gives Silero (``max_speech_duration_s`` = its chunk length)."""
    from faster_whisper.vad import VadOptions

    return VadOptions(threshold=threshold, min_silence_duration_ms=min_silence_ms, max_speech_duration_s=max_speech_s)


def speech_spans(audio: np.ndarray, options: VadOptions, *, gate: bool = True,
                 skip: Sequence[tuple[int, int]] = ()) -> list[Span]:
    """Silero's speech spans of float ``audio`` (16 kHz), run only where :func:`heard` finds sound and
    outside the ``skip`` sample ranges (music on hold and tones the classifier found)."""
    from faster_whisper.vad import get_speech_timestamps

    if not gate:
        return get_speech_timestamps(audio, options)
    spans: list[Span] = []
    for a, b in _minus(heard(audio), sorted(skip)):
        for s in get_speech_timestamps(audio[a:b], options):
            spans.append({"start": s["start"] + a, "end": s["end"] + a})
    return spans


def _minus(ranges: list[tuple[int, int]], cuts: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out = []
    for a, b in ranges:
        pieces = [(a, b)]
        for x, y in cuts:
            pieces = [p for lo, hi in pieces for p in ((lo, min(hi, x)), (max(lo, y), hi)) if p[1] - p[0] >= FRAME]
        out.extend(pieces)
    return out


def seconds(spans: list[Span], offset_s: float = 0.0) -> list[tuple[float, float]]:
    return [(offset_s + s["start"] / SAMPLE_RATE, offset_s + s["end"] / SAMPLE_RATE) for s in spans]


@dataclass(frozen=True)
class KnownSpeech:
    """In place of VAD options: the speech already found, which the pipeline uses instead of Silero's."""

    spans: list[Span] = field(default_factory=list)


_installed = threading.Lock()
_original: list[Callable[..., list[Span]]] = []


def install() -> None:
    """Let faster-whisper's batched pipeline take :class:`KnownSpeech` as its VAD result.

    The pipeline calls the module-level ``get_speech_timestamps`` when ``vad_filter`` is on and offers
    no way to pass speech already found; this wraps that one name so a :class:`KnownSpeech` passes its
    spans through, and any other options run Silero exactly as before. Idempotent, thread-safe.
    """
    import faster_whisper.transcribe as fwt

    with _installed:
        if _original:
            return
        _original.append(fwt.get_speech_timestamps)

        def known_or_silero(audio: np.ndarray, vad_options: Any = None, *args: Any, **kwargs: Any) -> list[Span]:
            if isinstance(vad_options, KnownSpeech):
                return [dict(s) for s in vad_options.spans]
            return _original[0](audio, vad_options, *args, **kwargs)

        fwt.get_speech_timestamps = known_or_silero
