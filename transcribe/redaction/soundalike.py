"""Numbers the ASR wrote as words that sound like digits: "My hum were in heaven, not only a rope.
I'm free, I'm too…" for "seven oh oh five three five two oh oh seven", 林 for 零, 要 for 幺.

No digit is written, so no run of digits exists for the other rules. After a cue for a long number
(card, ID, phone, account), a stretch of the speaker's continuous speech (no pause over 4 s, the
other speaker not asking anything) in which words that are digits, digit homophones ("too", "for")
or sound-alikes (``soundalikes:`` in the rules: "heaven", "free", 林, 要…) are many
(:data:`MIN_UNITS`) and dense (:data:`MIN_DENSITY` of the words from the first of them to the last)
is redacted as that type (rule ``soundalike``): in the text the words from the first to the last
go; the audio cut runs to the end of the speaker's continuous speech, like a half-heard number's.
Latin words count one each; in Chinese every character counts (Whisper's Chinese "words" are one
to a few characters).
"""

from __future__ import annotations

from dataclasses import dataclass

from transcribe.redaction.cues import Cues
from transcribe.redaction.hits import Hit, WordRef
from transcribe.redaction.rules import Kind, Rules
from transcribe.redaction.runs import MAX_GAP_S, PLACEHOLDER, TimedWord, interrupted, is_filler, norm
from transcribe.redaction.spoken_numbers import ZH_DIGITS, number_tokens

MIN_UNITS = 5  # digit-like words (Chinese: characters) a stretch needs
MIN_DENSITY = 0.4  # and their share of the words (characters) from the first of them to the last
LONG_KINDS = frozenset({Kind.card, Kind.id, Kind.phone, Kind.account})
PAUSE_S = 1.5  # the audio cut runs on over words no further apart than this


@dataclass(frozen=True)
class _Scored:
    word: TimedWord
    units: int  # digit-like words or characters in it
    size: int  # words (1) or characters in it


def _score(w: TimedWord, rules: Rules) -> _Scored:
    t = norm(w.word.word)
    if not t or PLACEHOLDER.search(w.word.word):
        return _Scored(w, 0, 0)
    if t.isascii():
        digit_like = bool(number_tokens(w.word.word)) or t in rules.soundalikes
        return _Scored(w, int(digit_like), 1)
    chars = [c for c in t if not c.isspace()]
    units = sum(1 for c in chars if c.isdigit() or c in ZH_DIGITS or c in rules.soundalikes)
    return _Scored(w, units, len(chars))


def _best(stretch: list[_Scored]) -> tuple[int, int, int] | None:
    """The sub-stretch with the most digit-like units, from one digit-like word to another, that has
    enough of them, densely enough: (first word, last word, units)."""
    idx = [k for k, s in enumerate(stretch) if s.units]
    units, size = [0], [0]
    for s in stretch:
        units.append(units[-1] + s.units)
        size.append(size[-1] + s.size)
    best = None
    for a in idx:
        for b in reversed(idx):
            if b < a or (best is not None and units[b + 1] - units[a] <= best[2]):
                break
            n = units[b + 1] - units[a]
            if n >= MIN_UNITS and n >= MIN_DENSITY * (size[b + 1] - size[a]):
                best = (a, b, n)
                break
    return best


def soundalike_hits(mine: list[TimedWord], others: list[TimedWord], cues: Cues, rules: Rules, hits: list[Hit],
                    speaker: str, channel: int | None) -> list[Hit]:
    """See the module docstring; ``hits`` are what the other rules found (their stretches are left alone)."""
    stretches: list[list[TimedWord]] = []
    for w in mine:
        if is_filler(w.word.word, rules) and norm(w.word.word) not in rules.soundalikes:
            continue
        last = stretches[-1][-1] if stretches else None
        if last is None or w.word.start - last.word.end > MAX_GAP_S or interrupted(others, last.word.end,
                                                                                    w.word.start, rules):
            stretches.append([w])
        else:
            stretches[-1].append(w)
    out: list[Hit] = []
    for words in stretches:
        t0, t1 = words[0].word.start, words[-1].word.end
        if any(h.start <= t1 and t0 <= h.end for h in hits):
            continue
        scored = [_score(w, rules) for w in words]
        for k, w in enumerate(words):  # "press one for sales": an option's digit and the word after it
            if norm(w.word.word) in rules.options:
                for m in range(k + 1, min(k + 3, len(scored))):
                    scored[m] = _Scored(scored[m].word, 0, scored[m].size)
        found = _best(scored)
        if found is None:
            continue
        i, j, units = found
        cue = cues.before(words[i].word.start)
        if cue not in LONG_KINDS:
            continue
        end = words[j].word.end
        for w in words[j + 1:]:  # to the end of the speaker's continuous speech
            if w.word.start - end > PAUSE_S:
                break
            end = max(end, w.word.end)
        refs = tuple(WordRef(w.seg, w.idx, len(w.word.word) - len(w.word.word.lstrip()), len(w.word.word.rstrip()))
                     for w in words[i:j + 1])
        out.append(Hit(Kind(cue), speaker, channel, words[i].word.start, end, units, "soundalike", refs))
    return out
