"""Does changing the audio help base hear espeak-ng's Mandarin? (not a test)

Audio variants (:func:`variant`) applied to the 16 kHz samples before the model hears them:
pitch-preserving slow-down (FFmpeg's ``atempo`` through PyAV, in-process), loudness normalised to
−20 dBFS RMS, a 300 Hz high-pass, a fixed gain (``g1``: +1 dB, ``g-1``: −1 dB, a control: how far
a change too small to matter moves base's output), and combinations. Materials:

* ``windows``: every ID, phone, card and account number of a labelled redaction set
  (:mod:`bench.redaction_set`), the customer's spoken number cut as :mod:`bench.redecode_windows`
  cuts it (label span ± ``PAD_S``), decoded plain (language zh, beam 5, temperature 0, no prompt)
  and primed as :class:`~transcribe.redaction.redecode.WhisperDecoder` primes it. Per window: the
  digits written (:func:`words_to_digits`), exact or not, and the digit-level edit distance to the
  number said.
* ``calls``: the calls of a Mandarin scoring set (:mod:`bench.zh_calls`), each whole call transcribed
  by the pipeline's :class:`~transcribe.engine.Transcriber` as ``bench/zh_scoring.py`` does
  (``hotwords-unprimed``, fallback on), on the changed audio; word and segment times divided back
  by the tempo factor; scored by ``bench.zh_scoring.score`` (transcript only, no forced
  verification) and CER.

``python -m bench.zh_audio_probe windows --set DIR [--variants orig t0.8 ...] [--limit N] [--json F]``
``python -m bench.zh_audio_probe calls --set DIR --seed S --calls N [--variants ...] [--verify] [--json F]``
``python -m bench.zh_audio_probe ceiling --set DIR [--limit N] [--speed WPM] [--renders wide tel set]``
"""

from __future__ import annotations

import argparse
import json
import os
import re
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from rapidfuzz.distance import Levenshtein

from transcribe.audio import SAMPLE_RATE, decode

PAD_S = 0.3
TARGET_DBFS = -20.0
VARIANTS = ("orig", "t0.9", "t0.8", "t0.7", "norm", "hp300", "t0.8+norm", "t0.8+hp300")


def tempo(samples: np.ndarray, factor: float) -> np.ndarray:
    """``samples`` (16 kHz int16) played at ``factor`` × speed, pitch kept (FFmpeg ``atempo``)."""
    graph = av.filter.Graph()
    src = graph.add_abuffer(format="s16", sample_rate=SAMPLE_RATE, layout="mono", time_base=Fraction(1, SAMPLE_RATE))
    f = graph.add("atempo", str(factor))
    sink = graph.add("abuffersink")
    src.link_to(f)
    f.link_to(sink)
    graph.configure()
    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples, dtype=np.int16)[None, :], format="s16",
                                       layout="mono")
    frame.sample_rate = SAMPLE_RATE
    frame.pts = 0
    frame.time_base = Fraction(1, SAMPLE_RATE)
    graph.push(frame)
    graph.push(None)
    out = []
    while True:
        try:
            out.append(graph.pull().to_ndarray().reshape(-1))
        except (av.error.BlockingIOError, av.error.EOFError):
            break
    return np.concatenate(out).astype(np.int16) if out else np.zeros(0, np.int16)


def normalise(samples: np.ndarray, dbfs: float = TARGET_DBFS) -> np.ndarray:
    """Gain so the RMS of the louder (speech) half of 20 ms frames is ``dbfs``; clipped at full scale."""
    x = samples.astype(np.float32)
    n = len(x) // 320
    if n == 0:
        return samples
    rms = np.sqrt((x[: n * 320].reshape(n, 320) ** 2).mean(axis=1))
    loud = rms[rms >= np.median(rms)]
    level = float(np.sqrt((loud**2).mean())) if len(loud) else 0.0
    if level < 1.0:
        return samples
    gain = 32768.0 * 10 ** (dbfs / 20) / level
    return np.clip(x * gain, -32768, 32767).astype(np.int16)


def highpass(samples: np.ndarray, hz: float = 300.0) -> np.ndarray:
    """Second-order Butterworth high-pass (a phone line's low edge)."""
    from scipy.signal import butter, sosfilt

    sos = butter(2, hz, "highpass", fs=SAMPLE_RATE, output="sos")
    return np.clip(sosfilt(sos, samples.astype(np.float32)), -32768, 32767).astype(np.int16)


