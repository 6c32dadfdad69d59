"""Answer windows: when the agent asks for a number, the customer's answer is redacted as that type.

Contact-centre redaction does not wait for the digits to be heard right. When the agent says an ask
of the rules (``asks:`` in ``rules/<language>.yaml``: "card number", "security code", 手机号,
身份证号 …), the customer's answer that follows is taken as the number asked for: from the
customer's first word after the ask (at most :data:`ANSWER_WAIT_S` later, the agent not asking
something else first) to where the customer stops for longer than ``pause_s`` (setting
``redaction_answer_pause_s``), or the agent says more than a word or two, and at most ``max_s``
(``redaction_answer_max_s``) long. The hit (rule ``answer``, the ask's type) covers that whole
stretch in the audio; in the text only the answer's digit-like words go (digits, number words,
sound-alikes of the rules, a homophone such as "for" next to one of them; in Chinese the digit-like
characters of a word), so "Sure, it is [CARD:9] … Thank you." keeps the rest for scoring.

An answer with too little that is digit-like (:data:`MIN_UNITS`: four for a long number, two for a
security code or expiry date; an "at", "dot" or domain for an e-mail) is not the number ("I don't
have it with me", "I've had it two years": a number said with a unit word counts for nothing), and
is left alone in text and audio. Only the customer's words are read and cut: the agent's greeting,
a forbidden word, anything the agent says, never. Words other rules already cut are not cut twice;
the window adds the audio around them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from storage.segments import Segment
from transcribe.redaction.hits import Hit, WordRef
from transcribe.redaction.rules import Kind, Rules
from transcribe.redaction.runs import PLACEHOLDER, TimedWord, interrupted, is_unit, norm
from transcribe.redaction.spoken_numbers import ZH_DIGITS, number_tokens

ANSWER_WAIT_S = 10.0  # the customer starts answering at most this long after the ask
# digit-like units an answer needs to be taken for the number asked for
MIN_UNITS = {Kind.card: 4, Kind.id: 4, Kind.phone: 4, Kind.account: 4, Kind.cvv: 2, Kind.expiry: 2, Kind.email: 1}
AGENT, CUSTOMER = "agent", "customer"


@dataclass(frozen=True)
class AnswerWindow:
    pause_s: float = 3.0
    max_s: float = 20.0


def _phrase_at(words: list[TimedWord], j: int, phrases: Sequence[str]) -> str | None:
    """The phrase of ``phrases`` that ends in word ``j`` (was not whole before it), if any."""
    span = [norm(w.word.word) for w in words[max(0, j - 5):j + 1]]
    spaced, before = " " + " ".join(span) + " ", " " + " ".join(span[:-1]) + " "
    tight, tight_before = spaced.replace(" ", ""), before.replace(" ", "")
    for p in phrases:
        if p.isascii():
            if f" {p} " in spaced and f" {p} " not in before:
                return p
        elif (q := p.replace(" ", "")) in tight and q not in tight_before:
            return p
    return None


TURN_PAUSE_S = 1.0  # the agent's words after an ask no further apart than this are the same question


def _asks(agent: list[TimedWord], rules: Rules) -> list[tuple[float, float, Kind]]:
    """Where each ask ends, where the agent's question it is in ends, and its type, in time order; a
    look-alike cue ("order number") said after an ask in the same breath takes it back."""
    out: list[tuple[float, float, Kind]] = []
    phrases = sorted(((p, k) for k, ps in rules.asks.items() for p in ps), key=lambda x: -len(x[0]))
    by_phrase = dict(phrases)
    for j, w in enumerate(agent):
        if _phrase_at(agent, j, rules.not_pii) and out and w.word.end - out[-1][0] < 3.0:
            out.pop()
            continue
        found = _phrase_at(agent, j, [p for p, _ in phrases])
        if found is not None:
            end = w.word.end
            for nxt in agent[j + 1:]:
                if nxt.word.start - end > TURN_PAUSE_S:
                    break
                end = nxt.word.end
            out.append((w.word.end, end, by_phrase[found]))
    return out


def _units(words: list[TimedWord], k: int, rules: Rules) -> tuple[int, int, int]:
    """Digit-like units of word ``k`` and the characters of them to cut: (units, lo, hi)."""
    w = words[k]
    text = w.word.word
    t = norm(text)
    if not t or PLACEHOLDER.search(text) or is_unit(w, rules) or (k + 1 < len(words) and is_unit(words[k + 1], rules)):
        return 0, 0, 0  # "two years", "八点": a quantity, not a digit of the number
    lo, hi = len(text) - len(text.lstrip()), len(text.rstrip())
    if t.isascii():
        pieces = number_tokens(text)
        strong = sum(len(p.digits) for p in pieces if not p.weak)
        if strong or t in rules.soundalikes:
            return max(strong, 1), lo, hi
        return (-1, lo, hi) if pieces else (0, 0, 0)  # weak ("for", "oh"): only next to a digit
    marks = [i for i, c in enumerate(text) if c.isdigit() or c in ZH_DIGITS or c in rules.soundalikes]
    return (len(marks), marks[0], marks[-1] + 1) if marks else (0, 0, 0)


def _email_evidence(w: TimedWord, rules: Rules) -> bool:
    t = norm(w.word.word)
    if PLACEHOLDER.search(w.word.word):
        return False
    return "@" in w.word.word or t in rules.email_at or t in rules.email_dot or any(
        t.endswith("." + d) or t.endswith(" " + d) or t == d for d in rules.email_tlds)


def _answer(customer: list[TimedWord], agent: list[TimedWord], ask_end: float, turn_end: float,
            window: AnswerWindow, rules: Rules) -> list[TimedWord]:
    first = next((i for i, w in enumerate(customer) if w.word.start >= ask_end - 0.3), None)
    if first is None or customer[first].word.start - turn_end > ANSWER_WAIT_S:
        return []
    if interrupted(agent, turn_end + 0.01, customer[first].word.start, rules):
        return []  # the agent went on to ask something else first
    out = [customer[first]]
    for w in customer[first + 1:]:
        end = out[-1].word.end
        if w.word.start - end > window.pause_s or w.word.end - out[0].word.start > window.max_s \
                or interrupted(agent, end, w.word.start, rules):
            break
        out.append(w)
    return out


def _lead_in(w: TimedWord, rules: Rules, kind: Kind) -> bool:
    t = norm(w.word.word)
    if t.isascii():
        return t in rules.lead_ins or (kind is Kind.email and t in rules.email_stop)
    return any(t.endswith(c) for c in rules.lead_ins if not c.isascii())


def _closing(said: list[TimedWord], k: int, rules: Rules) -> bool:
    spaced = " ".join(norm(w.word.word) for w in said[k:k + 3]) + " "
    return any(spaced.startswith(c + " ") if c.isascii() else spaced.replace(" ", "").startswith(c)
               for c in rules.closings)


def _trim(said: list[TimedWord], kind: Kind, rules: Rules) -> tuple[list[TimedWord], float, float]:
    """The answer without its lead-in ("Sure, it is", 我的手机号是) and from its closing words on
    ("Thank you", 谢谢), and the time span to cut: from the end of the lead-in to the start of the
    closing (Whisper's word times around a pause are late at the start and early at the end of the
    words after and before it, so the words' own times would leave digits out). Only what sits
    before the first digit-like word goes at the start (for an e-mail only the leading lead-in
    words: the misheard name before "at" is the address), and only what follows the last at the end."""
    marks = [k for k in range(len(said)) if (_email_evidence(said[k], rules) if kind is Kind.email
                                             else _units(said, k, rules)[0] > 0)]
    a = 0
    # With nothing digit-like (an answer only a re-decode can read, redecode.py) the lead-in is the
    # first run of lead-in words in the first half, and the closing is looked for after it.
    for k in range(marks[0] if marks else len(said) // 2):
        if _lead_in(said[k], rules, kind) or _phrase_at(said, k, rules.asks.get(kind, ())):
            a = k + 1
        elif kind is Kind.email or not marks and a and norm(said[k].word.word):
            break
    b = len(said)
    for k in range(marks[-1] + 1 if marks else a + 1, len(said)):
        if _closing(said, k, rules):
            b = k
            break
    t0 = said[a - 1].word.end if a else said[0].word.start
    t1 = said[b].word.start if b < len(said) else said[-1].word.end
    return said[a:b], t0, max(t0, t1)


@dataclass(frozen=True)
class Answer:
    """The customer's answer to an ask: its type, its words without lead-in and closing, and the
    time span the audio cut takes (from the end of the lead-in to the start of the closing)."""

    kind: Kind
    said: list[TimedWord]
    start: float
    end: float
    channel: int | None


def answers(segments: Sequence[Segment], words: list[TimedWord], rules: Rules, window: AnswerWindow) -> list[Answer]:
    """Every answer to an ask of the rules, whatever it holds (answer_hits decides which are numbers)."""
    if not rules.asks:
        return []
    agent = [w for w in words if segments[w.seg].speaker == AGENT]
    customer = [w for w in words if segments[w.seg].speaker == CUSTOMER]
    if not agent or not customer:
        return []
    channel = next((s.channel for s in segments if s.speaker == CUSTOMER), None)
    out: list[Answer] = []
    answered: set[tuple[int, int]] = set()
    for ask_end, turn_end, kind in _asks(agent, rules):
        said = _answer(customer, agent, ask_end, turn_end, window, rules)
        if not said or (said[0].seg, said[0].idx) in answered:
            continue  # "the long number on your card": two asks, one answer (the first ask's type)
        answered.add((said[0].seg, said[0].idx))
        said, t0, t1 = _trim(said, kind, rules)
        out.append(Answer(kind, said, t0, t1, channel))
    return out


def answer_hits(segments: Sequence[Segment], words: list[TimedWord], rules: Rules, hits: list[Hit],
                window: AnswerWindow) -> list[Hit]:
    """See the module docstring; ``hits`` are the other rules' (their words are not cut again)."""
    taken = {(r.seg, r.word) for h in hits for r in h.refs}
    out: list[Hit] = []
    mine = [h for h in hits if h.speaker == CUSTOMER]
    for ans in answers(segments, words, rules, window):
        kind, said, t0, t1, channel = ans.kind, ans.said, ans.start, ans.end, ans.channel
        refs: list[WordRef] = []
        units = cut = 0  # digit-like units in the answer, and in the words this hit cuts (its count)
        first: float | None = None
        if any(h.start <= t0 and t1 <= h.end for h in mine):
            continue  # already cut whole by another rule
        if kind is Kind.email:
            ev = [k for k, w in enumerate(said) if _email_evidence(w, rules)]
            if ev:
                a = 0
                while a < ev[0] and norm(said[a].word.word) in rules.email_stop | rules.lead_ins:
                    a += 1
                chosen = said[a:ev[-1] + 1]
                units = 1
                refs = [WordRef(w.seg, w.idx, len(w.word.word) - len(w.word.word.lstrip()),
                                len(w.word.word.rstrip())) for w in chosen if (w.seg, w.idx) not in taken]
                first = chosen[0].word.start
        else:
            scored = [_units(said, k, rules) for k in range(len(said))]
            for k, (n, lo, hi) in enumerate(scored):
                if n < 0:  # a homophone counts only next to a digit-like word
                    near = [scored[m][0] > 0 for m in (k - 1, k + 1) if 0 <= m < len(said)]
                    n = 1 if any(near) else 0
                if n <= 0:
                    continue
                units += n
                first = said[k].word.start if first is None else first
                if (said[k].seg, said[k].idx) not in taken:
                    refs.append(WordRef(said[k].seg, said[k].idx, lo, hi))
                    cut += n
        if units < MIN_UNITS[kind]:
            continue
        out.append(Hit(kind, CUSTOMER, channel, t0, t1, 0 if kind is Kind.email else cut, "answer", tuple(refs),
                       first_digit=first if first is not None and first > t0 else None))
    return out
