"""Re-choose the forced-verification thresholds on cached transcripts (no transcription).

``python -m bench.zh_retune DIR [DIR…] [--mode hotwords-unprimed] [--top 15]`` reads each scored set
(``labels.json``, ``transcripts-<mode>.json`` and the forced decoder's cache ``forced-<mode>.json``,
all written by ``python -m bench.zh_scoring --out DIR --verify --modes <mode>``), scores the
transcripts alone, finds every phrase verdict (:func:`bench.zh_verify.verdicts`: the model runs
only for a text the cache lacks), and sweeps the decision rule of :mod:`scoring.verification` over
the sets *together*: the least margin per phrase-length band, whether rivals count, and the
absence rule's floor. It prints agreement, phrase recall, phrase false positives and said phrases
newly answered "no" per setting: callqc's current rule first, then the best with at most 2 % false
positives (ties: the smallest change from the current rule first). Give it development sets only:
a threshold read off a held-out set is not held out.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from bench import zh_verify
from bench.zh_scoring import conversation, pct, score
from scoring import verification

# Wider than zh_verify.BANDS above 0: on primed transcripts a stock phrase put in over a garbled
# stretch can score well above the heard text (不好意思 for 不快,致电: +2.09 per character).
BANDS = {5: (-1.0, -1.5, -2.0, -2.5, -3.0), 4: (None, 2.5, 2.0, 1.5, 1.0, 0.5, 0.0, -0.5, -1.0),
         3: (None, 2.0, 1.5, 1.0, 0.5, 0.0, -0.5, -1.0), 2: (None, 1.0, 0.5, 0.0)}
REJECTS: tuple[float | None, ...] = (None, -2.0, -3.0, -4.0)


def load(out: Path, mode: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The set's rows scored from the transcript alone, and its phrase verdicts."""
    calls = json.loads((out / "labels.json").read_text(encoding="utf-8"))
    transcripts = json.loads((out / f"transcripts-{mode}.json").read_text(encoding="utf-8"))
    calls = [c for c in calls if c["name"] in transcripts["calls"]]
    rows = score(calls, transcripts)["rows"]
    return rows, zh_verify.verdicts(calls, transcripts, out, mode, conversation, rows)


def evaluate(cfg: dict[str, Any], rows: list[dict[str, Any]], vrows: list[dict[str, Any]]) -> dict[str, Any]:
    """Answers under one rule: the transcript's, with each verdict row decided again."""
    # forbidden words: callqc's clearing rule in every row (not swept here; zh_scoring --verify sweeps it)
    decided = {(v["call"], v["item"]): zh_verify.decide(v, cfg["accept"], cfg["rivals"], cfg["reject"],
                                                        verification.CLEAR["zh"]) for v in vrows}
    phrase = [r for r in rows if r["item"] != "no-abuse"]
    answer = {id(r): decided.get((r["call"], r["item"]), r["answer"]) for r in rows}
    return {"label": zh_verify.label(cfg), "n": len(rows),
            "agree": sum(answer[id(r)] == r["label"] for r in rows),
            "recall": (sum(answer[id(r)] == "yes" for r in phrase if r["label"] == "yes"),
                       sum(r["label"] == "yes" for r in phrase)),
            "fp": (sum(answer[id(r)] == "yes" for r in phrase if r["label"] == "no"),
                   sum(r["label"] == "no" for r in phrase)),
            "new_no": sum(answer[id(r)] == "no" != r["answer"] for r in phrase if r["label"] == "yes"),
            "fp_rows": [f"{r['call']} {r['item']}" for r in phrase if r["label"] == "no" and answer[id(r)] == "yes"]}


def change(cfg: dict[str, Any], now: dict[str, Any]) -> float:
    """How far a rule is from callqc's current one (the tie-break: among equally good rules on a
    few development calls, the smallest change); a band added or removed counts 3."""
    def gap(a: float | None, b: float | None) -> float:
        return 0.0 if a == b else 3.0 if a is None or b is None else abs(a - b)

    bands, old = dict(cfg["accept"]), dict(now["accept"])
    return (sum(gap(bands.get(n), old.get(n)) for n in BANDS) + gap(cfg["reject"], now["reject"])
            + 3.0 * (cfg["rivals"] != now["rivals"]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sets", type=Path, nargs="+")
    ap.add_argument("--mode", default="hotwords-unprimed")
    ap.add_argument("--top", type=int, default=15)
    args = ap.parse_args()
    rows: list[dict[str, Any]] = []
    vrows: list[dict[str, Any]] = []
    for i, out in enumerate(args.sets):
        r, v = load(out, args.mode)
        tag = f"{i}:"  # the sets' calls share names (zh-00…): keep them apart
        rows += [{**x, "call": tag + x["call"]} for x in r]
        vrows += [{**x, "call": tag + x["call"]} for x in v]
    now = zh_verify.current()
    current = evaluate(now, rows, vrows)
    rules = zh_verify.grid(BANDS, REJECTS)
    results = sorted(({**evaluate(cfg, rows, vrows), "change": change(cfg, now)} for cfg in rules),
                     key=lambda s: (s["fp"][0] > 0.02 * s["fp"][1], -s["agree"], s["fp"][0], -s["recall"][0],
                                    s["change"]))
    sets = ", ".join(map(str, args.sets))
    print(f"{len(rows)} answers in {len(args.sets)} set(s) ({sets}), `{args.mode}` transcripts; "
          f"transcript alone: {pct(sum(r['answer'] == r['label'] for r in rows), len(rows))}\n")
    print("| rule | agreement | phrase recall | phrase false positives | said phrases newly answered no "
          "| false positives |\n|---|---|---|---|---|---|")
    for s in [current, *results[:args.top]]:
        print(f"| {s['label']}{' (callqc now)' if s is current else ''} | {pct(s['agree'], s['n'])} "
              f"| {pct(*s['recall'])} | {pct(*s['fp'])} | {s['new_no']} | {', '.join(s['fp_rows']) or '–'} |")


if __name__ == "__main__":
    main()
