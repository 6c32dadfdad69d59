"""Keyword verification by forced decoding (scoring/verification.py, transcribe/forcing.py) with the
real multilingual base model on short espeak-ng Mandarin clips.

Deterministic: the transcript each check reads is written here (what the base model heard on
these clips when they were made: 您傲奖到现为您复活 for 您好，很高兴为您服务), not decoded in the
test, and forced decoding has no sampling. Only the model's scoring of texts over the audio runs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from demo.synth import Line, pinyin, synth_call
from scoring import verification
from scoring.check_base import Env
from scoring.checks import forbidden, phrase
from scoring.conversation import CallFacts, Conversation
from scoring.metrics import compute
from scoring.rubric import Answer, ForbiddenCheck, PhraseCheck
from storage.evaluations import EvidenceKind
from storage.segments import Segment

pytestmark = [pytest.mark.slow, pytest.mark.tools("espeak-ng", "sox")]

GREETING = PhraseCheck.model_validate({"kind": "phrase", "speaker": "agent", "within_s": 20,
                                       "any": ["很高兴为您服务"]})
NO_ABUSE = ForbiddenCheck.model_validate({"kind": "forbidden", "speaker": "agent", "any": ["笨蛋"]})


@pytest.fixture(scope="module")
def whisper(base_transcriber):
    return base_transcriber.whisper  # the process's base model (its replica count does not change a decode)


def heard(whisper, tmp_path: Path, said: str, written: str) -> tuple[Conversation, Env]:
    """A call whose agent says ``said``, transcribed as ``written``; and an Env that can hear its audio."""
    from transcribe.audio import decode
    from transcribe.forcing import ForcedScorer

    path = tmp_path / "call.wav"
    placed = synth_call([Line("agent", 0.3, said, pinyin(said)), Line("customer", 6.0, "好的。", pinyin("好的。"))],
                        path, language="zh")
    agent = placed[0]
    seg = Segment(speaker="agent", start=agent.start_s, end=agent.end_s, text=written, channel=0, avg_logprob=-0.3)
    reply = Segment(speaker="customer", start=placed[1].start_s, end=placed[1].end_s, text="好的。", channel=1,
                    avg_logprob=-0.3)
    conv = Conversation.build([seg, reply], CallFacts(duration_s=placed[1].end_s + 1.0,
                                                      channels=frozenset({"agent", "customer"})))
    window = next(iter(decode(path).windows(window_s=600.0)))
    return conv, Env(forced=ForcedScorer(whisper, window.channels, language="zh"))


def test_a_greeting_said_but_misrecognised_is_verified_on_the_audio(whisper, tmp_path):
    conv, env = heard(whisper, tmp_path, "您好，很高兴为您服务，请问有什么可以帮您？",
                      "您傲奖到现为您复活,现为您承认我。")
    assert phrase(GREETING, conv, compute(conv), Env()).answer is Answer.no  # the transcript alone misses it
    res = phrase(GREETING, conv, compute(conv), env)
    assert res.answer is Answer.yes
    assert res.evidence[0].kind is EvidenceKind.match
    assert "forced decoding" in (res.evidence[0].note or "") and "很高兴为您服务" in (res.evidence[0].note or "")


def test_a_look_alike_greeting_is_not_verified(whisper, tmp_path, monkeypatch):
    """很高兴认识您 "glad to meet you" starts like the greeting 很高兴为您服务 but is not it: tried
    on the audio at every place, even ones that sound less alike than callqc tries, it is rejected."""
    conv, env = heard(whisper, tmp_path, "您好，很高兴认识您，我们继续说。", "您傲生到现人之您,我们已许过。")
    assert phrase(GREETING, conv, compute(conv), env).answer is Answer.no
    monkeypatch.setattr(verification, "CANDIDATE", 0.0)
    verdicts = verification.verify(conv, env.forced, "agent", ["很高兴为您服务"], 0.0, 20.0)
    assert verdicts, "the place that sounds most like the greeting was tried"
    assert not any(verification.accepted(v) for v in verdicts)
    assert phrase(GREETING, conv, compute(conv), env).answer is Answer.no


def test_forbidden_sound_alike_stays_for_review_with_the_audio_at_hand(whisper, tmp_path):
    """本单 "this order" heard as 笨旦 (a known confusion of 笨蛋): forced decoding would rate 笨蛋
    higher, so forbidden words are not verified: an inspector decides, never a silent yes or no."""
    conv, env = heard(whisper, tmp_path, "这个本单已经处理完了。", "这个笨旦已经处理完了")
    assert forbidden(NO_ABUSE, conv, compute(conv), env).answer is Answer.insufficient


def test_the_scoring_job_hears_a_stored_call_again_and_verifies_its_greeting(tmp_path, monkeypatch):
    """transcribe.handler.forced_scorer: the call's audio from the object store, as the scoring job
    reads it (scoring/handler.py), verifies the misheard greeting like the audio file itself."""
    from datetime import UTC, datetime

    import numpy as np

    from storage.calls import Call, CallStatus
    from storage.db import session
    from storage.keys import recording_key
    from storage.settings import get_settings, reset_settings
    from storage.stores import make_store
    from transcribe.audio import decode
    from transcribe.handler import forced_scorer

    monkeypatch.setenv("CALLQC_ASR_MODEL", "base")
    reset_settings()
    said = "您好，很高兴为您服务，请问有什么可以帮您？"
    path = tmp_path / "call.wav"
    placed = synth_call([Line("agent", 0.3, said, pinyin(said)), Line("customer", 6.0, "好的。", pinyin("好的。"))],
                        path, language="zh")
    started = datetime(2025, 3, 4, 10, 0, tzinfo=UTC)
    key = recording_key("zh-verify-1", started, "wav")
    info = make_store().put_file(get_settings().bucket_recordings, key, path)
    with session(write=True) as s:
        s.add(Call(call_id="zh-verify-1", started_at=started, codec="pcm_mulaw", sample_rate=8000, channels=2,
                   channel_map={"agent": 0, "customer": 1}, audio_key=key, size_bytes=info.size, sha256="0" * 64,
                   status=CallStatus.transcribed, queue="support"))
    scorer = forced_scorer("zh-verify-1", "zh")
    window = next(iter(decode(path).windows(window_s=600.0)))
    assert len(scorer.channels) == 2
    assert all(np.array_equal(a, b) for a, b in zip(scorer.channels, window.channels, strict=True))
    seg = Segment(speaker="agent", start=placed[0].start_s, end=placed[0].end_s,
                  text="您傲奖到现为您复活,现为您承认我。", channel=0, avg_logprob=-0.3)
    conv = Conversation.build([seg], CallFacts(duration_s=placed[1].end_s + 1.0,
                                               channels=frozenset({"agent", "customer"})))
    assert phrase(GREETING, conv, compute(conv), Env(forced=scorer)).answer is Answer.yes
