"""Real-shaped PBX calls from real audio (not a test): a reproducible corpus with a JSON truth file.

Built from Debian's Asterisk sound packages (real recordings) and espeak-ng:

- ``asterisk-core-sounds-en-wav``: an IVR greeting and queue announcements in a professional voice
  (their text from the package's ``core-sounds-en.txt``);
- ``asterisk-moh-opsound-wav``: music on hold;
- espeak-ng: the agent (en-us) and the customer (en-gb), varied support sentences;
- synthesised call-progress signals: DTMF digits, ringback, busy and SIT tones.

Two shapes, 8 kHz μ-law stereo WAV as a PBX's MixMonitor writes it (agent left, customer right; the
prompts, tones and music the caller hears are on the customer's side):

- ``hold``: IVR prompt → DTMF → ringback → dialogue → "please hold" → music on hold (30–40 % of the
  call, a queue announcement inside) → dialogue with a dead-air gap → (some calls) busy or SIT tone;
- ``speech``: dialogue only, with a dead-air gap.

A comfort-noise floor is added to both channels (PBX recordings are never digital silence). The
truth file lists, per call: the reference text per channel (prompt text included: it is speech the
customer's side carries), the speech spans per channel, the hold (music) spans, the tone spans
(kind, channel) and the dead-air spans. Same ``--seed`` → byte-identical files.

``python -m bench.pbx_corpus OUT_DIR [--hold-calls 8] [--speech-calls 4] [--minutes 4.5] [--seed 19]``
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import subprocess
import sys
import wave
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from demo.synth import RATE, _trim

SOUNDS = Path("/usr/share/asterisk/sounds/en")
MOH = Path("/usr/share/asterisk/moh")
PROMPT_TEXTS = Path("/usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz")
IVR_PROMPTS = ("basic-pbx-ivr-main", "queue-periodic-announce", "pls-hold-while-try", "queue-callswaiting")
HOLD_ANNOUNCEMENT = "queue-thankyou"
AGENT, CUSTOMER = 0, 1
NOISE_RMS = 12.0  # int16 units: about -68 dBFS comfort noise
MOH_RMS = 2600.0  # music heard at about -22 dBFS, as a PBX plays it
SPEECH_GAIN = 0.8

AGENT_LINES = [
    "Thank you for calling the support center, my name is Alice, how can I help you today?",
    "I am sorry to hear that. Can you tell me your account number please?",
    "Thank you. I can see your account here, let me check the line status.",
    "Please hold for a moment while I look into this for you.",
    "Thank you for holding. I found a fault on the line in your area.",
    "A technician will visit on Thursday between nine and twelve in the morning.",
    "I have also added a credit of fifteen dollars to your next bill.",
    "Could you confirm the address of the installation for me?",
    "Is the modem showing a red light or an orange light at the moment?",
    "Please restart the modem by unplugging it for thirty seconds.",
    "Your reference number is seven three one nine four.",
    "Is there anything else I can help you with today?",
    "You are welcome. Have a wonderful afternoon, goodbye.",
]
CUSTOMER_LINES = [
    "Hi, my internet has been down since yesterday evening.",
    "Sure, the account number is two eight five five one zero.",
    "I already restarted the router twice and nothing changed.",
    "The light on the front is flashing red every few seconds.",
    "It is forty two Baker Street, apartment three.",
    "Thursday morning works for me, I will be at home.",
    "Will I be charged for the technician visit?",
    "Okay, that sounds fair, thank you for the credit.",
    "Can you send me the reference number by email as well?",
    "No, that was everything, thanks a lot for your help.",
    "I work from home so I really need this fixed quickly.",
    "My neighbour has the same problem with her connection.",
]


@dataclass
class Truth:
    path: str
    kind: str  # "hold" or "speech"
    duration_s: float
    refs: dict[str, str]  # speaker → reference text in time order
    speech: dict[str, list[list[float]]]  # speaker → [start, end] of each spoken line (prompts included)
    hold: list[list[float]] = field(default_factory=list)  # music on hold, customer channel
    tones: list[dict[str, object]] = field(default_factory=list)  # {"kind", "channel", "start", "end"}
    dead_air: list[list[float]] = field(default_factory=list)  # nobody speaks, nothing plays


def prompt_texts() -> dict[str, str]:
    out = {}
    with gzip.open(PROMPT_TEXTS, "rt", encoding="utf-8", errors="replace") as f:
        for line in f:
            if ":" in line and not line.startswith(";"):
                name, text = line.split(":", 1)
                out[name.strip()] = text.strip()
    return out


# sox -R: repeatable (its dither is otherwise seeded from the clock, and the files would differ run to run)
def speak(text: str, *, voice: str, speed: int = 160) -> np.ndarray:
    """``text`` spoken by espeak-ng as 8 kHz int16 mono samples."""
    wav = subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "--stdout", text],
                         check=True, capture_output=True).stdout
    raw = subprocess.run(["sox", "-R", "-t", "wav", "-", "-t", "raw", "-r", str(RATE), "-e", "signed", "-b", "16",
                          "-c", "1", "-"], input=wav, check=True, capture_output=True).stdout
    return np.frombuffer(raw, dtype=np.int16)


def write_ulaw(stereo: np.ndarray, out: Path) -> None:
    """int16 samples (n × 2) as 8 kHz μ-law stereo WAV."""
    subprocess.run(["sox", "-R", "-t", "raw", "-r", str(RATE), "-e", "signed", "-b", "16", "-c", "2", "-",
                    "-e", "u-law", "-b", "8", str(out)], input=np.ascontiguousarray(stereo).tobytes(),
                   check=True, capture_output=True)


def read_wav(path: Path) -> np.ndarray:
    """A mono 16-bit 8 kHz WAV (the Asterisk packages' format) as float32 samples."""
    with wave.open(str(path)) as w:
        if (w.getnchannels(), w.getsampwidth(), w.getframerate()) != (1, 2, RATE):
            raise SystemExit(f"{path}: expected mono 16-bit {RATE} Hz WAV")
        return np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float32)


