"""How far word times lie from where each line was really said, on a ``bench.pbx_speed`` run (not a test).

``bench.pbx_speed`` keeps every mode's transcripts (``raw-<tag>.json``) and its calls with their truth
(``calls-<tag>.json``: every line's placed start and end per speaker, the hold-music spans). For each
line said, the words whose middle lies within it (± ``--reach`` seconds) are taken; the first word's
start and the last word's end are compared with the line's edges. Reported per mode (``b``, ``c``, ...):
the median and 90th percentile of how early the first word starts and how late the last one ends,
the share of lines whose last word ends more than 0.3 s after the voice stopped, words whose middle
lies in hold music, and words lying in the other speaker's line while their own speaker was silent
(overtalk made by word times, not by speech).

``python -m bench.word_edges RUN_FOLDER [RUN_FOLDER ...] [--reach 0.6]``
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from bench.pbx_speed import quality

SPEAKERS = ("agent", "customer")


def edges(calls: list[dict], hyps: list[dict], reach: float) -> dict[str, float]:
    early, late, false_overtalk, lines = [], [], 0, 0
    for call, hyp in zip(calls, hyps, strict=True):
        for sp in SPEAKERS:
            words = hyp[sp]["words"]
            said = call["speech"][sp]
            other = call["speech"][SPEAKERS[1 - SPEAKERS.index(sp)]]
            for a, b in said:
                mine = [w for w in words if a - reach <= (w[0] + w[1]) / 2 <= b + reach]
                lines += 1
                if mine:
                    early.append(a - min(w[0] for w in mine))
                    late.append(max(w[1] for w in mine) - b)
            for w0, w1, _t in words:
                # the word's tail reaches into the other's line where its own speaker had stopped
                own = any(x <= w1 <= y for x, y in said)
                false_overtalk += (not own) and any(x <= w1 <= y and x > w0 for x, y in other)
    e, lt = np.array(early), np.array(late)
    in_hold = quality(calls, hyps)["words_in_hold"]  # counted as bench.pbx_speed counts it
    return {"lines": lines, "found": len(late),
            "early_median": float(np.median(e)), "early_p90": float(np.quantile(e, 0.9)),
            "late_median": float(np.median(lt)), "late_p90": float(np.quantile(lt, 0.9)),
            "late_over_0_3": float((lt > 0.3).mean() * 100), "words_in_hold": in_hold,
            "tails_into_other": false_overtalk}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--reach", type=float, default=0.6)
    args = ap.parse_args()
    print("| run | mode | lines (with words) | first word early: median / p90 | last word late: median / p90 "
          "| lines ending > 0.3 s late | words in hold | word tails into the other's line |")
    print("|---|---|---|---|---|---|---|---|")
    for run in args.runs:
        for raw in sorted(run.glob("raw-*.json")):
            tag = raw.stem[len("raw-"):]
            calls = json.loads((run / f"calls-{tag}.json").read_text())
            r = edges(calls, json.loads(raw.read_text())["hyps"], args.reach)
            print(f"| {run.name} | {tag[8:]} | {r['lines']} ({r['found']}) "
                  f"| {r['early_median']:.2f} / {r['early_p90']:.2f} s "
                  f"| {r['late_median']:.2f} / {r['late_p90']:.2f} s "
                  f"| {r['late_over_0_3']:.0f} % | {r['words_in_hold']} | {r['tails_into_other']} |")


if __name__ == "__main__":
    main()
