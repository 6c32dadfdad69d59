"""Batch-size benchmark (not a test): what ``asr_batch_size`` does to throughput on this machine's CPU.

The same calls go through bare faster-whisper in the issue's tuned configuration (int8, 1 thread per
replica, 2 replicas, two channels in flight, beam 5, word timestamps) once per batch size; the only
thing that changes between runs is ``BatchedInferencePipeline(batch_size=…)``. Long calls (default 6
of 96 turns, ~6 min each) so that batches really fill: a 90 s call has only ~2 chunks per channel.
Prints call-seconds per wall-second and per CPU-second for each batch size, the ratio to batch 8 (the
issue's setting) and the WER, so the default in ``storage/settings/`` is chosen from a measurement.

``python -m bench.asr_batch [--calls 6] [--turns 96] [--sizes 1,2,4,8] [--model tiny.en]``
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.machine import cpu_s, loadavg, machine
from bench.transcribe import _channels, make_corpus, wer


def run(corpus: list[dict], model_path: str, batch_size: int) -> dict:
    from faster_whisper import BatchedInferencePipeline, WhisperModel

    model = WhisperModel(model_path, device="cpu", compute_type="int8", cpu_threads=1, num_workers=2)
    audio = [_channels(c["path"]) for c in corpus]  # decoded before the clock: only the model is compared

    def one(ch) -> str:  # type: ignore[no-untyped-def]
        segs, _ = BatchedInferencePipeline(model).transcribe(ch, batch_size=batch_size, beam_size=5,
                                                             vad_filter=True, word_timestamps=True)
        return " ".join(seg.text for seg in segs)

    t0, c0 = time.perf_counter(), cpu_s()
    with ThreadPoolExecutor(max_workers=2) as pool:
        texts = list(pool.map(one, [ch for chans in audio for ch in chans]))
    wall, cpu = time.perf_counter() - t0, cpu_s() - c0
    hyps = [{"agent": texts[2 * i], "customer": texts[2 * i + 1]} for i in range(len(corpus))]
    return {"wall_s": wall, "cpu_s": cpu, "wer": wer(corpus, hyps)}


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--calls", type=int, default=6)
    ap.add_argument("--turns", type=int, default=96)
    ap.add_argument("--sizes", default="1,2,4,8", help="Comma-separated batch sizes (8 is the baseline).")
    ap.add_argument("--model", default="tiny.en")
    args = ap.parse_args()
    os.environ.setdefault("CALLQC_ASR_MODEL", args.model)
    from transcribe.models import resolve_model

    sizes = sorted({int(x) for x in args.sizes.split(",")} | {8})
    work = Path(tempfile.mkdtemp(prefix="callqc-bench-batch-"))
    print(f"synthesising {args.calls} calls of {args.turns} turns in {work} …", file=sys.stderr)
    corpus = make_corpus(work, calls=args.calls, turns=args.turns, tag="b")
    call_s = sum(c["duration_s"] for c in corpus)
    path = resolve_model(args.model).path
    load = loadavg()
    results = {}
    for bs in sizes:
        print(f"batch {bs} …", file=sys.stderr)
        results[bs] = run(corpus, path, bs)
    base = call_s / results[8]["wall_s"]
    print(f"machine: {machine()}\nload average before/after: {load} / {loadavg()}\n"
          f"corpus: {len(corpus)} stereo 8 kHz μ-law calls, {call_s:.0f} s of call time; model {args.model} int8, "
          "2 replicas × 1 thread, 2 channels in flight, beam 5, word timestamps\n")
    print("| batch size | call-s per wall-s | call-s per CPU-s | vs batch 8 | WER |\n|---|---|---|---|---|")
    for bs, r in results.items():
        x = call_s / r["wall_s"]
        print(f"| {bs} | {x:.1f}× | {call_s / r['cpu_s']:.1f} | {x / base:.2f} | {r['wer']:.1f} % |")


if __name__ == "__main__":
    main()
