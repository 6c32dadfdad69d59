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

# Decision grid swept on the verdicts (no model time): the least margin per character per phrase
# length band (None: that band not tried), whether rivals count, and the absence rule's floor.
BANDS = {5: (-1.0, -1.5, -2.0, -2.5, -3.0), 4: (None, 0.5, 0.0, -0.5, -1.0, -1.5, -2.0),
         3: (None, 1.0, 0.5, 0.0, -0.5, -1.0), 2: (None, 1.0, 0.5, 0.0, -0.5)}
REJECTS: tuple[float | None, ...] = (None, -2.0, -3.0, -4.0, -5.0)
CLEARS: tuple[float | None, ...] = (None, -1.0, -2.0, -3.0, -4.0, -5.0)  # forbidden words: clearing doubt


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


def label(cfg: dict[str, Any]) -> str:
    bands = ", ".join(f"≥{n}: {a:+.1f}" for n, a in cfg["accept"])
    reject = "" if cfg["reject"] is None else f"; absent below {cfg['reject']:+.1f}"
    clear = "" if cfg.get("clear") is None else f"; forbidden cleared below {cfg['clear']:+.1f}"
    return f"{bands or 'none'}; rivals {'on' if cfg['rivals'] else 'off'}{reject}{clear}"


def current() -> dict[str, Any]:
    """callqc's rule as the code now has it."""
    return {"accept": verification.ACCEPT["zh"], "rivals": verification.RIVAL_LEAD is not None,
            "reject": verification.REJECT["zh"], "clear": verification.CLEAR["zh"]}


def _forced_cache(calls: list[dict], out: Path, mode: str) -> tuple[Path, dict[str, Any], Callable[[str], ForcedScore]]:
    path = out / f"forced-{mode}.json"
    cache: dict[str, Any] = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    whisper: list[Any] = []

    def model() -> Any:
        if not whisper:
            from transcribe.compute import ComputeSettings
            from transcribe.engine import Transcriber
            from transcribe.models import resolve_model

            whisper.append(Transcriber(resolve_model("base"), ComputeSettings(num_workers=1)).whisper)
        return whisper[0]

    def forced_for(name: str) -> ForcedScore:
        return CachedForced(next(c for c in calls if c["name"] == name), cache, model)

    return path, cache, forced_for


