"""Primed re-decoding on windows known from the script (not a test): what the re-decode of
transcribe/redaction/redecode.py yields when the answer window is right, whether or not the ASR
heard the agent's ask.

For every card, ID and phone item of a labelled set (``bench/redaction_set.py``) the customer's
spoken number (the label's span) is decoded again with the pipeline's model, primed as
:class:`~transcribe.redaction.redecode.WhisperDecoder` primes it; and for every declined call (the
agent asks, the customer gives no number) the customer's answer before its closing. Per item: what
came back, whether it passes the type's check (what the pipeline would take), and whether it is the
number said. CPU per decode is the decoder's own.

``python -m bench.redecode_windows --set DIR [--limit N] [--json FILE]``
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from storage.settings import get_settings
from transcribe.engine import get_transcriber
from transcribe.redaction.redecode import KINDS, WhisperDecoder, call_channels, checked_number
from transcribe.redaction.rules import Kind


def _items(meta: dict[str, Any]) -> list[tuple[Kind, float, float, str | None]]:
    """(type, start, end, the number said or None for a declined answer) of one call."""
    if meta.get("asked"):
        said = [f for f in meta["script"] if f["channel"] == 1][:-1] or [f for f in meta["script"] if f["channel"]]
        kind = Kind(meta["asked"])
        return [(kind, said[0]["start"], said[-1]["end"], None)] if kind in KINDS else []
    return [(Kind(lab["kind"]), lab["start"], lab["end"], lab["digits"]) for lab in meta["labels"]
            if Kind(lab["kind"]) in KINDS]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--set", type=Path, required=True, dest="folder")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    labels = json.loads((args.folder / "labels.json").read_text(encoding="utf-8"))
    whisper = get_transcriber(get_settings().asr_model).whisper
    rows: list[dict[str, Any]] = []
    load0 = os.getloadavg()
    cpu = 0.0
    for cid in sorted(labels)[:args.limit]:
        meta = labels[cid]
        items = _items(meta)
        if not items:
            continue
        path = args.folder / f"{cid}.wav"
        dec = WhisperDecoder(whisper, lambda p=path: call_channels(p), meta["language"])
        for kind, start, end, digits in items:
            text = dec(1, start, end, kind)
            number = checked_number(kind, text, meta["language"])
            rows.append({"call": cid, "kind": str(kind), "said": digits, "heard": text, "taken": number,
                         "right": number is not None and number == digits})
            print(f"{cid} {kind} said {digits} heard {text[:70]!r} taken {number}", flush=True)
        cpu += dec.cpu_s
    items_ = [r for r in rows if r["said"]]
    declined = [r for r in rows if not r["said"]]
    summary: dict[str, Any] = {"decodes": len(rows), "cpu_s": round(cpu, 1),
                               "cpu_per_decode_s": round(cpu / max(1, len(rows)), 2),
                               "load_before": load0[0], "load_after": os.getloadavg()[0],
                               "declined": len(declined), "taken_on_declined": sum(bool(r["taken"]) for r in declined)}
    for kind in KINDS:
        mine = [r for r in items_ if r["kind"] == str(kind)]
        summary[str(kind)] = {"items": len(mine), "taken": sum(bool(r["taken"]) for r in mine),
                              "right": sum(r["right"] for r in mine)}
    print(json.dumps(summary, indent=1))
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "summary": summary}, ensure_ascii=False, indent=1),
                             encoding="utf-8")


if __name__ == "__main__":
    main()
