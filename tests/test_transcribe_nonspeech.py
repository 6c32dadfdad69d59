"""Music on hold and tones (transcribe/nonspeech.py): found per channel, kept from Whisper and from
the dead-air and talk metrics. Fixtures are real-shaped calls from bench.pbx_corpus: Asterisk's
recorded prompts and music on hold, espeak-ng speech, synthesised call-progress tones."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from storage.segments import Segment
from tests.services import missing_service
from transcribe.audio import decode, to_float
from transcribe.nonspeech import NonSpeech, NonSpeechKind, classify, merge_across_windows

if TYPE_CHECKING:
    from transcribe.engine import Transcriber

EDGE_S = 0.5  # a found hold or tone starts and ends within this of where it was placed
STEREO = {"agent": 0, "customer": 1}


def _corpus() -> object:
    from bench import pbx_corpus

    for need in (pbx_corpus.SOUNDS, pbx_corpus.MOH, pbx_corpus.PROMPT_TEXTS):
        if not need.exists():
            missing_service(f"{need}: Debian packages asterisk-core-sounds-en-wav asterisk-moh-opsound-wav; "
                            "`make deps` installs them")
    return pbx_corpus


@pytest.fixture(scope="module")
def hold_call(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, list[NonSpeech]]:
    """A 2.5-minute call: IVR prompt, DTMF, ringback, talk, 50 s of music on hold with an announcement
    inside, talk, dead air; its truth and what the classifier finds on each channel."""
    from dataclasses import asdict

    pbx = _corpus()
    out = tmp_path_factory.mktemp("pbx") / "hold.wav"
    truth = pbx.hold_call(out, 7000, minutes=2.5, texts=pbx.prompt_texts(),  # type: ignore[attr-defined]
                          music=[pbx.read_wav(p) for p in sorted(pbx.MOH.glob("*.wav"))])  # type: ignore[attr-defined]
    channels = decode(out).channels
    found = [x for ch, samples in enumerate(channels) for x in classify(to_float(samples), channel=ch)]
    return asdict(truth), found


@pytest.mark.tools("espeak-ng", "sox")
def test_hold_music_spans_are_found_within_half_a_second(hold_call: tuple[dict, list[NonSpeech]]) -> None:
    """Each stretch of music on hold is found, on the customer's channel, each edge within EDGE_S."""
    truth, found = hold_call
    holds = [x for x in found if x.kind == NonSpeechKind.hold]
    assert len(holds) == len(truth["hold"]) == 2, holds
    for (a, b), x in zip(truth["hold"], holds, strict=True):
        assert x.channel == 1 and abs(x.start - a) <= EDGE_S and abs(x.end - b) <= EDGE_S, (truth["hold"], holds)


@pytest.mark.tools("espeak-ng", "sox")
def test_tones_are_found_and_named(hold_call: tuple[dict, list[NonSpeech]]) -> None:
    """DTMF, ringback (and busy or SIT when the call ends with one) are found where they were played,
    named, and nothing else in the call is taken for a tone."""
    truth, found = hold_call
    tones = [x for x in found if x.kind == NonSpeechKind.tone]
    assert [x.label for x in tones] == [t["kind"] for t in truth["tones"]]
    for t, x in zip(truth["tones"], tones, strict=True):
        assert x.channel == t["channel"] and abs(x.start - t["start"]) <= EDGE_S and abs(x.end - t["end"]) <= EDGE_S


@pytest.mark.tools("espeak-ng", "sox")
def test_a_speech_only_call_has_no_hold_and_no_tones(tmp_path: Path) -> None:
    """Talk and dead air alone: nothing is classified as music or tone on either channel."""
    pbx = _corpus()
    pbx.speech_call(tmp_path / "speech.wav", 7500, minutes=1.5)  # type: ignore[attr-defined]
    channels = decode(tmp_path / "speech.wav").channels
    assert [x for ch, s in enumerate(channels) for x in classify(to_float(s), channel=ch)] == []


def test_a_steady_tone_is_a_tone_and_silence_is_nothing() -> None:
    """A 1 kHz test tone is one unnamed tone of its length; comfort noise alone is nothing."""
    t = np.arange(3 * 16000) / 16000
    audio = np.concatenate([np.zeros(16000), 0.2 * np.sin(2 * np.pi * 1000 * t), np.zeros(16000)])
    audio = (audio + np.random.default_rng(3).normal(0, 4e-4, len(audio))).astype(np.float32)
    [x] = classify(audio, channel=0, offset_s=10.0)
    assert x.kind == NonSpeechKind.tone and x.label == ""
    assert abs(x.start - 11.0) <= EDGE_S and abs(x.end - 14.0) <= EDGE_S
    assert classify(audio[:16000], channel=0) == []


def test_a_hold_cut_by_a_window_boundary_is_one_hold() -> None:
    """Windows are classified apart; the same channel's music either side of a boundary is joined."""
    parts = [NonSpeech(NonSpeechKind.hold, 1, 60.0, 180.0), NonSpeech(NonSpeechKind.hold, 1, 180.05, 200.0),
             NonSpeech(NonSpeechKind.hold, 0, 180.05, 190.0)]
    assert merge_across_windows(parts) == [NonSpeech(NonSpeechKind.hold, 1, 60.0, 200.0),
                                           NonSpeech(NonSpeechKind.hold, 0, 180.05, 190.0)]