def _sine(freqs: tuple[float, ...], seconds: float, level: float = 0.18) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return sum(np.sin(2 * np.pi * f * t) for f in freqs) * (level * 32767 / len(freqs))  # type: ignore[return-value]


def _cadence(freqs: tuple[float, ...], on_s: float, off_s: float, cycles: int) -> np.ndarray:
    one = np.concatenate([_sine(freqs, on_s), np.zeros(int(off_s * RATE))])
    return np.tile(one, cycles)


DTMF = {"1": (697, 1209), "2": (697, 1336), "3": (697, 1477), "4": (770, 1209), "5": (770, 1336),
        "6": (770, 1477), "7": (852, 1209), "8": (852, 1336), "9": (852, 1477), "0": (941, 1336)}


def dtmf(digits: str) -> np.ndarray:
    return np.concatenate([np.concatenate([_sine(DTMF[d], 0.12), np.zeros(int(0.1 * RATE))]) for d in digits])


def ringback(cycles: int) -> np.ndarray:  # North American: 440+480 Hz, 2 s on, 4 s off
    return _cadence((440, 480), 2.0, 4.0, cycles)[: -int(4.0 * RATE)]


def busy(cycles: int) -> np.ndarray:  # 480+620 Hz, 0.5 s on, 0.5 s off
    return _cadence((480, 620), 0.5, 0.5, cycles)[: -int(0.5 * RATE)]


def sit() -> np.ndarray:  # special information tone: three rising tones
    return np.concatenate([_sine((913.8,), 0.274), _sine((1370.6,), 0.274), _sine((1776.7,), 0.38)])


