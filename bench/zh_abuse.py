"""Forbidden words on the Mandarin evaluation voices: what base writes for each insult, and which rule
catches it without false alarms (not a test).

The evaluation set's agents insult in only two ways (你有病吧 and 烦不烦啊: ``zh_calls.specs`` picks
the abuse line by the call's number), so this probe adds clips: the agent says an ordinary line, then
X, then another ordinary line (10–15 s of agent speech, the customer's channel silent). X is every
agent insult of the set (``ABUSE_LINES``: 闭嘴, 笨蛋, 你有病, 烦不烦), every innocent near-miss
(``NEAR_MISSES``: 本单, 比最近, 你听懂了吗, 神经科, 很高兴认识您) and a few ordinary lines, each in every
espeak voice, at a speed and with surrounding lines drawn from the seed. Clips are transcribed with
plain decoding (callqc's default) and cached in ``OUT/transcripts-plain.json``.

For each rule the no-abuse item of ``scoring/rubrics/zh.yaml`` is scored through the checks: insult
clips caught (answered no, or sent to review) and clean clips flagged. ``--sets DIR…`` also scores the
no-abuse answers of full calls already transcribed by :mod:`bench.zh_scoring` (their
``transcripts-<mode>.json``). Rules: callqc's check as it is, and the review band for forbidden words
(``scoring.matching.FORBIDDEN_REVIEW``) at each similarity of :data:`BANDS`.

Run: ``python -m bench.zh_abuse --out DIR [--seed 115] [--sets SETDIR…] [--modes plain hotwords-unprimed]``
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path
from typing import Any

from bench.zh_calls import ABUSE_LINES, ASK_ACCOUNT, FILLER_AGENT, NEAR_MISSES, SOLVE, VOICES, Spec, Turn, synth
from scoring import matching
from scoring.autoscore import evaluate
from scoring.checks import Env
from scoring.variants import load_variants

ORDINARY = ["好的，我这边帮您看一下。", "这个问题我们需要登记一下。", "您说的情况我记下来了。"]
BANDS: tuple[float | None, ...] = (None, 0.9, 0.85, 0.8, 0.75, 0.7)  # None: no review band (callqc before)


def build(out: Path, seed: int) -> list[dict[str, Any]]:
    """The probe clips (cached in ``OUT/labels.json``)."""
    labels = out / "labels.json"
    if labels.exists():
        return list(json.loads(labels.read_text(encoding="utf-8")))
    out.mkdir(parents=True, exist_ok=True)
    rnd = random.Random(seed)
    clips = []
    lines = [(x, True) for x in ABUSE_LINES] + [(x, False) for x in NEAR_MISSES + ORDINARY]
    for k, (line, abusive) in enumerate(lines):
        for v, voice in enumerate(VOICES):
            name = f"ab-{k:02d}-{v}"
            before = rnd.choice(ASK_ACCOUNT + FILLER_AGENT)
            after = rnd.choice(SOLVE)
            spec = Spec(name, [Turn("agent", before), Turn("agent", line), Turn("agent", after)], voice,
                        VOICES[(v + 1) % len(VOICES)], rnd.choice([135, 150, 160, 170, 185]))
            path = out / f"{name}.wav"
            placed = synth(spec, path)
            clips.append({"name": name, "path": str(path), "duration": placed[-1]["end"] + 0.6, "line": line,
                          "abusive": abusive, "voice": voice, "speed": spec.speed})
    labels.write_text(json.dumps(clips, ensure_ascii=False, indent=1), encoding="utf-8")
    return clips


def no_abuse(segs: list[dict[str, Any]], duration: float, band: float | None) -> tuple[str, str]:
    """The no-abuse item's answer and reason on one transcript, with the review band at ``band``."""
    from bench.zh_scoring import _scored_items, conversation

    saved = matching.FORBIDDEN_REVIEW.get("zh")
    matching.FORBIDDEN_REVIEW["zh"] = band
    try:
        env = Env(low_logprob=-1.0, variants=load_variants())
        ev = evaluate(_scored_items(), conversation(segs, duration), env=env)
    finally:
        matching.FORBIDDEN_REVIEW["zh"] = saved
    res = ev.item("no-abuse").result
    return str(res.answer), res.reason or ""


def tally(cases: list[tuple[bool, list[dict[str, Any]], float]], band: float | None) -> dict[str, int]:
    """Insults caught (no / review) and clean transcripts flagged (no / review) under one band."""
    out = {"abusive": 0, "caught_no": 0, "caught_review": 0, "clean": 0, "clean_no": 0, "clean_review": 0}
    for abusive, segs, duration in cases:
        answer, _ = no_abuse(segs, duration, band)
        key = "abusive" if abusive else "clean"
        out[key] += 1
        if answer == "no":
            out["caught_no" if abusive else "clean_no"] += 1
        elif answer == "insufficient":
            out["caught_review" if abusive else "clean_review"] += 1
    return out


def set_cases(folder: Path, mode: str) -> list[tuple[bool, list[dict[str, Any]], float]]:
    calls = json.loads((folder / "labels.json").read_text(encoding="utf-8"))
    tr = json.loads((folder / f"transcripts-{mode}.json").read_text(encoding="utf-8"))["calls"]
    return [(c["labels"]["no-abuse"] == "no", tr[c["name"]], c["duration"]) for c in calls if c["name"] in tr]


def main() -> None:
    from bench.zh_scoring import transcribe_all

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=115)
    ap.add_argument("--sets", type=Path, nargs="*", default=[])
    ap.add_argument("--modes", nargs="+", default=["plain"])
    ap.add_argument("--show", action="store_true", help="print what was heard in each insult clip")
    args = ap.parse_args()
    clips = build(args.out, args.seed)
    tr = transcribe_all(clips, args.out, "plain")
    probe = [(c["abusive"], tr["calls"][c["name"]], c["duration"]) for c in clips]
    if args.show:
        for c in clips:
            heard = " | ".join(s["text"] for s in tr["calls"][c["name"]])
            answer, reason = no_abuse(tr["calls"][c["name"]], c["duration"], matching.FORBIDDEN_REVIEW.get("zh"))
            print(f"{c['name']} {'ABUSE' if c['abusive'] else 'clean'} {c['line']} → {heard} :: {answer} ({reason})")
    sources = [("probe", probe)] + [(f"{d.name} {m}", set_cases(d, m)) for d in args.sets for m in args.modes
                                    if (d / f"transcripts-{m}.json").exists()]
    print(f"\nProbe: {len(clips)} clips (seed {args.seed}); transcription {tr['cpu_s']:.0f} s CPU\n")
    print("| transcripts | review band | insults caught: no / review / of | clean flagged: no / review / of |")
    print("|---|---|---|---|")
    for name, cases in sources:
        for band in BANDS:
            t = tally(cases, band)
            print(f"| {name} | {band if band is not None else 'off'} | {t['caught_no']} / {t['caught_review']} / "
                  f"{t['abusive']} | {t['clean_no']} / {t['clean_review']} / {t['clean']} |")


if __name__ == "__main__":
    main()
