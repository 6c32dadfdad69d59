"""Where callqc end to end spends its CPU on PBX calls, phase by phase (not a test).

The same calls as :mod:`bench.pbx_speed` (a corpus from :mod:`bench.pbx_corpus`), the same path as
its mode (c): every call ingested, then the ``callqc work --burst`` loop (transcribe and score) in
this process (``--concurrency 1``: no fork), under yappi's CPU clock on every Python thread. The
model's own work runs in CTranslate2's C++ threads, which no Python profiler sees: it is the
process's CPU (``getrusage``) minus what the Python threads spent, and is reported as such. The
model load is inside the clock, as in (c); the imports are not (they happen before the profile
starts: time an empty ``callqc work --burst`` with ``/usr/bin/time`` for them).

Each phase is the inclusive CPU of the functions it names, summed over threads (nested phases are
shown indented and counted inside their parent). ``--top N`` adds yappi's N costliest functions.

``python -m bench.pbx_profile --corpus DIR [--calls HOLD,SPEECH] [--model tiny.en] [--top 30]``
(needs ``yappi``: the ``dev`` extra)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.machine import cpu_s, peak_rss_mb

ROOT = Path(__file__).resolve().parents[1]

# (depth, label, [(module suffix, function name)]): inclusive CPU of the first frame of any of them.
PHASES: list[tuple[int, str, list[tuple[str, str]]]] = [
    (0, "transcribe job (handler.handle), Python threads", [("transcribe/handler.py", "handle")]),
    (1, "read call row + known prompts", [("transcribe/handler.py", "_load_call")]),
    (1, "model load (Transcriber)", [("transcribe/engine.py", "get_transcriber")]),
    (1, "decode audio windows (PyAV)", [("transcribe/audio.py", "windows")]),
    (1, "known-prompt search (fingerprint)", [("transcribe/prompts.py", "cut")]),
    (1, "hold/tone classifier", [("transcribe/nonspeech.py", "classify")]),
    (1, "voice detection: gate + Silero", [("transcribe/engine.py", "speech")]),
    (2, "Silero (onnxruntime)", [("faster_whisper/vad.py", "__call__")]),
    (1, "Whisper pipeline (Python side: features, prompts, waits)",
     [("faster_whisper/transcribe.py", "_batched_segments_generator")]),
    (2, "log-mel features", [("faster_whisper/feature_extractor.py", "__call__")]),
    (2, "word timestamps (alignment)", [("faster_whisper/transcribe.py", "add_word_timestamps")]),
    (1, "fallback repair", [("transcribe/fallback.py", "repair")]),
    (1, "redaction: text", [("transcribe/redaction/pipeline.py", "redact_transcript")]),
    (1, "redaction: audio copy (decodes again)", [("transcribe/redaction/pipeline.py", "store_audio_copy")]),
    (1, "voice prints (decodes again)", [("transcribe/handler.py", "_prints")]),
    (1, "DB write (transcript, redactions, score job)", [("transcribe/handler.py", "store_result")]),
    (0, "score job (scoring.handler.handle)", [("scoring/handler.py", "handle")]),
    (1, "forced verification", [("transcribe/handler.py", "forced_scorer"), ("transcribe/forcing.py", "__call__")]),
    (0, "queue claim / finish / heartbeat", [("storage/queue.py", "claim"), ("storage/queue.py", "finish"),
                                             ("storage/queue.py", "heartbeat")]),
]


def _child(calls_file: str, top: int, prompts: bool) -> None:
    import yappi

    calls = json.loads(Path(calls_file).read_text())
    c_start = cpu_s()
    from recorder.ingest import ingest_file
    from storage.db import migrate

    migrate()
    if prompts:
        from bench.pbx_corpus import register_prompts

        register_prompts()
    c0, t0 = cpu_s(), time.perf_counter()
    for c in calls:
        ingest_file(Path(c["path"]), name=Path(c["path"]).stem)
    ingest = cpu_s() - c0
    yappi.set_clock_type("cpu")
    yappi.start(builtins=False, profile_threads=True)
    c1 = cpu_s()
    from callqc.pool import run_workers

    run_workers(1, kinds=["transcribe", "score"], burst=True)
    yappi.stop()
    total = cpu_s() - c1
    wall = time.perf_counter() - t0
    stats = yappi.get_func_stats()
    rows = []
    python_threads = sum(t.ttot for t in yappi.get_thread_stats())
    for depth, label, names in PHASES:
        cpu = 0.0
        for f in stats:
            if any(f.module.endswith(m) and f.name.split(".")[-1] == n for m, n in names):
                cpu += f.ttot
        rows.append({"depth": depth, "label": label, "cpu_s": cpu})
    tops = [{"name": f"{Path(f.module).name}:{f.name}", "tsub": f.tsub, "ttot": f.ttot, "ncall": f.ncall}
            for f in sorted(stats, key=lambda f: -f.tsub)[:top]]
    print(json.dumps({"ingest_cpu_s": ingest, "work_cpu_s": total, "python_threads_cpu_s": python_threads,
                      "wall_s": wall, "setup_cpu_s": c0 - c_start, "phases": rows, "top": tops,
                      "call_s": sum(c["duration_s"] for c in calls),
                      "peak_rss_mb": peak_rss_mb()}))


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--corpus", type=Path, required=True)
    ap.add_argument("--calls", default="2,1", help="HOLD,SPEECH: the first HOLD hold and SPEECH speech calls.")
    ap.add_argument("--model", default="tiny.en")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--prompts", action="store_true", help="Register the corpus's recorded prompts first.")
    ap.add_argument("--json", type=Path, help="Keep the raw result here.")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(args.child, args.top, args.prompts)
        return
    from bench.machine import loadavg
    from bench.pbx_corpus import load

    calls = load(args.corpus)
    n_hold, n_speech = (int(x) for x in args.calls.split(","))
    calls = ([c for c in calls if c["kind"] == "hold"][:n_hold]
             + [c for c in calls if c["kind"] != "hold"][:n_speech])
    work = Path(tempfile.mkdtemp(prefix="callqc-prof-"))
    (work / "calls.json").write_text(json.dumps(calls))
    env = {**os.environ, "CALLQC_ASR_MODEL": args.model, "CALLQC_DATA_DIR": str(work / "data"),
           "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    load_before = loadavg()
    cmd = [sys.executable, "-m", "bench.pbx_profile", "--corpus", str(args.corpus), "--child",
           str(work / "calls.json"), "--top", str(args.top), *(["--prompts"] if args.prompts else [])]
    out = subprocess.run(cmd, env=env, cwd=ROOT, check=True, stdout=subprocess.PIPE, text=True).stdout
    r = json.loads(out.strip().splitlines()[-1])
    if args.json:
        args.json.write_text(json.dumps(r, indent=1))
    work_cpu = r["work_cpu_s"]
    print(f"{len(calls)} calls, {r['call_s'] / 60:.1f} min, {args.model}; load average {load_before} → "
          f"{loadavg()}; peak RSS {r['peak_rss_mb']:.0f} MB\n")
    print("| phase | CPU s | share of (c) |\n|---|---:|---:|")
    print(f"| ingest (probe, hash, object store, row) | {r['ingest_cpu_s']:.2f} | "
          f"{100 * r['ingest_cpu_s'] / (work_cpu + r['ingest_cpu_s']):.1f} % |")
    for row in r["phases"]:
        pad = "&nbsp;&nbsp;" * row["depth"]
        print(f"| {pad}{row['label']} | {row['cpu_s']:.2f} | {100 * row['cpu_s'] / work_cpu:.1f} % |")
    model = work_cpu - r["python_threads_cpu_s"]
    print(f"| model in CTranslate2's threads (process − Python threads) | {model:.2f} | "
          f"{100 * model / work_cpu:.1f} % |")
    print(f"| **work loop, all threads (getrusage)** | **{work_cpu:.2f}** | 100 % |")
    print(f"\ncall-s per CPU-s (ingest + work): {r['call_s'] / (work_cpu + r['ingest_cpu_s']):.1f}\n")
    print("| function (own CPU) | own s | incl. s | calls |\n|---|---:|---:|---:|")
    for t in r["top"]:
        print(f"| {t['name']} | {t['tsub']:.2f} | {t['ttot']:.2f} | {t['ncall']} |")


if __name__ == "__main__":
    main()
