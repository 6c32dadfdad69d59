"""Same output, before and after a speed change (not a test): two trees' results compared exactly.

``dbs A B``: two callqc databases holding the same calls (e.g. the (c) runs of ``bench.pbx_speed``
from two trees, ``/tmp/callqc-pbx-*/data-*c/callqc.db``): transcript segments (text, times, words),
the transcripts' hold/tone intervals, voice prints, redactions (and the redacted audio's SHA-256),
call metrics, evaluations and their items, row by row; row ids, times of day and the run's tag in
call ids are left out.

``finds OUT``: ``scoring.matching.find`` over a fixed random set of streams (Chinese, English, mixed,
with digits) and every phrase of the bundled rubrics and forbidden-word variants, four ways each
(fuzzy, toneless, characters only, the review band), every match written to OUT. Run it from each
tree and compare the two files byte for byte.

``python -m bench.same_output dbs A.db B.db``
``PYTHONPATH=TREE python -m bench.same_output finds OUT.json``
"""

from __future__ import annotations

import json
import random
import re
import sqlite3
import sys
from pathlib import Path
from typing import Any

# table → columns left out (ids, clocks)
TABLES = {
    "segments": {"id"}, "transcripts": {"created_at", "updated_at", "compute"}, "channel_voices": {"id", "created_at"},
    "redactions": {"id"}, "call_redactions": {"at"}, "transcript_originals": {"id"},
    "call_metrics": {"id", "created_at", "updated_at", "computed_at"},
    "evaluations": {"id", "created_at", "updated_at", "rubric_hash"},
    "evaluation_items": {"id", "evaluation_id", "created_at"},
}


def _rows(db: Path, table: str, drop: set[str]) -> list[str]:
    con = sqlite3.connect(db)
    con.row_factory = sqlite3.Row
    out = []
    for r in con.execute(f"select * from {table}"):  # noqa: S608 - table names are the constants above
        row = {k: r[k] for k in r.keys() if k not in drop}  # noqa: SIM118 - a Row iterates its values
        text = json.dumps(row, sort_keys=True, default=str)
        out.append(re.sub(r"-[0-9a-f]{8}(hold|speech)c", "", text))  # the run's tag in call ids
    return sorted(out)


def dbs(a: Path, b: Path) -> bool:
    same = True
    for table, drop in TABLES.items():
        ra, rb = _rows(a, table, drop), _rows(b, table, drop)
        print(f"{table:22s} rows {len(ra):5d} / {len(rb):5d}  {'same' if ra == rb else 'DIFFERENT'}")
        same &= ra == rb
    return same


def _phrases() -> list[str]:
    import yaml

    from scoring.variants import active_variants

    phrases: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            phrases.extend(p for k in ("any", "all") for p in node.get(k) or [] if isinstance(p, str))
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    for f in sorted((Path(__file__).resolve().parents[1] / "scoring" / "rubrics").glob("*.yaml")):
        walk(yaml.safe_load(f.read_text(encoding="utf-8")))
    for word, forms in active_variants().items():
        phrases += [word, *forms.variants, *forms.confusions]
    return sorted(set(phrases))


ZH_WORDS = ("您好 欢迎 致电 工号 请问 有什么 可以 帮您 闭嘴 笨蛋 神经病 你有病 烦不烦 再见 高兴 三 到 五 "
            "本单 必最 恭好 在见 唤您 高现")
EN_WORDS = "hello thank you for calling my name is how can i help the account number 3 4 5 sorry hold please bye"


def finds(out_path: Path, *, streams: int = 60, seed: int = 19) -> None:
    from scoring.matching import FORBIDDEN_REVIEW, Unit, find, normalise

    rng = random.Random(seed)
    zh, en = ZH_WORDS.split(), EN_WORDS.split()
    phrases = _phrases()
    out = []
    for trial in range(streams):
        vocab = rng.choice([zh, en, zh + en])
        units, t = [], 0.0
        for i, tok in enumerate(rng.choice(vocab) for _ in range(rng.randint(20, 200))):
            for c in (list(tok) if all("\u4e00" <= ch <= "\u9fff" for ch in tok) else [tok]):
                units.append(Unit(c, t, t + 0.2, i // 7))
                t += 0.2
        stream = normalise(units)
        for p in rng.sample(phrases, 25):
            for kw in ({"fuzzy": 0.8}, {"fuzzy": 0.8, "toneless_short": True}, {"fuzzy": 0.8, "by_sound": False},
                       {"fuzzy": 0.7, "sound_floor": FORBIDDEN_REVIEW["zh"]}):
                out.append([trial, p, sorted(kw.items()), [repr(m) for m in find(p, stream, **kw)]])  # type: ignore[arg-type]
    out_path.write_text(json.dumps(out, ensure_ascii=False))
    print(f"{len(out)} finds, {sum(1 for o in out if o[3])} with matches → {out_path}")


def main() -> None:
    what, *rest = sys.argv[1:]
    if what == "dbs":
        sys.exit(0 if dbs(Path(rest[0]), Path(rest[1])) else 1)
    finds(Path(rest[0]))


if __name__ == "__main__":
    main()
