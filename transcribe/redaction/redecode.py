"""Primed re-decoding of answer windows: the customer's answer to an ask for a card, ID or phone
number decoded again on its own, the decoder primed to write digits, and taken only when what it
writes passes that type's check.

A small model writes a number it half hears as other words or sound-alike characters
(唐伊林伊林之一 for 310101…). Where the agent asked for the number (an answer window,
:mod:`transcribe.redaction.answer`), the stretch of the customer's audio from the end of the lead-in
to the start of the closing is decoded once more with ``initial_prompt`` set to the ask and an
answer written in digits (:data:`PRIMES`), beam search, temperature 0, no timestamps. What comes
back is read as digits and taken when it is the type asked for by its check: an ID number's birth
date and ISO 7064 check character (any 18 of the digits), a card's issuer prefix and Luhn sum, a
mainland mobile or landline (North American number in English) — the whole answer for a card or a
phone, because those checks are weak. The example answers of the primes fail their own check on
purpose: a decoder that only echoes its prompt yields nothing taken.

A window is decoded again only when no checked rule (``luhn``, ``check-digit``, ``pattern``,
``sounds``) already found that type in it; the hit (rule ``redecode``, the count of the re-decoded
number) covers the answer window's audio span, as rule ``answer`` does, and in the text the words of
the answer (they are the number misheard: the check says so); an ``answer`` hit on the same words
gives way to it. Nothing is decoded when no ask was heard. Cost: one decode of a few seconds of
audio per window, and the call's audio is read only when there is a window to decode.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from storage.segments import Segment
from transcribe.audio import SAMPLE_RATE, AudioStream, to_float
from transcribe.paused import silence_paused
from transcribe.redaction.answer import CUSTOMER, Answer, AnswerWindow, answers
from transcribe.redaction.hits import Hit, WordRef
from transcribe.redaction.number_rules import LANDLINE, MOBILE, NANP, card_prefix_ok, cn_id_ok, luhn_ok
from transcribe.redaction.rules import Kind, Rules
from transcribe.redaction.runs import words_of
from transcribe.redaction.spoken_numbers import words_to_digits

log = logging.getLogger(__name__)

KINDS = (Kind.id, Kind.card, Kind.phone)  # the types with a check; an account number has none
CHECKED_RULES = frozenset({"luhn", "check-digit", "pattern", "sounds"})
PAD_S = 0.3  # audio kept either side of the window (word times near a pause are a few tenths off)
MAX_TOKENS = 64  # an 18-digit answer with separators fits; a looping decoder stops here
# The ask, and an answer in digits whose check fails (the ID's check character, the card's Luhn sum,
# the phone's prefix), so an echo of the prompt is never taken.
PRIMES: dict[tuple[str, Kind], str] = {
    ("zh", Kind.id): "请您提供一下身份证号码。好的，我的身份证号码是110105199003071235。",
    ("zh", Kind.card): "请您报一下银行卡号。卡号是6222021234567890124。",
    ("zh", Kind.phone): "请问您的手机号码是多少？我的手机号码是11012345678。",
    ("en", Kind.id): "What is your ID number? It is 110105199003071235.",
    ("en", Kind.card): "What is your card number? It is 4111 1111 1111 1112.",
    ("en", Kind.phone): "What is your phone number? It is 415 155 0132.",
}


class Decoder(Protocol):
    language: str  # the call's: a North American number is a phone only in English

    def __call__(self, channel: int, start: float, end: float, kind: Kind) -> str: ...


def checked_number(kind: Kind, text: str, language: str = "zh") -> str | None:
    """The number of type ``kind`` that ``text`` holds, by that type's check; None if there is none."""
    digits = words_to_digits(text)
    if kind is Kind.id:
        return next((digits[i:i + 18] for i in range(len(digits) - 17) if cn_id_ok(digits[i:i + 18])), None)
    if kind is Kind.card:
        ok = digits.isdigit() and 13 <= len(digits) <= 19 and card_prefix_ok(digits) and luhn_ok(digits)
        return digits if ok else None
    if kind is Kind.phone and (MOBILE.fullmatch(digits) or LANDLINE.fullmatch(digits)
                               or language == "en" and NANP.fullmatch(digits)):
        return digits
    return None


