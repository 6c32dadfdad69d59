"""Transcription benchmark (not a test): bare faster-whisper vs callqc end to end, on the same calls.

  (a) faster-whisper library defaults + VAD: ``WhisperModel(path)``, ``model.transcribe(vad_filter=True)``,
      one channel after another;
  (b) tuned bare faster-whisper, the fastest bare setting of the sweeps, fixed in this file (it does not follow
      callqc's settings): int8, ``cpu_threads=1``, ``num_workers=2``, ``BatchedInferencePipeline``
      batch 1, beam 5 (the library's default), word timestamps (callqc needs them, so (b) pays for
      them too), two channels in flight;
  (c) callqc end to end, workers as deployed with callqc's own settings (``asr_*``, ``worker_*``):
      ``callqc work --kinds transcribe`` (settings' concurrency, or ``--workers``) is started and
      warmed up first (every worker process has loaded its model, as a running deployment has), then
      every call is ingested (probe, SHA-256, object store, database, job) and the clock stops when
      the last call is stored as ``transcribed``.

All three measure steady state: model loading is outside the clock (a deployed worker loads once and
keeps the model for its lifetime), decoding the files is inside it for all three. Each mode runs in
its own process so its peak RSS is its own; for (c) it is the largest worker process. CPU seconds
are reported too: on a shared machine wall-clock ratios swing with other load, CPU cost per
call-second much less.

``--cold`` puts the fixed costs of a run inside the clock instead (issue 19's short calls): each mode's
whole process — interpreter start, imports, model load — is timed. (a) is the same; (c) becomes every
call ingested, then ``callqc work --burst --kinds transcribe,score`` until it exits (its own process:
start, imports, schema check, model load, transcription and scoring). Only the creation of the empty
database stays outside (a deployment has its database already).

Run (defaults: 12 calls of 24 turns, ~90 s each, tiny.en):
``python -m bench.transcribe [--calls 12] [--turns 24] [--model tiny.en] [--workers N] [--cold] [--markdown FILE]``
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.machine import cpu_children_s, cpu_s, loadavg, machine, peak_rss_mb, tree_cpu_s

SENTENCES = [
    "Thank you for calling the support center, my name is Alice.",
    "Hello, my internet connection stopped working this morning.",
    "I am sorry to hear that. Can you tell me your account number?",
    "Yes, it is four five six seven eight.",
    "Thank you. I will restart your modem from here.",
    "The lights on the router are blinking orange right now.",
    "Please unplug the power cable and wait for ten seconds.",
    "Okay, I have done that and the lights are green again.",
    "Great. Can you open a web page to check the connection?",
    "It works now, thank you very much for your help.",
    "Is there anything else I can help you with today?",
    "No, that is all. Have a nice day.",
]
ROOT = Path(__file__).resolve().parents[1]
GOALS = "c/b ≥ 0.95, c/a ≥ 3, WER(c) ≤ WER(b) + 0.5 points, peak RSS ≤ 1.5 GB per worker"
STALL_S = 900  # (c) gives up when no call finished for this long


def make_corpus(folder: Path, *, calls: int, turns: int, tag: str = "") -> list[dict]:
    """``calls`` synthetic stereo 8 kHz μ-law calls of ``turns`` alternating turns, with reference text."""
    from demo.synth import synth_dialogue

    folder.mkdir(parents=True, exist_ok=True)
    corpus = []
    for i in range(calls):
        said = [("agent" if t % 2 == 0 else "customer", SENTENCES[(i + t) % len(SENTENCES)], None)
                for t in range(turns)]
        wav = folder / f"bench{tag}-{i:03d}.wav"
        placements = synth_dialogue(said, wav, gap_s=0.6)
        refs = {sp: " ".join(p.text for p in placements if p.speaker == sp) for sp in ("agent", "customer")}
        corpus.append({"path": str(wav), "duration_s": placements[-1].end_s + 0.3, "refs": refs})
    return corpus


def _channels(path: str) -> list:  # type: ignore[type-arg]
    from faster_whisper import decode_audio

    left, right = decode_audio(path, split_stereo=True)
    return [left, right]


def run_a(corpus: list[dict], model_path: str) -> dict:
    from faster_whisper import WhisperModel

    model = WhisperModel(model_path)
    t0, c0 = time.perf_counter(), cpu_s()
    hyps = []
    for call in corpus:
        hyps.append({sp: " ".join(s.text for s in model.transcribe(ch, vad_filter=True)[0])
                     for sp, ch in zip(("agent", "customer"), _channels(call["path"]), strict=True)})
    return {"wall_s": time.perf_counter() - t0, "cpu_s": cpu_s() - c0, "hyps": hyps,
            "peak_rss_mb": peak_rss_mb(), "config": "WhisperModel(path); transcribe(vad_filter=True)"}


# (b) is fixed here so the baseline never drifts with callqc's own defaults (which (c) uses): int8, 1
# thread per replica, 2 replicas, batch 1, beam 5 (the library's). Batch 1 is the fastest setting of
# the sweeps in docs/benchmarks.md ("PBX calls", on both machines); the issue's own was batch 8.
B_CPU_THREADS, B_NUM_WORKERS, B_BATCH_SIZE, B_BEAM_SIZE = 1, 2, 1, 5


def run_b(corpus: list[dict], model_path: str) -> dict:
    from faster_whisper import BatchedInferencePipeline, WhisperModel

    model = WhisperModel(model_path, device="cpu", compute_type="int8", cpu_threads=B_CPU_THREADS,
                         num_workers=B_NUM_WORKERS)

    def one(ch) -> str:  # type: ignore[no-untyped-def]
        segs, _ = BatchedInferencePipeline(model).transcribe(ch, batch_size=B_BATCH_SIZE, beam_size=B_BEAM_SIZE,
                                                             vad_filter=True, word_timestamps=True)
        return " ".join(seg.text for seg in segs)

    t0, c0 = time.perf_counter(), cpu_s()
    audio = [_channels(c["path"]) for c in corpus]  # inside the clock: callqc decodes too
    with ThreadPoolExecutor(max_workers=B_NUM_WORKERS) as pool:
        texts = list(pool.map(one, [ch for chans in audio for ch in chans]))
    hyps = [{"agent": texts[2 * i], "customer": texts[2 * i + 1]} for i in range(len(corpus))]
    return {"wall_s": time.perf_counter() - t0, "cpu_s": cpu_s() - c0, "hyps": hyps,
            "peak_rss_mb": peak_rss_mb(),
            "config": f"int8, cpu_threads={B_CPU_THREADS}, num_workers={B_NUM_WORKERS}, "
                      f"BatchedInferencePipeline batch {B_BATCH_SIZE}, beam {B_BEAM_SIZE}, word timestamps, "
                      f"{B_NUM_WORKERS} channels in flight"}


def _statuses(ids: list[str]) -> dict[str, tuple[str, dt.datetime]]:
    from sqlmodel import col, select

    from storage.calls import Call
    from storage.db import session

    with session() as s:
        rows = s.exec(select(Call.call_id, Call.status, Call.updated_at).where(col(Call.call_id).in_(ids)))
        return {cid: (str(st), ts) for cid, st, ts in rows}


def _wait_done(ids: list[str], work: subprocess.Popen) -> dict[str, tuple[str, dt.datetime]]:  # type: ignore[type-arg]
    done: dict[str, tuple[str, dt.datetime]] = {}
    last_progress = time.monotonic()
    while len(done) < len(ids):
        if work.poll() is not None:
            raise RuntimeError(f"callqc work exited with {work.returncode} before all calls were transcribed")
        now = {cid: v for cid, v in _statuses(ids).items() if v[0] in ("transcribed", "failed")}
        if len(now) > len(done):
            last_progress = time.monotonic()
        elif time.monotonic() - last_progress > STALL_S:
            raise RuntimeError(f"no call finished for {STALL_S} s ({len(done)}/{len(ids)} done)")
        done = now
        time.sleep(0.2)
    return done


def _epoch(ts: dt.datetime) -> float:
    return (ts if ts.tzinfo else ts.replace(tzinfo=dt.UTC)).timestamp()


def run_c(corpus: list[dict], *, workers: int, tag: str) -> dict:
    from sqlmodel import col, select

    from recorder.ingest import ingest_file
    from storage.db import migrate, session
    from storage.jobs import Job

    migrate()
    cmd = [sys.executable, "-m", "callqc", "work", "--kinds", "transcribe", "--concurrency", str(workers)]
    work = subprocess.Popen(cmd, cwd=ROOT, start_new_session=True)
    try:
        # Warm-up: every worker process claims a job and loads its model, as in a running deployment.
        warm: list[str] = []
        for round_ in range(4):
            ids = [ingest_file(Path(corpus[i % len(corpus)]["path"]), name=f"warm{tag}-{round_}-{i}").call_id
                   for i in range(2 * workers)]
            _wait_done(ids, work)
            warm += ids
            with session() as s:
                # A worker id is host:pid:process.slot; warm means every process has run a job.
                seen = {w.rsplit(":", 1)[0] for w in s.exec(select(Job.worker).where(col(Job.call_id).in_(warm)))
                        if w}
            if len(seen) >= workers:
                break
        cpu0, t0 = tree_cpu_s(work.pid), time.time()
        ingested = [ingest_file(Path(c["path"]), name=Path(c["path"]).stem) for c in corpus]
        if not all(r.created for r in ingested):
            raise RuntimeError("corpus calls were already registered (database reused?): timing would be wrong")
        ids = [r.call_id for r in ingested]
        done = _wait_done(ids, work)
        end = max(_epoch(ts) for _st, ts in done.values())
        cpu = tree_cpu_s(work.pid) - cpu0
    finally:
        os.killpg(work.pid, signal.SIGTERM)
        work.wait(timeout=120)
    hyps, stored = _hyps(ids)
    failed = [cid for cid, (st, _ts) in done.items() if st != "transcribed"]
    return {"wall_s": end - t0, "cpu_s": cpu, "hyps": hyps, "hyps_stored": stored, "failed": failed,
            "warm_workers": len(seen), "peak_rss_mb": peak_rss_mb(resource.RUSAGE_CHILDREN),
            "ingest_rss_mb": peak_rss_mb(),
            "config": _c_config(workers)}


def _hyps(ids: list[str]) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """Each call's text per speaker: as the transcriber wrote it (the kept original of each redacted
    segment; WER compares like with like, as bare faster-whisper's text is unredacted), and as stored."""
    from storage.db import session
    from storage.redactions import with_originals
    from storage.transcripts import transcript_json

    def by_speaker(doc: dict) -> dict[str, str]:
        return {sp: " ".join(seg["text"] for seg in doc["segments"] if seg["speaker"] == sp)
                for sp in ("agent", "customer")}

    wrote, stored = [], []
    with session() as s:
        for cid in ids:
            doc = transcript_json(s, cid) or {"segments": [], "call_id": cid}
            stored.append(by_speaker(doc))
            with_originals(s, doc)
            wrote.append(by_speaker(doc))
    return wrote, stored


