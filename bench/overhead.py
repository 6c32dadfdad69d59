"""Per-call overhead of a warm worker (not a test): what a call costs outside the model.

N short calls are ingested and drained by one real worker slot in this process (the same
``callqc.worker.Worker`` loop and handlers `callqc work` runs), after two warm-up calls that load the
model, the rubric and every import. Each stage is timed where the worker calls it, by wrapping the
function for the run: queue claim/finish, reading the call row, reading the audio object, decoding,
the model (the Whisper windows), redaction (text + audio copy), the transcript's DB write, and the
scoring job's rubric choice, conversation read, rules and writes. Overhead per call is every job's
wall time minus the model's, and the worker thread's CPU time (the model runs in the replica
threads, so that leaves it out by itself; on a shared, loaded machine CPU is the steadier figure):
the goal is < 100 ms. The same run measures "before" (the rubric parsed for every call, as before
scoring/rubric.py kept it) and "after".

``python -m bench.overhead [--calls 20] [--seconds 8] [--model tiny.en] [--database-url URL]``
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench.machine import loadavg, machine

_spent: dict[str, list[float]] = defaultdict(list)  # wall seconds
_cpu: dict[str, list[float]] = defaultdict(list)  # CPU seconds of the calling thread
_lock = threading.Lock()


def _add(stage: str, seconds: float, cpu: float = 0.0) -> None:
    with _lock:
        _spent[stage].append(seconds)
        _cpu[stage].append(cpu)


def _timed(stage: str, func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t0, c0 = time.perf_counter(), time.thread_time()
        try:
            return func(*args, **kwargs)
        finally:
            _add(stage, time.perf_counter() - t0, time.thread_time() - c0)
    return wrapper


def _timed_iter(stage: str, func: Callable[..., Iterator[Any]]) -> Callable[..., Iterator[Any]]:
    """A generator function whose time producing each item is counted (the consumer's is not)."""
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Iterator[Any]:
        it = iter(func(*args, **kwargs))
        while True:
            t0, c0 = time.perf_counter(), time.thread_time()
            try:
                item = next(it)
            except StopIteration:
                _add(stage, time.perf_counter() - t0, time.thread_time() - c0)
                return
            _add(stage, time.perf_counter() - t0, time.thread_time() - c0)
            yield item
    return wrapper


def _instrument() -> None:
    import callqc.worker as worker
    import scoring.handler as sh
    import transcribe.handler as th
    from storage.local_store import LocalStore
    from transcribe.audio import AudioStream
    from transcribe.engine import Transcriber

    worker.claim = _timed("queue claim", worker.claim)
    worker.finish = _timed("queue finish", worker.finish)
    th._load_call = _timed("transcribe: read call row + prompts", th._load_call)
    th.get_transcriber = _timed("transcribe: get model (cached)", th.get_transcriber)
    LocalStore.iter_chunks = _timed_iter("transcribe: read audio object", LocalStore.iter_chunks)  # type: ignore[method-assign]
    AudioStream.windows = _timed_iter("transcribe: decode", AudioStream.windows)  # type: ignore[method-assign]
    th.decoding_hotwords = _timed("transcribe: hotwords", th.decoding_hotwords)
    th.redact_transcript = _timed("transcribe: redact text", th.redact_transcript)
    th.store_audio_copy = _timed("transcribe: redacted audio copy", th.store_audio_copy)
    th.store_result = _timed("transcribe: DB write", th.store_result)
    Transcriber.transcribe = _timed("transcribe: engine (model + decode)", Transcriber.transcribe)  # type: ignore[method-assign]
    sh.rubric_for_call = _timed("score: choose rubric", sh.rubric_for_call)
    sh.load_conversation = _timed("score: read transcript", sh.load_conversation)
    sh.evaluate = _timed("score: rules", sh.evaluate)
    sh.active_variants = _timed("score: variants", sh.active_variants)
    sh.store_auto_evaluation = _timed("score: DB write evaluation", sh.store_auto_evaluation)
    sh.save_metrics = _timed("score: DB write metrics", sh.save_metrics)
    sh.route_evaluation = _timed("score: routing", sh.route_evaluation)
    sh.trust_for = _timed("score: trust", sh.trust_for)
    run_one = worker.Worker.run_one

    def timed_run_one(self: Any, ctx: Any) -> None:
        t0, c0 = time.perf_counter(), time.thread_time()
        try:
            run_one(self, ctx)
        finally:
            _add(f"job {ctx.kind} (whole)", time.perf_counter() - t0, time.thread_time() - c0)
    worker.Worker.run_one = timed_run_one  # type: ignore[method-assign]


def _ingest(paths: list[Path], tag: str) -> None:
    from recorder.ingest import ingest_file
    from recorder.metadata import CallMeta

    for k, p in enumerate(paths):
        ingest_file(p, CallMeta(call_id=f"{tag}-{k:04d}", agent_id="A1", queue="support",
                                channel_map={"agent": 0, "customer": 1}))


def _drain() -> tuple[int, float]:
    from callqc.worker import Worker, available_handlers
    from storage.jobs import HANDLERS

    handlers = available_handlers(["transcribe", "score"], HANDLERS)
    t0 = time.perf_counter()
    n = Worker("bench:0", handlers, burst=True).run()
    return n, time.perf_counter() - t0


MODEL = "**model (engine − decode)**"
OVERHEAD = "**overhead: jobs + claim/finish − model**"


def _figures(calls: int) -> tuple[dict[str, float], dict[str, float]]:
    """(wall, CPU) milliseconds per call by stage. The worker thread's CPU leaves the model out by
    itself (the model runs in the replica threads), so CPU overhead is the jobs' thread CPU."""
    per = {k: sum(v) / calls * 1000 for k, v in _spent.items()}
    cpu = {k: sum(v) / calls * 1000 for k, v in _cpu.items()}
    for d, model in ((per, True), (cpu, False)):
        jobs = d.get("job transcribe (whole)", 0) + d.get("job score (whole)", 0) + d.get("queue claim", 0)
        d[MODEL] = (d.get("transcribe: engine (model + decode)", 0) - d.get("transcribe: decode", 0)) if model else 0
        d[OVERHEAD] = jobs + d.get("queue finish", 0) - d[MODEL]
    return per, cpu


def _uncached(on: bool) -> None:
    """``before``: the rubric parsed for every call, as before scoring/rubric.py kept it parsed."""
    import scoring.handler as sh
    import scoring.rubric as r

    def clear() -> None:
        r._parsed.cache_clear()

    if on and not hasattr(sh, "_bench_rubric"):
        sh._bench_rubric = sh.rubric_for_call  # type: ignore[attr-defined]

        def rubric_for_call(*a: Any, **kw: Any) -> Any:
            clear()
            return sh._bench_rubric(*a, **kw)  # type: ignore[attr-defined]
        sh.rubric_for_call = rubric_for_call
    elif not on and hasattr(sh, "_bench_rubric"):
        sh.rubric_for_call = sh._bench_rubric  # type: ignore[attr-defined]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=8.0, help="length of each synthetic call")
    ap.add_argument("--model", default="tiny.en")
    ap.add_argument("--database-url", default=None, help="default: SQLite in a temporary folder")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="callqc-overhead-"))
    os.environ["CALLQC_DATA_DIR"] = str(tmp / "data")
    os.environ["CALLQC_ASR_MODEL"] = args.model
    os.environ["CALLQC_WORKER_SLOTS"] = "1"
    if args.database_url:
        os.environ["CALLQC_DATABASE_URL"] = args.database_url
    from demo.synth import Line, synth_call
    from storage import db

    db.migrate()
    half = max(1.0, args.seconds / 2 - 1)
    lines = [Line("agent", 0.3, "Thank you for calling, my name is Anna, how can I help you?"),
             Line("customer", half, "I want to check the status of my order please.")]
    one = tmp / "call.wav"
    synth_call(lines, one, tail_s=max(0.5, args.seconds - half - 3))
    paths = [one] * (args.calls + 2)  # the same recording under N call IDs
    _ingest(paths[:2], "warm")
    _drain()  # model, rubric, imports and caches: what a warm worker already has
    _instrument()
    results = {}
    for phase in ("before", "after"):
        _uncached(phase == "before")
        _ingest(paths[:1], f"warm-{phase}")  # caches as this phase keeps them
        _drain()
        _spent.clear()
        _cpu.clear()
        _ingest(paths[2:], f"bench-{phase}")
        n, wall = _drain()
        results[phase] = _figures(args.calls), n, wall
    ((before, before_cpu), _, _), ((after, after_cpu), n, wall) = results["before"], results["after"]
    print(f"# per-call overhead of a warm worker: {args.calls} calls of {args.seconds:.0f} s, model {args.model}, "
          f"{'PostgreSQL' if args.database_url else 'SQLite'}, {n} jobs in {wall:.1f} s (after); load {loadavg()}")
    print(f"# {machine()}")
    print("| stage | wall before | wall after | worker-thread CPU before | worker-thread CPU after |")
    print("|---|---:|---:|---:|---:|")
    for k in sorted(after):
        print(f"| {k} | {before.get(k, 0.0):.1f} | {after[k]:.1f} | {before_cpu.get(k, 0.0):.1f} | "
              f"{after_cpu.get(k, 0.0):.1f} |")
    print(f"\n(ms per call) overhead, wall: {after[OVERHEAD]:.0f} after, {before[OVERHEAD]:.0f} before; "
          f"CPU: {after_cpu[OVERHEAD]:.0f} after, {before_cpu[OVERHEAD]:.0f} before "
          f"({before_cpu[OVERHEAD] / max(after_cpu[OVERHEAD], 1e-9):.2f}× less); "
          f"the model's own wall time {after[MODEL]:.0f}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
