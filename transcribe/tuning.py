"""Tuning by measurement: the fastest decoding settings on this machine that keep the word error rate.

:func:`sweep` transcribes the operator's own calls once per setting (batch size × beam ×
threads-per-replica × replicas), through the same engine workers use, two calls at a time as a
worker's two job slots do, and measures call-seconds per wall-second and the WER. References are
the operator's transcripts when given (``<recording>.txt`` next to a recording: the call's words in
time order, both speakers); otherwise the output of the most careful setting of the sweep (the
largest beam at the smallest batch) is the reference, so each setting's WER says how far it strays
from that. :func:`choose` keeps the settings within ``max_wer_loss`` points of that careful
setting and picks the fastest; :func:`env_lines` are the ``CALLQC_`` lines the settings class
reads (``.env`` in the working directory, or the environment).
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from storage.errors import InvalidInput
from transcribe.audio import DecodedAudio, decode
from transcribe.compute import ComputeSettings
from transcribe.engine import Transcriber
from transcribe.models import ResolvedModel

AUDIO_SUFFIXES = frozenset({".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a", ".gsm", ".ul", ".al"})
STEREO = {"agent": 0, "customer": 1}
CALLS_IN_FLIGHT = 2  # a worker's default job slots


class NothingToTune(InvalidInput):
    """no recordings to tune on"""


@dataclass(frozen=True)
class Setting:
    batch_size: int
    beam_size: int
    cpu_threads: int
    num_workers: int

    def label(self) -> str:
        return (f"batch {self.batch_size}, beam {self.beam_size}, "
                f"{self.cpu_threads} thread(s) × {self.num_workers} replica(s)")


@dataclass(frozen=True)
class Trial:
    setting: Setting
    speed: float  # call-seconds per wall-second
    wer: float  # percent, against the references (or the careful setting's output)
    texts: tuple[str, ...]  # one per call


@dataclass(frozen=True)
class TuningCall:
    name: str
    audio: DecodedAudio
    reference: str | None


def load_calls(folder: Path) -> list[TuningCall]:
    """The recordings in ``folder`` (decoded once) and their ``.txt`` references where present."""
    if not folder.is_dir():
        raise NothingToTune(f"{folder}: not a folder")
    out = []
    for path in sorted(p for p in folder.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES):
        ref = path.with_suffix(".txt")
        out.append(TuningCall(path.name, decode(path, name=path.name),
                              ref.read_text(encoding="utf-8") if ref.is_file() else None))
    if not out:
        raise NothingToTune(f"{folder}: no recordings ({', '.join(sorted(AUDIO_SUFFIXES))})")
    return out


def settings_grid(batch: Sequence[int], beam: Sequence[int], layouts: Sequence[tuple[int, int]]) -> list[Setting]:
    """Every combination; ``layouts`` are (threads per replica, replicas)."""
    if not batch or not beam or not layouts or min([*batch, *beam, *itertools.chain(*layouts)]) < 1:
        raise InvalidInput("batch sizes, beams, threads and replicas must be whole numbers of at least 1")
    return [Setting(b, k, t, r) for (t, r), b, k in itertools.product(layouts, sorted(set(batch)), sorted(set(beam)))]


def words(text: str) -> list[str]:
    return re.sub(r"[^\w']+", " ", text.lower()).split()


def wer(refs: Sequence[str], hyps: Sequence[str]) -> float:
    """Word error rate in percent over all pairs (word-level edit distance / reference words)."""
    errors = total = 0
    for ref, hyp in zip(refs, hyps, strict=True):
        r, h = words(ref), words(hyp)
        prev = list(range(len(h) + 1))
        for i, rw in enumerate(r, 1):
            cur = [i] + [0] * len(h)
            for j, hw in enumerate(h, 1):
                cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (rw != hw))
            prev = cur
        errors += prev[-1]
        total += len(r)
    return 100.0 * errors / total if total else (0.0 if not any(hyps) else 100.0)


def _run(transcriber: Transcriber, calls: Sequence[TuningCall], language: str | None) -> tuple[float, list[str]]:
    def one(call: TuningCall) -> str:
        t = transcriber.transcribe(call.audio, channel_map=STEREO, language=language)
        return " ".join(s.text for s in t.segments)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=CALLS_IN_FLIGHT) as pool:
        texts = list(pool.map(one, calls))
    wall = time.perf_counter() - t0
    return sum(c.audio.duration_s for c in calls) / max(wall, 1e-9), texts


def sweep(model: ResolvedModel, calls: Sequence[TuningCall], grid: Sequence[Setting], *,
          language: str | None = None, compute: ComputeSettings | None = None) -> list[Trial]:
    """Transcribe ``calls`` under every setting of ``grid``; WER against the references when every
    call has one, else against the careful setting's output."""
    base = compute or ComputeSettings()
    raw: list[tuple[Setting, float, list[str]]] = []
    by_layout = itertools.groupby(sorted(grid, key=lambda s: (s.cpu_threads, s.num_workers)),
                                  key=lambda s: (s.cpu_threads, s.num_workers))
    for (threads, replicas), group in by_layout:
        # one model per layout; batch and beam are read per decode
        transcriber = Transcriber(model, replace(base, cpu_threads=threads, num_workers=replicas))
        try:
            _run(transcriber, calls[:1], language)  # warm-up: first decodes allocate
            for s in group:
                transcriber.compute = replace(transcriber.compute, batch_size=s.batch_size, beam_size=s.beam_size)
                speed, texts = _run(transcriber, calls, language)
                raw.append((s, speed, texts))
        finally:
            transcriber.close()
    with_refs = all(c.reference is not None for c in calls)
    refs = [c.reference or "" for c in calls] if with_refs else careful(raw)
    return [Trial(s, round(speed, 3), round(wer(refs, texts), 2), tuple(texts)) for s, speed, texts in raw]


def careful(raw: Sequence[tuple[Setting, float, list[str]]]) -> list[str]:
    """The output of the sweep's most careful setting: the largest beam, then the smallest batch."""
    best = min(raw, key=lambda r: (-r[0].beam_size, r[0].batch_size, r[0].cpu_threads))
    return list(best[2])


def choose(trials: Sequence[Trial], *, max_wer_loss: float = 0.5) -> Trial:
    """The fastest trial whose WER is within ``max_wer_loss`` points of the most careful setting's."""
    ref = min(trials, key=lambda t: (-t.setting.beam_size, t.setting.batch_size, t.setting.cpu_threads))
    kept = [t for t in trials if t.wer <= ref.wer + max_wer_loss + 1e-9]
    return max(kept, key=lambda t: t.speed)


def env_lines(setting: Setting) -> list[str]:
    return [f"CALLQC_ASR_BATCH_SIZE={setting.batch_size}", f"CALLQC_ASR_BEAM_SIZE={setting.beam_size}",
            f"CALLQC_ASR_CPU_THREADS={setting.cpu_threads}", f"CALLQC_ASR_NUM_WORKERS={setting.num_workers}"]


def write_env(path: Path, lines: Sequence[str]) -> None:
    """Set ``lines`` (``KEY=value``) in the env file at ``path``, keeping its other lines."""
    keys = {line.split("=", 1)[0] for line in lines}
    old = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
    kept = [line for line in old if line.split("=", 1)[0].strip() not in keys]
    tmp = path.with_name(path.name + ".part")
    tmp.write_text("\n".join([*kept, *lines]) + "\n", encoding="utf-8")
    tmp.replace(path)