class CallBuilder:
    """Places audio on a stereo timeline and records where everything is."""

    def __init__(self) -> None:
        self.tracks: list[tuple[int, int, np.ndarray]] = []  # (channel, start sample, float samples)
        self.at = 0.4  # seconds: where the next event starts
        self.lines: list[tuple[str, float, float, str]] = []  # (speaker, start, end, text)
        self.hold: list[list[float]] = []
        self.tones: list[dict[str, object]] = []
        self.dead_air: list[list[float]] = []

    def put(self, channel: int, samples: np.ndarray, *, gap_s: float = 0.0) -> tuple[float, float]:
        start = self.at + gap_s
        self.tracks.append((channel, int(round(start * RATE)), samples))
        end = start + len(samples) / RATE
        self.at = end
        return round(start, 3), round(end, 3)

    def say(self, speaker: str, text: str, *, gap_s: float = 0.5) -> None:
        voice = "en-us" if speaker == "agent" else "en-gb"
        samples, _ = _trim(speak(text, voice=voice))
        a, b = self.put(AGENT if speaker == "agent" else CUSTOMER, samples.astype(np.float32) * SPEECH_GAIN,
                        gap_s=gap_s)
        self.lines.append((speaker, a, b, text))

    def prompt(self, name: str, text: str, *, gap_s: float = 0.3) -> None:
        a, b = self.put(CUSTOMER, read_wav(SOUNDS / f"{name}.wav") * 0.7, gap_s=gap_s)
        self.lines.append(("customer", a, b, text))

    def tone(self, kind: str, samples: np.ndarray, *, gap_s: float = 0.3) -> None:
        a, b = self.put(CUSTOMER, samples, gap_s=gap_s)
        self.tones.append({"kind": kind, "channel": CUSTOMER, "start": a, "end": b})

    def music(self, samples: np.ndarray, *, gap_s: float = 0.2) -> None:
        rms = float(np.sqrt(np.mean(samples**2))) or 1.0
        a, b = self.put(CUSTOMER, samples * (MOH_RMS / rms), gap_s=gap_s)
        self.hold.append([a, b])

    def silence(self, seconds: float) -> None:
        a = round(self.at, 3)
        self.at += seconds
        self.dead_air.append([a, round(self.at, 3)])

    def render(self, out: Path, rng: np.random.Generator, *, kind: str) -> Truth:
        n = int((self.at + 0.5) * RATE)
        stereo = rng.normal(0.0, NOISE_RMS, size=(n, 2)).astype(np.float32)
        for ch, start, samples in self.tracks:
            stereo[start : start + len(samples), ch] += samples
        write_ulaw(np.clip(stereo, -32768, 32767).astype(np.int16), out)
        ordered = sorted(self.lines, key=lambda x: x[1])
        refs = {sp: " ".join(t for s, _a, _b, t in ordered if s == sp) for sp in ("agent", "customer")}
        speech = {sp: [[a, b] for s, a, b, _t in ordered if s == sp] for sp in ("agent", "customer")}
        return Truth(path=str(out), kind=kind, duration_s=round(n / RATE, 3), refs=refs, speech=speech,
                     hold=self.hold, tones=self.tones, dead_air=self.dead_air)


def _dialogue(b: CallBuilder, rng: random.Random, turns: int, *, dead_air_at: int | None = None) -> None:
    for t in range(turns):
        if t == dead_air_at:
            b.silence(rng.uniform(6.0, 12.0))
        speaker = "agent" if t % 2 == 0 else "customer"
        b.say(speaker, rng.choice(AGENT_LINES if speaker == "agent" else CUSTOMER_LINES),
              gap_s=rng.uniform(0.3, 1.2))


def hold_call(out: Path, seed: int, *, minutes: float, texts: dict[str, str], music: list[np.ndarray]) -> Truth:
    rng = random.Random(seed)
    b = CallBuilder()
    name = rng.choice(IVR_PROMPTS)
    b.prompt(name, texts[name])
    b.tone("dtmf", dtmf(rng.choice("1234")), gap_s=0.8)
    b.tone("ringback", ringback(rng.randint(2, 3)), gap_s=0.5)
    _dialogue(b, rng, rng.randint(6, 10))
    b.say("agent", "Please hold for a moment while I look into this for you.")
    before = b.at
    # The rest of the call: about minutes × 60 − before seconds, of which the hold is 30–40 % of the total.
    share = rng.uniform(0.30, 0.40)
    hold_s = share * minutes * 60
    track = music[rng.randrange(len(music))]
    first = rng.uniform(0.35, 0.65) * hold_s
    offset = rng.randrange(0, max(1, len(track) - int(hold_s * RATE) - RATE))
    b.music(track[offset : offset + int(first * RATE)])
    b.prompt(HOLD_ANNOUNCEMENT, texts[HOLD_ANNOUNCEMENT], gap_s=0.1)
    rest = hold_s - first - 1.8
    b.music(track[offset + int(first * RATE) : offset + int((first + rest) * RATE)], gap_s=0.1)
    b.say("agent", "Thank you for holding. I found a fault on the line in your area.", gap_s=0.6)
    remaining = minutes * 60 - (b.at - before) - before
    turns = max(4, int(remaining / 5.5))
    _dialogue(b, rng, turns, dead_air_at=rng.randint(1, max(1, turns - 2)))
    ending = rng.random()
    if ending < 0.25:
        b.tone("busy", busy(4), gap_s=0.8)
    elif ending < 0.5:
        b.tone("sit", sit(), gap_s=0.8)
    return b.render(out, np.random.default_rng(seed), kind="hold")


