"""Rule checks: one function per check kind, each answering yes / no / n/a / insufficient with evidence
(the text checks here; the timing checks in scoring/timing_checks.py; the result and environment
types in scoring/check_base.py).

Confidence rule (the issue's "insufficient evidence"): a decision rests on segments. A match found
only in segments whose ``avg_logprob`` is below ``Env.low_logprob`` cannot decide; an absence
cannot be trusted when low-confidence speech of that speaker lies in the searched span; a match heard
on both channels at the same moment is crosstalk (echo or a recording that mixes both parties into
each channel), so who said it is unknown; a check about one speaker cannot run when that speaker's
channel is missing or holds no speech at all. Each of those answers ``insufficient`` and the call
goes to a human.

Mono recordings (one channel, speaker ``unknown``): a text check about one speaker searches everyone's
speech and keeps only the answer that holds whoever spoke. Nobody said the greeting, so the agent did
not either ("no"); nobody swore, so the agent did not ("yes"). A match cannot be attributed, so it
answers ``insufficient`` rather than crediting (or blaming) the agent for the customer's words.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from typing import Any, TypeGuard

from scoring import evidence as ev
from scoring import prompt_echo, verification
from scoring.applicability import na_reason
from scoring.check_base import CheckResult, Env, channel_problem
from scoring.conversation import Conversation, said_by
from scoring.matching import FORBIDDEN_REVIEW, Match, find, stream
from scoring.metrics import CallMetrics
from scoring.rubric import (
    Answer,
    ForbiddenCheck,
    Item,
    ModelCheck,
    PhraseCheck,
    RegexCheck,
    Windowed,
)
from scoring.timing_checks import hold, max_overtalk, max_silence, talk_ratio, talk_speed
from scoring.variants import expand, load_variants
from storage.evaluations import Evidence, EvidenceKind
from storage.segments import Speaker


# --- helpers ----------------------------------------------------------------------------------------
def _window(check: Windowed, conv: Conversation) -> tuple[float, float]:
    lo, hi = 0.0, conv.duration
    if check.within_s is not None:
        hi = min(hi, check.within_s)
    if check.in_last_s is not None:
        lo = max(lo, conv.duration - check.in_last_s)
    return lo, hi


def _unsure(conv: Conversation, env: Env, speaker: str | None, lo: float, hi: float) -> list[Evidence]:
    return [
        ev.of_segment(s, i, kind=EvidenceKind.unsure, note="low ASR confidence")
        for i, s in enumerate(conv.segments)
        if said_by(s, speaker) and s.end >= lo and s.start <= hi and s.avg_logprob < env.low_logprob
    ]


def _confident(conv: Conversation, env: Env, m: Match) -> bool:
    return any(conv.segments[i].avg_logprob >= env.low_logprob for i in m.segs)


def _match_evidence(conv: Conversation, m: Match, kind: EvidenceKind = EvidenceKind.match) -> Evidence:
    seg_idx = m.segs[0]
    return ev.of_segment(conv.segments[seg_idx], seg_idx, kind=kind, start=m.start, end=m.end,
                         note=m.describe())


def _matches(conv: Conversation, check: Windowed, phrases: list[str], fuzzy: float,
             exact: frozenset[str] = frozenset()) -> dict[str, list[Match]]:
    """Matches of each phrase in the check's window; ``exact`` phrases by their characters only.

    Phrases an agent should say also match short phrases said in other tones; forbidden words do
    not (see :func:`scoring.matching.find`).
    """
    lo, hi = _window(check, conv)
    units = stream(conv, check.speaker, lo, hi)
    wanted = isinstance(check, PhraseCheck)
    return {p: find(p, units, fuzzy=fuzzy, by_sound=p not in exact, toneless_short=wanted) for p in phrases}


# An echo or a copy mixed into the other channel starts when the original does (word timestamps
# jitter by a few tenths of a second); a reply ("goodbye" - "bye") comes later than this.
ECHO_S = 0.5


def _crosstalk(conv: Conversation, check: Windowed, found: dict[str, list[Match]],
               fuzzy: float) -> set[tuple[str, int]]:
    """(phrase, first unit) of matches heard on the other party's channel at the same moment too."""
    other = {"agent": "customer", "customer": "agent"}.get(check.speaker)
    if other is None or other not in conv.channels or not any(found.values()):
        return set()
    lo, hi = _window(check, conv)
    theirs = stream(conv, other, lo - ECHO_S, hi + ECHO_S)
    out: set[tuple[str, int]] = set()
    for p, ms in found.items():
        echoes = find(p, theirs, fuzzy=fuzzy) if ms else []
        out |= {(p, m.first) for m in ms if any(abs(e.start - m.start) <= ECHO_S for e in echoes)}
    return out


