"""Keyword verification by forced decoding: was a rubric phrase said where the transcript heard
something else?

The base model mangles Mandarin phrases (很高兴为您服务 → 等到现为您服务), so matching the
transcript, even by sound (scoring/matching.py), misses phrases that were said. The same model can
still say how likely the phrase is over the audio (transcribe/forcing.py). For a phrase and a
stretch of the speaker's speech inside the item's window:

1. the place in each segment that sounds most like the phrase (pinyin, :mod:`scoring.phonetic`) is
   a *candidate* when it is at least :data:`CANDIDATE` alike (a place that sounds nothing like the
   phrase is not tried: every phrase is somewhat likely anywhere to a language model);
2. the decoder reads the heard text of the stretch (the segments of that speaker within one 30 s
   window) and the same text with the phrase put in at the candidate, over the same audio;
3. the *margin* is the difference of the two log-probabilities per character of the phrase: near 0 (or
   above) the phrase explains the audio about as well as what the recogniser wrote; far below, the
   audio says something else (很高兴认识您 for 很高兴为您服务: other sounds).

The margin a phrase needs depends on its length (:data:`ACCEPT`; phrases shorter than every band
are not tried), and the phrase must also beat the rubric's other phrases put in at the same place
(:data:`RIVAL_LEAD`): the decision is a likelihood ratio against the best competing text, the
heard one or a rival. A phrase check answers "yes" on an accepted verdict (the evidence says what
was heard, what was tried and the margins); otherwise the check answers as the transcript alone
would.
Two rules settle doubt the other way: an absence in low-confidence speech answers "no" when every
place tried is far less likely than the heard text (:data:`REJECT`, :func:`absent`), and a
forbidden-word check in doubt only for low confidence answers "yes" when every forbidden word is
(:data:`CLEAR`, :func:`cleared`). Forbidden words are never *verified*: the margin cannot tell
笨蛋 from the innocent 本单 (measured, see scoring/checks.py). Thresholds per language, set on
development seeds of the Mandarin evaluation set and checked on a fresh held-out one
(docs/benchmarks.md, "Forced verification, second pass"; re-chosen on primed transcripts in
"Mandarin scoring, 2026-12-04").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from scoring import phonetic
from scoring.check_base import ForcedScore
from scoring.conversation import Conversation, is_cjk, said_by
from scoring.matching import segment_units
from scoring.rubric import PhraseCheck, Rubric

# Least pinyin similarity (with tones) of a place in a segment for the phrase to be tried there.
CANDIDATE = 0.35
PLACES = 2  # places tried per phrase and segment (the likeliest by sound is not always the right one)
# Per-character log-probability margin (phrase put in − text as heard) at and above which a phrase is
# taken as said, per language and phrase length: (least characters, margin), longest first; a phrase
# shorter than every band is not tried. Measured on the Mandarin evaluation set (docs/benchmarks.md):
# with few syllables the decoder's language model outweighs the audio (a stock phrase is about as
# likely as a garbled heard word), so short phrases need a higher margin. Re-chosen on primed
# (callqc's default) development transcripts ("Mandarin scoring, 2026-12-04", bench/zh_retune.py):
# 2-character phrases are no longer tried (再见 put in for 来电 scored +2.2 in a call that said no
# goodbye) and 5+ need -1.5 (感谢您的来电 for 现为您的来电 scored -1.6 in the same call).
ACCEPT: dict[str, tuple[tuple[int, float], ...]] = {"zh": ((5, -1.5), (4, 0.5), (3, -1.0))}
# A phrase must also beat every rival put in at the same place by this much per character: the
# rubric's other phrases (请问有什么可以帮您, a greeting, where 还有什么可以帮您 is tried). Without a
# rival the heard text alone is the background.
RIVAL_LEAD = 0.0
# An absence in low-confidence speech (otherwise "insufficient") counts as "no" when every place
# tried scored below this margin per character, per language; None: off. Set on the development seeds.
REJECT: dict[str, float | None] = {"zh": -3.0}
# A forbidden-word check in low-confidence speech with no hit (otherwise "insufficient") answers "yes"
# when every place tried scored below this margin per character (see cleared); None: off.
CLEAR: dict[str, float | None] = {"zh": -3.0}
RIVAL_SOUND = 0.5  # least pinyin similarity of a rival to the phrase for it to be tried beside it
CHUNK_S = 29.0  # the speaker's segments are grouped into stretches the encoder hears at once (≤ 30 s)


def threshold(phrase: str, lang: str = "zh") -> float | None:
    """The margin a phrase needs to count as said; None: a phrase this short is not tried."""
    n = len(phrase)
    return next((a for least, a in ACCEPT.get(lang, ()) if n >= least), None)


@dataclass(frozen=True)
class Verdict:
    """One phrase tried at one place: what was heard there, and how the decoder weighed the two."""

    phrase: str
    seg: int  # index into conv.segments
    start: float
    end: float
    heard: str  # the heard characters the phrase replaced
    similarity: float  # pinyin similarity of the place
    margin: float  # (log P(with phrase) − log P(as heard)) / characters of the phrase
    rival: str | None = None  # the likeliest rival at the same place, if any was tried
    lead: float | None = None  # (log P(with phrase) − log P(with the rival)) / characters of the phrase

    def describe(self) -> str:
        rival = f", {self.lead:+.2f} against {self.rival!r}" if self.rival is not None and self.lead is not None else ""
        return (f"forced decoding: {self.phrase!r} where {self.heard!r} was heard, "
                f"{self.margin:+.2f} log-probability per character against the heard text{rival}")


def applies(rubric: Rubric) -> bool:
    """Whether any phrase check of ``rubric`` lists Chinese (the only phrases verified)."""
    return any(isinstance(it.check, PhraseCheck) and any(is_cjk(ch) for p in it.check.any_ or [] for ch in p)
               for sec in rubric.sections for it in sec.items)


def absent(verdicts: Sequence[Verdict], lang: str = "zh") -> bool:
    """Every place tried (none, when nothing sounds like a phrase) was far less likely than what was
    heard: the phrase was not said, even though the speech was of low ASR confidence."""
    floor = REJECT.get(lang)
    return floor is not None and all(v.margin < floor for v in verdicts)


def cleared(verdicts: Sequence[Verdict], lang: str = "zh") -> bool:
    """A forbidden-word check's doubt (low-confidence speech, no hit) lifted by the audio: the words
    were tried at the places that sound most like them and each was far less likely than what was
    heard. Only ever used to clear: the decoder over-rates insults (笨蛋 over the innocent 本单), so
    a high score is no proof, but a very low one means the audio says something else. With nothing
    tried (nothing sounds like a forbidden word) the doubt stays."""
    floor = CLEAR.get(lang)
    return floor is not None and bool(verdicts) and all(v.margin < floor for v in verdicts)


def rivals_of(rubric: Rubric) -> tuple[str, ...]:
    """Every Chinese phrase of ``rubric``'s phrase checks: the rivals a tried phrase must beat."""
    return tuple(dict.fromkeys(p for sec in rubric.sections for it in sec.items if isinstance(it.check, PhraseCheck)
                               for p in it.check.any_ or it.check.all_ or [] if any(is_cjk(ch) for ch in p)))


