"""Wideband live-capture benchmark (not a test): what building a call's file costs at the end of the
call for G.722 and Opus against G.711 μ-law (the baseline, payload bytes copied), in the same run.

A journal of a two-stream call of ``--seconds`` is written from real encoder output (FFmpeg through
PyAV: ``g722``, ``libopus`` at 32 kbit/s; speech-like noise bursts), then
:func:`recorder.siprec.recording.build_wav` is timed (best of ``--repeat``). Reports seconds of CPU
per minute of call and the ratio to μ-law.

``python -m bench.live_codecs [--seconds 120] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from recorder.siprec.journal import RECORD, stream_file
from recorder.siprec.recording import build_wav
from tests.live_peers import encode


def _source(seconds: float, rate: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    envelope = np.repeat(rng.random(int(seconds * 4) + 1) > 0.4, rate // 4)[:n]  # talk and pauses
    return (rng.normal(0, 3000, n) * envelope).clip(-32768, 32767).astype(np.int16)


def _journal(folder: Path, codec: str, seconds: float) -> dict[str, object]:
    folder.mkdir(parents=True)
    streams = []
    for i in range(2):
        if codec == "PCMU":  # its payload bytes are copied, never decoded: any bytes time the same
            raw = np.random.default_rng(i).integers(0, 256, int(seconds * 8000), dtype=np.uint8).tobytes()
            packets, pt, step = [raw[k:k + 160] for k in range(0, len(raw), 160)], 0, 160
        elif codec == "G722":
            packets, pt, step = encode("g722", _source(seconds, 16000, i), 16000, 320), 9, 160
        else:
            packets, pt, step = encode("libopus", _source(seconds, 48000, i), 48000, 960), 111, 160
        with stream_file(folder, i).open("wb") as fh:
            for k, p in enumerate(packets):
                fh.write(RECORD.pack(k * step, 0.0, pt, 0, len(p)) + p)
        streams.append({"index": i, "label": str(i + 1), "role": ("agent", "customer")[i], "channel": i,
                        "payload_types": {str(pt): codec}})
    return {"channels": 2, "streams": streams}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=120.0)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for codec in ("PCMU", "G722", "opus"):
            index = _journal(Path(tmp) / codec, codec, args.seconds)
            best = float("inf")
            for _ in range(args.repeat):
                t0 = time.process_time()
                built = build_wav(Path(tmp) / codec, index, Path(tmp) / f"{codec}.wav", [])
                best = min(best, time.process_time() - t0)
            size = (Path(tmp) / f"{codec}.wav").stat().st_size
            results[codec] = {"cpu_s": round(best, 3), "cpu_s_per_call_minute": round(best * 60 / args.seconds, 3),
                              "file_rate": built.rate, "file_mb": round(size / 1e6, 2)}
    base = results["PCMU"]["cpu_s"]
    for r in results.values():
        r["ratio_to_pcmu"] = round(r["cpu_s"] / base, 1) if base else float("nan")
    print(json.dumps({"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
                      "seconds": args.seconds, "results": results}, indent=1))


if __name__ == "__main__":
    main()