# --- check kinds ------------------------------------------------------------------------------------
def phrase(check: PhraseCheck, conv: Conversation, metrics: CallMetrics, env: Env) -> CheckResult:
    if problem := channel_problem(conv, check.speaker):
        return CheckResult(Answer.insufficient, problem)
    lo, hi = _window(check, conv)
    phrases = check.any_ or check.all_ or []
    found = {p: [m for m in ms if not _rival_said(m, phrases, env.rivals)]
             for p, ms in _matches(conv, check, phrases, check.fuzzy).items()}
    echoed = _crosstalk(conv, check, found, check.fuzzy)
    copied = {(p, m.first) for p, ms in found.items() for m in ms if env.prompt_echo and prompt_echo.echoed(conv, m)}
    sure = {p: [m for m in ms if _confident(conv, env, m) and (p, m.first) not in echoed | copied]
            for p, ms in found.items()}
    unsure_segments = _unsure(conv, env, check.speaker, lo, hi)
    where = ev.searched(check.speaker, lo, hi)
    doubt = ("crosstalk: also heard on the other channel" if echoed
             else "maybe copied from the decoder's hotword prompt" if copied else "low ASR confidence")
    if check.any_ is not None:
        # a closing looked for at the end is best shown by its last occurrence, anything else by its first
        latest = check.in_last_s is not None and check.within_s is None
        hits = sorted((ms[-1] if latest else ms[0] for ms in sure.values() if ms),
                      key=lambda m: -m.start if latest else m.start)
        if hits:
            return CheckResult(Answer.yes, f"said {hits[0].phrase!r}", (_match_evidence(conv, hits[0]),))
        verdicts = _verdicts(conv, env, check.speaker, phrases, lo, hi)
        if (heard := next((v for v in verdicts if verification.accepted(v)), None)):
            return CheckResult(Answer.yes, f"said {heard.phrase!r} (verified on the audio)",
                               (ev.of_segment(conv.segments[heard.seg], heard.seg, start=heard.start,
                                              end=heard.end, note=heard.describe()),))
        shaky = sorted((ms[0] for ms in found.values() if ms), key=lambda m: m.start)
        if not shaky and unsure_segments and env.forced is not None and verification.absent(verdicts):
            return CheckResult(Answer.no, f"none of {phrases} said (tried on the audio: "
                               f"{verdicts[0].describe() if verdicts else 'nothing sounds like them'})", (where,))
        if shaky or unsure_segments:
            evid = tuple(_match_evidence(conv, m, EvidenceKind.unsure) for m in shaky[:1])
            return CheckResult(Answer.insufficient, f"{doubt} where the phrase may be",
                               (where, *(evid or unsure_segments)))
        return CheckResult(Answer.no, f"none of {phrases} said", (where,))
    missing = [p for p in phrases if not sure[p]]
    said = tuple(_match_evidence(conv, sure[p][0]) for p in phrases if sure[p])
    if not missing:
        return CheckResult(Answer.yes, f"said all of {phrases}", said)
    if unsure_segments or any(found[p] for p in missing):
        return CheckResult(Answer.insufficient, f"{doubt}; not sure of {missing}",
                           (where, *said, *unsure_segments))
    return CheckResult(Answer.no, f"not said: {missing}", (where, *said))


# A near match whose heard words are, nearly all of them, another item's phrase was that phrase.
RIVAL_COVER = 0.8


def _rival_said(m: Match, phrases: list[str], rivals: tuple[str, ...]) -> bool:
    """A match that is not exact, where the heard words hold another item's phrase exactly, covering
    :data:`RIVAL_COVER` of them: the offer of more help 请问还有什么可以帮您 said early is not the greeting
    请问有什么可以帮您 (95 % alike by characters), nor the reverse."""
    heard = m.heard.replace(" ", "")
    if not heard or (m.text_similarity or 0.0) >= 1.0 - 1e-9:
        return False
    return any(r in heard and len(r) >= RIVAL_COVER * len(heard) for r in rivals if r not in phrases)