def test_hold_is_neither_dead_air_nor_talk() -> None:
    """A customer on hold between two turns: the gap is not the longest silence and not non-talk time."""
    from scoring.conversation import CallFacts, Conversation
    from scoring.metrics import compute

    segs = [Segment(speaker="agent", channel=0, start=0.0, end=5.0, text="please hold"),
            Segment(speaker="customer", channel=1, start=70.0, end=75.0, text="thanks")]
    plain = compute(Conversation.build(segs, CallFacts(duration_s=80.0, channels=frozenset(STEREO))))
    held = compute(Conversation.build(segs, CallFacts(duration_s=80.0, channels=frozenset(STEREO),
                                                      nonspeech=((6.0, 68.0),))))
    assert plain.longest_silence_s == pytest.approx(65.0)
    assert held.longest_silence_s == pytest.approx(2.0) and held.nonspeech_s == pytest.approx(62.0)
    assert held.non_talk_s == pytest.approx(plain.non_talk_s - 62.0)
    assert held.talk_s == plain.talk_s


@pytest.mark.slow
@pytest.mark.tools("espeak-ng", "sox")
def test_no_words_inside_hold_and_the_transcript_carries_it(hold_call: tuple[dict, list[NonSpeech]],
                                                            tiny_en_transcriber: Transcriber) -> None:
    """Transcribed with tiny.en: the hold and tones are on the transcript, and no word lies inside music,
    neither the music found nor where it was placed (the agent's last word before the hold, timed by
    Whisper alone, ran into it: transcribe/chunker.py, ``word_time``)."""
    truth, _found = hold_call
    transcript = tiny_en_transcriber.transcribe(decode(Path(truth["path"])), channel_map=STEREO)
    holds = [(x.start, x.end) for x in transcript.nonspeech if x.kind == NonSpeechKind.hold]
    assert len(holds) == 2 and {x.label for x in transcript.nonspeech if x.kind == NonSpeechKind.tone} >= {"dtmf"}
    words = [w for s in transcript.segments for w in s.words]
    assert words
    assert [w for w in words if any(a <= (w.start + w.end) / 2 <= b for a, b in holds)] == []
    assert [w for w in words if any(a <= (w.start + w.end) / 2 <= b for a, b in truth["hold"])] == []


def test_hold_and_tones_are_stored_with_the_transcript_and_reach_scoring(db_url: str) -> None:
    """store_result keeps the non-speech intervals; transcript_json shows them; scoring's facts carry them."""
    from scoring.conversation import load_conversation
    from storage.calls import Call
    from storage.db import session
    from storage.transcripts import transcript_json
    from tests.redaction_helpers import SECONDS, add_recorded_call, conversation
    from transcribe.compute import ComputeSettings
    from transcribe.engine import Transcript
    from transcribe.handler import store_result
    from transcribe.models import ModelSource, ResolvedModel

    found = [NonSpeech(NonSpeechKind.tone, 1, 0.5, 8.0, "ringback"), NonSpeech(NonSpeechKind.hold, 1, 9.0, 12.0)]
    model = ResolvedModel("test", "test", "0", ModelSource("package"), False)
    add_recorded_call("ns1")
    store_result("ns1", Transcript(language="en", language_probability=1.0, model=model, compute=ComputeSettings(),
                                   duration_s=SECONDS, mono=False, segments=conversation(), nonspeech=found))
    with session() as s:
        doc = transcript_json(s, "ns1")
        call = s.get(Call, "ns1")
        assert call is not None
        facts = load_conversation(s, call).facts
    assert doc is not None and [NonSpeech.from_json(x) for x in doc["nonspeech"]] == found
    assert facts.nonspeech == ((0.5, 8.0), (9.0, 12.0))


def test_frame_features_are_those_of_every_frame_gathered_and_every_spectrum_sorted() -> None:
    """The features come from a strided view and a partial sort of the strongest bins (half the CPU):
    the same numbers, to the bit, as gathering each frame and sorting its whole spectrum."""
    from transcribe.nonspeech import HOP, N_FFT, TONE_BINS, frames

    rng = np.random.default_rng(19)
    t = np.arange(16000 * 7) / 16000
    ringback = (0.2 * np.sin(2 * np.pi * 440 * t) + 0.2 * np.sin(2 * np.pi * 480 * t)) * (t < 2)
    voice = rng.normal(0, 0.1, len(t)) * np.abs(np.sin(2 * np.pi * 3 * t)) * (t > 3)
    audio = (ringback + voice + rng.normal(0, 1e-3, len(t))).astype(np.float32)[:-123]  # not a whole hop
    n = 1 + (len(audio) - N_FFT) // HOP
    idx = np.arange(N_FFT)[None, :] + HOP * np.arange(n)[:, None]
    spec = np.abs(np.fft.rfft(audio[idx] * np.hanning(N_FFT).astype(np.float32), axis=1)) ** 2 + 1e-12
    share = np.sort(spec, axis=1)[:, -TONE_BINS:].sum(axis=1) / spec.sum(axis=1)
    got = frames(audio)
    assert len(got.db) == n
    assert np.array_equal(got.peak_share, share)
    assert np.array_equal(got.db, 10 * np.log10(spec.sum(axis=1) / (N_FFT * N_FFT / 4) + 1e-12))
    assert np.array_equal(got.peak_bin, spec.argmax(axis=1))