def speech_call(out: Path, seed: int, *, minutes: float) -> Truth:
    rng = random.Random(seed)
    b = CallBuilder()
    turns = max(6, int(minutes * 60 / 5.0))
    _dialogue(b, rng, turns, dead_air_at=rng.randint(2, turns - 2))
    return b.render(out, np.random.default_rng(seed), kind="speech")


def build(folder: Path, *, hold_calls: int = 8, speech_calls: int = 4, minutes: float = 4.5,
          seed: int = 19) -> list[Truth]:
    """The corpus in ``folder`` (WAVs and ``truth.json``); the truth list."""
    for need in (SOUNDS / "basic-pbx-ivr-main.wav", MOH, PROMPT_TEXTS):
        if not need.exists():
            raise SystemExit(f"{need} missing: install asterisk-core-sounds-en-wav and asterisk-moh-opsound-wav")
    folder.mkdir(parents=True, exist_ok=True)
    texts = prompt_texts()
    music = [read_wav(p) for p in sorted(MOH.glob("*.wav"))]
    truth = []
    for i in range(hold_calls):
        truth.append(hold_call(folder / f"hold-{i:02d}.wav", seed * 1000 + i, minutes=minutes, texts=texts,
                               music=music))
    for i in range(speech_calls):
        truth.append(speech_call(folder / f"speech-{i:02d}.wav", seed * 1000 + 500 + i, minutes=minutes))
    (folder / "truth.json").write_text(json.dumps([asdict(t) for t in truth], indent=1))
    return truth


def register_prompts() -> None:
    """Register the corpus's recorded prompts as known prompts in the configured database, as an
    operator does once with ``callqc prompts add`` (bench.pbx_speed's ``prompts`` mode). The hold
    announcement (1.6 s) is shorter than a prompt may be and is left out."""
    from storage.db import session
    from transcribe.prompt_files import register_file

    texts = prompt_texts()
    with session(write=True) as s:
        for name in IVR_PROMPTS:
            register_file(s, SOUNDS / f"{name}.wav", name=name, text=texts[name], created_by="bench")


def load(folder: Path) -> list[dict]:
    """The truth of a corpus built by :func:`build`."""
    return list(json.loads((folder / "truth.json").read_text()))


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--hold-calls", type=int, default=8)
    ap.add_argument("--speech-calls", type=int, default=4)
    ap.add_argument("--minutes", type=float, default=4.5, help="Approximate length of each call.")
    ap.add_argument("--seed", type=int, default=19)
    args = ap.parse_args()
    truth = build(args.out, hold_calls=args.hold_calls, speech_calls=args.speech_calls, minutes=args.minutes,
                  seed=args.seed)
    total = sum(t.duration_s for t in truth)
    hold = sum(b - a for t in truth for a, b in t.hold)
    held = [t for t in truth if t.kind == "hold"]
    share = hold / sum(t.duration_s for t in held) if held else 0.0
    print(f"{len(truth)} calls, {total / 60:.1f} min, hold music {hold / 60:.1f} min "
          f"({100 * share:.0f} % of the hold calls) → {args.out / 'truth.json'}", file=sys.stderr)


if __name__ == "__main__":
    main()