def _verdicts(conv: Conversation, env: Env, speaker: str | None, phrases: list[str], lo: float,
              hi: float) -> list[verification.Verdict]:
    """The phrases tried on the audio by forced decoding (scoring/verification.py), best first.

    Phrase checks only: a forbidden word is never verified this way. Over the audio of the innocent
    本单 "this order" heard as the confusion 笨旦, forced decoding rates 笨蛋 higher than 本单 itself
    (the model hears no tones there, and 笨蛋 is the likelier word), so a "verified" insult would
    zero a clean call (measured, docs/scoring.md)."""
    if env.forced is None:
        return []
    return verification.verify(conv, env.forced, speaker, phrases, lo, hi, env.rivals)


def forbidden(check: ForbiddenCheck, conv: Conversation, metrics: CallMetrics, env: Env) -> CheckResult:
    """"no" on a certain hit; an uncertain one (heard only by sound, a known ASR confusion, low
    confidence, crosstalk) answers "insufficient": a missed insult is worse than a false alarm that
    an inspector clears."""
    if problem := channel_problem(conv, check.speaker):
        return CheckResult(Answer.insufficient, problem)
    lo, hi = _window(check, conv)
    certain, confusions = expand(check.any_, env.variants if env.variants is not None else load_variants())
    found = _matches(conv, check, [*certain, *confusions], check.fuzzy, frozenset(confusions))
    echoed = _crosstalk(conv, check, found, check.fuzzy)
    hits = _distinct(sorted([*(m for ms in found.values() for m in ms), *_review_band(conv, check, certain)],
                            key=lambda m: (m.first, m.by != "text")))
    sure = [m for m in hits if m.phrase in certain and m.by == "text" and _confident(conv, env, m)
            and (m.phrase, m.first) not in echoed]
    if sure:
        evid = tuple(_forbidden_evidence(conv, m, certain) for m in sure)
        return CheckResult(Answer.no, f"said {_said(sure[0], certain)}", evid)
    unsure_segments = _unsure(conv, env, check.speaker, lo, hi)
    if not hits and unsure_segments and env.forced is not None and verification.CLEAR.get("zh") is not None:
        tried = verification.verify(conv, env.forced, check.speaker, list(certain), lo, hi, every_length=True)
        if verification.cleared(tried):
            return CheckResult(Answer.yes, "no forbidden phrase (low-confidence speech tried on the audio: "
                               f"best {tried[0].describe()})", (ev.searched(check.speaker, lo, hi),))
    if hits or unsure_segments:
        evid = tuple(_forbidden_evidence(conv, m, {**certain, **confusions}, EvidenceKind.unsure)
                     for m in hits) or tuple(unsure_segments)
        if echoed:
            doubt = "crosstalk: also heard on the other channel"
        elif any(m.by == "sound" or m.phrase in confusions for m in hits):
            word = next(_said(m, {**certain, **confusions}) for m in hits)
            doubt = f"may have said {word} (sound-alike or a known ASR confusion)"
        else:
            doubt = "low ASR confidence"
        return CheckResult(Answer.insufficient, f"{doubt} where a forbidden phrase may be", evid)
    return CheckResult(Answer.yes, "no forbidden phrase", (ev.searched(check.speaker, lo, hi),))


def _review_band(conv: Conversation, check: ForbiddenCheck, words: dict[str, str]) -> list[Match]:
    """Places that sound somewhat like a forbidden word (:data:`scoring.matching.FORBIDDEN_REVIEW`):
    uncertain hits only, so the call goes to an inspector; none when the band is off."""
    band = FORBIDDEN_REVIEW.get("zh")
    if band is None:
        return []
    lo, hi = _window(check, conv)
    units = stream(conv, check.speaker, lo, hi)
    return [m for w in words for m in find(w, units, fuzzy=check.fuzzy, sound_floor=band) if m.by == "sound"]


def _distinct(hits: list[Match]) -> list[Match]:
    """One hit per place: a variant and its word found at the same units count once."""
    out: list[Match] = []
    for m in hits:
        if not any(m.first <= o.last and o.first <= m.last for o in out):
            out.append(m)
    return out


def _said(m: Match, word_of: dict[str, str]) -> str:
    word = word_of.get(m.phrase, m.phrase)
    return repr(m.phrase) if word == m.phrase else f"{m.phrase!r} (a form of {word!r})"


def _forbidden_evidence(conv: Conversation, m: Match, word_of: dict[str, str],
                        kind: EvidenceKind = EvidenceKind.match) -> Evidence:
    e = _match_evidence(conv, m, kind)
    word = word_of.get(m.phrase, m.phrase)
    return e if word == m.phrase else replace(e, note=f"{e.note}; a form of {word!r}")