def verdicts(calls: list[dict], transcripts: dict[str, Any], out: Path, mode: str,
             conversation: Callable[..., Any], plain_rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every phrase row the transcript alone does not answer "yes": every phrase of every length tried
    at its places, with its margin against the heard text and its lead over the rubric's rivals."""
    from bench.zh_calls import ITEMS, PHRASE_ITEMS
    from bench.zh_scoring import RUBRIC
    from scoring.matching import find, stream
    from scoring.rubric import load_rubric

    path, cache, forced_for = _forced_cache(calls, out, mode)
    rivals = verification.rivals_of(load_rubric(RUBRIC).rubric)
    saved = dict(verification.ACCEPT)
    verification.ACCEPT["zh"] = ((2, -99.0),)
    rows = []
    try:
        for c in calls:
            conv = conversation(transcripts["calls"][c["name"]], c["duration"])
            forced = forced_for(c["name"])
            for r in plain_rows:
                if (r["call"] == c["name"] and r["item"] == "no-abuse" and r["answer"] == "insufficient"
                        and r["reason"].startswith("low ASR confidence")):  # doubt with no hit: may be cleared
                    vs = verification.verify(conv, forced, "agent", ITEMS["no-abuse"][0], 0.0, c["duration"],
                                             every_length=True)
                    rows.append({**r, "shaky": False, "verdicts": [
                        {"phrase": v.phrase, "n": len(v.phrase), "margin": v.margin, "heard": v.heard} for v in vs]})
                if r["call"] != c["name"] or r["item"] not in PHRASE_ITEMS or r["answer"] == "yes":
                    continue
                phrases, window = ITEMS[r["item"]]
                lo, hi = (0.0, c["duration"]) if window is None else (
                    (0.0, window[1]) if window[0] == "first" else (max(0.0, c["duration"] - window[1]), c["duration"]))
                units = stream(conv, "agent", lo, hi)
                shaky = any(find(p, units, fuzzy=0.85, toneless_short=True) for p in phrases)
                vs = verification.verify(conv, forced, "agent", phrases, lo, hi, rivals)
                rows.append({**r, "shaky": shaky, "verdicts": [
                    {"phrase": v.phrase, "n": len(v.phrase), "margin": v.margin, "lead": v.lead, "rival": v.rival,
                     "heard": v.heard, "sim": v.similarity} for v in vs]})
            path.write_text(json.dumps(cache, ensure_ascii=False), encoding="utf-8")
    finally:
        verification.ACCEPT.clear()
        verification.ACCEPT.update(saved)
    (out / f"verdicts-{mode}.json").write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")
    return rows


def decide(row: dict[str, Any], accept: tuple[tuple[int, float], ...], rivals: bool, reject: float | None,
           clear: float | None = None) -> str:
    """The phrase check's answer for a row of :func:`verdicts` under one decision rule (as
    scoring.checks.phrase decides: verified → yes; else the transcript's answer, or "no" by the
    absence rule in low-confidence speech with no shaky match)."""
    if row["item"] == "no-abuse":
        cleared = clear is not None and row["verdicts"] and all(v["margin"] < clear for v in row["verdicts"])
        return "yes" if cleared else row["answer"]

    def need(n: int) -> float | None:
        return next((a for least, a in accept if n >= least), None)

    tried = [v for v in row["verdicts"] if need(v["n"]) is not None]
    for v in tried:
        if v["margin"] >= need(v["n"]) - 1e-9 and (not rivals or v["lead"] is None or v["lead"] >= -1e-9):
            return "yes"
    if (reject is not None and row["answer"] == "insufficient" and not row["shaky"]
            and all(v["margin"] < reject for v in tried)):
        return "no"
    return row["answer"]


def grid(bands: dict[int, tuple[float | None, ...]] = BANDS,
         rejects: tuple[float | None, ...] = REJECTS) -> list[dict[str, Any]]:
    """Every rule the sweep tries: an acceptance margin per phrase length (``None``: that length not
    tried), rivals on or off, and a rejection margin."""
    out = []
    for a5 in bands[5]:
        for a4 in bands[4]:
            for a3 in bands[3]:
                for a2 in bands[2]:
                    accept = tuple((n, a) for n, a in ((5, a5), (4, a4), (3, a3), (2, a2)) if a is not None)
                    if [n for n, _ in accept] != [5, 4, 3, 2][:len(accept)]:
                        continue  # a shorter band only when every longer one is tried
                    for rivals in (False, True):
                        for reject in rejects:
                            out.append({"accept": accept, "rivals": rivals, "reject": reject})
    return out


def sweep_rules(vrows: list[dict[str, Any]], all_rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Agreement, recall and false positives of every rule of :func:`grid`, best agreement first (at
    most 2 % false positives)."""
    said = sum(r["item"] != "no-abuse" and r["label"] == "yes" for r in all_rows)
    unsaid = sum(r["item"] != "no-abuse" and r["label"] == "no" for r in all_rows)
    base_agree = sum(r["answer"] == r["label"] for r in all_rows)
    base_yes = sum(r["answer"] == "yes" and r["item"] != "no-abuse" and r["label"] == "yes" for r in all_rows)
    base_fp = sum(r["answer"] == "yes" and r["item"] != "no-abuse" and r["label"] == "no" for r in all_rows)
    out = []
    for cfg in grid():
        agree, tp, fp, false_no = base_agree, base_yes, base_fp, 0
        for r in vrows:
            if r["item"] == "no-abuse":
                continue
            a = decide(r, cfg["accept"], cfg["rivals"], cfg["reject"])
            agree += (a == r["label"]) - (r["answer"] == r["label"])
            tp += a == "yes" and r["label"] == "yes"
            fp += a == "yes" and r["label"] == "no"
            false_no += a == "no" and r["label"] == "yes" and r["answer"] != "no"
        out.append({**cfg, "label": label(cfg), "agree": agree, "n": len(all_rows), "recall": (tp, said),
                    "fp": (fp, unsaid), "new_false_no": false_no})
    return sorted(out, key=lambda s: (s["fp"][0] / max(1, s["fp"][1]) > 0.02, -s["agree"], s["fp"][0]))


def sweep_clear(vrows: list[dict[str, Any]], all_rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The forbidden-word clearing rule at each floor: clean calls cleared (sent to review before),
    abusive calls cleared (missed: the worse error)."""
    abuse = [r for r in vrows if r["item"] == "no-abuse"]
    out = []
    for clear in CLEARS:
        got = [(r, decide(r, (), False, None, clear)) for r in abuse]
        out.append({"clear": clear, "tried": len(abuse),
                    "clean_cleared": sum(a == "yes" and r["label"] == "yes" for r, a in got),
                    "abuse_cleared": sum(a == "yes" and r["label"] == "no" for r, a in got),
                    "clean": sum(r["item"] == "no-abuse" and r["label"] == "yes" for r in all_rows),
                    "abusive": sum(r["item"] == "no-abuse" and r["label"] == "no" for r in all_rows)})
    return out


def sweep(calls: list[dict], transcripts: dict[str, Any], out: Path, mode: str,
          score: Callable[..., dict[str, Any]], conversation: Callable[..., Any]) -> dict[str, Any]:
    """The transcript alone and callqc's rule scored through the checks, every rule of the grid on
    the verdicts, and the verification's CPU cost."""
    plain = score(calls, transcripts)
    vrows = verdicts(calls, transcripts, out, mode, conversation, plain["rows"])
    path, cache, forced_for = _forced_cache(calls, out, mode)
    verified = score(calls, transcripts, forced=forced_for)
    path.write_text(json.dumps(cache, ensure_ascii=False), encoding="utf-8")
    names = [c["name"] for c in calls]
    return {"by_threshold": {"None": plain, label(current()): verified}, "rules": sweep_rules(vrows, plain["rows"]),
            "clear": sweep_clear(vrows, plain["rows"]),
            "cpu_s": sum(cache[n]["cpu_s"] for n in names if n in cache),
            "encodes": sum(cache[n]["encodes"] for n in names if n in cache),
            "asked": sum(len(v) for n in names if n in cache for v in cache[n]["scores"].values())}


def report(calls: list[dict], results: dict[str, Any], pct: Callable[..., str], items: Sequence[str]) -> list[str]:
    """Markdown lines: callqc's rule against the transcript alone, per item, the best rules of the
    grid, CPU."""
    lines: list[str] = []
    default = label(current())
    for mode, res in results.items():
        if "verify" not in res:
            continue
        v = res["verify"]
        tr = res["transcripts"]
        lines += ["", f"Forced verification, `{mode}` transcripts (None = transcript only):", "",
                  "| rule | agreement | agreement, abuse sent to review counted | sent to review | phrase recall "
                  "| phrase false positives | abuse caught (no or review) | abuse answered no "
                  "| abuse false alarms (no) | clean calls sent to review (abuse) |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for th, s in v["by_threshold"].items():
            lines.append(f"| {th}{' (callqc)' if th == default else ''} | {pct(s['agree'], s['n'])} "
                         f"| {pct(s['routed_right'], s['n'])} "
                         f"| {pct(s['review'], s['n'])} | {pct(*s['recall'])} | {pct(*s['fp'])} "
                         f"| {pct(*s['abuse_caught'])} | {pct(*s['abuse_no'])} | {pct(*s['abuse_fp'])} "
                         f"| {pct(*s['abuse_review'])} |")
        before, after = v["by_threshold"]["None"], v["by_threshold"][default]
        lines += ["", f"Per item (`{mode}`): transcript only → callqc's rule:", "",
                  "| item | transcript only | verified |", "|---|---|---|"]
        for item in items:
            b, a = before["per_item"][item], after["per_item"][item]
            lines.append(f"| {item} | {pct(b['agree'], b['n'])}, {b['review']} to review "
                         f"| {pct(a['agree'], a['n'])}, {a['review']} to review |")
        lines += ["", "Decision rules on the same verdicts (the 12 with most agreement among those with ≤ 2 % "
                  "false positives first):", "",
                  "| rule | agreement | phrase recall | phrase false positives | said phrases now answered no |",
                  "|---|---|---|---|---|"]
        for s in v["rules"][:12]:
            lines.append(f"| {s['label']} | {pct(s['agree'], s['n'])} | {pct(*s['recall'])} | {pct(*s['fp'])} "
                         f"| {s['new_false_no']} |")
        lines += ["", "Forbidden words: low-confidence doubt with no hit cleared when every place tried scores "
                  "below the floor (margin per character):", "",
                  "| floor | no-abuse answers tried | clean calls cleared (were sent to review) "
                  "| abusive calls cleared (missed) |", "|---|---|---|---|"]
        for c in v["clear"]:
            lines.append(f"| {c['clear']} | {c['tried']} | {c['clean_cleared']} of {c['clean']} "
                         f"| {c['abuse_cleared']} of {c['abusive']} |")
        n = len(calls)
        lines += ["", f"CPU (`{mode}`): transcription {tr['cpu_s'] / n:.1f} s per call; verification "
                  f"{v['cpu_s'] / n:.1f} s per call ({v['encodes']} encoder passes, {v['asked']} texts "
                  f"scored for {n} calls), i.e. {100 * v['cpu_s'] / max(tr['cpu_s'], 1e-9):.0f} % of the "
                  "transcription's CPU."]
    return lines
