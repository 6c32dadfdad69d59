"""Forced verification on the Mandarin evaluation set (``python -m bench.zh_scoring --verify``).

Each call's phrase checks are scored again with the call's audio through the model
(:class:`transcribe.forcing.ForcedScorer`, :mod:`scoring.verification`), sweeping the margin at which
a phrase counts as said (``verification.ACCEPT['zh']``). The decoder's log-probabilities are cached
in ``OUT/forced-<mode>.json`` (per call: every stretch and text asked, and the CPU seconds spent), so
a second run and the sweep cost no model time.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from scoring import verification
from scoring.check_base import ForcedScore

# (least pinyin similarity of a place tried, least margin per character accepted); None: no verification
# (the transcript alone). The loosest candidate threshold runs first: every other one tries a subset.
SWEEP: tuple[tuple[float, float] | None, ...] = (
    None, *((c, a) for c in (0.35, 0.45, 0.55) for a in (0.0, -0.5, -1.0, -1.5, -2.0, -2.5, -3.0)))


class CachedForced:
    """A call's :class:`~transcribe.forcing.ForcedScorer`, made only when the cache lacks an answer."""

    def __init__(self, call: dict[str, Any], cache: dict[str, Any], model: Callable[[], Any]) -> None:
        self.call, self.model = call, model
        self.entry = cache.setdefault(call["name"], {"scores": {}, "cpu_s": 0.0, "encodes": 0})
        self._scorer: Any = None

    def __call__(self, channel: int, start: float, end: float, texts: Sequence[str]) -> list[float]:
        got = self.entry["scores"].setdefault(f"{channel}|{start:.2f}|{end:.2f}", {})
        missing = list(dict.fromkeys(t.strip() for t in texts if t.strip() not in got))
        if missing:
            if self._scorer is None:
                from transcribe.audio import decode, to_float
                from transcribe.forcing import ForcedScorer

                window = next(iter(decode(Path(self.call["path"])).windows(window_s=3600.0)))
                self._scorer = ForcedScorer(self.model(), [to_float(ch) for ch in window.channels], language="zh")
            cpu, encodes = self._scorer.cpu_s, self._scorer.encodes
            got.update(zip(missing, self._scorer(channel, start, end, missing), strict=True))
            self.entry["cpu_s"] += self._scorer.cpu_s - cpu
            self.entry["encodes"] += self._scorer.encodes - encodes
        return [got[t.strip()] for t in texts]


def label(th: tuple[float, float] | None) -> str:
    return "None" if th is None else f"{th[0]:.2f} / {th[1]:+.2f}"


def sweep(calls: list[dict], transcripts: dict[str, Any], out: Path, mode: str,
          score: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    """Scores at every threshold of :data:`ACCEPT_SWEEP`, and the verification's CPU cost."""
    path = out / f"forced-{mode}.json"
    cache: dict[str, Any] = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    whisper: list[Any] = []

    def model() -> Any:
        if not whisper:
            from transcribe.engine import ComputeSettings, Transcriber
            from transcribe.models import resolve_model

            whisper.append(Transcriber(resolve_model("base"), ComputeSettings(num_workers=1)).whisper)
        return whisper[0]

    def forced_for(name: str) -> ForcedScore:
        return CachedForced(next(c for c in calls if c["name"] == name), cache, model)

    saved, saved_candidate = dict(verification.ACCEPT), verification.CANDIDATE
    results: dict[str, Any] = {}
    try:
        for th in SWEEP:
            if th is not None:
                verification.CANDIDATE, verification.ACCEPT["zh"] = th
            results[label(th)] = score(calls, transcripts, forced=forced_for if th is not None else None)
            path.write_text(json.dumps(cache, ensure_ascii=False), encoding="utf-8")
    finally:
        verification.ACCEPT.clear()
        verification.ACCEPT.update(saved)
        verification.CANDIDATE = saved_candidate
    names = [c["name"] for c in calls]
    return {"by_threshold": results, "cpu_s": sum(cache[n]["cpu_s"] for n in names if n in cache),
            "encodes": sum(cache[n]["encodes"] for n in names if n in cache),
            "asked": sum(len(v) for n in names if n in cache for v in cache[n]["scores"].values())}


def report(calls: list[dict], results: dict[str, Any], pct: Callable[..., str], items: Sequence[str]) -> list[str]:
    """Markdown lines: the sweep per decoding mode, per item at the default threshold, CPU."""
    lines: list[str] = []
    default = label((verification.CANDIDATE, verification.ACCEPT["zh"]))
    for mode, res in results.items():
        if "verify" not in res:
            continue
        v = res["verify"]
        tr = res["transcripts"]
        lines += ["", f"Forced verification, `{mode}` transcripts (place tried at pinyin similarity ≥ c, phrase "
                  "accepted at a margin ≥ a log-probability per character; None = transcript only):", "",
                  "| c / a | agreement | sent to review | phrase recall | phrase false positives "
                  "| abuse caught (no or review) | abuse answered no | abuse false alarms (no) "
                  "| clean calls sent to review (abuse) |", "|---|---|---|---|---|---|---|---|---|"]
        for th, s in v["by_threshold"].items():
            lines.append(f"| {th}{' (default)' if th == default else ''} | {pct(s['agree'], s['n'])} "
                         f"| {pct(s['review'], s['n'])} | {pct(*s['recall'])} | {pct(*s['fp'])} "
                         f"| {pct(*s['abuse_caught'])} | {pct(*s['abuse_no'])} | {pct(*s['abuse_fp'])} "
                         f"| {pct(*s['abuse_review'])} |")
        before, after = v["by_threshold"]["None"], v["by_threshold"].get(default)
        if after:
            lines += ["", f"Per item (`{mode}`): transcript only → verified at {default}:", "",
                      "| item | transcript only | verified |", "|---|---|---|"]
            for item in items:
                b, a = before["per_item"][item], after["per_item"][item]
                lines.append(f"| {item} | {pct(b['agree'], b['n'])}, {b['review']} to review "
                             f"| {pct(a['agree'], a['n'])}, {a['review']} to review |")
        n = len(calls)
        lines += ["", f"CPU (`{mode}`): transcription {tr['cpu_s'] / n:.1f} s per call; verification "
                  f"{v['cpu_s'] / n:.1f} s per call ({v['encodes']} encoder passes, {v['asked']} texts "
                  f"scored for {n} calls), i.e. {100 * v['cpu_s'] / max(tr['cpu_s'], 1e-9):.0f} % of the "
                  "transcription's CPU."]
    return lines