def variant(samples: np.ndarray, name: str) -> tuple[np.ndarray, float]:
    """The changed samples and their tempo factor (times in them ÷ factor… × factor = original)."""
    factor = 1.0
    for part in name.split("+"):
        if part == "orig":
            continue
        if part.startswith("t"):
            factor = float(part[1:])
            samples = tempo(samples, factor)
        elif part == "norm":
            samples = normalise(samples)
        elif part.startswith("g"):  # a fixed gain in dB: a control for how much a small change moves the output
            samples = np.clip(samples.astype(np.float32) * 10 ** (float(part[1:]) / 20), -32768, 32767).astype(np.int16)
        elif part.startswith("hp"):
            samples = highpass(samples, float(part[2:]))
        else:
            raise ValueError(part)
    return samples, factor


def _digits_of(text: str) -> str:
    from transcribe.redaction.spoken_numbers import words_to_digits

    return re.sub(r"\D", "", words_to_digits(text))


def run_windows(folder: Path, variants: list[str], limit: int | None) -> dict[str, Any]:
    from storage.settings import get_settings
    from transcribe.audio import to_float
    from transcribe.engine import get_transcriber
    from transcribe.redaction.redecode import PRIMES
    from transcribe.redaction.rules import Kind

    labels = json.loads((folder / "labels.json").read_text(encoding="utf-8"))
    whisper = get_transcriber(get_settings().asr_model).whisper
    items = []
    for cid in sorted(labels):
        for lab in labels[cid]["labels"]:
            if lab["kind"] in ("id", "phone", "card", "account"):
                items.append((cid, lab))
    items = items[:limit]
    rows: list[dict[str, Any]] = []
    cpu: dict[str, float] = {}
    for cid, lab in items:
        audio = decode(folder / f"{cid}.wav").channels[1]
        piece = audio[max(0, int((lab["start"] - PAD_S) * SAMPLE_RATE)):int((lab["end"] + PAD_S) * SAMPLE_RATE)]
        for v in variants:
            changed, _ = variant(piece, v)
            for how in ("plain", "primed"):
                prime = PRIMES[("zh", Kind(lab["kind"]))] if how == "primed" and lab["kind"] != "account" else None
                if how == "primed" and prime is None:
                    continue
                c0 = time.process_time()
                segs, _ = whisper.transcribe(to_float(changed), language="zh", initial_prompt=prime, beam_size=5,
                                             temperature=0.0, condition_on_previous_text=False, vad_filter=False,
                                             without_timestamps=True, max_new_tokens=64)
                text = " ".join(s.text for s in segs).strip()
                cpu[v] = cpu.get(v, 0.0) + time.process_time() - c0
                got = _digits_of(text)
                rows.append({"call": cid, "kind": lab["kind"], "variant": v, "how": how, "said": lab["digits"],
                             "heard": text, "digits": got, "exact": got == lab["digits"],
                             "dist": Levenshtein.distance(got, lab["digits"]), "n": len(lab["digits"])})
                print(f"{cid} {v:10s} {how:6s} said {lab['digits']} got {got} {text[:50]!r}", flush=True)
    summary: dict[str, Any] = {}
    for v in variants:
        for how in ("plain", "primed"):
            rs = [r for r in rows if r["variant"] == v and r["how"] == how]
            if not rs:
                continue
            summary[f"{v}/{how}"] = {
                "windows": len(rs), "exact": sum(r["exact"] for r in rs),
                "digit_err_pct": round(100 * sum(r["dist"] for r in rs) / sum(r["n"] for r in rs), 1),
                "within_2": sum(r["dist"] <= 2 for r in rs),
                "right_count": sum(len(r["digits"]) == r["n"] for r in rs)}
        summary[f"{v}/cpu_s"] = round(cpu.get(v, 0.0), 1)
    return {"rows": rows, "summary": summary}


RENDERS = ("wide", "tel", "set")