def run_c_cold(corpus: list[dict]) -> dict:
    """(c) with its fixed costs: ingest, then a fresh ``callqc work --burst`` process until it exits.
    The parent times this whole process; what the empty database's creation cost is reported so the
    parent can take it out."""
    t_setup, c_setup = time.perf_counter(), cpu_s()
    from storage.db import migrate

    migrate()
    setup = {"setup_wall_s": time.perf_counter() - t_setup, "setup_cpu_s": cpu_s() - c_setup}
    from recorder.ingest import ingest_file

    ids = [ingest_file(Path(c["path"]), name=Path(c["path"]).stem).call_id for c in corpus]
    subprocess.run([sys.executable, "-m", "callqc", "work", "--burst", "--kinds", "transcribe,score"], cwd=ROOT,
                   check=True)
    hyps, stored = _hyps(ids)
    return {**setup, "hyps": hyps, "hyps_stored": stored, "peak_rss_mb": peak_rss_mb(resource.RUSAGE_CHILDREN),
            "config": _c_config(1) + ", cold: process start, imports, model load and scoring included"}


def _c_config(workers: int) -> str:
    from storage.settings import get_settings

    s = get_settings()
    return (f"callqc work: {workers} process(es) × {s.worker_slots} slots, {s.asr_compute_type}, "
            f"cpu_threads={s.asr_cpu_threads}, num_workers={s.asr_num_workers}, batch {s.asr_batch_size}, "
            f"beam {s.asr_beam_size}, word timestamps; ingest included")


