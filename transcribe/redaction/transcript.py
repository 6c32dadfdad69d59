"""Cutting hits out of a transcript: each hit's characters leave the words they were said in, and
its placeholder (``[CARD:16]``) takes the place of the first of them.

Only the characters of the number (or address) go: "my card number is 4111…" keeps "my card
number is", and a greeting or a forbidden word in the same segment stays for scoring to find.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace

from storage.segments import Segment, Word
from transcribe.redaction.hits import Hit
from transcribe.redaction.rules import PLACEHOLDERS

_LEFTOVER = re.compile(r"^[\s,.，。、;；:：\-–—/]*$")  # what is left of a word once its digits are cut


def placeholder(hit: Hit) -> str:
    return PLACEHOLDERS[hit.kind].format(n=hit.digits)


def _cut(text: str, cuts: list[tuple[int, int, str]]) -> str:
    out, pos = [], 0
    for lo, hi, put in sorted(cuts):
        if lo < pos:  # overlapping cuts (two hits in one character range): the first wins
            lo = pos
        out.append(text[pos:lo])
        out.append(put)
        pos = max(pos, hi)
    out.append(text[pos:])
    return "".join(out)


def redact_segments(segments: Sequence[Segment], hits: Sequence[Hit]) -> list[Segment]:
    """``segments`` with every hit cut out (see module docstring); untouched segments are returned as they are."""
    cuts: dict[tuple[int, int], list[tuple[int, int, str]]] = defaultdict(list)
    for hit in hits:
        label = placeholder(hit)
        for i, ref in enumerate(hit.refs):
            put = label if i == 0 else ""
            if i and hit.refs[i - 1].seg != ref.seg:
                put = label  # the hit goes on in the next segment: say so there too
            cuts[(ref.seg, ref.word)].append((ref.lo, ref.hi, put))
    out = []
    for si, seg in enumerate(segments):
        if not any(k[0] == si for k in cuts):
            out.append(seg)
            continue
        if not seg.words:
            out.append(replace(seg, text=_tidy(_cut(seg.text, cuts[(si, -1)]))))
            continue
        words: list[Word] = []
        for wi, w in enumerate(seg.words):
            c = cuts.get((si, wi))
            if not c:
                words.append(w)
                continue
            text = _cut(w.word, c)
            if text.strip() and not _LEFTOVER.match(text):
                words.append(replace(w, word=text))
            elif words and words[-1].word.strip().startswith("["):
                # all digits of a hit already shown: the word's time joins the placeholder
                words[-1] = replace(words[-1], end=max(words[-1].end, w.end))
        out.append(replace(seg, words=tuple(words), text=_tidy("".join(w.word for w in words))))
    return out


def _tidy(text: str) -> str:
    return " ".join(text.split()) if text.isascii() else text.strip()
