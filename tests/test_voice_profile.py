"""The agent's voice profile as channel-check evidence, on real voices: Asterisk's recorded prompts
(asterisk-core-sounds-en) as the agent, espeak-ng as the customer. Calls without a single cue phrase
are decided by which channel sounds like the agent's confirmed calls."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from scoring.channel_check import Verdict
from scoring.channel_map import call_check, confirm, confirm_from_transcript, confirm_reviewed
from scoring.voice_profile import MIN_CALLS
from storage.calls import Call
from storage.db import session
from storage.segments import Segment
from storage.voices import AgentVoice, save_channel_voices
from tests.scoring_calls import store_call
from tests.services import missing_service
from transcribe.audio import SAMPLE_RATE, DecodedAudio
from transcribe.voiceprint import call_prints, distance, voice_print

pytestmark = pytest.mark.tools("espeak-ng", "sox")
SOUNDS = Path("/usr/share/asterisk/sounds/en")
RATE = 8000


def _prompt(name: str) -> np.ndarray:
    path = SOUNDS / f"{name}.wav"
    if not path.exists():
        missing_service("asterisk-core-sounds-en: Debian package asterisk-core-sounds-en-wav; `make deps` installs it")
    with wave.open(str(path)) as w:
        assert w.getframerate() == RATE
        return np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float64)


def _espeak(text: str, voice: str) -> np.ndarray:
    from demo.synth import speak

    return speak(text, voice=voice, speed=160).astype(np.float64)


def _store(call_id: str, agent: str, *, prompts: list[str], said: str, voice: str, swapped: bool,
           agent_text: str = "okay") -> None:
    """A call of the agent's prompts and the customer's line, neutral words only (no cue phrase),
    with the sides swapped when ``swapped``; the map always says agent=0."""
    a = np.concatenate([_prompt(p) for p in prompts])
    c = _espeak(said, voice)
    gap = RATE // 2
    agent_ch, cust_ch = (1, 0) if swapped else (0, 1)
    audio = np.zeros((2, len(a) + gap + len(c)))
    audio[agent_ch, : len(a)] = a
    audio[cust_ch, len(a) + gap :] = c
    spans = {agent_ch: (0.0, len(a) / RATE), cust_ch: ((len(a) + gap) / RATE, audio.shape[1] / RATE)}
    segs = [Segment(speaker="customer" if ch == 1 else "agent", start=a0, end=b0,
                    text=agent_text if ch == agent_ch else "okay", channel=ch)
            for ch, (a0, b0) in sorted(spans.items(), key=lambda kv: kv[1])]
    prints = {ch: voice_print(audio[ch], RATE, [spans[ch]]) for ch in (0, 1)}
    with session() as s:
        store_call(s, call_id, segs, direction="unknown")
        call = s.get(Call, call_id)
        assert call is not None
        call.agent_id = agent
        s.add(call)
        save_channel_voices(s, call_id, {ch: p.as_json() for ch, p in prints.items() if p is not None})


def _verdict(call_id: str) -> tuple[Verdict, list[str]]:
    with session() as s:
        call = s.get(Call, call_id)
        assert call is not None
        result = call_check(s, call)
    assert result is not None
    return result.verdict, result.reasons


def test_the_agents_voice_profile_decides_calls_without_any_phrase(sqlite_db: str) -> None:
    _store("v-new", "anna", prompts=["one-moment-please", "goodbye"], said="It is about the parcel.",
           voice="en-gb", swapped=True)
    verdict, reasons = _verdict("v-new")
    assert verdict is Verdict.unsure and reasons == []  # no phrase, no direction, no profile yet

    for i, (prompts, said) in enumerate([(["queue-thankyou", "im-sorry"], "Yes, that is right."),
                                         (["pls-hold-while-try", "transfer"], "Sure, go ahead."),
                                         (["auth-thankyou", "please-try-again"], "No, that is all.")]):
        _store(f"v-rev{i}", "anna", prompts=prompts, said=said, voice=("en-us", "en-gb-scotland")[i % 2],
               swapped=False)
        with session() as s:
            call = s.get(Call, f"v-rev{i}")
            assert call is not None and confirm(s, call, source="review")
    assert MIN_CALLS <= 3

    verdict, reasons = _verdict("v-new")
    assert verdict is Verdict.swapped
    assert any("the customer channel sounds like anna's voice profile (3 calls" in r for r in reasons)
    _store("v-right", "anna", prompts=["if-correct-press", "demo-thanks"], said="Right, I see.", voice="en-us",
           swapped=False)
    assert _verdict("v-right")[0] is Verdict.ok
    # another agent has no profile: nothing to compare with
    _store("v-ben", "ben", prompts=["if-correct-press"], said="Right, I see.", voice="en-us", swapped=True)
    assert _verdict("v-ben") == (Verdict.unsure, [])


def test_only_a_confident_verdict_from_the_transcript_enrols_and_never_the_voice_itself(sqlite_db: str) -> None:
    """A call decided by the voice alone does not feed the profile that decided it."""
    from sqlmodel import select

    _store("v-a", "anna", prompts=["queue-thankyou"], said="Yes.", voice="en-us", swapped=False)
    with session() as s:
        call = s.get(Call, "v-a")
        assert call is not None
        assert not confirm_from_transcript(s, call)
        assert list(s.exec(select(AgentVoice))) == []


def test_a_print_made_window_by_window_is_the_whole_channels_print(tmp_path: Path) -> None:
    """The transcription job prints a call a window at a time (a long call is never held whole): the
    frames lost at window edges move the print far less than another voice is from it."""
    a = np.concatenate([_prompt("queue-thankyou"), _prompt("goodbye")])
    up = np.interp(np.arange(len(a) * 2) / 2, np.arange(len(a)), a).astype(np.int16)  # at 16 kHz
    audio = DecodedAudio(channels=[up, up[::-1].copy()], source_rate=RATE, codec="pcm_s16le")
    segs = [Segment(speaker="agent", start=0.0, end=len(a) / RATE, text="thank you", channel=0)]
    whole = voice_print(up, SAMPLE_RATE, [(0.0, len(a) / RATE)])
    other = voice_print(_espeak("Thank you for waiting, I will put you through now, goodbye.", "en-us"), RATE)
    windowed = call_prints(audio.windows(window_s=1), segs, [0, 1])  # 1 s windows: the most edges
    assert whole is not None and other is not None and set(windowed) == {0}
    assert distance(windowed[0].vector, whole.vector) < 0.1 * distance(other.vector, whole.vector)
    assert abs(windowed[0].speech_s - whole.speech_s) <= 0.1 * whole.speech_s


def test_a_review_confirms_the_map_unless_the_check_says_swapped(sqlite_db: str) -> None:
    """The reviewer may not have noticed a swap: such a call's "agent" voice stays out of the profile."""
    from sqlmodel import select

    _store("r-ok", "anna", prompts=["queue-thankyou"], said="It is about the parcel.", voice="en-us", swapped=False)
    _store("r-sw", "anna", prompts=["im-sorry"], said="It is about the parcel.", voice="en-us", swapped=True,
           agent_text="Thank you for calling, how can I help you? Let me check, one moment please.")
    with session() as s:
        ok, sw = s.get(Call, "r-ok"), s.get(Call, "r-sw")
        assert ok is not None and sw is not None
        assert confirm_reviewed(s, ok) and not confirm_reviewed(s, sw)
        assert [(v.call_id, v.channel, v.source) for v in s.exec(select(AgentVoice))] == [("r-ok", 0, "review")]
        # a confident swapped verdict from the transcript enrols the channel that really is the agent's
        assert confirm_from_transcript(s, sw)
        assert s.exec(select(AgentVoice).where(AgentVoice.call_id == "r-sw")).one().channel == 1
