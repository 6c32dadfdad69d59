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

Agents: three voices made from the one real voice (the prompts as recorded, and pitch-shifted by sox
−400 and +300 cents: different formants, the same words); customers: espeak-ng en-us, en-gb,
en-gb-scotland and female variants. Voice profiles (scoring/voice_profile.py): first ``--enrol``
calls per agent are "reviewed" (their truth enrols the agent's print, they are not counted), then the
``--calls`` checked calls each pick an agent at random; a checked call whose transcript-only verdict
has confidence ≥ ``ENROL_CONFIDENCE`` enrols too, as it would in production.

Compared in the same run: the transcript-only check, the check with the voice profile, and a baseline
that needs no transcript: "whoever makes sound first is the agent on an inbound call, the customer on
an outbound one" (audio energy only; always decides).

``python -m bench.channel_check [--calls 60] [--seed 17] [--enrol 3] [--model tiny.en] [--json FILE]``
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
from scoring.voice_profile import ENROL_CONFIDENCE, profile_of, voice_evidence
from storage.segments import Segment
from transcribe.audio import SAMPLE_RATE, AudioStream, decode
from transcribe.engine import get_transcriber
from transcribe.voiceprint import VoicePrint, voice_print

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
AGENTS = {"allison": 0, "allison-low": -400, "allison-high": 300}  # sox pitch shift, cents
CUSTOMER_VOICES = ["en-us", "en-gb", "en-gb-scotland", "en-us+f3", "en-gb+f2"]


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


def _prompt(name: str, cents: int, tmp: Path) -> np.ndarray:
    if not cents:
        return _read(SOUNDS / f"{name}.wav")
    out = tmp / f"{name}{cents:+d}.wav"
    if not out.exists():
        subprocess.run(["sox", str(SOUNDS / f"{name}.wav"), str(out), "pitch", str(cents)], check=True,
                       capture_output=True)
    return _read(out)


def make_call(rng: random.Random, tmp: Path, agent_name: str = "allison") -> tuple[np.ndarray, dict[str, Any]]:
    inbound = rng.random() < 0.75
    swapped = rng.random() < 0.5
    voice, speed = rng.choice(CUSTOMER_VOICES), rng.choice([140, 160, 180])
    agent = [_prompt(p, AGENTS[agent_name], tmp) for p in rng.sample(AGENT_PROMPTS, 3)]
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
    return audio, {"agent": agent_name, "inbound": inbound, "swapped": swapped, "customer_first": customer_first,
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


def channel_prints(path: Path, segs: list[Segment]) -> dict[int, VoicePrint | None]:
    """The voice print of each channel over its transcript's segments (as the transcription job does)."""
    audio = decode(path)
    return {ch: voice_print(audio.channels[ch], SAMPLE_RATE, [(s.start, s.end) for s in segs if s.channel == ch])
            for ch in (0, 1)}


def run(n: int, seed: int, model: str, out: Path | None, enrol: int = 3) -> dict[str, Any]:
    rng = random.Random(seed)
    transcriber = get_transcriber(model)
    rows = []
    enrolled: dict[str, list[VoicePrint]] = {a: [] for a in AGENTS}
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)

        def one(i: int, agent: str) -> tuple[np.ndarray, dict[str, Any], list[Segment], dict[int, VoicePrint | None]]:
            audio, label = make_call(rng, tmp, agent)
            path = tmp / f"call{i}.wav"
            _write(path, audio)
            with AudioStream(path, name=f"call{i}") as stream:
                segs = transcriber.transcribe(stream, channel_map=CHANNELS, language="en").segments
            return audio, label, segs, channel_prints(path, segs)

        for i, agent in enumerate(a for a in AGENTS for _ in range(enrol)):  # reviewed calls: truth known
            _, label, _, prints = one(-1 - i, agent)
            p = prints[1 if label["swapped"] else 0]
            if p is not None:
                enrolled[agent].append(p)
        for i in range(n):
            audio, label, segs, prints = one(i, rng.choice(list(AGENTS)))
            direction = "inbound" if label["inbound"] else "outbound"
            text_only = check(segs, CHANNELS, direction)
            profile = profile_of(label["agent"], enrolled[label["agent"]])
            voice = voice_evidence(profile, prints[0], prints[1])
            result = check(segs, CHANNELS, direction, evidence=[voice] if voice else [])
            assert result is not None and text_only is not None
            if text_only.verdict is not Verdict.unsure and text_only.confidence >= ENROL_CONFIDENCE:
                p = prints[0 if text_only.verdict is Verdict.ok else 1]
                if p is not None:
                    enrolled[label["agent"]].append(p)
            truth = Verdict.swapped if label["swapped"] else Verdict.ok
            rows.append({**label, "verdict": str(result.verdict), "confidence": result.confidence,
                         "score": result.score, "reasons": result.reasons, "truth": str(truth),
                         "text_verdict": str(text_only.verdict), "text_score": text_only.score,
                         "voice_value": voice.value if voice else None,
                         "prints": {ch: p.as_json() if p else None for ch, p in prints.items()},
                         "profile": list(profile.mean) if profile else None,
                         "baseline": str(baseline(audio, label["inbound"])),
                         "text": {ch: " ".join(s.text for s in segs if s.channel == ch) for ch in (0, 1)}})
            print(f"call{i} ({label['agent']}): truth {truth} check {result.verdict} ({result.score:+g}; text"
                  f" {text_only.score:+g}, voice {rows[-1]['voice_value']}) baseline {rows[-1]['baseline']}",
                  flush=True)
    doc = {"calls": rows, "wall_s": round(time.time() - t0, 1), "model": model, "seed": seed, "enrol": enrol,
           "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.python_version()}",
           "load_avg": os.getloadavg()}
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
    confident = [r for r in rows if r["verdict"] != "unsure" and r["confidence"] >= 0.9]
    return {"check": figures("verdict"), "transcript_only": figures("text_verdict"), "baseline": figures("baseline"),
            "confidence_0.9": {"calls": len(confident), "right": sum(r["verdict"] == r["truth"] for r in confident)}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calls", type=int, default=60)
    ap.add_argument("--seed", type=int, default=17)
    ap.add_argument("--enrol", type=int, default=3, help="reviewed calls per agent before the checked calls")
    ap.add_argument("--model", default="tiny.en")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    doc = run(args.calls, args.seed, args.model, args.json, args.enrol)
    print(json.dumps({**doc["summary"], "wall_s": doc["wall_s"], "machine": doc["machine"]}, indent=1))


if __name__ == "__main__":
    main()