def wer(corpus: list[dict], hyps: list[dict]) -> float:
    """Word error rate in percent over every channel of every call (lower-cased, no punctuation)."""
    import jiwer

    norm = jiwer.Compose([jiwer.ToLowerCase(), jiwer.RemovePunctuation(), jiwer.RemoveMultipleSpaces(),
                          jiwer.Strip(), jiwer.ReduceToListOfListOfWords()])
    refs = [c["refs"][sp] for c in corpus for sp in ("agent", "customer")]
    outs = [h[sp] or "<empty>" for h in hyps for sp in ("agent", "customer")]
    return 100 * jiwer.wer(refs, outs, reference_transform=norm, hypothesis_transform=norm)


def child(mode: str, corpus_file: Path, *, workers: int, tag: str, cold: bool = False) -> None:
    corpus = json.loads(corpus_file.read_text())
    if mode == "c" and cold:
        result = run_c_cold(corpus)
    elif mode == "c":
        result = run_c(corpus, workers=workers, tag=tag)
    else:
        from transcribe.models import resolve_model

        path = resolve_model().path
        result = run_a(corpus, path) if mode == "a" else run_b(corpus, path)
    print(json.dumps(result))


LABELS = {"a": "defaults + VAD", "b": "tuned bare", "c": "callqc end to end"}