def render(text: str, speed: int, how: str) -> np.ndarray:
    """espeak-ng's pinyin voice saying ``text`` (Chinese digits) at 16 kHz int16: ``wide`` resampled
    from espeak's 22.05 kHz with an anti-alias filter; ``tel`` through 8 kHz the same way (a phone
    line's band, no aliasing); ``set`` to 8 kHz by linear interpolation as ``bench.redaction_set``
    makes its calls (no anti-alias filter: espeak's energy above 4 kHz folds down), then to 16 kHz."""
    import subprocess
    import tempfile
    import wave

    from scipy.signal import resample_poly

    from bench.redaction_set import to_pinyin

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "x.wav"
        subprocess.run(["espeak-ng", "-v", "cmn-latn-pinyin", "-s", str(speed), "-w", str(out), to_pinyin(text)],
                       check=True, capture_output=True)
        with wave.open(str(out)) as w:
            rate = w.getframerate()
            pcm = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float32)
    assert rate == 22050, rate
    if how == "wide":
        x = resample_poly(pcm, 320, 441)
    elif how == "tel":
        x = resample_poly(resample_poly(pcm, 160, 441), 2, 1)
    else:
        t = np.arange(int(len(pcm) * 8000 / rate)) * rate / 8000
        x = resample_poly(np.interp(t, np.arange(len(pcm)), pcm), 2, 1)
    return np.clip(x, -32768, 32767).astype(np.int16)


def run_ceiling(folder: Path, limit: int | None, speed: int | None = None,
                renders: tuple[str, ...] = RENDERS) -> dict[str, Any]:
    from storage.settings import get_settings
    from transcribe.audio import to_float
    from transcribe.engine import get_transcriber
    from transcribe.redaction.redecode import PRIMES
    from transcribe.redaction.rules import Kind

    labels = json.loads((folder / "labels.json").read_text(encoding="utf-8"))
    whisper = get_transcriber(get_settings().asr_model).whisper
    items = [(labels[cid], lab) for cid in sorted(labels) for lab in labels[cid]["labels"]
             if lab["kind"] in ("id", "phone", "card")][:limit]
    rows: list[dict[str, Any]] = []
    for meta, lab in items:
        text = "".join(f["text"] for f in meta["script"] if f["channel"] == 1
                       and lab["start"] - 0.05 <= f["start"] and f["end"] <= lab["end"] + 0.05)
        for how in renders:
            audio = render(text, speed or meta["speed"], how)
            for dec in ("plain", "primed"):
                prime = PRIMES[("zh", Kind(lab["kind"]))] if dec == "primed" else None
                segs, _ = whisper.transcribe(to_float(audio), language="zh", initial_prompt=prime, beam_size=5,
                                             temperature=0.0, condition_on_previous_text=False, vad_filter=False,
                                             without_timestamps=True, max_new_tokens=64)
                heard = " ".join(s.text for s in segs).strip()
                got = _digits_of(heard)
                rows.append({"kind": lab["kind"], "render": how, "how": dec, "said": lab["digits"], "heard": heard,
                             "digits": got, "exact": got == lab["digits"],
                             "dist": Levenshtein.distance(got, lab["digits"]), "n": len(lab["digits"])})
                print(f"{how:5s} {dec:6s} said {lab['digits']} got {got} {heard[:50]!r}", flush=True)
    summary = {}
    for how in renders:
        for dec in ("plain", "primed"):
            rs = [r for r in rows if r["render"] == how and r["how"] == dec]
            summary[f"{how}/{dec}"] = {
                "numbers": len(rs), "exact": sum(r["exact"] for r in rs),
                "digit_err_pct": round(100 * sum(r["dist"] for r in rs) / max(1, sum(r["n"] for r in rs)), 1),
                "within_2": sum(r["dist"] <= 2 for r in rs)}
    return {"rows": rows, "summary": summary}


def _scaled(segs: list[dict[str, Any]], factor: float) -> list[dict[str, Any]]:
    """Times in the changed audio → times in the original: slowed by ``factor``, so × factor."""
    out = []
    for s in segs:
        s = dict(s, start=round(s["start"] * factor, 3), end=round(s["end"] * factor, 3))
        s["words"] = [[round(w[0] * factor, 3), round(w[1] * factor, 3), w[2], w[3]] for w in s["words"]]
        out.append(s)
    return out


