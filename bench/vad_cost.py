"""Voice detection cost (not a test): plain Silero VAD against the gated VAD, on the PBX corpus.

Every channel of every call of a :mod:`bench.pbx_corpus` corpus, decoded before the clock, goes
through :func:`transcribe.vad.speech_spans` with the gate off (plain Silero, what faster-whisper's
batched pipeline runs) and on, with the engine's options. Reports CPU seconds per channel-minute
for each (process CPU time, all threads), the ratio, and whether they find the same speech: the
intersection over union of the two span sets, and the share of the truth's spoken lines each
covers.

``python -m bench.vad_cost [--corpus DIR] [--hold-calls 8] [--speech-calls 4] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from bench.machine import loadavg, machine


def _union(iv: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for a, b in sorted(iv):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _overlap(xs: list[tuple[float, float]], ys: list[tuple[float, float]]) -> float:
    return sum(max(0.0, min(b, d) - max(a, c)) for a, b in xs for c, d in ys)


def _total(iv: list[tuple[float, float]]) -> float:
    return sum(b - a for a, b in iv)


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--corpus", type=Path)
    ap.add_argument("--hold-calls", type=int, default=8)
    ap.add_argument("--speech-calls", type=int, default=4)
    ap.add_argument("--minutes", type=float, default=4.5)
    ap.add_argument("--repeat", type=int, default=3, help="Timed passes of each mode (the fastest is kept).")
    args = ap.parse_args()
    from faster_whisper import decode_audio

    from bench.pbx_corpus import build, load
    from transcribe.compute import VAD_MIN_SILENCE_MS, VAD_THRESHOLD
    from transcribe.vad import seconds, speech_spans, vad_options

    folder = args.corpus or Path(tempfile.mkdtemp(prefix="callqc-vad-")) / "corpus"
    if not (folder / "truth.json").exists():
        build(folder, hold_calls=args.hold_calls, speech_calls=args.speech_calls, minutes=args.minutes)
    calls = load(folder)
    opts = vad_options(VAD_THRESHOLD, VAD_MIN_SILENCE_MS)
    channels = [(c, sp, audio) for c in calls
                for sp, audio in zip(("agent", "customer"), decode_audio(c["path"], split_stereo=True), strict=True)]
    minutes = sum(len(a) for _c, _s, a in channels) / 16000 / 60
    speech_spans(channels[0][2][:16000], opts, gate=False)  # load the model outside the clock
    load_before = loadavg()
    from transcribe.nonspeech import classify

    def skip(audio, ch: int) -> list[tuple[int, int]]:  # type: ignore[no-untyped-def]
        return [(int(x.start * 16000), int(x.end * 16000)) for x in classify(audio, channel=ch)]

    modes = {"plain": {"gate": False}, "gated": {"gate": True}, "gated+nonspeech": {"gate": True, "classify": True}}
    cpu: dict[str, float] = {}
    found: dict[str, list[list[tuple[float, float]]]] = {}
    for mode, how in modes.items():
        best = float("inf")
        for _ in range(args.repeat):
            c0 = time.process_time()
            spans = []
            for _c, sp, a in channels:
                cut = skip(a, 0 if sp == "agent" else 1) if how.get("classify") else []
                spans.append(_union(seconds(speech_spans(a, opts, gate=how["gate"], skip=cut))))
            best = min(best, time.process_time() - c0)
        cpu[mode], found[mode] = best, spans
    def iou(mode: str) -> float:
        inter = sum(_overlap(p, g) for p, g in zip(found["plain"], found[mode], strict=True))
        union = sum(_total(p) + _total(g) for p, g in zip(found["plain"], found[mode], strict=True)) - inter
        return 100 * inter / union

    truth = [_union([tuple(x) for x in c["speech"][sp]]) for c, sp, _a in channels]  # type: ignore[misc]
    spoken = sum(_total(t) for t in truth)
    cover = {g: sum(_overlap(t, f) for t, f in zip(truth, found[g], strict=True)) / spoken for g in modes}
    holds = [_union([tuple(x) for x in c["hold"]]) if sp == "customer" else [] for c, sp, _a in channels]  # type: ignore[misc]
    in_hold = {g: sum(_overlap(h, f) for h, f in zip(holds, found[g], strict=True)) for g in modes}
    print(f"machine: {machine()}\nload average before/after: {load_before} / {loadavg()}\n"
          f"corpus: {len(calls)} calls, {minutes:.1f} channel-minutes, truth speech {spoken / 60:.1f} min "
          f"({100 * spoken / 60 / minutes:.0f} % of channel time)\n")
    print("| voice detection | CPU s per channel-minute | × real time | vs plain | speech found | same as plain (IoU) "
          "| truth speech covered | 'speech' inside hold music |\n|---|---|---|---|---|---|---|---|")
    names = {"plain": "plain Silero (faster-whisper's)", "gated": "energy gate → Silero",
             "gated+nonspeech": "classifier + energy gate → Silero (callqc)"}
    for g in modes:
        print(f"| {names[g]} | {cpu[g] / minutes:.3f} | {minutes * 60 / cpu[g]:.0f}× | {cpu[g] / cpu['plain']:.2f} | "
              f"{sum(_total(x) for x in found[g]) / 60:.1f} min | {iou(g):.1f} % | {100 * cover[g]:.1f} % | "
              f"{in_hold[g]:.0f} s |")


if __name__ == "__main__":
    main()