def regex(check: RegexCheck, conv: Conversation, metrics: CallMetrics, env: Env) -> CheckResult:
    if problem := channel_problem(conv, check.speaker):
        return CheckResult(Answer.insufficient, problem)
    lo, hi = _window(check, conv)
    rx = re.compile(check.pattern, re.IGNORECASE if check.ignore_case else 0)
    segs = [(i, s) for i, s in enumerate(conv.segments)
            if said_by(s, check.speaker) and s.end >= lo and s.start <= hi]
    hits = [(i, s) for i, s in segs if rx.search(s.text)]
    sure = [(i, s) for i, s in hits if s.avg_logprob >= env.low_logprob]
    present = check.expect == "present"
    if sure:
        evid = tuple(ev.of_segment(s, i) for i, s in sure[:5])
        return CheckResult(Answer.yes if present else Answer.no, f"/{check.pattern}/ found", evid)
    unsure_segments = _unsure(conv, env, check.speaker, lo, hi)
    if hits or unsure_segments:
        return CheckResult(Answer.insufficient, "low ASR confidence", tuple(unsure_segments))
    where = ev.searched(check.speaker, lo, hi)
    return CheckResult(Answer.no if present else Answer.yes, f"/{check.pattern}/ not found", (where,))


def model(check: ModelCheck, conv: Conversation, metrics: CallMetrics, env: Env) -> CheckResult:
    if env.predictor is None:
        return CheckResult(Answer.insufficient, f"no trained model {check.model!r} available")
    return env.predictor(check, conv)


KINDS: dict[str, Callable[[Any, Conversation, CallMetrics, Env], CheckResult]] = {
    "phrase": phrase, "forbidden": forbidden, "regex": regex, "max_silence": max_silence,
    "max_overtalk": max_overtalk, "talk_speed": talk_speed, "talk_ratio": talk_ratio, "hold": hold,
    "model": model,
}


def _unattributed(check: Any, conv: Conversation) -> TypeGuard[PhraseCheck | ForbiddenCheck | RegexCheck]:
    """A text check about one party on a recording that holds everyone's speech unattributed (mono)."""
    speaker = getattr(check, "speaker", None)
    return (isinstance(check, PhraseCheck | ForbiddenCheck | RegexCheck) and speaker in ("agent", "customer")
            and speaker not in conv.channels and Speaker.unknown.value in conv.channels)


def _safe_answer(check: PhraseCheck | ForbiddenCheck | RegexCheck) -> Answer:
    """The answer a check gives when nothing was found: true of every speaker alike."""
    if isinstance(check, RegexCheck):
        return Answer.no if check.expect == "present" else Answer.yes
    return Answer.no if isinstance(check, PhraseCheck) else Answer.yes


def _on_mono(check: PhraseCheck | ForbiddenCheck | RegexCheck, conv: Conversation, metrics: CallMetrics,
             env: Env) -> CheckResult:
    res = KINDS[check.kind](check.model_copy(update={"speaker": "any"}), conv, metrics, env)
    note = f"mono recording: everyone's speech searched for the {check.speaker}"
    evid = tuple(replace(e, note=note) if e.kind == EvidenceKind.searched else e for e in res.evidence)
    if res.answer is Answer.insufficient:
        return replace(res, evidence=evid)
    if res.answer is _safe_answer(check):
        return replace(res, reason=f"{res.reason} (mono recording: by nobody)", evidence=evid)
    return CheckResult(Answer.insufficient, f"{res.reason}, but a mono recording cannot tell whether the "
                       f"{check.speaker} said it", evid)


def run_item(item: Item, conv: Conversation, metrics: CallMetrics, env: Env) -> CheckResult:
    """Answer one item (its section's applicability is the caller's business)."""
    if reason := na_reason(item, conv.facts):
        return CheckResult(Answer.na, reason)
    if item.check.kind == "manual":
        return CheckResult(None, "manual item: an inspector answers")
    if _unattributed(item.check, conv):
        res = _on_mono(item.check, conv, metrics, env)
    else:
        res = KINDS[item.check.kind](item.check, conv, metrics, env)
    if res.answer is Answer.insufficient and not res.evidence:
        # a missing or silent channel, an untrained model: the inspector starts from the whole call
        res = replace(res, evidence=(ev.span(0.0, conv.duration, res.reason),))
    return res