def run_calls(folder: Path, seed: int, n: int, variants: list[str], verify: bool = False) -> dict[str, Any]:
    from bench.zh_calls import build
    from bench.zh_scoring import RUBRIC, _seg_json, cer, score
    from transcribe.audio import DecodedAudio
    from transcribe.compute import ComputeSettings
    from transcribe.engine import Transcriber
    from transcribe.models import resolve_model
    from transcribe.vocabulary import build as hotwords_of
    from transcribe.vocabulary import rubric_phrases

    made = folder / "labels.json"  # the set as built (build() would speak every call again)
    calls = (json.loads(made.read_text(encoding="utf-8")) if made.exists() else build(folder, n, seed))[:n]
    tr = Transcriber(resolve_model("base"), ComputeSettings(unprime=True, coverage=True))
    hotwords = hotwords_of(rubric_phrases(RUBRIC))
    out: dict[str, Any] = {}
    for v in variants:
        cache = folder / f"probe-{v}.json"
        done: dict[str, Any] = (json.loads(cache.read_text(encoding="utf-8")) if cache.exists()
                                else {"calls": {}, "cpu_s": 0.0})
        for c in calls:
            if c["name"] in done["calls"]:
                continue
            audio = decode(Path(c["path"]))
            c0 = time.process_time()
            changed = [variant(ch, v) for ch in audio.channels]
            factor = changed[0][1]
            size = max(len(a) for a, _ in changed)
            chans = [np.pad(a, (0, size - len(a))) for a, _ in changed]
            t = tr.transcribe(DecodedAudio(chans, audio.source_rate, audio.codec),
                              channel_map={"agent": 0, "customer": 1}, language="zh", hotwords=hotwords)
            done["calls"][c["name"]] = _scaled([_seg_json(s) for s in t.segments], factor)
            done["cpu_s"] += time.process_time() - c0
            cache.write_text(json.dumps(done, ensure_ascii=False), encoding="utf-8")
            print(f"  {v} {c['name']}: " + " | ".join(s.text for s in t.segments if s.speaker == "agent")[:120],
                  flush=True)
        s = score(calls, done)
        if verify:  # callqc's rule: missed phrases forced-decoded on the original audio (times mapped back)
            from bench.zh_verify import _forced_cache

            fpath, forced, forced_for = _forced_cache(calls, folder, f"probe-{v}")
            checked = score(calls, done, forced=forced_for)
            fpath.write_text(json.dumps(forced, ensure_ascii=False), encoding="utf-8")
            out.setdefault(v, {}).update({"verified_agree": checked["agree"], "verified_recall": checked["recall"],
                                          "verified_fp": checked["fp"], "verified_review": checked["review"],
                                          "verified_abuse": checked["abuse_caught"]})
        out.setdefault(v, {}).update({"agree": s["agree"], "n": s["n"], "recall": s["recall"], "fp": s["fp"],
                  "abuse_caught": s["abuse_caught"], "review": s["review"],
                  "cer": round(cer(calls, done, numerals=False), 1),
                  "cer_num": round(cer(calls, done, numerals=True), 1),
                  "cpu_per_call_s": round(done["cpu_s"] / len(calls), 1)})
        print(v, json.dumps(out[v]), flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("what", choices=("windows", "calls", "ceiling"))
    ap.add_argument("--set", type=Path, required=True, dest="folder")
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS))
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--seed", type=int, default=15)
    ap.add_argument("--calls", type=int, default=8)
    ap.add_argument("--speed", type=int, default=None, help="ceiling: espeak words a minute (default: the call's)")
    ap.add_argument("--renders", nargs="+", default=list(RENDERS), choices=RENDERS)
    ap.add_argument("--verify", action="store_true", help="calls: also score by callqc's rule (forced verification)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    load0 = os.getloadavg()[0]
    if args.what == "windows":
        res = run_windows(args.folder, args.variants, args.limit)
    elif args.what == "ceiling":
        res = run_ceiling(args.folder, args.limit, args.speed, tuple(args.renders))
    else:
        res = {"summary": run_calls(args.folder, args.seed, args.calls, args.variants, args.verify)}
    res["load"] = [load0, os.getloadavg()[0]]
    print(json.dumps(res["summary"], indent=1))
    if args.json:
        args.json.write_text(json.dumps(res, ensure_ascii=False, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
