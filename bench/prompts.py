"""Known prompts (not a test): what transcribing a recorded prompt once saves per call.

Calls open with a real recorded IVR prompt (Asterisk's ``basic-pbx-ivr-main``, 25 s, professional
voice; Debian asterisk-core-sounds-en-wav) on the customer's channel, then an espeak dialogue. Each
call is transcribed twice by the same loaded engine: without known prompts, and with that prompt
registered (its span silenced before Whisper and given the stored text). Prints CPU seconds of the
process (the model's threads included) and wall seconds for both, their ratio, and that the prompt
came back as one ``system`` segment with no Whisper words inside its span.

``python -m bench.prompts [--calls 3] [--model tiny.en]``
"""

from __future__ import annotations

import argparse
import tempfile
import time
import wave
from pathlib import Path

import numpy as np

from bench.machine import cpu_s, loadavg, machine

PROMPT = Path("/usr/share/asterisk/sounds/en/basic-pbx-ivr-main.wav")
TEXT = "(the IVR menu)"
RATE = 8000


def _call(path: Path, k: int) -> float:
    """A call: the prompt at 0.5 s on channel 1, then a short dialogue; the prompt's end (s)."""
    from bench.transcribe import SENTENCES
    from demo.synth import speak, write_ulaw

    with wave.open(str(PROMPT)) as w:
        prompt = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
    at = int(0.5 * RATE)
    turns = [speak(SENTENCES[(k + t) % len(SENTENCES)], voice="en-us" if t % 2 == 0 else "en-gb")
             for t in range(6)]
    n = at + len(prompt) + sum(len(t) + RATE // 2 for t in turns) + RATE
    chans = np.zeros((n, 2), dtype=np.int32)
    chans[at : at + len(prompt), 1] += prompt
    pos = at + len(prompt) + RATE // 2
    for t, samples in enumerate(turns):
        chans[pos : pos + len(samples), t % 2] += samples
        pos += len(samples) + RATE // 2
    write_ulaw(np.clip(chans, -32768, 32767).astype(np.int16), path)
    return (at + len(prompt)) / RATE


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=3)
    ap.add_argument("--model", default="tiny.en")
    args = ap.parse_args()

    from transcribe.audio import decode
    from transcribe.compute import ComputeSettings
    from transcribe.engine import Transcriber
    from transcribe.fingerprint import fingerprint
    from transcribe.models import resolve_model
    from transcribe.prompts import KnownPrompt, PromptBook

    tmp = Path(tempfile.mkdtemp(prefix="callqc-prompts-"))
    calls = []
    for k in range(args.calls):
        end = _call(tmp / f"call{k}.wav", k)
        calls.append((decode(tmp / f"call{k}.wav"), end))
    book = PromptBook((KnownPrompt("ivr-main", TEXT, fingerprint(decode(PROMPT).channels[0])),))
    engine = Transcriber(resolve_model(args.model), ComputeSettings())
    engine.transcribe(calls[0][0], channel_map={"agent": 0, "customer": 1})  # warm-up
    figures = {}
    for name, prompts in (("without known prompts", None), ("prompt known", book)):
        c0, t0 = cpu_s(), time.perf_counter()
        found = [engine.transcribe(a, channel_map={"agent": 0, "customer": 1}, prompts=prompts) for a, _ in calls]
        cpu, wall = cpu_s() - c0, time.perf_counter() - t0
        inside = sum(len(s.words) for t, (_, end) in zip(found, calls, strict=True) for s in t.segments
                     if s.speaker != "system" and s.channel == 1 and s.start < end - 0.5)
        system = sum(1 for t in found for s in t.segments if s.speaker == "system")
        figures[name] = (cpu, wall)
        print(f"{name}: {cpu:.1f} s CPU, {wall:.1f} s wall; Whisper words inside the prompt span {inside}; "
              f"system segments {system}")
    (c_a, w_a), (c_b, w_b) = figures.values()
    seconds = sum(a.duration_s for a, _ in calls)
    print(f"# {args.calls} calls, {seconds:.0f} s of audio ({seconds / args.calls:.0f} s each, 25 s of it the "
          f"prompt), model {args.model}; load {loadavg()}\n# {machine()}")
    print(f"known prompt: {c_a / c_b:.2f}× less CPU, {w_a / w_b:.2f}× less wall time")


if __name__ == "__main__":
    main()
