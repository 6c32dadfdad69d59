"""Learning known prompts from the calls themselves: the same text in many calls, and the same audio.

A prompt that nobody registered still shows up in the transcripts: one text, word for word, in the
segments of many calls (Whisper reads the same recording the same way). Agents reading a script
give the same text too, so the text only proposes a candidate: the audio decides. The candidate's
audio (its span in one call) must be found by fingerprint (transcribe/fingerprint.py) in the same
span of the other calls; only a recording played again matches, a person saying it again does not.
A learned prompt is stored like a registered one (source ``learned``); from then on workers give
its span the stored text instead of transcribing it.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from sqlmodel import Session, col, select

from storage.calls import Call
from storage.prompts import PromptSource, all_prompts
from storage.segments import SYSTEM_SPEAKER
from storage.settings import get_settings
from storage.stores import get_store
from storage.transcripts import Transcript, TranscriptSegment
from transcribe.audio import SAMPLE_RATE, CorruptAudio, decode
from transcribe.fingerprint import find, fingerprint
from transcribe.prompt_files import store_prompt

log = logging.getLogger(__name__)

CHECKED_CALLS = 3  # occurrences whose audio is compared (the first one's span against the others)
SEARCH_PAD_S = 1.0  # the others' spans are searched this much wider: segment bounds move a little


@dataclass(frozen=True)
class Candidate:
    text: str
    calls: int  # distinct calls it was said in
    learned: str | None  # the new prompt's name, or None when the audio differed


def normalise(text: str) -> str:
    """Text as compared across calls: lower case, words only."""
    return " ".join(re.sub(r"[^\w]+", " ", text.lower()).split())


def _recent_segments(session: Session, *, calls: int, min_s: float) -> list[TranscriptSegment]:
    recent = select(Transcript.call_id).order_by(col(Transcript.created_at).desc()).limit(calls).subquery()
    stmt = (select(TranscriptSegment)
            .where(col(TranscriptSegment.call_id).in_(select(recent.c.call_id)),
                   col(TranscriptSegment.speaker) != SYSTEM_SPEAKER,
                   col(TranscriptSegment.end_s) - col(TranscriptSegment.start_s) >= min_s)
            .order_by(col(TranscriptSegment.call_id), col(TranscriptSegment.idx)))
    return list(session.exec(stmt))


def _channel_span(call: Call, channel: int, start_s: float, end_s: float) -> np.ndarray | None:
    store, bucket = get_store(), get_settings().bucket_recordings
    hint = (call.meta or {}).get("audio_format")
    try:
        audio = decode(b"".join(store.iter_chunks(bucket, call.audio_key)), name=call.call_id,
                       audio_format=dict(hint) if isinstance(hint, dict) else None)
    except CorruptAudio:
        return None
    if channel >= audio.n_channels:
        return None
    a, b = max(0, int(start_s * SAMPLE_RATE)), int(end_s * SAMPLE_RATE)
    return audio.channels[channel][a:b]


def learn_prompts(session: Session, *, min_calls: int = 5, min_s: float = 3.0, recent_calls: int = 2000,
                  created_by: str = "learned") -> list[Candidate]:
    """Look for prompts in the last ``recent_calls`` transcripts: segments of at least ``min_s``
    seconds whose text recurs in at least ``min_calls`` calls, kept when their audio is the same."""
    known = {normalise(p.text) for p in all_prompts(session)}
    by_text: dict[str, dict[str, TranscriptSegment]] = defaultdict(dict)
    for row in _recent_segments(session, calls=recent_calls, min_s=min_s):
        norm = normalise(row.text)
        if norm and norm not in known:
            by_text[norm].setdefault(row.call_id, row)  # the first time in each call
    out = []
    for norm, per_call in sorted(by_text.items(), key=lambda kv: -len(kv[1])):
        if len(per_call) < min_calls:
            continue
        rows = list(per_call.values())[:CHECKED_CALLS]
        spans = []
        for i, row in enumerate(rows):
            call = session.get(Call, row.call_id)
            pad = 0.0 if i == 0 else SEARCH_PAD_S
            span = None if call is None else _channel_span(call, row.channel, row.start_s - pad, row.end_s + pad)
            if span is not None:
                spans.append(span)
        same = len(spans) == len(rows) and all(find(fingerprint(spans[0]), fingerprint(s)) for s in spans[1:])
        name = None
        if same:
            name = f"learned-{hashlib.sha256(norm.encode()).hexdigest()[:12]}"
            store_prompt(session, name=name, text=rows[0].text, samples=spans[0], source=PromptSource.learned,
                         created_by=created_by)
            known.add(norm)
        log.info("prompt candidate %r in %d calls: %s", rows[0].text[:60], len(per_call),
                 f"learned as {name}" if name else "audio differs (people, not a recording)")
        out.append(Candidate(rows[0].text, len(per_call), name))
    return out

