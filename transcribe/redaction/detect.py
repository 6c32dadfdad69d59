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
from dataclasses import replace

from storage.segments import Segment
from transcribe.redaction.answer import AnswerWindow, answer_hits
from transcribe.redaction.cues import Cues
from transcribe.redaction.hits import Hit, WordRef
from transcribe.redaction.number_rules import card_prefix_ok, cn_id_ok, luhn_ok, month_ok, phone_matches
from transcribe.redaction.rules import Kind, Rules
from transcribe.redaction.runs import (
    MAX_GAP_S,
    Run,
    TimedWord,
    find_runs,
    interrupted,
    is_filler,
    is_unit,
    norm,
    words_of,
)
from transcribe.redaction.soundalike import soundalike_hits
from transcribe.redaction.sounds import UNCUED_UNITS, sound_hits
from transcribe.redaction.spoken_numbers import number_tokens

__all__ = ["Hit", "WordRef", "detect"]

SHORT_CUE_WINDOW_S = 12.0  # security codes and expiry dates are asked for right before they are said
LONG_RUN = 10  # digits: a run this long is redacted even without a cue (see _match_run)
# Digits a half-written number has after its cue (see _partials), fewest and most: a card, ID, phone
# or account number is long, so four digits after its cue are more likely its remains than a harmless
# number; a security code or expiry date is short, so more than six digits are something else
PARTIAL_DIGITS = {Kind.card: (4, 34), Kind.id: (4, 34), Kind.phone: (4, 34), Kind.account: (4, 34),
                  Kind.cvv: (2, 6), Kind.expiry: (2, 6)}
PARTIAL_PAUSE_S = 1.5  # continuous speech: words no further apart than this
PARTIAL_TAIL_S = 6.0  # at most this long after the last digit written
LEAD_MAX_S = 8.0  # a number's spoken start is looked for at most this long before its first digit


def _hit(kind: Kind, run: Run, lo: int, hi: int, rule: str, speaker: str, channel: int | None) -> Hit:
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


def _edges(run: Run) -> tuple[set[int], set[int]]:
    starts, ends = set(), set()
    for i, d in enumerate(run.digits):
        if i == 0 or run.digits[i - 1].piece != d.piece:
            starts.add(i)
        if i == len(run.digits) - 1 or run.digits[i + 1].piece != d.piece:
            ends.add(i + 1)
    return starts, ends


def _match_run(run: Run, cues: Cues, speaker: str, channel: int | None) -> list[Hit]:
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
    # 2. patterns: phone numbers; not inside a longer run that is, as a whole, the card or account
    # number asked for or a long number ("5 3 3 6 1 8 2 0 7 8 3 7 1 7 4" holds a mobile's pattern):
    # cutting the mobile alone would leave the other digits in the text and the audio
    phones = phone_matches(text, run.plus is not None, cue)
    whole = not hits and text.isdigit() and phones != [(0, len(text))] and (
        cue == "card" and 12 <= len(text) <= 20 or cue == "account" and 6 <= len(text) <= 34
        or cue is None and len(text) >= LONG_RUN)
    for m in [] if whole else phones:
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
        # an ID number the ASR dropped a digit or two of, or whose X it lost
        Kind.id: 15 <= n <= 18 and bool(re.fullmatch(r"\d{14,17}[\dX]", seg)),
        Kind.card: 12 <= n <= 20 and seg.isdigit(),  # the ASR drops or adds a digit now and then
        Kind.cvv: 3 <= n <= 4 and seg.isdigit(),
        Kind.expiry: 3 <= n <= 6 and seg.isdigit() and month_ok(seg),
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
        # checksum or cue the ASR lost ("卡号" heard as "大傲"), more likely than a harmless number;
        # ten or eleven digits said one by one with no cue heard are most often a phone number
        kind = Kind.card if 13 <= n <= 19 and card_prefix_ok(seg) else Kind.phone if n <= 11 else Kind.account
        take(kind, lo, hi, "long")
    return hits


def _emails(speaker_words: list[TimedWord], rules: Rules, speaker: str, channel: int | None) -> list[Hit]:
    hits = []
    written = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
    for w in speaker_words:
        for m in written.finditer(w.word.word):
            hits.append(Hit(Kind.email, speaker, channel, w.word.start, w.word.end, 0, "written",
                            (WordRef(w.seg, w.idx, m.start(), m.end()),)))
    toks = [norm(w.word.word) for w in speaker_words]
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


