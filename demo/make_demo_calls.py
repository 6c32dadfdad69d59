"""Regenerate the demo calls in demo/calls/: three short stereo 8 kHz μ-law WAVs with sidecar JSON.

`make run` ingests them; the sidecars carry what a PBX would send (agent, queue, direction, start).
One call is Mandarin (queue ``cn-support``). Each file stays under 200 KB so they can be committed.
Run: ``python -m demo.make_demo_calls`` (needs espeak-ng and sox).
"""

from __future__ import annotations

import json
from pathlib import Path

from demo.synth import synth_dialogue

OUT = Path(__file__).with_name("calls")
MAX_BYTES = 200 * 1024

CALLS = [
    {
        "call_id": "demo-0001", "agent_id": "a-1001", "team": "t-north", "queue": "support",
        "direction": "inbound", "started_at": "2025-03-03T09:15:00Z", "language": "en",
        "turns": [
            ("agent", "Thank you for calling, this is Alice. How can I help?", None),
            ("customer", "My internet stopped working this morning.", None),
            ("agent", "Sorry about that. I will reset your modem now.", None),
        ],
    },
    {
        "call_id": "demo-0002", "agent_id": "a-1002", "team": "t-north", "queue": "billing",
        "direction": "outbound", "started_at": "2025-03-03T10:40:00Z", "language": "en",
        "turns": [
            ("agent", "Hello, this is Bob from billing.", None),
            ("customer", "Hi, is there a problem with my bill?", None),
            ("agent", "Your payment was late. Can you pay today?", None),
        ],
    },
    {
        "call_id": "demo-0003", "agent_id": "a-2001", "team": "t-south", "queue": "cn-support",
        "direction": "inbound", "started_at": "2025-03-04T14:05:00Z", "language": "zh",
        "turns": [
            ("agent", "您好，请问有什么可以帮您？", "nin2 hao3, qing3 wen4 you3 shen2 me5 ke3 yi3 bang1 nin2?"),
            ("customer", "我的宽带不能上网了。", "wo3 de5 kuan1 dai4 bu4 neng2 shang4 wang3 le5."),
            ("agent", "好的，我帮您查一下。", "hao3 de5, wo3 bang1 nin2 cha2 yi2 xia4."),
        ],
    },
]


def main() -> None:
    OUT.mkdir(exist_ok=True)
    for spec in CALLS:
        wav = OUT / f"{spec['call_id']}.wav"
        placements = synth_dialogue(spec["turns"], wav, language=spec["language"], speed=165)
        size = wav.stat().st_size
        if size > MAX_BYTES:
            raise SystemExit(f"{wav.name}: {size} bytes, over the {MAX_BYTES} limit; shorten its dialogue")
        meta = {k: spec[k] for k in ("call_id", "agent_id", "team", "queue", "direction", "started_at")}
        meta["channel_map"] = {"agent": 0, "customer": 1}
        meta["reference"] = [{"speaker": p.speaker, "start_s": p.start_s, "end_s": p.end_s, "text": p.text}
                             for p in placements]
        wav.with_suffix(".json").write_text(json.dumps(meta, ensure_ascii=False, indent=2) + "\n")
        print(f"{wav}  {size} bytes  {placements[-1].end_s:.1f} s")


if __name__ == "__main__":
    main()