def redecode_hits(segments: Sequence[Segment], rules: Rules, hits: Sequence[Hit], window: AnswerWindow,
                  decode: Decoder) -> tuple[list[Hit], list[Hit]]:
    """The hits with the answer windows' re-decoded numbers added (and the ``answer`` hits they
    replace dropped), and the added hits alone. See the module docstring."""
    added: list[Hit] = []
    dropped: set[int] = set()
    for ans in answers(segments, words_of(segments), rules, window):
        if ans.kind not in KINDS or ans.channel is None or not ans.said or ans.end <= ans.start:
            continue
        if any(h.speaker == CUSTOMER and h.kind is ans.kind and h.rule in CHECKED_RULES
               and h.start < ans.end and ans.start < h.end for h in hits):
            continue  # the first pass found it already
        number = checked_number(ans.kind, decode(ans.channel, ans.start, ans.end, ans.kind), decode.language)
        if number is None:
            continue
        added.append(_hit(ans, number, hits))
        dropped |= {i for i, h in enumerate(hits) if h.rule == "answer" and h.speaker == CUSTOMER
                    and ans.start <= h.start and h.end <= ans.end}
    kept = [h for i, h in enumerate(hits) if i not in dropped]
    return sorted(kept + added, key=lambda h: (h.start, h.speaker)), added


def _hit(ans: Answer, number: str, hits: Sequence[Hit]) -> Hit:
    taken = {(r.seg, r.word) for h in hits if h.rule != "answer" for r in h.refs}
    refs = tuple(WordRef(w.seg, w.idx, len(w.word.word) - len(w.word.word.lstrip()), len(w.word.word.rstrip()))
                 for w in ans.said if (w.seg, w.idx) not in taken and w.word.word.strip())
    return Hit(ans.kind, CUSTOMER, ans.channel, ans.start, ans.end, len(number), "redecode", refs)


@dataclass
class WhisperDecoder:
    """Primed decoding of stretches of one call's audio with a loaded faster-whisper model.

    ``load`` gives the call's channels (16 kHz, float32 or int16); it is called on the first decode
    only, so a call with no window to decode is never read again. ``cpu_s`` and ``decodes`` count
    the work, for the benchmark."""

    whisper: Any
    load: Callable[[], Sequence[np.ndarray]]
    language: str
    cpu_s: float = 0.0
    decodes: int = 0
    heard: list[str] = field(default_factory=list)
    _channels: Sequence[np.ndarray] | None = None

    def __call__(self, channel: int, start: float, end: float, kind: Kind) -> str:
        prime = PRIMES.get((self.language, kind)) or PRIMES[("en", kind)]
        t0 = time.process_time()
        if self._channels is None:
            self._channels = self.load()
        audio = self._channels[channel]
        piece = audio[max(0, int((start - PAD_S) * SAMPLE_RATE)):int((end + PAD_S) * SAMPLE_RATE)]
        segs, _info = self.whisper.transcribe(
            to_float(piece) if piece.dtype == np.int16 else piece, language=self.language, initial_prompt=prime,
            beam_size=5, temperature=0.0, condition_on_previous_text=False, vad_filter=False,
            without_timestamps=True, max_new_tokens=MAX_TOKENS)
        text = re.sub(r"\s+", " ", " ".join(s.text for s in segs)).strip()
        self.cpu_s += time.process_time() - t0
        self.decodes += 1
        self.heard.append(text)
        log.debug("redecode %s %.1f–%.1f s: %r", kind, start, end, text)
        return text


def call_channels(path: Path, *, name: str = "", audio_format: Any = None,
                  paused: Sequence[tuple[float, float]] = ()) -> list[np.ndarray]:
    """The call's audio as one 16 kHz int16 array per channel, PCI pauses silenced as for transcription."""
    with AudioStream(path, name=name, audio_format=audio_format) as audio:
        windows = []
        for window in audio.windows(window_s=600.0):
            silence_paused(window, paused)
            windows.append(window)
        n = audio.n_channels
    size = max((w.start + len(w.channels[0]) for w in windows), default=0)
    channels = [np.zeros(size, dtype=np.int16) for _ in range(n)]
    for w in windows:
        for ch, samples in enumerate(w.channels):
            channels[ch][w.start:w.start + len(samples)] = samples
    return channels