def _partials(runs: list[Run], hits: list[Hit], mine: list[TimedWord], others: list[TimedWord], cues: Cues,
              rules: Rules, speaker: str, channel: int | None) -> list[Hit]:
    """Numbers the ASR only half wrote: after a cue for a number ("card number", "my number is"),
    runs of digits that matched nothing, broken by misheard words ("seven time row. Time for three
    seven four zero eight"), with as many digits between them as :data:`PARTIAL_DIGITS` asks. The hit runs from
    the first digit to the end of the speaker's continuous speech (the digits the ASR did not write
    are said there too); the text loses the words from the first digit to the last."""
    out: list[Hit] = []
    group: list[Run] = []
    kind: Kind | None = None

    def flush() -> None:
        if not group or kind is None:
            return
        n = sum(1 for r in group for d in r.digits if d.piece > 0)
        if not PARTIAL_DIGITS[kind][0] <= n <= PARTIAL_DIGITS[kind][1]:
            return
        t0, t1 = group[0].digits[0].start, group[-1].digits[-1].end
        words = [w for w in mine if w.word.start >= t0 - 0.01 and w.word.end <= t1 + 0.01]
        said = {(r.seg, r.word) for run in group for d in run.digits for r in (d.ref, d.also) if r is not None}
        if sum(1 for w in words if (w.seg, w.idx) not in said and not is_filler(w.word.word, rules)) > n:
            return  # more words than digits between them: a sentence with numbers in it, not a number
        after = next((w for w in mine if w.word.start >= t1 - 0.01 and w not in words), None)
        if any(is_unit(w, rules) for w in [*words, *([after] if after else [])]):
            return  # "八点四十分", "40 dollars and 25 cents": a time or an amount
        end = t1
        for w in mine:  # to the end of the speaker's continuous speech
            if w.word.start < t1 + 0.01:
                continue
            if w.word.start - end > PARTIAL_PAUSE_S or w.word.start - t1 > PARTIAL_TAIL_S or \
                    interrupted(others, end, w.word.start, rules):
                break
            end = max(end, w.word.end)
        refs = tuple(WordRef(w.seg, w.idx, len(w.word.word) - len(w.word.word.lstrip()), len(w.word.word.rstrip()))
                     for w in words)
        out.append(Hit(kind, speaker, channel, t0, end, n, "partial", refs))

    for run in runs:
        start = run.digits[0].start
        if any(h.start <= run.digits[-1].end and start <= h.end for h in hits) or run.soft_only:
            flush()
            group, kind = [], None
            continue
        cue = cues.before(start)
        this = Kind(cue) if cue in PARTIAL_DIGITS else None
        if group and (this != kind or start - group[-1].digits[-1].end > MAX_GAP_S
                      or interrupted(others, group[-1].digits[-1].end, start, rules)):
            flush()
            group = []
        kind = this
        if this is not None:
            group.append(run)
    flush()
    return out


def _ends_lead_in(mine: list[TimedWord], j: int, rules: Rules) -> bool:
    """Does word ``j`` end a lead-in to a number: a lead-in word ("is", "是") or a cue ("card number")?"""
    t = norm(mine[j].word.word)
    if not t:
        return False
    if t.isascii():
        if t in rules.lead_ins:
            return True
        spaced = " " + " ".join(norm(w.word.word) for w in mine[max(0, j - 3):j + 1])
        return any(spaced.endswith(" " + c) for cs in (*rules.cues.values(), rules.not_pii) for c in cs if c.isascii())
    if any(t.endswith(c) for c in rules.lead_ins if not c.isascii()):
        return True
    tight = "".join(norm(w.word.word) for w in mine[max(0, j - 5):j + 1]).replace(" ", "")
    return any(tight.endswith(c.replace(" ", "")) for cs in (*rules.cues.values(), rules.not_pii) for c in cs
               if not c.isascii())


def _spoken_start(hit: Hit, mine: list[TimedWord], others: list[TimedWord], rules: Rules) -> Hit:
    """The hit moved back to where its number's spoken words start: over the words the speaker said
    before its first digit (pauses under :data:`MAX_GAP_S`, as between a number's groups; the
    other speaker silent; at most :data:`LEAD_MAX_S`) back to the end of the lead-in ("it is", a
    cue word). Those words are what the ASR made of the
    first digits ("for one" is written as digits, "I want to die in" is not); the audio copy cuts
    them too, the text keeps them."""
    if hit.kind is Kind.email:
        return hit
    t = hit.start
    j = bisect_left([w.word.start for w in mine], hit.start - 0.01) - 1
    while j >= 0:
        w = mine[j]
        if t - w.word.end > MAX_GAP_S or hit.start - w.word.start > LEAD_MAX_S \
                or any(not p.weak for p in number_tokens(w.word.word)) or _ends_lead_in(mine, j, rules) \
                or interrupted(others, w.word.end, t, rules):
            break
        t = w.word.start
        j -= 1
    return replace(hit, start=t, first_digit=hit.start) if t < hit.start else hit


def detect(segments: Sequence[Segment], rules: Rules, answer: AnswerWindow | None = None, *,
           uncued_units: int = UNCUED_UNITS) -> list[Hit]:
    """Every personal-data hit in the conversation, in time order; with ``answer``, also the customer's
    answers to the agent's asks for a number (answer.py). ``uncued_units``: what a run of sound-alike
    characters needs with no cue heard (sounds.py)."""
    all_words = words_of(segments)
    cues = Cues(all_words, rules)
    hits: list[Hit] = []
    speakers = sorted({(s.speaker, s.channel if s.channel is not None else -1) for s in segments})
    for speaker, ch in speakers:
        mine = [w for w in all_words
                if segments[w.seg].speaker == speaker and (segments[w.seg].channel if segments[w.seg].channel
                                                           is not None else -1) == ch]
        channel = None if ch < 0 else ch
        others = [w for w in all_words if (segments[w.seg].speaker, segments[w.seg].channel) !=
                  (speaker, channel)]
        runs = find_runs(mine, rules, others)
        mine_hits: list[Hit] = []
        for run in runs:
            mine_hits.extend(_match_run(run, cues, speaker, channel))
        mine_hits += _partials(runs, mine_hits, mine, others, cues, rules, speaker, channel)
        mine_hits += sound_hits(mine, others, all_words, cues, rules, mine_hits, speaker, channel, uncued_units)
        mine_hits += soundalike_hits(mine, others, cues, rules, mine_hits, speaker, channel)
        hits.extend(_spoken_start(h, mine, others, rules) for h in mine_hits)
        hits.extend(_emails(mine, rules, speaker, channel))
    if answer is not None:
        hits += answer_hits(segments, all_words, rules, hits, answer)
    return sorted(hits, key=lambda h: (h.start, h.speaker))
