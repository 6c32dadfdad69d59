"""Reading a speaker's words as runs of digits: numbers said one after another (fillers and short
pauses allowed, across ASR segments), each digit remembering the word and characters it came from."""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass

from storage.segments import Segment, Word
from transcribe.redaction.hits import WordRef
from transcribe.redaction.rules import Rules
from transcribe.redaction.spoken_numbers import number_tokens

MAX_GAP_S = 4.0  # a pause longer than this ends a number
_SEPARATORS = re.compile(r"^[\s,.，。、;；:：\-–—/()（）!?！？\"'“”]*$")
_PUNCT = re.compile(r"[,.，。、;；:：!?！？\"“”()（）]+")
# a placeholder of an earlier run ("[CARD:16]"): its count is no digit said, so a rerun on the stored,
# redacted text (``callqc redact`` without the original) finds nothing in it
PLACEHOLDER = re.compile(r"\[[A-Z]+(?::\d+)?\]")


@dataclass(frozen=True)
class Digit:
    ch: str
    ref: WordRef
    start: float
    end: float
    piece: int  # running number of the piece it came from: matches start and end at piece edges
    also: WordRef | None = None  # a second word said for this digit ("one" of "twenty one")


@dataclass
class Run:
    digits: list[Digit]
    plus: Digit | None = None  # the "plus"/"+" said before the digits, if any
    soft_only: bool = False  # only "9.21"-like pieces: digits only if a cue asks for a number

    @property
    def text(self) -> str:
        return "".join(d.ch for d in self.digits)


@dataclass(frozen=True)
class TimedWord:
    seg: int
    idx: int  # -1: a segment without words, read as one word
    word: Word


def words_of(segments: Sequence[Segment]) -> list[TimedWord]:
    out: list[TimedWord] = []
    for i, seg in enumerate(segments):
        if seg.words:
            out.extend(TimedWord(i, j, w) for j, w in enumerate(seg.words))
        elif seg.text:
            out.append(TimedWord(i, -1, Word(seg.start, seg.end, seg.text)))
    return sorted(out, key=lambda w: (w.word.start, w.seg, w.idx))


def norm(text: str) -> str:
    return " ".join(_PUNCT.sub(" ", text.lower()).split())


def is_filler(text: str, rules: Rules) -> bool:
    t = norm(text)
    return not t or t in rules.fillers or bool(_SEPARATORS.match(text))


def is_unit(w: TimedWord, rules: Rules) -> bool:
    """Is the word a unit of time, money or count ("dollars", "点四十分")?"""
    t = norm(w.word.word)
    if not t:
        return False
    if t.isascii():
        return t in {norm(u) for u in rules.units}
    return any(t.startswith(u) for u in rules.units if not u.isascii())


def window(words: list[TimedWord], starts: list[float], t0: float, t1: float) -> list[TimedWord]:
    """Words starting in [t0 - 30 s, t1) whose time overlaps [t0, t1] (words are sorted by start)."""
    lo, hi = bisect_left(starts, t0 - 30.0), bisect_left(starts, t1)
    return [w for w in words[lo:hi] if w.word.end >= t0]


def interrupted(others: list[TimedWord], t0: float, t1: float, rules: Rules) -> bool:
    """Did the other speaker say more than a word or two, or ask for something, between t0 and t1?"""
    starts = [w.word.start for w in others]
    said = [norm(w.word.word) for w in window(others, starts, t0, t1) if w.word.start >= t0 and w.word.end <= t1]
    said = [t for t in said if t and t not in rules.fillers]
    if len(said) > 3 and sum(len(t) for t in said) > 6:  # "好的请继续" in five one-character words is short
        return True
    text = " " + " ".join(said) + " "
    tight = text.replace(" ", "")
    return any((f" {c} " in text) if c.isascii() else (c.replace(" ", "") in tight)
               for cs in rules.cues.values() for c in cs)


def find_runs(words: list[TimedWord], rules: Rules, others: list[TimedWord] | None = None) -> list[Run]:
    runs: list[Run] = []
    cur: list[Digit] = []
    plus: Digit | None = None
    repeat = 0
    repeat_ref: Digit | None = None
    tens = False
    piece_no = 0
    last_end = -1e9

    soft: set[int] = set()  # piece numbers of soft pieces

    def close() -> None:
        nonlocal cur, plus, repeat, tens
        if cur and any(d.piece > 0 for d in cur):
            runs.append(Run(cur, plus))
        elif cur and any(-d.piece in soft for d in cur):
            runs.append(Run(cur, plus, soft_only=True))
        cur, plus, repeat, tens = [], None, 0, False

    stray = 0  # unknown words since the last digit: one is bridged ("446 Miro 946…"), two end the run
    for w in words:
        text = w.word.word
        pieces = [] if PLACEHOLDER.search(text) else number_tokens(text)
        if not pieces:
            if not is_filler(text, rules):
                stray += 1
                if stray > 1 or not cur:
                    close()
            continue
        if stray and (w.word.start - last_end > MAX_GAP_S / 2):
            close()  # a misheard word in a number is said in its flow, not after a pause
        stray = 0
        if w.word.start - last_end > MAX_GAP_S or (cur and others and interrupted(others, last_end, w.word.start,
                                                                                   rules)):
            close()
        if not _SEPARATORS.match(text[:pieces[0].lo]) and not is_filler(text[:pieces[0].lo], rules):
            close()
        prev_hi = pieces[0].lo
        for p in pieces:
            if not _SEPARATORS.match(text[prev_hi:p.lo]) and not is_filler(text[prev_hi:p.lo], rules):
                close()
            prev_hi = p.hi
            ref = WordRef(w.seg, w.idx, p.lo, p.hi)
            if p.repeat:
                repeat = p.repeat
                repeat_ref = Digit("", ref, w.word.start, w.word.end, 0)
                last_end = w.word.end
                continue
            if p.plus and not p.digits:
                close()
                plus = Digit("+", ref, w.word.start, w.word.end, 0)
                last_end = w.word.end
                continue
            if p.plus and not cur:
                plus = Digit("+", ref, w.word.start, w.word.end, 0)
            if tens and cur and len(p.digits) == 1 and p.digits != "0" and not p.weak:
                last = cur[-1]
                cur[-1] = Digit(p.digits, last.ref, last.start, w.word.end, last.piece, ref)
                tens = False
                last_end = w.word.end
                continue
            tens = p.tens
            piece_no += 1
            # weak pieces ("oh", "x") get a negative piece number: a run of nothing else is dropped
            tag = -piece_no if p.weak else piece_no
            if p.soft:
                soft.add(piece_no)
            new = [Digit(c, ref, w.word.start, w.word.end, tag) for c in p.digits]
            if repeat and new and repeat_ref is not None:
                # "double five": the first five is said by "double"'s word, so the hit covers it
                new = [Digit(new[0].ch, repeat_ref.ref, repeat_ref.start, new[0].end, tag)] * (repeat - 1) + new
                repeat = 0
            cur.extend(new)
            last_end = w.word.end
        if not _SEPARATORS.match(text[prev_hi:]) and not is_filler(text[prev_hi:], rules):
            close()
    close()
    return runs