def report(results: dict[str, dict], *, corpus: list[dict], model: str, workers: int,
           load: tuple[str, str]) -> tuple[list[str], str]:
    """Console lines and a Markdown snippet for docs/benchmarks.md."""
    call_s = sum(c["duration_s"] for c in corpus)
    a, b, c = (results[m] for m in "abc")
    cb, ca, dwer = c["x"] / b["x"], c["x"] / a["x"], c["wer"] - b["wer"]
    in_cpu = f"in CPU: {b['cpu_s'] / c['cpu_s']:.2f}, {a['cpu_s'] / c['cpu_s']:.2f}"
    stored = f"; (c)'s stored, redacted text: WER {c['wer_stored']:.1f} %" if "wer_stored" in c else ""
    worst_rss = max(r["peak_rss_mb"] for r in results.values())
    checks = [("c/b ≥ 0.95", cb >= 0.95), ("c/a ≥ 3", ca >= 3), ("WER(c) ≤ WER(b) + 0.5", dwer <= 0.5),
              ("peak RSS ≤ 1.5 GB per worker", c["peak_rss_mb"] <= 1536)]
    head = [f"machine: {machine()}",
            f"load average before/after: {load[0]} / {load[1]}",
            f"corpus: {len(corpus)} stereo 8 kHz μ-law calls, {call_s:.0f} s of call time; model {model} int8; "
            f"(c) with {workers} worker process(es)"]
    lines = head + [
        f"({m}) {LABELS[m]:18s} {r['x']:6.1f}x  wall {r['wall_s']:6.1f} s  CPU {r['cpu_s']:6.1f} s "
        f"({call_s / r['cpu_s']:5.1f} call-s per CPU-s)  WER {r['wer']:5.1f}%  peak RSS {r['peak_rss_mb']:5.0f} MB"
        for m, r in results.items()
    ] + [f"c/b = {cb:.2f}  c/a = {ca:.2f} ({in_cpu})  WER(c) - WER(b) = {dwer:+.1f} points{stored}  "
         f"peak RSS max {worst_rss:.0f} MB",
         "goals: " + ", ".join(f"{name} {'met' if ok else 'MISSED'}" for name, ok in checks)]
    if c.get("failed"):
        lines.append(f"(c) calls not transcribed: {', '.join(c['failed'])}")
    md = ["### Results (" + dt.date.today().isoformat() + f", {model} int8)", "",
          *[f"{x}  " for x in head], "",
          "| mode | configuration | throughput (call-s per wall-s) | CPU (call-s per CPU-s) | WER | peak RSS |",
          "|---|---|---|---|---|---|",
          *[f"| ({m}) {LABELS[m]} | {r['config']} | {r['x']:.1f}× | {call_s / r['cpu_s']:.1f} | {r['wer']:.1f} % "
            f"| {r['peak_rss_mb']:.0f} MB |" for m, r in results.items()], "",
          f"**c/b = {cb:.2f}, c/a = {ca:.2f} ({in_cpu}), WER(c) − WER(b) = {dwer:+.1f} points{stored}, "
          f"peak RSS {c['peak_rss_mb'] / 1024:.2f} GB per worker.** Goals ({GOALS}): "
          + ", ".join(f"{name} {'met' if ok else '**missed**'}" for name, ok in checks) + "."]
    return lines, "\n".join(md) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--calls", type=int, default=12, help="Synthetic calls (default 12).")
    ap.add_argument("--turns", type=int, default=24, help="Turns per call (default 24, ~90 s per call).")
    ap.add_argument("--model", default="tiny.en", help="CALLQC_ASR_MODEL for all three modes.")
    ap.add_argument("--workers", type=int, default=None,
                    help="(c) worker processes (default: settings' worker_concurrency).")
    ap.add_argument("--modes", default="abc", help="Subset of modes to run, e.g. 'bc' (ratios need all).")
    ap.add_argument("--markdown", type=Path, default=None,
                    help="Also write the Markdown snippet here (default: <work dir>/benchmarks.md).")
    ap.add_argument("--cold", action="store_true",
                    help="Time each mode's whole process: start, imports and model load inside the clock.")
    ap.add_argument("--child", choices=["a", "b", "c"], help=argparse.SUPPRESS)
    ap.add_argument("--corpus", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--tag", default="", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.corpus, workers=args.workers, tag=args.tag, cold=args.cold)
        return
    from storage.settings import get_settings

    workers = args.workers or get_settings().worker_concurrency
    tag = format(int(time.time()), "x")  # unique call IDs when the database is shared between runs
    work = Path(tempfile.mkdtemp(prefix="callqc-bench-"))
    print(f"synthesising {args.calls} calls in {work} …", file=sys.stderr)
    corpus = make_corpus(work / "calls", calls=args.calls, turns=args.turns, tag=tag)
    (work / "corpus.json").write_text(json.dumps(corpus))
    call_s = sum(c["duration_s"] for c in corpus)
    load_before = loadavg()
    results: dict[str, dict] = {}
    modes = [m for m in "abc" if m in args.modes]
    if not modes:
        ap.error(f"--modes {args.modes!r}: choose from a, b, c")
    for mode in modes:
        print(f"running ({mode}) {LABELS[mode]} …", file=sys.stderr)
        env = {**os.environ, "CALLQC_ASR_MODEL": args.model, "CALLQC_DATA_DIR": str(work / f"data-{mode}"),
               "PYTHONPATH": str(ROOT), "CALLQC_REDACTION_KEEP_ORIGINAL": "true"}
        t0, c0 = time.perf_counter(), cpu_children_s()
        out = subprocess.run([sys.executable, "-m", "bench.transcribe", "--child", mode, "--corpus",
                              str(work / "corpus.json"), "--workers", str(workers), "--tag", tag,
                              *(["--cold"] if args.cold else [])],
                             env=env, cwd=ROOT, check=True, stdout=subprocess.PIPE, text=True).stdout
        results[mode] = json.loads(out.strip().splitlines()[-1])
        if args.cold:  # the whole process (and its children), less the empty database's creation
            r = results[mode]
            r["wall_s"] = time.perf_counter() - t0 - r.get("setup_wall_s", 0.0)
            r["cpu_s"] = cpu_children_s() - c0 - r.get("setup_cpu_s", 0.0)
        results[mode]["x"] = call_s / results[mode]["wall_s"]
        results[mode]["wer"] = wer(corpus, results[mode]["hyps"])
        if "hyps_stored" in results[mode]:  # the redacted text everyone reads: a number cut counts as errors
            results[mode]["wer_stored"] = wer(corpus, results[mode]["hyps_stored"])
    (work / "results.json").write_text(json.dumps(results))  # hypotheses per mode, for a closer look
    print(f"per-mode results (with every hypothesis) in {work / 'results.json'}", file=sys.stderr)
    if set(results) != set("abc"):
        for mode, r in results.items():
            stored = f" (stored, redacted text: {r['wer_stored']:.1f}%)" if "wer_stored" in r else ""
            print(f"({mode}) {LABELS[mode]}: {r['x']:.1f}x, CPU {r['cpu_s']:.1f} s, WER {r['wer']:.1f}%{stored}, "
                  f"peak RSS {r['peak_rss_mb']:.0f} MB")
        return
    lines, md = report(results, corpus=corpus, model=args.model, workers=workers,
                       load=(load_before, loadavg()))
    print("\n".join(lines))
    target = args.markdown or work / "benchmarks.md"
    target.write_text(md)
    print(f"\nMarkdown for docs/benchmarks.md written to {target}:\n\n{md}")


if __name__ == "__main__":
    main()
