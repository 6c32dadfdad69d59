"""Which language a call is in: settings first (queue, dialled number), else speech spread over the call.

Whisper's detector reads 30 s. A call often opens with a long IVR prompt or a greeting in another
language than the conversation, so stretches of speech spread over the whole window vote, each with
its seconds of speech, instead of the first 30 s deciding alone; and the agent's channel, once it
holds enough speech, decides alone (prompts and hold announcements play on the customer's side).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from transcribe.audio import SAMPLE_RATE
from transcribe.vad import Span

DETECT_CHUNKS = 3  # per channel: 30 s stretches of speech spread over the window, not just the first
DETECT_MIN_S = 1.0  # shorter stretches of speech say too little about their language
AGENT_DECIDES_S = 5.0  # seconds of agent speech in the window that decide the language alone


def channel_votes(audio: np.ndarray, speech: list[Span], detect: Callable[..., Any]) -> dict[str, float]:
    """Seconds of speech per language (probability-weighted) in up to DETECT_CHUNKS stretches.

    ``detect`` is faster-whisper's ``detect_language`` (``audio=`` a 16 kHz float array).
    """
    from faster_whisper.vad import collect_chunks

    if not speech:
        return {}
    chunks, _meta = collect_chunks(audio, speech, max_duration=30)
    picks = sorted({round(k * (len(chunks) - 1) / max(1, DETECT_CHUNKS - 1)) for k in range(DETECT_CHUNKS)})
    votes: dict[str, float] = {}
    for k in picks:
        seconds = len(chunks[k]) / SAMPLE_RATE
        if seconds < DETECT_MIN_S and len(picks) > 1:
            continue
        _lang, _prob, probs = detect(audio=chunks[k])
        for lang, p in probs:
            votes[lang] = votes.get(lang, 0.0) + float(p) * seconds
    return votes


def decide(per_channel: Sequence[Mapping[str, float]], *, languages: Sequence[str] = (),
           agent_channel: int | None = None) -> tuple[str | None, float]:
    """The language with the most speech among ``languages`` (all, if none of those was heard)."""
    votes: dict[str, float] = {}
    agent = per_channel[agent_channel] if agent_channel is not None and agent_channel < len(per_channel) else {}
    for found in ([agent] if sum(agent.values()) >= AGENT_DECIDES_S else per_channel):
        for lang, v in found.items():
            votes[lang] = votes.get(lang, 0.0) + v
    if not votes:
        return None, 0.0
    pool = {lang: v for lang, v in votes.items() if lang in languages} or votes
    best = max(pool, key=lambda lang: pool[lang])
    return best, pool[best] / sum(pool.values())


def language_for(queue: str | None, *numbers: str | None) -> str | None:
    """The language settings fix for a call (None: detect it).

    In order: the call's queue (``asr_language_by_queue``), the longest prefix of one of its
    ``numbers`` (``asr_language_by_number``: the number dialled for a hotline, a country code for
    outbound calls), then ``asr_language``.
    """
    from storage.settings import get_settings

    s = get_settings()
    if queue and queue in s.asr_language_by_queue:
        return s.asr_language_by_queue[queue] or None
    for number in numbers:
        digits = "".join(c for c in number or "" if c.isdigit() or c == "+")
        prefixes = [p for p in s.asr_language_by_number if digits and digits.startswith(p)]
        if prefixes:
            return s.asr_language_by_number[max(prefixes, key=len)] or None
    return s.asr_language or None