def accepted(v: Verdict, lang: str = "zh") -> bool:
    """The phrase explains the audio about as well as what was heard, and better than any rival."""
    need = threshold(v.phrase, lang)
    return (need is not None and v.margin >= need - 1e-9
            and (v.lead is None or v.lead >= RIVAL_LEAD - 1e-9))


def stretches(conv: Conversation, speaker: str | None) -> list[list[int]]:
    """The speaker's segments (indices) grouped in time order into stretches of at most CHUNK_S."""
    out: list[list[int]] = []
    start = 0.0
    for idx, seg in enumerate(conv.segments):
        if not said_by(seg, speaker) or not seg.text.strip():
            continue
        if out and seg.channel == conv.segments[out[-1][0]].channel and seg.end - start <= CHUNK_S:
            out[-1].append(idx)
        else:
            out.append([idx])
            start = seg.start
    return out


def _chars(conv: Conversation, idx: int) -> list[tuple[int, str, float]]:
    """(position in the segment's stripped text, character, start time) of each Chinese character."""
    seg = conv.segments[idx]
    pos = [(k, ch) for k, ch in enumerate(seg.text.strip()) if is_cjk(ch)]
    timed = [u for u in segment_units(seg, idx) if is_cjk(u.text[0])]
    if len(timed) == len(pos):
        return [(k, ch, u.start) for (k, ch), u in zip(pos, timed, strict=True)]
    step = seg.duration / max(1, len(pos))
    return [(k, ch, seg.start + j * step) for j, (k, ch) in enumerate(pos)]


