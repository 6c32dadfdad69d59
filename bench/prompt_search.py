"""Known prompts on the PBX corpus, without the rest of the pipeline (not a test).

Three measurements, the corpus's four recorded IVR prompts known (:data:`bench.pbx_corpus.IVR_PROMPTS`,
fingerprinted from the Asterisk files an operator would register):

- ``search``: ``PromptBook.heard`` over every 180 s window of every channel of every call — process
  CPU per channel-minute (the best of ``--repeat`` passes), the first search's cost in a fresh
  process (imports), and every playing found, with its start, end and correlation;
- ``chunks``: the chunks handed to Whisper per hold call — bare faster-whisper (Silero over the whole
  channel, ``collect_chunks``), callqc, callqc with the prompts known — counted by recording what
  reaches ``Transcriber.transcribe_chunks``, without decoding;
- ``engine``: ``Transcriber.transcribe`` (tiny.en) on each hold call without, then with the prompts
  known, in one process; process CPU per call (the model's threads included).

It uses only what main already had (``PromptBook.heard``, ``Transcriber.transcribe(prompts=…)``), so
the same script measures another tree: ``PYTHONPATH=OTHER_TREE python bench/prompt_search.py …``.

``python -m bench.prompt_search --corpus DIR [--what search,chunks,engine] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path
from typing import Any

import numpy as np


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _book() -> Any:
    from bench.pbx_corpus import IVR_PROMPTS, SOUNDS, prompt_texts
    from transcribe.audio import decode
    from transcribe.fingerprint import fingerprint
    from transcribe.prompts import KnownPrompt, PromptBook

    texts = prompt_texts()
    return PromptBook(tuple(KnownPrompt(n, texts[n], fingerprint(decode(SOUNDS / f"{n}.wav").channels[0]))
                            for n in IVR_PROMPTS))


def search(calls: list[dict], repeat: int) -> None:
    import bench.pbx_corpus
    import transcribe.fingerprint
    import transcribe.prompts
    from transcribe.audio import decode

    assert bench.pbx_corpus and transcribe.fingerprint and transcribe.prompts  # imported outside the clock
    c0 = _cpu()  # the prompts' prints and a first search: what a worker pays once (main: SciPy's imports)
    book = _book()
    book.heard(np.random.default_rng(0).integers(-3000, 3000, 16000 * 30).astype(np.int16))
    first = _cpu() - c0
    wins, ch_min = [], 0.0
    for c in calls:
        for w in decode(Path(c["path"])).windows():
            wins += [(Path(c["path"]).stem, ch, w.offset_s, s) for ch, s in enumerate(w.channels)]
        ch_min += len(w.channels) * c["duration_s"] / 60
    best, out = float("inf"), []
    for _ in range(repeat):
        t0 = time.process_time()
        out = [(stem, ch, off, book.heard(s)) for stem, ch, off, s in wins]
        best = min(best, time.process_time() - t0)
    print(f"search: first use (imports, prompt prints) {first:.2f} s; {best:.2f} s CPU for {ch_min:.1f} "
          f"channel-min = {1000 * best / ch_min:.1f} ms per channel-minute (best of {repeat})")
    for stem, ch, off, heard in out:
        for p, h in heard:
            print(f"  hit {stem} ch{ch} {p.name} {off + h.start_s:.2f}–{off + h.end_s:.2f} s r={h.correlation}")


def _transcriber(handed: dict[int, list[Any]] | None = None) -> Any:
    from transcribe.compute import ComputeSettings
    from transcribe.engine import Transcriber
    from transcribe.models import resolve_model

    t = Transcriber(resolve_model("tiny.en"), ComputeSettings())
    if handed is not None:  # count what reaches the model instead of decoding it
        def record(chunks: list, *, channel: int, **_kw: object) -> list:
            handed.setdefault(channel, []).extend(chunks)
            return []

        setattr(t, "transcribe_chunks", record)  # noqa: B010 (an instance's method replaced, not a constant name)
    return t


def chunks(calls: list[dict]) -> None:
    from faster_whisper.vad import collect_chunks, get_speech_timestamps

    from transcribe.audio import decode, to_float
    from transcribe.compute import VAD_MIN_SILENCE_MS, VAD_THRESHOLD
    from transcribe.vad import vad_options

    book, handed = _book(), dict[int, list[Any]]()
    t = _transcriber(handed)
    n: dict[str, int] = {"bare": 0, "callqc": 0, "callqc, prompts known": 0}
    seconds = dict.fromkeys(n, 0.0)
    for c in calls:
        audio = decode(Path(c["path"]))
        for ch in range(audio.n_channels):
            x = to_float(audio.channels[ch])
            got, _ = collect_chunks(x, get_speech_timestamps(x, vad_options(VAD_THRESHOLD, VAD_MIN_SILENCE_MS)),
                                    max_duration=30)
            n["bare"] += len(got)
            seconds["bare"] += sum(len(k) for k in got) / 16000
        for mode, known in (("callqc", None), ("callqc, prompts known", book)):
            handed.clear()
            t.transcribe(audio, channel_map={"agent": 0, "customer": 1}, language="en", prompts=known)
            n[mode] += sum(len(v) for v in handed.values())
            seconds[mode] += sum(k.samples for v in handed.values() for k in v) / 16000
    for mode in n:
        print(f"chunks: {mode}: {n[mode]} chunks, {seconds[mode]:.1f} s of speech")


def engine(calls: list[dict]) -> None:
    from transcribe.audio import decode

    book, t = _book(), _transcriber()
    total = {"without": 0.0, "with": 0.0}
    for c in calls:
        audio = decode(Path(c["path"]))
        for mode in ("without", "with"):
            c0 = _cpu()
            t.transcribe(audio, channel_map={"agent": 0, "customer": 1}, language="en",
                         prompts=book if mode == "with" else None)
            total[mode] += _cpu() - c0
            print(f"engine: {Path(c['path']).stem} prompts {mode}: {_cpu() - c0:.1f} s CPU", flush=True)
    print(f"engine: all {len(calls)} calls: without prompts {total['without']:.1f} s, with {total['with']:.1f} s")


def main() -> None:
    from bench.machine import loadavg
    from bench.pbx_corpus import load

    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--corpus", type=Path, required=True, help="A corpus folder built by bench.pbx_corpus.")
    ap.add_argument("--what", default="search,chunks,engine")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    calls = load(args.corpus)
    holds = [c for c in calls if c["kind"] == "hold"]
    print(f"load average before: {loadavg()}")
    for what in args.what.split(","):
        {"search": lambda: search(calls, args.repeat), "chunks": lambda: chunks(holds),
         "engine": lambda: engine(holds)}[what]()
    print(f"load average after: {loadavg()}")


if __name__ == "__main__":
    main()
