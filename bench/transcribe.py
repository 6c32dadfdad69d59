"""Transcription benchmark (not a test): bare faster-whisper vs callqc end to end, on the same calls.

  (a) faster-whisper library defaults + VAD: WhisperModel(path) and model.transcribe(vad_filter=True),
      one channel after another;
  (b) tuned bare faster-whisper: int8, cpu_threads=asr_cpu_threads, num_workers=asr_num_workers,
      BatchedInferencePipeline(batch asr_batch_size) with word timestamps, channels two in flight;
  (c) callqc end to end: ingest (probe, SHA-256, object store, database) → `transcribe` jobs run by
      worker processes as deployed (run_workers, settings' concurrency) → segments stored.

Each mode runs in its own process so peak RSS is its own. Prints call-seconds per wall-second, the
ratios c/b and c/a, WER of each against the synthesised reference text, and peak RSS.
Run: ``python -m bench.transcribe --calls 12 --turns 12`` (see docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

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


def make_corpus(folder: Path, *, calls: int, turns: int) -> list[dict]:
    from demo.synth import synth_dialogue

    folder.mkdir(parents=True, exist_ok=True)
    corpus = []
    for i in range(calls):
        said = [("agent" if t % 2 == 0 else "customer", SENTENCES[(i + t) % len(SENTENCES)], None)
                for t in range(turns)]
        wav = folder / f"bench-{i:03d}.wav"
        placements = synth_dialogue(said, wav, gap_s=0.6)
        refs = {sp: " ".join(p.text for p in placements if p.speaker == sp) for sp in ("agent", "customer")}
        corpus.append({"path": str(wav), "duration_s": placements[-1].end_s + 0.3, "refs": refs})
    return corpus


def _peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # kB on Linux


def _channels(path: str) -> list:  # type: ignore[type-arg]
    from faster_whisper import decode_audio

    left, right = decode_audio(path, split_stereo=True)
    return [left, right]


def run_a(corpus: list[dict], model_path: str) -> dict:
    from faster_whisper import WhisperModel

    audio = [_channels(c["path"]) for c in corpus]  # decoding is outside the timed part for a and b
    t0 = time.perf_counter()
    model = WhisperModel(model_path)
    hyps = []
    for chans in audio:
        hyps.append({sp: " ".join(s.text for s in model.transcribe(ch, vad_filter=True)[0])
                     for sp, ch in zip(("agent", "customer"), chans, strict=True)})
    return {"wall_s": time.perf_counter() - t0, "hyps": hyps, "peak_rss_mb": _peak_rss_mb()}


def run_b(corpus: list[dict], model_path: str) -> dict:
    from faster_whisper import BatchedInferencePipeline, WhisperModel

    from storage.settings import get_settings

    s = get_settings()
    audio = [_channels(c["path"]) for c in corpus]
    t0 = time.perf_counter()
    model = WhisperModel(model_path, device="cpu", compute_type="int8", cpu_threads=s.asr_cpu_threads,
                         num_workers=s.asr_num_workers)

    def one(ch) -> str:  # type: ignore[no-untyped-def]
        segs, _ = BatchedInferencePipeline(model).transcribe(ch, batch_size=s.asr_batch_size, vad_filter=True,
                                                             word_timestamps=True)
        return " ".join(seg.text for seg in segs)

    with ThreadPoolExecutor(max_workers=2) as pool:
        texts = list(pool.map(one, [ch for chans in audio for ch in chans]))
    hyps = [{"agent": texts[2 * i], "customer": texts[2 * i + 1]} for i in range(len(corpus))]
    return {"wall_s": time.perf_counter() - t0, "hyps": hyps, "peak_rss_mb": _peak_rss_mb()}


def run_c(corpus: list[dict], data_dir: Path) -> dict:
    from callqc.worker import run_workers
    from recorder.ingest import ingest_file
    from storage.db import migrate, session
    from storage.settings import get_settings
    from storage.transcripts import transcript_json

    migrate()
    t0 = time.perf_counter()
    ids = [ingest_file(Path(c["path"])).call_id for c in corpus]
    code = run_workers(get_settings().worker_concurrency, kinds=["transcribe"], burst=True)
    wall = time.perf_counter() - t0
    hyps = []
    with session() as s:
        for cid in ids:
            data = transcript_json(s, cid) or {"segments": []}
            hyps.append({sp: " ".join(seg["text"] for seg in data["segments"] if seg["speaker"] == sp)
                         for sp in ("agent", "customer")})
    return {"wall_s": wall, "hyps": hyps, "exit_code": code,
            "peak_rss_mb": max(_peak_rss_mb(), _peak_rss_mb(resource.RUSAGE_CHILDREN))}


def wer(corpus: list[dict], hyps: list[dict]) -> float:
    import jiwer

    norm = jiwer.Compose([jiwer.ToLowerCase(), jiwer.RemovePunctuation(), jiwer.RemoveMultipleSpaces(),
                          jiwer.Strip(), jiwer.ReduceToListOfListOfWords()])
    refs = [c["refs"][sp] for c in corpus for sp in ("agent", "customer")]
    outs = [h[sp] or "<empty>" for h in hyps for sp in ("agent", "customer")]
    return 100 * jiwer.wer(refs, outs, reference_transform=norm, hypothesis_transform=norm)


def child(mode: str, corpus_file: Path) -> None:
    corpus = json.loads(corpus_file.read_text())
    if mode == "c":
        result = run_c(corpus, Path(os.environ["CALLQC_DATA_DIR"]))
    else:
        from transcribe.models import resolve_model

        path = resolve_model().path
        result = run_a(corpus, path) if mode == "a" else run_b(corpus, path)
    print(json.dumps(result))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=12)
    ap.add_argument("--turns", type=int, default=12)
    ap.add_argument("--model", default="tiny.en")
    ap.add_argument("--child", choices=["a", "b", "c"], help=argparse.SUPPRESS)
    ap.add_argument("--corpus", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.corpus)
        return
    work = Path(tempfile.mkdtemp(prefix="callqc-bench-"))
    corpus = make_corpus(work / "calls", calls=args.calls, turns=args.turns)
    (work / "corpus.json").write_text(json.dumps(corpus))
    call_s = sum(c["duration_s"] for c in corpus)
    results = {}
    for mode in ("a", "b", "c"):
        env = {**os.environ, "CALLQC_ASR_MODEL": args.model, "CALLQC_DATA_DIR": str(work / f"data-{mode}"),
               "PYTHONPATH": str(ROOT)}
        out = subprocess.run([sys.executable, "-m", "bench.transcribe", "--child", mode, "--corpus",
                              str(work / "corpus.json")], env=env, cwd=ROOT, check=True, capture_output=True,
                             text=True).stdout
        results[mode] = json.loads(out.strip().splitlines()[-1])
        results[mode]["x"] = call_s / results[mode]["wall_s"]
        results[mode]["wer"] = wer(corpus, results[mode]["hyps"])
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}, model {args.model}")
    print(f"corpus: {len(corpus)} stereo 8 kHz μ-law calls, {call_s:.0f} s of call time")
    for mode, label in (("a", "defaults + VAD"), ("b", "tuned bare"), ("c", "callqc end to end")):
        r = results[mode]
        print(f"({mode}) {label:18s} {r['x']:6.1f}x  wall {r['wall_s']:6.1f} s  WER {r['wer']:5.1f}%  "
              f"peak RSS {r['peak_rss_mb']:6.0f} MB")
    a, b, c = (results[m] for m in "abc")
    print(f"c/b = {c['x'] / b['x']:.2f}  c/a = {c['x'] / a['x']:.2f}  "
          f"WER(c) - WER(b) = {c['wer'] - b['wer']:+.1f} points")


if __name__ == "__main__":
    main()
