"""Synthesise stereo telephony calls (espeak-ng + sox) with known text and timing.

Each line is spoken by espeak-ng, resampled to 8 kHz and placed at its start time on its speaker's
channel (agent left, customer right, as a PBX's MixMonitor writes them), then the whole call is
written as 8 kHz μ-law WAV. The returned placements say where every line really is, so tests can
check transcript timestamps and benchmarks can compute WER against the exact reference text.
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

RATE = 8_000
CHANNEL = {"agent": 0, "customer": 1}
# (agent, customer). espeak-ng's cmn voice reads Han characters badly; its pinyin voice is clear.
VOICES = {"en": ("en-us", "en-gb"), "zh": ("cmn-latn-pinyin", "cmn-latn-pinyin")}


@dataclass(frozen=True)
class Line:
    speaker: str  # "agent" or "customer"
    start_s: float
    text: str  # what is said (the reference text)
    say: str | None = None  # what espeak-ng reads, if different (Mandarin: tone-numbered pinyin)
    voice: str | None = None  # espeak-ng voice, if not the call language's (an English IVR prompt)


@dataclass(frozen=True)
class Placement:
    speaker: str
    channel: int
    start_s: float
    end_s: float
    text: str


def speak(text: str, *, voice: str, speed: int = 160) -> np.ndarray:
    """``text`` spoken by espeak-ng as 8 kHz int16 mono samples."""
    wav = subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "--stdout", text],
                         check=True, capture_output=True).stdout
    raw = subprocess.run(["sox", "-t", "wav", "-", "-t", "raw", "-r", str(RATE), "-e", "signed", "-b", "16",
                          "-c", "1", "-"], input=wav, check=True, capture_output=True).stdout
    return np.frombuffer(raw, dtype=np.int16)


def _trim(samples: np.ndarray, *, floor: int = 300) -> tuple[np.ndarray, int]:
    # espeak pads with silence; trimming it makes the placement the real speech onset.
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > floor)
    if loud.size == 0:
        return samples[:0], 0
    return samples[loud[0] : loud[-1] + 1], int(loud[0])


def write_ulaw(stereo: np.ndarray, out: Path) -> None:
    """Write int16 samples of shape (n, channels) as 8 kHz μ-law WAV (via sox)."""
    channels = 1 if stereo.ndim == 1 else stereo.shape[1]
    out.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["sox", "-t", "raw", "-r", str(RATE), "-e", "signed", "-b", "16", "-c", str(channels), "-",
                    "-e", "u-law", "-b", "8", str(out)], input=np.ascontiguousarray(stereo).tobytes(),
                   check=True, capture_output=True)


def synth_call(lines: list[Line], out: Path, *, language: str = "en", tail_s: float = 1.0,
               speed: int = 160, mono: bool = False) -> list[Placement]:
    """Write a stereo (or ``mono``-mixed) 8 kHz μ-law call of ``lines`` to ``out``; return the placements."""
    voices = VOICES[language]
    spoken: list[tuple[Line, np.ndarray]] = []
    for line in lines:
        voice = line.voice or voices[CHANNEL[line.speaker]]
        samples, _ = _trim(speak(line.say or line.text, voice=voice, speed=speed))
        spoken.append((line, samples))
    total = max(int(line.start_s * RATE) + len(s) for line, s in spoken) + int(tail_s * RATE)
    stereo = np.zeros((total, 2), dtype=np.int32)
    placements = []
    for line, samples in spoken:
        ch = CHANNEL[line.speaker]
        at = int(line.start_s * RATE)
        stereo[at : at + len(samples), ch] += samples
        placements.append(Placement(line.speaker, ch, at / RATE, (at + len(samples)) / RATE, line.text))
    mixed = stereo.sum(axis=1) if mono else stereo
    write_ulaw(np.clip(mixed, -32768, 32767).astype(np.int16), out)
    return placements


def synth_dialogue(turns: list[tuple[str, str, str | None]], out: Path, *, language: str = "en",
                   gap_s: float = 0.3, lead_s: float = 0.3, speed: int = 160) -> list[Placement]:
    """Like :func:`synth_call`, but each (speaker, text, say) turn starts ``gap_s`` after the previous ends."""
    voices = VOICES[language]
    lines, at = [], lead_s
    for speaker, text, say in turns:
        samples, _ = _trim(speak(say or text, voice=voices[CHANNEL[speaker]], speed=speed))
        lines.append(Line(speaker, round(at, 3), text, say))
        at += len(samples) / RATE + gap_s
    return synth_call(lines, out, language=language, tail_s=0.3, speed=speed)


def tone(out: Path, *, seconds: float, freq: float = 440.0, stereo: bool = True, level: float = 0.3) -> None:
    """A hold tone (sine at ``freq``) as 8 kHz μ-law WAV."""
    t = np.arange(int(seconds * RATE)) / RATE
    mono = (np.sin(2 * np.pi * freq * t) * level * 32767).astype(np.int16)
    write_ulaw(np.stack([mono, mono], axis=1) if stereo else mono, out)


def silence(out: Path, *, seconds: float, stereo: bool = True) -> None:
    """Digital silence as 8 kHz μ-law WAV."""
    n = int(seconds * RATE)
    write_ulaw(np.zeros((n, 2) if stereo else n, dtype=np.int16), out)


def reference_text(placements: list[Placement], speaker: str | None = None) -> str:
    """The spoken text in time order (of one speaker, or all), for WER."""
    ordered = sorted(placements, key=lambda p: p.start_s)
    return " ".join(p.text for p in ordered if speaker is None or p.speaker == speaker)


def default_dialogue() -> list[Line]:
    """A short English support call used by tests and the benchmark."""
    return [
        Line("agent", 0.5, "Thank you for calling the support center, my name is Alice."),
        Line("customer", 4.5, "Hello, my internet connection stopped working this morning."),
        Line("agent", 9.0, "I am sorry to hear that. Can you tell me your account number?"),
        Line("customer", 14.0, "Yes, it is four five six seven eight."),
        Line("agent", 18.0, "Thank you. I will restart your modem from here."),
    ]


def mandarin_dialogue() -> list[Line]:
    """A short Mandarin support call (Han characters as reference, pinyin for the voice)."""
    return [
        Line("agent", 0.3, "您好，欢迎致电客服中心，请问有什么可以帮您？",
             "nin2 hao3, huan1 ying2 zhi4 dian4 ke4 fu2 zhong1 xin1, "
             "qing3 wen4 you3 shen2 me5 ke3 yi3 bang1 nin2?"),
        Line("customer", 7.5, "你好，我的宽带从今天早上开始就不能上网了。",
             "ni3 hao3, wo3 de5 kuan1 dai4 cong2 jin1 tian1 zao3 shang4 "
             "kai1 shi3 jiu4 bu4 neng2 shang4 wang3 le5."),
        Line("agent", 14.5, "好的，请告诉我您的账号。", "hao3 de5, qing3 gao4 su4 wo3 nin2 de5 zhang4 hao4."),
    ]


def pinyin(text: str) -> str:
    """Han text as tone-numbered pinyin for espeak-ng's pinyin voice (punctuation kept as pauses)."""
    from pypinyin import Style, lazy_pinyin

    parts = lazy_pinyin(text, style=Style.TONE3, neutral_tone_with_five=True, errors=lambda s: s)
    marks = str.maketrans({"，": ",", "。": ".", "？": "?", "！": "!", "、": ","})
    return " ".join(p.translate(marks) for p in parts)


def synth_to_tmp(lines: list[Line], *, language: str = "en") -> tuple[Path, list[Placement]]:
    """Convenience for scripts: synthesise into a fresh temporary file."""
    out = Path(tempfile.mkdtemp(prefix="callqc-synth-")) / "call.wav"
    return out, synth_call(lines, out, language=language)
