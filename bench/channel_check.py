"""Channel-check benchmark (not a test): how often the check (scoring/channel_check.py) tells a
swapped channel map from a right one, on calls transcribed by callqc's own transcriber.

Each generated call is a stereo 8 kHz WAV. The agent is a real recorded voice: Asterisk's English
prompts (Debian's asterisk-core-sounds-en, /usr/share/asterisk/sounds/en: "one moment please",
"please hold while I try that extension", "thank you for calling"-style lines); the customer is
espeak-ng (en-us/en-gb, 140–180 words a minute) saying requests, some with customer phrases ("I have a
problem with my bill"), some neutral ("yes", "okay, thanks"). Three of four calls are inbound (the
agent usually speaks first), one outbound (the customer usually answers "hello?"; in a quarter of
calls of each the other side speaks first); half have the channels swapped
(agent right), the map handed to the check is always agent=left. Light white noise on both sides.

Compared in the same run against a baseline that needs no transcript: "whoever makes sound first is
the agent on an inbound call, the customer on an outbound one" (audio energy only; always decides).

``python -m bench.channel_check [--calls 60] [--seed 17] [--model tiny.en] [--json FILE]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import tempfile
import time
import wave
from pathlib import Path
from typing import Any

import numpy as np

from scoring.channel_check import Verdict, check
from transcribe.audio import AudioStream
from transcribe.engine import get_transcriber

RATE = 8000
SOUNDS = Path("/usr/share/asterisk/sounds/en")
AGENT_PROMPTS = ["hello", "one-moment-please", "pls-hold-while-try", "im-sorry", "queue-thankyou",
                 "please-try-again", "goodbye", "auth-thankyou", "privacy-thankyou", "transfer", "demo-thanks",
                 "sorry-youre-having-problems", "if-correct-press", "check-number-dial-again"]
CUSTOMER_CUE = ["Hi, I have a problem with my bill.", "I would like to change my order.",
                "I was charged twice this month.", "Can you help me with my account?",
                "I want to cancel my subscription."]
CUSTOMER_PLAIN = ["Yes.", "Okay, thanks.", "It is about the delivery from last week.", "Sure, go ahead.",
                  "No, that is all.", "Right, I see.", "Fine, bye."]
CHANNELS = {"agent": 0, "customer": 1}


def _read(path: Path) -> np.ndarray:
    with wave.open(str(path)) as w:
        rate, n = w.getframerate(), w.getnchannels()
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float32)
    pcm = pcm.reshape(-1, n).mean(axis=1)
    if rate != RATE:
        t = np.arange(int(len(pcm) * RATE / rate)) * rate / RATE
        pcm = np.interp(t, np.arange(len(pcm)), pcm).astype(np.float32)
    loud = np.flatnonzero(np.abs(pcm) > 300)
    return pcm[loud[0] : loud[-1] + 1] if len(loud) else pcm


def _espeak(text: str, voice: str, speed: int, tmp: Path) -> np.ndarray:
    out = tmp / "c.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(out), text], check=True,
                   capture_output=True)
    return _read(out)


def make_call(rng: random.Random, tmp: Path) -> tuple[np.ndarray, dict[str, Any]]:
    inbound = rng.random() < 0.75
    swapped = rng.random() < 0.5
    voice, speed = rng.choice(["en-us", "en-gb"]), rng.choice([140, 160, 180])
    agent = [_read(SOUNDS / f"{p}.wav") for p in rng.sample(AGENT_PROMPTS, 3)]
    cust_lines = rng.sample(CUSTOMER_PLAIN, 2)
    if rng.random() < 0.6:
        cust_lines.insert(rng.randrange(3), rng.choice(CUSTOMER_CUE))
    # Who speaks first is a habit, not a rule: a quarter of inbound callers say "hello?" before the
    # agent greets, and some outbound agents speak as the line opens.
    customer_first = (not inbound) != (rng.random() < 0.25)
    if customer_first:
        cust_lines = ["Hello?", *cust_lines]
    customer = [_espeak(t, voice, speed, tmp) for t in cust_lines]
    turns: list[tuple[int, np.ndarray]] = []
    a, c = list(agent), list(customer)
    who = 1 if customer_first else 0
    while a or c:
        src = (a if who == 0 else c) or (c if who == 0 else a)
        turns.append((0 if src is a else 1, src.pop(0)))
        who = 1 - who
    pos, placed = int(RATE * rng.uniform(0.5, 1.5)), []
    for ch, pcm in turns:
        placed.append((ch, pos, pcm))
        pos += len(pcm) + int(RATE * rng.uniform(0.3, 0.9))
    audio = np.zeros((pos + RATE // 2, 2), dtype=np.float32)
    for ch, at, pcm in placed:
        audio[at : at + len(pcm), (1 - ch) if swapped else ch] += pcm
    audio += np.random.default_rng(rng.randrange(1 << 30)).normal(0, 60, audio.shape).astype(np.float32)
    return audio, {"inbound": inbound, "swapped": swapped, "customer_first": customer_first,
                   "customer_cue": any(t in CUSTOMER_CUE for t in cust_lines)}


def _write(path: Path, audio: np.ndarray) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(np.clip(audio, -32768, 32767).astype("<i2").tobytes())


def baseline(audio: np.ndarray, inbound: bool) -> Verdict:
    """Audio only: the first channel with 50 ms of sound is the agent (inbound) / customer (outbound)."""
    frame = RATE // 20
    n = len(audio) // frame
    energy = np.sqrt((audio[: n * frame].reshape(n, frame, 2) ** 2).mean(axis=1))
    first = [int(np.argmax(energy[:, ch] > 500)) if (energy[:, ch] > 500).any() else n for ch in (0, 1)]
    first_ch = 0 if first[0] <= first[1] else 1
    agent_ch = first_ch if inbound else 1 - first_ch
    return Verdict.ok if agent_ch == 0 else Verdict.swapped


def run(n: int, seed: int, model: str, out: Path | None) -> dict[str, Any]:
    rng = random.Random(seed)
    transcriber = get_transcriber(model)
    rows = []
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        for i in range(n):
            audio, label = make_call(rng, tmp)
            path = tmp / f"call{i}.wav"
            _write(path, audio)
            with AudioStream(path, name=f"call{i}") as stream:
                segs = transcriber.transcribe(stream, channel_map=CHANNELS, language="en").segments
            result = check(segs, CHANNELS, "inbound" if label["inbound"] else "outbound")
            assert result is not None
            truth = Verdict.swapped if label["swapped"] else Verdict.ok
            rows.append({**label, "verdict": str(result.verdict), "confidence": result.confidence,
                         "score": result.score, "reasons": result.reasons, "truth": str(truth),
                         "baseline": str(baseline(audio, label["inbound"])),
                         "text": {ch: " ".join(s.text for s in segs if s.channel == ch) for ch in (0, 1)}})
            print(f"call{i}: truth {truth} check {result.verdict} ({result.score:+g}) baseline {rows[-1]['baseline']}"
                  f" | {rows[-1]['text'][0][:60]!r}", flush=True)
    doc = {"calls": rows, "wall_s": round(time.time() - t0, 1), "model": model, "seed": seed,
           "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.python_version()}"}
    doc["summary"] = summary(rows)
    if out:
        out.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    return doc


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    def figures(key: str) -> dict[str, Any]:
        decided = [r for r in rows if r[key] != "unsure"]
        right = sum(r[key] == r["truth"] for r in decided)
        return {"calls": len(rows), "decided": len(decided), "right": right,
                "accuracy_decided_pct": round(100 * right / len(decided), 1) if decided else None,
                "unsure_pct": round(100 * (len(rows) - len(decided)) / len(rows), 1),
                "right_of_all_pct": round(100 * right / len(rows), 1)}
    return {"check": figures("verdict"), "baseline": figures("baseline")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calls", type=int, default=60)
    ap.add_argument("--seed", type=int, default=17)
    ap.add_argument("--model", default="tiny.en")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    doc = run(args.calls, args.seed, args.model, args.json)
    print(json.dumps({**doc["summary"], "wall_s": doc["wall_s"], "machine": doc["machine"]}, indent=1))


if __name__ == "__main__":
    main()