def places(conv: Conversation, idx: int, phrase: str, lo: float, hi: float, *,
           every_length: bool = False) -> list[tuple[float, int, int]]:
    """The :data:`PLACES` places of segment ``idx`` inside [lo, hi] that sound most like ``phrase``
    and at least :data:`CANDIDATE` alike: (similarity, first, last position in the text), best first.
    A place whose characters already are the phrase is left out: trying it tests nothing."""
    chars = [c for c in _chars(conv, idx) if lo <= c[2] <= hi]
    want = phonetic.syllables(list(phrase))
    if not chars or not want or None in want or (threshold(phrase) is None and not every_length):
        return []
    heard = phonetic.syllables([c[1] for c in chars])
    n = len(want)
    found: list[tuple[float, int, int]] = []
    for size in sorted({max(1, n - 1), n, n + 1}):
        for k in range(len(chars) - size + 1):
            run = chars[k:k + size]
            if any(b[0] - a[0] > 2 for a, b in zip(run, run[1:], strict=False)):
                continue  # the run jumps over words outside the window
            if "".join(c[1] for c in run) == phrase:
                continue
            sim = phonetic.similarity(want, heard[k:k + size])
            if sim >= CANDIDATE - 1e-9:
                found.append((sim, run[0][0], run[-1][0]))
    found.sort(key=lambda f: (-f[0], f[1], f[2]))
    return found[:PLACES]  # overlapping ones too: the best place may be one character longer


def _rivals(phrase: str, phrases: Sequence[str], rivals: Sequence[str]) -> list[str]:
    """The rivals tried beside ``phrase``: not one of the check's own phrases, of about its length,
    and sounding somewhat like it (a rival nothing like the phrase cannot win at its place)."""
    want = phonetic.syllables(list(phrase))
    return [r for r in rivals if r not in phrases and abs(len(r) - len(phrase)) <= 2
            and phonetic.similarity(want, phonetic.syllables(list(r))) >= RIVAL_SOUND - 1e-9]


def _put(texts: list[str], j: int, a: int, b: int, words: str) -> str:
    """The stretch's text with characters a..b of its segment j replaced by ``words``."""
    return "".join([*texts[:j], texts[j][:a] + words + texts[j][b + 1:], *texts[j + 1:]])


def verify(conv: Conversation, forced: ForcedScore, speaker: str | None, phrases: Sequence[str],
           lo: float, hi: float, rivals: Sequence[str] = (), *, every_length: bool = False) -> list[Verdict]:
    """Every phrase tried at its best places in each of the speaker's segments in [lo, hi], best
    margin first; each against the heard text and against ``rivals`` (see :func:`_rivals`), each
    put in at the same place and at its own likeliest places in the segment."""
    tries: dict[int, list[tuple[str, float, int, int]]] = {}
    for idx, seg in enumerate(conv.segments):
        if said_by(seg, speaker) and seg.end >= lo and seg.start <= hi:
            for p in phrases:
                for sim, a, b in places(conv, idx, p, lo, hi, every_length=every_length):
                    tries.setdefault(idx, []).append((p, sim, a, b))
    against = {p: _rivals(p, phrases, rivals) for p in phrases}
    out: list[Verdict] = []
    for group in stretches(conv, speaker):
        mine = [i for i in group if i in tries]
        channel = conv.segments[group[0]].channel
        if not mine or channel is None:  # a segment stored without its channel cannot be heard again
            continue
        segs = [conv.segments[i] for i in group]
        texts = [s.text.strip() for s in segs]
        asked: list[str] = ["".join(texts)]
        meta: list[tuple[int, str, float, int, int, list[str]]] = []
        for i in mine:
            j = group.index(i)
            for p, sim, a, b in tries[i]:
                # each rival at the phrase's place and at its own likeliest places in the segment
                rival_texts = [(r, _put(texts, j, a, b, r)) for r in against[p]]
                rival_texts += [(r, _put(texts, j, ra, rb, r)) for r in against[p]
                                for _, ra, rb in places(conv, i, r, lo, hi, every_length=True)]
                asked += [_put(texts, j, a, b, p), *(t for _, t in rival_texts)]
                meta.append((i, p, sim, a, b, [r for r, _ in rival_texts]))
        scores = iter(forced(channel, segs[0].start, segs[-1].end, asked))
        base = next(scores)
        for i, p, sim, a, b, rs in meta:
            score = next(scores)
            rival_scores = [(next(scores), r) for r in rs]
            # a rival the heard text already holds is the heard text itself
            rival_scores += [(base, r) for r in dict.fromkeys(rs) if r in conv.segments[i].text]
            best = max(rival_scores, default=None)
            times = [t for k, _, t in _chars(conv, i) if a <= k <= b]
            seg = conv.segments[i]
            out.append(Verdict(p, i, times[0] if times else seg.start, times[-1] if times else seg.end,
                               seg.text.strip()[a:b + 1], sim, (score - base) / max(1, len(p)),
                               best[1] if best else None, (score - best[0]) / max(1, len(p)) if best else None))
    return sorted(out, key=lambda v: -v.margin)
