"""Precision of rule ``sounds`` on look-alikes (not a test): how often Mandarin text that is not a
number is read as one by its sound (transcribe/redaction/sounds.py).

Two looks, both on the repo's own Mandarin call text (scripts of the benchmarks and the demo, the
rubrics): (1) every line of it (6+ characters, no written digit) said by a customer after no cue, a
phone cue and an ID cue; (2) the worst case: runs of ``--length`` characters drawn at random (seeded)
from the sound-alike characters of that text only — every character maps to a digit, so each run is
a candidate number as a whole — after no cue, a phone, an ID and a card cue. Every hit is false.

``python -m bench.redaction_sounds [--seed 1] [--runs 2000] [--length 20]``
"""

from __future__ import annotations

import argparse
import random
import re
from collections import Counter
from pathlib import Path

from storage.segments import Segment, Word
from transcribe.redaction.detect import detect
from transcribe.redaction.rules import load_rules
from transcribe.redaction.sounds import candidates
from transcribe.redaction.spoken_numbers import ZH_DIGITS

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ["bench/zh_calls.py", "bench/zh_abuse.py", "bench/scale.py", "bench/redaction_set.py", "demo/synth.py",
           "demo/make_demo_calls.py", "scoring/rubrics/zh.yaml", "scoring/rubrics/forbidden_variants.yaml",
           "scoring/channel_cues.yaml"]
ASKS = {"no cue": "您好", "phone cue": "请问您的手机号码", "ID cue": "请提供身份证号码", "card cue": "请报一下卡号"}


def _seg(speaker: str, t0: float, text: str, channel: int) -> Segment:
    words, t = [], t0
    for k in range(0, len(text), 2):  # two characters a word, as Whisper's Chinese words often are
        words.append(Word(round(t, 2), round(t + 0.5, 2), text[k:k + 2]))
        t += 0.6
    return Segment(speaker=speaker, start=t0, end=t, text=text, words=tuple(words), channel=channel)


def _sound_hits(ask: str, said: str) -> list[str]:
    segs = [_seg("agent", 0, ask, 0), _seg("customer", 8, said, 1)]
    return [str(h.kind) for h in detect(segs, load_rules()) if h.rule == "sounds"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--runs", type=int, default=2000)
    ap.add_argument("--length", type=int, default=20)
    args = ap.parse_args()
    text = "".join((ROOT / f).read_text(encoding="utf-8") for f in SOURCES)
    lines = sorted({m for m in re.findall(r"[\u4e00-\u9fff，。、？！0-9]{6,}", text) if not re.search(r"\d", m)})
    for name, ask in list(ASKS.items())[:3]:
        false = Counter(k for line in lines for k in _sound_hits(ask, line))
        print(f"{len(lines)} lines of call text after {name}: false sound hits {dict(false) or 0}")
    rules = load_rules()
    chars = [c for c in re.findall(r"[\u4e00-\u9fff]", text) if candidates(c, rules) and c not in ZH_DIGITS]
    rnd = random.Random(args.seed)
    print(f"{len(chars)} sound-alike characters ({len(set(chars))} distinct) drawn into {args.runs} runs of "
          f"{args.length}, seed {args.seed}:")
    for name, ask in ASKS.items():
        false = Counter(k for _ in range(args.runs)
                        for k in _sound_hits(ask, "".join(rnd.choice(chars) for _ in range(args.length))))
        print(f"  after {name}: false sound hits {dict(false) or 0} "
              f"({100 * sum(false.values()) / args.runs:.2f} % of runs)")


if __name__ == "__main__":
    main()
