"""Finding personal data in a word-timestamped transcript, per speaker.

Each speaker's words are walked in time order and read as numbers (``spoken_numbers``); numbers
that follow one another (fillers and short pauses allowed, across ASR segments) form a *run* of
digits, each digit remembering the word and the characters it came from. A run is then matched:
checksummed types first (a resident ID number's ISO 7064 check digit, a card number's Luhn sum),
then patterns (mainland mobiles, landlines, international numbers), then types that need a cue
said shortly before by either speaker (security code, expiry date, bank account; a card or ID
number whose checksum the ASR broke). A look-alike cue ("order number", "订单号") said after the
last personal-data cue leaves the run alone. E-mail addresses are found written or spelled out.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from storage.segments import Segment, Word
from transcribe.redaction.rules import Kind, Rules
from transcribe.redaction.spoken_numbers import number_tokens

MAX_GAP_S = 4.0  # a pause longer than this ends a number
CUE_WINDOW_S = 20.0  # how far back a cue is looked for
CUE_AFTER_S = 4.0  # "…, that's my card number" after the digits
SHORT_CUE_WINDOW_S = 12.0  # security codes and expiry dates are asked for right before they are said
LONG_RUN = 12  # digits: a run this long is redacted even without a cue (see _match_run)
_SEPARATORS = re.compile(r"^[\s,.，。、;；:：\-–—/()（）!?！？\"'“”]*$")
_PUNCT = re.compile(r"[,.，。、;；:：!?！？\"“”()（）]+")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


@dataclass(frozen=True)
class WordRef:
    """Characters ``lo:hi`` of word ``word`` of segment ``seg`` (word -1: the segment's text)."""

    seg: int
    word: int
    lo: int
    hi: int


@dataclass(frozen=True)
class Hit:
    kind: Kind
    speaker: str
    channel: int | None
    start: float
    end: float
    digits: int  # how many digits (0 for e-mail)
    rule: str  # which test matched: "luhn", "check-digit", "pattern", "cue", "written", "spoken"
    refs: tuple[WordRef, ...]


@dataclass(frozen=True)
class _Digit:
    ch: str
    ref: WordRef
    start: float
    end: float
    piece: int  # running number of the piece it came from: matches start and end at piece edges
    also: WordRef | None = None  # a second word said for this digit ("one" of "twenty one")


@dataclass
class _Run:
    digits: list[_Digit]
    plus: _Digit | None = None  # the "plus"/"+" said before the digits, if any
    soft_only: bool = False  # only "9.21"-like pieces: digits only if a cue asks for a number

    @property
    def text(self) -> str:
        return "".join(d.ch for d in self.digits)


@dataclass(frozen=True)
class _W:
    seg: int
    idx: int  # -1: a segment without words, read as one word
    word: Word


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = int(c)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def card_prefix_ok(digits: str) -> bool:
    """An issuer prefix of the big card schemes (Visa, Mastercard, Amex, UnionPay, JCB, Discover, Diners)."""
    n, p2, p4 = len(digits), int(digits[:2]), int(digits[:4])
    if digits[0] == "4":
        return n in (13, 16, 19)
    if 51 <= p2 <= 55 or 2221 <= p4 <= 2720:
        return n == 16
    if p2 in (34, 37):
        return n == 15
    if p2 == 62 or p2 == 81:
        return 16 <= n <= 19
    if p2 == 35 or p2 in (36, 38, 30):
        return 14 <= n <= 19
    return digits[:4] == "6011" or p2 == 65 or 644 <= int(digits[:3]) <= 649


def cn_id_ok(value: str) -> bool:
    """A mainland resident ID number: 17 digits, a birth date that exists, the ISO 7064 MOD 11-2 check."""
    if not re.fullmatch(r"[1-9]\d{16}[\dX]", value):
        return False
    try:
        born = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return False
    if not 1900 <= born.year <= 2100:
        return False
    return _ID_CHECK[sum(int(c) * w for c, w in zip(value[:17], _ID_WEIGHTS, strict=True)) % 11] == value[17]


def _words_of(segments: Sequence[Segment]) -> list[_W]:
    out: list[_W] = []
    for i, seg in enumerate(segments):
        if seg.words:
            out.extend(_W(i, j, w) for j, w in enumerate(seg.words))
        elif seg.text:
            out.append(_W(i, -1, Word(seg.start, seg.end, seg.text)))
    return sorted(out, key=lambda w: (w.word.start, w.seg, w.idx))


def _norm(text: str) -> str:
    return " ".join(_PUNCT.sub(" ", text.lower()).split())


def _is_filler(text: str, rules: Rules) -> bool:
    t = _norm(text)
    return not t or t in rules.fillers or bool(_SEPARATORS.match(text))


def _window(words: list[_W], starts: list[float], t0: float, t1: float) -> list[_W]:
    """Words starting in [t0 - 30 s, t1) whose time overlaps [t0, t1] (words are sorted by start)."""
    lo, hi = bisect_left(starts, t0 - 30.0), bisect_left(starts, t1)
    return [w for w in words[lo:hi] if w.word.end >= t0]


def _interrupted(others: list[_W], t0: float, t1: float, rules: Rules) -> bool:
    """Did the other speaker say more than a word or two, or ask for something, between t0 and t1?"""
    starts = [w.word.start for w in others]
    said = [_norm(w.word.word) for w in _window(others, starts, t0, t1) if w.word.start >= t0 and w.word.end <= t1]
    said = [t for t in said if t and t not in rules.fillers]
    if len(said) > 3 and sum(len(t) for t in said) > 6:  # "好的请继续" in five one-character words is short
        return True
    text = " " + " ".join(said) + " "
    tight = text.replace(" ", "")
    return any((f" {c} " in text) if c.isascii() else (c.replace(" ", "") in tight)
               for cs in rules.cues.values() for c in cs)


def _runs(words: list[_W], rules: Rules, others: list[_W] | None = None) -> list[_Run]:
    runs: list[_Run] = []
    cur: list[_Digit] = []
    plus: _Digit | None = None
    repeat = 0
    repeat_ref: _Digit | None = None
    tens = False
    piece_no = 0
    last_end = -1e9

    soft: set[int] = set()  # piece numbers of soft pieces

    def close() -> None:
        nonlocal cur, plus, repeat, tens
        if cur and any(d.piece > 0 for d in cur):
            runs.append(_Run(cur, plus))
        elif cur and any(-d.piece in soft for d in cur):
            runs.append(_Run(cur, plus, soft_only=True))
        cur, plus, repeat, tens = [], None, 0, False

    stray = 0  # unknown words since the last digit: one is bridged ("446 Miro 946…"), two end the run
    for w in words:
        text = w.word.word
        pieces = number_tokens(text)
        if not pieces:
            if not _is_filler(text, rules):
                stray += 1
                if stray > 1 or not cur:
                    close()
            continue
        if stray and (w.word.start - last_end > MAX_GAP_S / 2):
            close()  # a misheard word in a number is said in its flow, not after a pause
        stray = 0
        if w.word.start - last_end > MAX_GAP_S or (cur and others and _interrupted(others, last_end, w.word.start,
                                                                                   rules)):
            close()
        if not _SEPARATORS.match(text[:pieces[0].lo]) and not _is_filler(text[:pieces[0].lo], rules):
            close()
        prev_hi = pieces[0].lo
        for p in pieces:
            if not _SEPARATORS.match(text[prev_hi:p.lo]) and not _is_filler(text[prev_hi:p.lo], rules):
                close()
            prev_hi = p.hi
            ref = WordRef(w.seg, w.idx, p.lo, p.hi)
            if p.repeat:
                repeat = p.repeat
                repeat_ref = _Digit("", ref, w.word.start, w.word.end, 0)
                last_end = w.word.end
                continue
            if p.plus and not p.digits:
                close()
                plus = _Digit("+", ref, w.word.start, w.word.end, 0)
                last_end = w.word.end
                continue
            if p.plus and not cur:
                plus = _Digit("+", ref, w.word.start, w.word.end, 0)
            if tens and cur and len(p.digits) == 1 and p.digits != "0" and not p.weak:
                last = cur[-1]
                cur[-1] = _Digit(p.digits, last.ref, last.start, w.word.end, last.piece, ref)
                tens = False
                last_end = w.word.end
                continue
            tens = p.tens
            piece_no += 1
            # weak pieces ("oh", "x") get a negative piece number: a run of nothing else is dropped
            tag = -piece_no if p.weak else piece_no
            if p.soft:
                soft.add(piece_no)
            new = [_Digit(c, ref, w.word.start, w.word.end, tag) for c in p.digits]
            if repeat and new and repeat_ref is not None:
                # "double five": the first five is said by "double"'s word, so the hit covers it
                new = [_Digit(new[0].ch, repeat_ref.ref, repeat_ref.start, new[0].end, tag)] * (repeat - 1) + new
                repeat = 0
            cur.extend(new)
            last_end = w.word.end
        if not _SEPARATORS.match(text[prev_hi:]) and not _is_filler(text[prev_hi:], rules):
            close()
    close()
    return runs


class _Cues:
    """The cue words said around a time, by any speaker, with where they were said."""

    def __init__(self, words: list[_W], rules: Rules) -> None:
        self.words = words
        self.starts = [w.word.start for w in words]
        self.rules = rules

    def _text(self, lo: float, hi: float) -> tuple[str, str, list[int]]:
        """The words said in [lo, hi): spaced (Latin cues match whole words), unspaced (Chinese cues
        match across Whisper's word boundaries: 账 号 → 账号), and unspaced → spaced positions."""
        parts = [t for w in _window(self.words, self.starts, lo, hi) if (t := _norm(w.word.word))]
        spaced = " " + " ".join(parts) + " "
        back = [i for i, c in enumerate(spaced) if c != " "]
        return spaced, "".join(spaced[i] for i in back), back

    def _find(self, spaced: str, tight: str, back: list[int], cue: str, *, first: bool) -> int:
        """End position (in ``spaced``) of the last (first) occurrence of ``cue``, -1 if none."""
        if cue.isascii():
            needle = f" {cue} "
            at = spaced.find(needle) if first else spaced.rfind(needle)
            return -1 if at < 0 else at + len(needle)
        needle = cue.replace(" ", "")
        at = tight.find(needle) if first else tight.rfind(needle)
        return -1 if at < 0 else back[at + len(needle) - 1] + 1

    def _latest(self, lo: float, hi: float, *, first: bool = False) -> tuple[str | None, float]:
        spaced, tight, back = self._text(lo, hi)
        # the cue that ends last (first: that ends first); at one end the longer cue wins, so
        # "order number" beats "number"
        best: tuple[int, int, str | None] = (-1 if not first else 1 << 30, 0, None)
        options = [(c, str(k)) for k, cs in self.rules.cues.items() for c in cs]
        options += [(c, "not_pii") for c in self.rules.not_pii]
        for cue, kind in options:
            key = self._find(spaced, tight, back, cue, first=first)
            if key < 0:
                continue
            better = key < best[0] if first else key > best[0]
            if better or (key == best[0] and len(cue) > best[1]):
                best = (key, len(cue), kind)
        return best[2], hi

    def before(self, t: float, window: float = CUE_WINDOW_S) -> str | None:
        return self._latest(t - window, t)[0]

    def kinds_before(self, t: float, window: float) -> set[str]:
        spaced, tight, back = self._text(t - window, t)
        return {str(k) for k, cs in self.rules.cues.items()
                for c in cs if self._find(spaced, tight, back, c, first=True) >= 0}

    def after(self, t: float) -> str | None:
        return self._latest(t, t + CUE_AFTER_S, first=True)[0]


def _hit(kind: Kind, run: _Run, lo: int, hi: int, rule: str, speaker: str, channel: int | None) -> Hit:
    ds = run.digits[lo:hi]
    n = hi - lo
    if lo == 0 and run.plus is not None:
        ds = [run.plus, *ds]
    refs: list[WordRef] = []
    for d in ds:
        for r in (d.ref, d.also):
            if r is not None and r not in refs:
                refs.append(r)
    return Hit(kind, speaker, channel, min(d.start for d in ds), max(d.end for d in ds), n, rule, tuple(refs))


def _edges(run: _Run) -> tuple[set[int], set[int]]:
    starts, ends = set(), set()
    for i, d in enumerate(run.digits):
        if i == 0 or run.digits[i - 1].piece != d.piece:
            starts.add(i)
        if i == len(run.digits) - 1 or run.digits[i + 1].piece != d.piece:
            ends.add(i + 1)
    return starts, ends


def _match_run(run: _Run, cues: _Cues, speaker: str, channel: int | None) -> list[Hit]:
    text = run.text
    start_t = run.digits[0].start
    cue = cues.before(start_t) or cues.after(run.digits[-1].end)
    if run.soft_only and (cue is None or cue == "not_pii"):
        return []
    near = cues.kinds_before(start_t, SHORT_CUE_WINDOW_S)
    starts, ends = _edges(run)
    hits: list[Hit] = []
    used = [False] * len(text)

    def take(kind: Kind, lo: int, hi: int, rule: str) -> None:
        hits.append(_hit(kind, run, lo, hi, rule, speaker, channel))
        for i in range(lo, hi):
            used[i] = True

    def free(lo: int, hi: int) -> bool:
        return not any(used[lo:hi])

    # 1. checksummed: resident ID numbers, then card numbers, longest first
    for lo in sorted(starts):
        for hi in (lo + 18,):
            if hi in ends and free(lo, hi) and cn_id_ok(text[lo:hi]):
                take(Kind.id, lo, hi, "check-digit")
    for n in range(19, 12, -1):
        for lo in sorted(starts):
            hi = lo + n
            seg = text[lo:hi]
            if hi in ends and len(seg) == n and seg.isdigit() and free(lo, hi) and card_prefix_ok(seg) \
                    and luhn_ok(seg):
                take(Kind.card, lo, hi, "luhn")
    if cue == "not_pii":
        # a look-alike (order number, amount) unless its checksum says otherwise
        return hits
    # 2. patterns: phone numbers
    for m in _phone_matches(text, run.plus is not None, cue):
        lo, hi = m
        if free(lo, hi) and lo in starts | {0} and hi in ends:
            take(Kind.phone, lo, hi, "pattern")
    # 3. what is left of the run, by the cue said before it
    rest = [i for i, u in enumerate(used) if not u]
    if not rest:
        return hits
    lo, hi = rest[0], rest[-1] + 1
    if not free(lo, hi):  # a hole between two hits: left alone
        return hits
    seg = text[lo:hi]
    n = hi - lo
    fits = {
        Kind.id: n in (17, 18) and bool(re.fullmatch(r"\d{17}[\dX]?", seg)),
        Kind.card: 12 <= n <= 20 and seg.isdigit(),  # the ASR drops or adds a digit now and then
        Kind.cvv: 3 <= n <= 4 and seg.isdigit(),
        Kind.expiry: 3 <= n <= 6 and seg.isdigit() and _month_ok(seg),
        Kind.account: 6 <= n <= 34 and seg.isdigit(),
        Kind.phone: 7 <= n <= 15 and seg.isdigit(),
    }
    # the latest cue first; security codes and expiry dates also when asked for a moment before
    order = [Kind(cue)] if cue in fits else []
    order += [k for k in (Kind.cvv, Kind.expiry) if str(k) in near and k not in order]
    for kind in order:
        if fits[kind]:
            take(kind, lo, hi, "cue")
            return hits
    if cue == "card" and 8 <= n <= 34 and seg.isdigit():
        take(Kind.account, lo, hi, "cue")  # a bank card number that is not a payment card's
    elif n >= LONG_RUN and seg.isdigit():
        # a long number that matched nothing and follows no look-alike cue: a card or account whose
        # checksum or cue the ASR lost ("卡号" heard as "大傲"), more likely than a harmless number
        take(Kind.card if 13 <= n <= 19 and card_prefix_ok(seg) else Kind.account, lo, hi, "long")
    return hits


def _month_ok(seg: str) -> bool:
    """An expiry said as MMYY, MYY, MMYYYY or YYMM."""
    return any(m and 1 <= int(m) <= 12 for m in (seg[:2], seg[:1], seg[-2:]))


_MOBILE = re.compile(r"(?:0086|86)?1[3-9]\d{9}")
_LANDLINE = re.compile(r"0(?:10|2\d|[3-9]\d\d)[2-9]\d{6,7}")
_NANP = re.compile(r"1?[2-9]\d\d[2-9]\d{6}")


def _phone_matches(text: str, plus: bool, cue: str | None) -> list[tuple[int, int]]:
    """Spans of ``text`` that are phone numbers: mainland mobiles anywhere; landlines and North
    American numbers when the whole run is one; international numbers when said with "plus"/"00"."""
    out = [(m.start(), m.end()) for m in _MOBILE.finditer(text)
           if not text[m.end():m.end() + 1].isdigit() or len(text) == m.end()]
    if out:
        return out
    if (plus or text.startswith("00")) and 8 <= len(text) <= 17 and text.isdigit():
        return [(0, len(text))]
    if _LANDLINE.fullmatch(text) and (len(text) >= 11 or cue == "phone"):
        return [(0, len(text))]
    if _NANP.fullmatch(text) and cue == "phone":
        return [(0, len(text))]
    return []


def _emails(speaker_words: list[_W], rules: Rules, speaker: str, channel: int | None) -> list[Hit]:
    hits = []
    written = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
    for w in speaker_words:
        for m in written.finditer(w.word.word):
            hits.append(Hit(Kind.email, speaker, channel, w.word.start, w.word.end, 0, "written",
                            (WordRef(w.seg, w.idx, m.start(), m.end()),)))
    toks = [_norm(w.word.word) for w in speaker_words]
    for k, t in enumerate(toks):
        if t not in rules.email_at or k == 0:
            continue
        # domain: name (dot name)* ending in a known top-level domain
        j, saw_dot, end = k + 1, False, None
        while j < len(toks) and j <= k + 8:
            if toks[j] in rules.email_dot:
                saw_dot = True
            elif saw_dot and toks[j] in rules.email_tlds:
                end = j
            elif not toks[j] or toks[j] in rules.email_stop:
                break
            j += 1
        if end is None:
            continue
        i = k
        while i > 0 and k - i < 4 and toks[i - 1] and toks[i - 1] not in rules.email_stop:
            i -= 1
        if i == k:
            continue
        span = speaker_words[i:end + 1]
        hits.append(Hit(Kind.email, speaker, channel, span[0].word.start, span[-1].word.end, 0, "spoken",
                        tuple(WordRef(w.seg, w.idx, len(w.word.word) - len(w.word.word.lstrip()),
                                      len(w.word.word)) for w in span)))
    return hits


def detect(segments: Sequence[Segment], rules: Rules) -> list[Hit]:
    """Every personal-data hit in the conversation, in time order."""
    all_words = _words_of(segments)
    cues = _Cues(all_words, rules)
    hits: list[Hit] = []
    speakers = sorted({(s.speaker, s.channel if s.channel is not None else -1) for s in segments})
    for speaker, ch in speakers:
        mine = [w for w in all_words
                if segments[w.seg].speaker == speaker and (segments[w.seg].channel if segments[w.seg].channel
                                                           is not None else -1) == ch]
        channel = None if ch < 0 else ch
        others = [w for w in all_words if (segments[w.seg].speaker, segments[w.seg].channel) !=
                  (speaker, channel)]
        for run in _runs(mine, rules, others):
            hits.extend(_match_run(run, cues, speaker, channel))
        hits.extend(_emails(mine, rules, speaker, channel))
    return sorted(hits, key=lambda h: (h.start, h.speaker))
