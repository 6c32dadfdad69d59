"""Beam-width benchmark (not a test): accuracy and cost of ``asr_beam_size`` through callqc's engine.

Synthesises varied contact-center calls (20 different sentences, with names, dates, numbers and
addresses; 6 calls of 10 turns, agent and customer in different espeak voices) and transcribes them
with callqc's :class:`~transcribe.engine.Transcriber` once per beam width. Prints CPU cost
(call-seconds per CPU-second), the ratio to beam 5 (the library's default, the baseline) and WER —
plain and with digits spelled out, so "4" and "four" count as the same word — for each width.

``python -m bench.asr_beam [--calls 6] [--beams 1,2,5] [--model tiny.en]``
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import tempfile
from pathlib import Path

SENTENCES = """Good morning, thank you for calling City Bank, this is Maria speaking.
I would like to check the balance on my savings account.
Could you please confirm your date of birth and the last four digits of your card?
It is the twelfth of March, nineteen eighty five, and the digits are three one four two.
Thank you, I can see two recent transactions that are still pending.
Why was I charged a late fee when I paid on time last month?
I understand your frustration, let me look into that for you right away.
The payment arrived one day after the due date, so the system added the fee.
That is not fair, the bank holiday delayed the transfer.
I have waived the fee as a one time courtesy, it will disappear within two days.
Can you also update my mailing address to forty two Park Lane?
Certainly, your new address is saved and a confirmation letter is on its way.
Is there anything else I can help you with today?
No thanks, you have been very helpful, goodbye.
I want to cancel my subscription because the service keeps dropping.
Before you cancel, may I offer you a free upgrade for three months?
My order number is seven seven nine zero one and it never arrived.
I am transferring you to the shipping department now, please hold.
The technician will visit on Tuesday between nine and eleven in the morning.
Please restart the router and tell me what colour the lights are.""".splitlines()
NUMBERS = {"0": "zero", "1": "one", "2": "two", "3": "three", "4": "four", "5": "five", "6": "six",
           "7": "seven", "8": "eight", "9": "nine", "10": "ten", "11": "eleven", "12": "twelve",
           "42": "forty two"}


def make_calls(folder: Path, *, calls: int, seed: int = 1) -> list[tuple[Path, list]]:  # type: ignore[type-arg]
    from demo.synth import Line, synth_call

    rng = random.Random(seed)
    out = []
    for k in range(calls):
        at, lines = 0.4, []
        for i, text in enumerate(rng.sample(SENTENCES, 10)):
            lines.append(Line("agent" if i % 2 == 0 else "customer", round(at, 2), text))
            at += 0.075 * len(text) + 1.9
        path = folder / f"beam-{k:02d}.wav"
        out.append((path, synth_call(lines, path)))
    return out


def spelled(text: str) -> str:
    return re.sub(r"\d+", lambda m: NUMBERS.get(m.group(0), " ".join(NUMBERS[c] for c in m.group(0))), text)


def main() -> None:
    import jiwer

    from bench.machine import cpu_s, loadavg, machine
    from transcribe.audio import decode
    from transcribe.compute import ComputeSettings
    from transcribe.engine import Transcriber
    from transcribe.models import resolve_model

    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--calls", type=int, default=6)
    ap.add_argument("--beams", default="1,2,5", help="Comma-separated beam widths (5 is the baseline).")
    ap.add_argument("--model", default="tiny.en")
    args = ap.parse_args()
    beams = sorted({int(x) for x in args.beams.split(",")} | {5})
    work = Path(tempfile.mkdtemp(prefix="callqc-bench-beam-"))
    print(f"synthesising {args.calls} calls in {work} …", file=sys.stderr)
    calls = make_calls(work, calls=args.calls)
    audio = [decode(p) for p, _ in calls]
    call_s = sum(a.duration_s for a in audio)
    norm = jiwer.Compose([jiwer.ToLowerCase(), jiwer.RemovePunctuation(), jiwer.RemoveMultipleSpaces(),
                          jiwer.Strip(), jiwer.ReduceToListOfListOfWords()])
    model = resolve_model(args.model)
    load = loadavg()
    rows = {}
    for beam in beams:
        print(f"beam {beam} …", file=sys.stderr)
        engine = Transcriber(model, ComputeSettings(beam_size=beam))
        refs, hyps = [], []
        c0 = cpu_s()
        for a, (_p, placements) in zip(audio, calls, strict=True):
            t = engine.transcribe(a, channel_map={"agent": 0, "customer": 1})
            for sp in ("agent", "customer"):
                refs.append(" ".join(x.text for x in placements if x.speaker == sp))
                hyps.append(" ".join(s.text for s in t.segments if s.speaker == sp) or "<empty>")
        cpu = cpu_s() - c0
        rows[beam] = (cpu, 100 * jiwer.wer(refs, hyps, reference_transform=norm, hypothesis_transform=norm),
                      100 * jiwer.wer([spelled(r) for r in refs], [spelled(h) for h in hyps],
                                      reference_transform=norm, hypothesis_transform=norm))
    print(f"machine: {machine()}\nload average before/after: {load} / {loadavg()}\n"
          f"corpus: {len(calls)} stereo 8 kHz μ-law calls, {call_s:.0f} s; model {args.model}, callqc engine "
          f"defaults otherwise\n")
    print("| beam | call-s per CPU-s | CPU vs beam 5 | WER | WER, digits spelled |\n|---|---|---|---|---|")
    base = rows[5][0]
    for beam, (cpu, w, ws) in rows.items():
        print(f"| {beam} | {call_s / cpu:.1f} | {cpu / base:.2f} | {w:.1f} % | {ws:.1f} % |")


if __name__ == "__main__":
    main()
