"""Prompt echoes: a phrase the decoder copied from its hotword prompt instead of hearing it.

Primed with the rubric's phrases (:mod:`transcribe.vocabulary`, "、" between them), the base model
sometimes writes the prompt itself into a call that lacks the phrases: "您好、欢迎致电、号话务员、
还有其他问题吗、" for a greeting that offered no more help. Such a copy has two marks, both needed
(measured on the Mandarin evaluation set, docs/benchmarks.md "Mandarin scoring"):

- the phrase touches the prompt's separator "、" (the copy keeps it; but a primed decoder also
  writes it between real phrases, "感谢来电、再见", so it is not enough alone), and
- the decoder gave its words a low probability: their mean is below :data:`LOW_PROBABILITY`
  (the copied 还有其他问题吗 had 0.07; a real phrase was as low only when it was short and
  mumbled, 工号 at 0.04, which the separator test spares when it stands outside a list).

With ``Env.prompt_echo`` on (off in callqc: measured, it only cost recall once transcription
re-decodes the copies), a phrase check treats such a match as uncertain: without another, sure match it answers
``insufficient`` and an inspector listens, rather than passing a phrase nobody said. It catches
only hesitant copies. A decoder that falls into the prompt often repeats it with confidence,
and on the 34-call set the rule removed 1 of 8 false positives. Transcription catches confident
copies itself: a chunk with a run of prompt phrases is decoded again without hotwords
(``transcribe.fallback.repair``).
"""

from __future__ import annotations

from statistics import fmean

from scoring.conversation import Conversation
from scoring.matching import Match
from storage.segments import Word
from transcribe.vocabulary import SEPARATOR

# Mean word probability below which a phrase beside the separator is taken for a copy of the prompt.
LOW_PROBABILITY = 0.1
_SEPARATORS = frozenset(SEPARATOR["zh"])


def _words(conv: Conversation, m: Match) -> tuple[list[Word], Word | None]:
    """The words the match was made of, and the word just before them in the same segment."""
    seg = conv.segments[m.segs[0]]
    inside: list[Word] = []
    before: Word | None = None
    for i in m.segs:
        for w in conv.segments[i].words:
            if m.start <= w.start and w.end <= m.end:
                inside.append(w)
            elif not inside and i == m.segs[0] and w.end <= m.start:
                before = w
    if not inside and seg.words:  # timing rounded past the words: take the segment's
        inside = list(seg.words)
    return inside, before


def _touches_separator(words: list[Word], before: Word | None) -> bool:
    # Whisper attaches punctuation to the word before it: "服务、" ends a phrase, "好、" precedes one.
    texts = [w.word for w in words] + ([before.word] if before else [])
    return any(ch in _SEPARATORS for t in texts for ch in t)


def echoed(conv: Conversation, m: Match, low_probability: float | None = None) -> bool:
    """Whether match ``m`` looks copied from the hotword prompt (see the module's rule);
    ``low_probability`` defaults to :data:`LOW_PROBABILITY` (read at each call, so a benchmark can sweep it).

    A segment without words (stored without word timestamps) cannot show either mark: never an echo.
    """
    words, before = _words(conv, m)
    if not words:
        return False
    limit = LOW_PROBABILITY if low_probability is None else low_probability
    return _touches_separator(words, before) and fmean(w.probability for w in words) < limit
