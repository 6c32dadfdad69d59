"""Primed re-decoding of answer windows (transcribe/redaction/redecode.py): a number the re-decode
writes is taken only when it passes its type's check, only in a window opened by an ask, and then
leaves the text and the audio."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from storage.segments import Segment
from storage.settings import reset_settings
from tests.redaction_helpers import RATE, en, stereo_wav, zh
from transcribe.redaction.audio import Cut, decode, redact
from transcribe.redaction.pipeline import redact_transcript
from transcribe.redaction.redecode import PRIMES, checked_number
from transcribe.redaction.rules import Kind
from transcribe.redaction.spoken_numbers import words_to_digits

ID_NUMBER = "110105199003071239"  # birth date and check character valid


@dataclass
class Scripted:
    """A decoder that answers what a primed re-decode might have heard (the model is tested below)."""

    text: str
    language: str = "zh"
    asked: list[tuple[int, float, float, Kind]] = field(default_factory=list)

    def __call__(self, channel: int, start: float, end: float, kind: Kind) -> str:
        self.asked.append((channel, start, end, kind))
        return self.text


@pytest.fixture()
def redecode_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLQC_REDACTION_REDECODE", "true")
    reset_settings()


def id_call() -> list[Segment]:
    """The ID number asked for and answered in characters the ASR misheard (no digit, no sound check passes)."""
    return [zh("agent", 0.4, ["请您", "提供", "一下", "身份证", "号码", "。"], channel=0),
            zh("customer", 4.0, ["好的", "，", "我的", "号码", "是", "唐", "悄悄", "马", "谈", "恋爱", "，", "谢谢"])]


def customer_text(segs: list[Segment]) -> str:
    return "".join(s.text for s in segs if s.speaker == "customer")


def test_a_checked_number_is_the_one_its_type_check_accepts() -> None:
    assert checked_number(Kind.id, f"好的，我的身份证号码是{ID_NUMBER}。") == ID_NUMBER
    assert checked_number(Kind.id, f"号码是{ID_NUMBER[:-1]}5。") is None  # check character wrong
    assert checked_number(Kind.id, "110105199013071239") is None  # month 13
    assert checked_number(Kind.card, "4556 7375 8689 9855") == "4556737586899855"
    assert checked_number(Kind.card, "4556 7375 8689 9856") is None  # Luhn
    assert checked_number(Kind.phone, "一三九一二三四五六七八") == "13912345678"
    assert checked_number(Kind.phone, "0571-69182310") == "057169182310"
    assert checked_number(Kind.phone, "12012345678") is None  # no mobile prefix, no area code
    assert checked_number(Kind.phone, "12012345678", "en") == "12012345678"  # North American, in English
    assert checked_number(Kind.phone, "1391234567") is None  # a digit short


def test_the_example_in_each_prime_fails_its_own_check_so_an_echo_is_never_taken() -> None:
    for (language, kind), prime in PRIMES.items():
        example = prime.rsplit("是", 1)[-1] if language == "zh" else prime.rsplit(" is ", 1)[-1]
        assert words_to_digits(example), prime
        assert checked_number(kind, example, language) is None, prime
        assert checked_number(kind, prime, language) is None, prime


def test_a_redecoded_valid_number_is_redacted_in_text_and_audio(redecode_on: None) -> None:
    segs = id_call()
    assert redact_transcript(segs).hits == []  # the first pass finds nothing
    decoder = Scripted(f"好的，我的身份证号码是{ID_NUMBER}。")
    result = redact_transcript(segs, decoder)
    [hit] = result.hits
    assert (hit.kind, hit.rule, hit.digits, hit.channel) == (Kind.id, "redecode", 18, 1)
    assert len(decoder.asked) == 1 and decoder.asked[0][3] is Kind.id
    text = customer_text(result.segments)
    assert text.startswith("好的，我的号码是[ID:18]") and text.endswith("谢谢"), text
    for misheard in ("唐", "悄悄", "谈", "恋爱"):
        assert misheard not in text
    # the window runs from the end of the lead-in (是) to the start of the closing (谢谢)
    words = [w for s in segs if s.speaker == "customer" for w in s.words]
    assert hit.start == words[4].end and words[-3].end <= hit.end <= words[-1].start

    data, pcm = stereo_wav()  # 20 s: a tone on the agent's channel, noise on the customer's
    rate = RATE
    audio = decode(data)
    red = redact(audio, [Cut(h.channel, h.start, h.end) for h in result.hits], margin_s=0.3, mode="silence",
                 fade_ms=0)
    out = np.frombuffer(red.raw_data, dtype=np.int16).reshape(-1, 2)
    lo, hi = int((hit.start - 0.3) * rate), int((hit.end + 0.3) * rate)
    assert not out[lo:hi, 1].any()  # the customer's answer is silent
    assert np.array_equal(out[:, 0], pcm[:, 0]) and np.array_equal(out[hi + 1:, 1], pcm[hi + 1:, 1])


def test_a_redecoded_number_that_fails_its_check_is_not_taken(redecode_on: None) -> None:
    segs = id_call()
    for heard in (f"号码是{ID_NUMBER[:-1]}5", "110105199003", "身份证号码是110105199003071235。", "谢谢"):
        decoder = Scripted(heard)
        result = redact_transcript(segs, decoder)
        assert len(decoder.asked) == 1
        assert result.hits == [] and customer_text(result.segments) == customer_text(segs), heard


def test_a_phone_answer_is_taken_only_as_a_whole_number(redecode_on: None) -> None:
    segs = [zh("agent", 0.4, ["请问", "您的", "手机", "号码", "是", "多少", "？"], channel=0),
            zh("customer", 4.0, ["我的", "号码", "是", "要", "散", "就", "马", "，", "谢谢"])]
    assert [h.rule for h in redact_transcript(segs, Scripted("我的号码是13912345678。")).hits] == ["redecode"]
    assert redact_transcript(segs, Scripted("我的号码是1391234567890。")).hits == []


def test_nothing_is_decoded_again_without_an_ask(redecode_on: None) -> None:
    segs = [zh("agent", 0.4, ["请问", "还有", "什么", "可以", "帮", "您", "？"], channel=0),
            zh("customer", 4.0, ["好的", "，", "我的", "号码", "是", "唐", "悄悄", "马", "谈", "恋爱", "，", "谢谢"])]
    decoder = Scripted(ID_NUMBER)
    assert redact_transcript(segs, decoder).hits == [] and decoder.asked == []


def test_a_number_the_first_pass_found_is_not_decoded_again(redecode_on: None) -> None:
    segs = [en("agent", 0.5, "May I have your card number please?", channel=0),
            en("customer", 4.0, "Sure it is 4556 7375 8689 9855 thank you", channel=1)]
    decoder = Scripted("4111 1111 1111 1111", language="en")
    hits = redact_transcript(segs, decoder).hits
    assert decoder.asked == [] and "luhn" in {h.rule for h in hits}


def test_the_setting_off_decodes_nothing() -> None:
    decoder = Scripted(ID_NUMBER)
    assert redact_transcript(id_call(), decoder).hits == [] and decoder.asked == []


@pytest.mark.slow
@pytest.mark.tools("espeak-ng", "sox")
def test_the_model_primed_on_an_answer_window_writes_digits_and_a_wrong_number_is_not_taken(
        redecode_on: None, tmp_path: Path) -> None:
    """Real model, real audio: a card number said in the call, a first pass that wrote it as other
    words, and the primed re-decode of the answer window writing the number as digits. base does
    not hear espeak-ng's digits exactly (it writes 4112 for 4012 and drops a group of 8888), so what
    it writes fails the Luhn check and nothing is taken: the text stays as the first pass wrote it."""
    from demo.synth import synth_dialogue
    from transcribe.engine import get_transcriber
    from transcribe.redaction.redecode import WhisperDecoder, call_channels

    card = "4012888888881881"
    words = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    groups = [" ".join(words[int(c)] for c in card[i:i + 4]) + "," for i in range(0, 16, 4)]
    wav = tmp_path / "call.wav"
    placed = synth_dialogue([("agent", "Can I have your card number please?", None), ("customer", "Sure, it is", None),
                             *(("customer", g, None) for g in groups)], wav, gap_s=0.6, speed=150)
    ask, lead, said = placed[0], placed[1], placed[2:]
    segs = [en("agent", ask.start_s, ask.text, channel=0, step=(ask.end_s - ask.start_s) / 7),
            en("customer", lead.start_s, lead.text, channel=1, step=(lead.end_s - lead.start_s) / 3),
            *(en("customer", g.start_s, misheard, channel=1, step=(g.end_s - g.start_s) / 2)
              for g, misheard in zip(said, ["Holly Molly", "Sally Dolly", "Polly Wally", "Jolly Golly"], strict=True))]
    assert redact_transcript(segs).hits == []  # nothing digit-like: the first pass alone finds nothing
    decoder = WhisperDecoder(get_transcriber().whisper, lambda: call_channels(wav), "en")
    result = redact_transcript(segs, decoder)
    [heard] = decoder.heard
    digits = words_to_digits(heard)
    assert len(digits) >= 10, heard  # primed, the answer's stretch of the customer's channel comes back as digits
    # sox dithers espeak-ng's audio afresh on every run, so base's digits vary a little between runs: the
    # test holds for whichever it writes (so far always a card failing Luhn, as the docstring says).
    if checked_number(Kind.card, heard, "en") is None:
        assert result.hits == [] and customer_text(result.segments) == customer_text(segs)
    else:
        assert [(h.kind, h.rule, h.channel) for h in result.hits] == [(Kind.card, "redecode", 1)], heard


@pytest.mark.integration
def test_callqc_redact_decodes_the_answer_window_again_when_configured(
        sqlite_db: str, redecode_on: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """`callqc redact` on a stored call: the recording is fetched for the re-decode, the re-decoded ID
    number is redacted in the stored text, and a redacted copy of the audio is written."""
    from types import SimpleNamespace

    from storage.db import session
    from storage.redactions import CallRedaction
    from storage.transcripts import Transcript, TranscriptSegment, segments
    from tests.redaction_helpers import add_recorded_call
    from transcribe.redaction import pipeline

    pcm = add_recorded_call("rd-1")[1]
    with session(write=True) as s:
        s.add(Transcript(call_id="rd-1", language="zh", model_name="test", model_version="0", model_source="test",
                         duration_s=20))
        for i, seg in enumerate(id_call()):
            s.add(TranscriptSegment(call_id="rd-1", idx=i, speaker=seg.speaker, channel=seg.channel or 0,
                                    start_s=seg.start, end_s=seg.end, text=seg.text,
                                    words=[{"start": w.start, "end": w.end, "word": w.word, "probability": 1.0}
                                           for w in seg.words], avg_logprob=0.0, no_speech_prob=0.0))
    made: list[Scripted] = []
    loaded: list[int] = []

    @dataclass
    class Loading(Scripted):
        """Reads the call's audio as the real decoder does, while the job has it."""

        load: Callable[[], Sequence[np.ndarray]] = list

        def __call__(self, channel: int, start: float, end: float, kind: Kind) -> str:
            loaded.extend(len(ch) for ch in self.load())
            return super().__call__(channel, start, end, kind)

    def scripted(_whisper: object, load: Callable[[], Sequence[np.ndarray]], language: str) -> Scripted:
        made.append(Loading(f"我的身份证号码是{ID_NUMBER}", language=language, load=load))
        return made[-1]

    monkeypatch.setattr(pipeline, "WhisperDecoder", scripted)  # the model's part is tested above
    monkeypatch.setattr("transcribe.engine.get_transcriber", lambda: SimpleNamespace(whisper=None))
    spans = pipeline.redact_call("rd-1", actor="test")
    assert [(sp.kind, sp.rule, sp.digits) for sp in spans] == [("id", "redecode", 18)]
    [decoder] = made
    assert decoder.language == "zh" and len(decoder.asked) == 1
    assert len(loaded) == 2 and all(abs(n - 2 * len(pcm)) <= 2 for n in loaded)  # both channels, at 16 kHz
    with session() as s:
        text = "".join(seg.text for seg in segments(s, "rd-1") if seg.speaker == "customer")
        head = s.get(CallRedaction, "rd-1")
    assert "[ID:18]" in text and "唐" not in text and head is not None and head.audio_key is not None
