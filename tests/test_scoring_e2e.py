"""Scoring real synthesised audio through the real tiny.en model: answers and evidence times (±1 s)."""

from __future__ import annotations

import pytest

from demo.synth import Line, synth_call
from scoring.autoscore import evaluate
from scoring.checks import Env
from scoring.conversation import CallFacts, Conversation
from scoring.rubric import Answer, parse_rubric
from tests.test_scoring_rubric import CONTRACT

# demo.synth speaks with espeak-ng and writes with sox
pytestmark = [pytest.mark.slow, pytest.mark.tools("espeak-ng", "sox")]


def as_conversation(transcript) -> Conversation:  # type: ignore[no-untyped-def]
    """The engine's transcript as scoring reads it (what the handler does with the stored rows)."""
    segs = list(transcript.segments)
    return Conversation.build(segs, CallFacts(duration_s=transcript.duration_s,
                                              channels=frozenset({"agent", "customer"})))


def test_synthesised_call_greeting_forbidden_dead_air_and_missing_closing(tmp_path, tiny_en_transcriber):
    """Greeting said, 'shut up' said, ~17 s of dead air, no closing: each answer and its time are right."""
    from transcribe.audio import decode

    lines = [
        Line("agent", 0.5, "Thank you for calling the support center, my name is Alice."),
        Line("customer", 4.5, "Hello, my internet connection stopped working this morning."),
        Line("agent", 9.0, "Oh shut up and listen to me."),
        Line("customer", 29.0, "Hello? Are you still there?"),
        Line("agent", 32.0, "Your modem is restarting now."),
    ]
    path = tmp_path / "call.wav"
    placed = synth_call(lines, path)
    transcript = tiny_en_transcriber.transcribe(decode(path), channel_map={"agent": 0, "customer": 1})
    conv = as_conversation(transcript)
    ev = evaluate(parse_rubric(CONTRACT, "contract.yaml"), conv, env=Env(low_logprob=-1.0))

    greeting = ev.item("greeting").result
    assert greeting.answer is Answer.yes and abs(greeting.evidence[0].start - placed[0].start_s) <= 1.0
    abuse = ev.item("no-abuse").result
    assert abuse.answer is Answer.no and abs(abuse.evidence[0].start - placed[2].start_s) <= 1.0
    assert ev.score.total == 0.0
    silence = ev.item("dead-air").result
    assert silence.answer is Answer.no
    assert abs(silence.evidence[0].start - placed[2].end_s) <= 1.0
    assert abs(silence.evidence[0].end - placed[3].start_s) <= 1.0
    closing = ev.item("closing").result
    assert closing.answer is Answer.no and closing.evidence[0].kind == "searched"


def test_synthesised_mandarin_greeting_is_found(mandarin_call, base_transcriber):
    """A Mandarin greeting (您好…) transcribed by the multilingual base model, primed with the rubric's
    greeting phrase as callqc's rubric-aware decoding does, is found at its time. (Unprimed, base hears
    espeak's 您好 as 林豹 or 您好 depending on a bit of dither: docs/benchmarks.md, Mandarin scoring.)"""
    from transcribe.audio import decode

    path, placed = mandarin_call
    transcript = base_transcriber.transcribe(
        decode(path), channel_map={"agent": 0, "customer": 1}, language="zh", hotwords={"zh": "您好"})
    conv = as_conversation(transcript)
    greeting = evaluate(parse_rubric(CONTRACT, "contract.yaml"), conv).item("greeting").result
    assert greeting.answer is Answer.yes, [s.text for s in conv.segments]
    assert abs(greeting.evidence[0].start - placed[0].start_s) <= 1.0
