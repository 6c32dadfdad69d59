"""The transcription engine on synthesised telephony audio, with the real tiny.en model."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from demo.synth import Line, Placement, silence, synth_call, tone
from storage.segments import UNKNOWN_SPEAKER
from transcribe.audio import CorruptAudio, decode
from transcribe.engine import Transcriber, Transcript

STEREO = {"agent": 0, "customer": 1}


@pytest.fixture(scope="module")
def tiny(tiny_en_transcriber: Transcriber) -> Transcriber:
    """tiny.en loaded once for the test process (as a worker process does)."""
    return tiny_en_transcriber


Dialogue = tuple[list[Placement], Transcript]


@pytest.fixture(scope="module")
def dialogue(default_call: tuple[Path, list[Placement]], tiny: Transcriber) -> Dialogue:
    """The default dialogue synthesised once and transcribed once for the module."""
    path, placements = default_call
    return placements, tiny.transcribe(decode(path), channel_map=STEREO)


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z']+", text.lower()))


@pytest.mark.tools("espeak-ng", "sox")  # demo.synth speaks with espeak-ng, writes with sox
def test_each_speakers_words_land_in_their_own_segments(dialogue: Dialogue) -> None:
    """Agent lines come back as agent segments and customer lines as customer segments."""
    placements, transcript = dialogue
    assert transcript.language == "en" and not transcript.mono
    for p in placements:
        mine = " ".join(s.text for s in transcript.segments
                        if s.speaker == p.speaker and s.start < p.end_s + 1 and s.end > p.start_s - 1)
        ref = _words(p.text)
        assert len(ref & _words(mine)) >= 0.6 * len(ref), (p, mine)
    for seg in transcript.segments:
        assert seg.speaker == ("agent" if seg.channel == 0 else "customer")


@pytest.mark.tools("espeak-ng", "sox")  # demo.synth speaks with espeak-ng, writes with sox
def test_timestamps_are_within_a_second_of_placement(dialogue: Dialogue) -> None:
    """Every segment and word lies within 1 s of the line its speaker said there."""
    placements, transcript = dialogue
    assert transcript.segments
    for seg in transcript.segments:
        line = next((p for p in placements if p.speaker == seg.speaker
                     and p.start_s - 1 <= seg.start and seg.end <= p.end_s + 1), None)
        assert line is not None, f"segment {seg.start}-{seg.end} {seg.speaker!r} matches no placed line"
        assert all(line.start_s - 1 <= w.start <= w.end <= line.end_s + 1 for w in seg.words)
    for p in placements:
        assert any(abs(s.start - p.start_s) <= 1 and s.speaker == p.speaker for s in transcript.segments), p


@pytest.mark.tools("espeak-ng", "sox")  # demo.synth speaks with espeak-ng, writes with sox
def test_segments_are_time_ordered_with_scores(dialogue: Dialogue) -> None:
    """The merged conversation is ordered by start and every segment carries its confidence values."""
    _, transcript = dialogue
    starts = [s.start for s in transcript.segments]
    assert starts == sorted(starts)
    for s in transcript.segments:
        assert s.words and -5 < s.avg_logprob <= 0 and 0 <= s.no_speech_prob <= 1


@pytest.mark.parametrize("make", [silence, tone], ids=["silence", "hold-tone-440Hz"])
@pytest.mark.tools("sox")  # demo.synth writes its WAV with sox
def test_sixty_seconds_without_speech_give_no_words(make, tiny: Transcriber, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """60 s of silence or of a 440 Hz hold tone transcribe to zero words."""
    path = tmp_path / "nospeech.wav"
    make(path, seconds=60)
    transcript = tiny.transcribe(decode(path), channel_map=STEREO)
    assert transcript.duration_s == pytest.approx(60, abs=0.1)
    assert transcript.words == 0 and transcript.segments == []


@pytest.mark.tools("espeak-ng", "sox")  # demo.synth speaks with espeak-ng, writes with sox
def test_mono_call_is_attributed_to_unknown_speaker(tiny: Transcriber, tmp_path: Path) -> None:
    """A mono recording is transcribed once and every segment's speaker is 'unknown'."""
    path = tmp_path / "mono.wav"
    synth_call([Line("agent", 0.3, "Good morning, how can I help you today?")], path, mono=True)
    transcript = tiny.transcribe(decode(path), channel_map={"agent": 0, "customer": 1})
    assert transcript.mono
    assert transcript.segments and {s.speaker for s in transcript.segments} == {UNKNOWN_SPEAKER}
    assert "morning" in " ".join(s.text.lower() for s in transcript.segments)


@pytest.mark.parametrize("data", [b"", b"RIFF\x00\x00\x00\x00WAVEfmt garbage", bytes(range(256)) * 40],
                         ids=["empty", "truncated-header", "noise-bytes"])
def test_corrupt_audio_is_refused_with_a_one_line_reason(data: bytes) -> None:
    """Bytes that are no audio raise CorruptAudio with a one-line message naming the file."""
    with pytest.raises(CorruptAudio) as err:
        decode(data, name="bad.wav")
    assert str(err.value).startswith("audio cannot be decoded: bad.wav") and "\n" not in str(err.value)


@pytest.mark.slow
@pytest.mark.tools("espeak-ng", "sox")  # demo.synth speaks with espeak-ng, writes with sox
def test_mandarin_call_transcribed_by_base_yields_simplified_chinese(
        mandarin_call: tuple[Path, list[Placement]], base_transcriber: Transcriber, data_dir: Path) -> None:
    """The multilingual base model detects Mandarin and returns Simplified Chinese text per speaker."""
    from opencc import OpenCC

    path, _placed = mandarin_call
    transcript = base_transcriber.transcribe(decode(path), channel_map=STEREO)
    assert transcript.language == "zh"
    text = "".join(s.text for s in transcript.segments)
    han = re.findall(r"[\u4e00-\u9fff]", text)
    assert len(han) >= 15, text
    assert OpenCC("t2s").convert(text) == text  # already Simplified
    assert {s.speaker for s in transcript.segments} == {"agent", "customer"}


def test_chinese_output_is_converted_to_simplified_only_for_chinese(tiny: Transcriber) -> None:
    """Traditional characters in Chinese output become Simplified; other languages are left alone."""
    assert tiny.output_text("這個電話號碼對嗎", "zh") == "这个电话号码对吗"
    assert tiny.output_text("這個", "en") == "這個"
