"""The cue words said around a moment of the call, by any speaker ("card number", "账号", "order
number"): what a run of digits is taken for."""

from __future__ import annotations

from transcribe.redaction.rules import Rules
from transcribe.redaction.runs import TimedWord, norm, window

CUE_WINDOW_S = 20.0  # how far back a cue is looked for
CUE_AFTER_S = 4.0  # "…, that's my card number" after the digits


class Cues:
    """The cue words said around a time, by any speaker, with where they were said."""

    def __init__(self, words: list[TimedWord], rules: Rules) -> None:
        self.words = words
        self.starts = [w.word.start for w in words]
        self.rules = rules

    def _text(self, lo: float, hi: float) -> tuple[str, str, list[int]]:
        """The words said in [lo, hi): spaced (Latin cues match whole words), unspaced (Chinese cues
        match across Whisper's word boundaries: 账 号 → 账号), and unspaced → spaced positions."""
        parts = [t for w in window(self.words, self.starts, lo, hi) if (t := norm(w.word.word))]
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
