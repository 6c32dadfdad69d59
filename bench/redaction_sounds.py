"""Precision of rule ``sounds`` on look-alikes (not a test): how often Mandarin text that is not a
number is read as one by its sound (transcribe/redaction/sounds.py).

Two looks, both on the repo's own Mandarin call text (scripts of the benchmarks and the demo, the
rubrics): (1) every line of it (6+ characters, no written digit) said by a customer after no cue, a
phone cue and an ID cue; (2) the worst case: runs of ``--length`` characters drawn at random (seeded)
from the sound-alike characters of that text only — every character maps to a digit, so each run is
a candidate number as a whole — after no cue, a phone, an ID and a card cue. Every hit is false.

``python -m bench.redaction_sounds [--seed 1] [--runs 2000] [--length 20]``. Also here: the
simulated ASR of ``python -m bench.redaction --homophones SEED P_DIGIT P_OTHER`` (:func:`homophone_segments`).
"""

from __future__ import annotations

import argparse
import random
import re
from collections import Counter, defaultdict
from functools import lru_cache
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


def homophone_segments(script: list[Segment], rnd: random.Random, p_digit: float, p_other: float) -> list[Segment]:
    """The script (one word per character, ``bench.redaction.oracle_segments``) as an ASR that writes
    homophones would: each Han character of the Mandarin script
    (both speakers) replaced, with probability ``p_digit`` for a numeral and ``p_other`` for any
    other, by a random character read with the same syllable, tone aside (pypinyin's dictionary,
    CJK basic block; 幺 as yao, 两 as liang). Digit counts stay whole: what rule ``sounds`` can do
    when the ASR keeps every digit but writes it as another character (its `soundalike_syllables`
    table is not consulted here, beyond a digit's own syllable)."""
    from pypinyin import Style, pinyin

    same = _homophones()
    out = []
    for seg in script:
        words = []
        for w in seg.words:
            c = w.word
            reads = pinyin(c, style=Style.NORMAL)[0] if "\u4e00" <= c <= "\u9fa5" else []
            p = p_digit if c in "零〇一幺二两三四五六七八九" else p_other
            pool = [x for x in same.get(reads[0], []) if x != c] if reads else []
            words.append(Word(w.start, w.end, rnd.choice(pool)) if pool and rnd.random() < p else w)
        out.append(Segment(speaker=seg.speaker, channel=seg.channel, start=seg.start, end=seg.end,
                           text="".join(x.word for x in words), words=tuple(words)))
    return out


@lru_cache(maxsize=1)
def _homophones() -> dict[str, list[str]]:
    from pypinyin.pinyin_dict import pinyin_dict

    strip = str.maketrans("āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜü", "aaaaeeeeiiiioooouuuuvvvvv")
    same: dict[str, list[str]] = defaultdict(list)
    for code, reads in pinyin_dict.items():
        if 0x4E00 <= code <= 0x9FA5:
            same[reads.split(",")[0].translate(strip)].append(chr(code))
    return same


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
