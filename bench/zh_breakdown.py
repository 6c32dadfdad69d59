"""Why the Mandarin benchmark's answers disagree with the labels: one cause per disagreement.

``python -m bench.zh_breakdown OUT [--mode plain]`` reads a scored set (``OUT/labels.json``,
``OUT/rows.json`` and, after ``--verify``, ``OUT/rows-verify.json``, written by
:mod:`bench.zh_scoring`) and its transcripts, and sorts each disagreement into one cause:

- ``not heard``: nothing in the speaker's window sounds like any of the item's phrases (best pinyin
  similarity under :data:`HEARD`);
- ``near-homophone``: something sounds like a phrase (≥ :data:`HEARD`) but below the matcher's and
  the verifier's thresholds;
- ``window or speaker``: a phrase matches outside the item's window, or on the other party's channel;
- ``low confidence``: sent to review because the speech searched was of low ASR confidence;
- ``sound-alike or confusion``: a forbidden-word check sent to review on a sound-alike or a known
  ASR confusion (on a clean call: a false alarm an inspector clears);
- ``look-alike said`` / ``verified wrongly``: a phrase answered "yes" that was not said, by the
  transcript or by forced verification;
- ``abuse not heard``: an insult the transcript holds nothing of.

Label errors are found apart, by measuring where phrases land (``python -m bench.zh_calls OUT
--relabel``).
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path
from typing import Any

from bench.zh_calls import ITEMS
from scoring import phonetic
from scoring.conversation import Conversation
from scoring.matching import find, stream

HEARD = 0.5  # least pinyin similarity for "something like the phrase was heard"


def _best_sound(conv: Conversation, speaker: str, phrases: list[str], lo: float, hi: float) -> float:
    heard = [u.text for u in stream(conv, speaker, lo, hi)]
    sounds = phonetic.syllables(heard)
    best = 0.0
    for p in phrases:
        want = phonetic.syllables(list(p))
        n = len(want)
        for size in {max(1, n - 1), n, n + 1}:
            for k in range(len(sounds) - size + 1):
                best = max(best, phonetic.similarity(want, sounds[k:k + size]))
    return best


def _window(item: str, duration: float) -> tuple[float, float]:
    window = ITEMS[item][1]
    if window is None:
        return 0.0, duration
    side, s = window
    return (0.0, s) if side == "first" else (max(0.0, duration - s), duration)


def cause(row: dict[str, Any], conv: Conversation, duration: float) -> str:
    """One cause for one disagreeing row (see the module)."""
    item, label, answer, reason = row["item"], row["label"], row["answer"], row["reason"] or ""
    phrases = ITEMS[item][0]
    lo, hi = _window(item, duration)
    if item == "no-abuse":
        if label == "no":
            return "low confidence" if answer == "insufficient" else "abuse not heard"
        return "sound-alike or confusion" if "sound-alike" in reason else (
            "crosstalk" if "crosstalk" in reason else "low confidence")
    if label == "no":
        if answer == "yes":
            return "verified wrongly" if "verified" in reason else "look-alike said"
        return "low confidence"
    if answer == "insufficient":
        return "low confidence"
    everywhere = stream(conv, None, 0.0, duration)
    if any(find(p, everywhere, fuzzy=0.85) for p in phrases):
        return "window or speaker"
    return "near-homophone" if _best_sound(conv, "agent", phrases, lo, hi) >= HEARD else "not heard"


def breakdown(out: Path, mode: str, rows: list[dict[str, Any]]) -> Counter[tuple[str, str, str]]:
    from bench.zh_scoring import conversation

    calls = {c["name"]: c for c in json.loads((out / "labels.json").read_text(encoding="utf-8"))}
    transcripts = json.loads((out / f"transcripts-{mode}.json").read_text(encoding="utf-8"))["calls"]
    tally: Counter[tuple[str, str, str]] = Counter()
    for r in rows:
        if r["answer"] == r["label"]:
            continue
        c = calls[r["call"]]
        conv = conversation(transcripts[r["call"]], c["duration"])
        tally[(r["item"], f"{r['label']}→{r['answer']}", cause(r, conv, c["duration"]))] += 1
    return tally


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("--mode", default="plain")
    ap.add_argument("--threshold", help="a verification threshold label in rows-verify.json (e.g. '0.35 / -2.00')")
    args = ap.parse_args()
    if args.threshold:
        rows = json.loads((args.out / "rows-verify.json").read_text(encoding="utf-8"))[args.mode][args.threshold]
    else:
        rows = json.loads((args.out / "rows.json").read_text(encoding="utf-8"))[args.mode]
    tally = breakdown(args.out, args.mode, rows)
    print("| item | label→answer | cause | count |\n|---|---|---|---|")
    for (item, change, why), n in sorted(tally.items()):
        print(f"| {item} | {change} | {why} | {n} |")
    by_cause = Counter[str]()
    for (_, _, why), n in tally.items():
        by_cause[why] += n
    print("\n" + ", ".join(f"{why} {n}" for why, n in by_cause.most_common()))


if __name__ == "__main__":
    main()
