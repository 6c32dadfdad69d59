"""The probe: what it reports for every accepted format, and what it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from recorder.probe import (
    EmptyFile,
    NotAudio,
    TooLong,
    TooManyChannels,
    TruncatedAudio,
    UnsupportedAudio,
    ZeroDuration,
    probe,
)
from tests.audio_files import FORMATS, Fmt, make_audio, make_format, make_wav, truncate, zero_length_wav


@pytest.fixture(scope="module")
def formats(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("formats")
    return {fmt.name: make_format(d, fmt, seconds=1.5) for fmt in FORMATS}


@pytest.mark.parametrize("fmt", FORMATS, ids=[f.name for f in FORMATS])
def test_probe_reports_codec_rate_channels_duration(formats: dict[str, Path], fmt: Fmt) -> None:
    """Every accepted container/codec is recognised with its real rate, channels and decoded duration."""
    info = probe(formats[fmt.name], max_duration_s=60)
    assert (info.codec, info.sample_rate, info.channels, info.ext) == (fmt.codec, fmt.rate, 2, fmt.ext)
    assert info.duration_s == pytest.approx(1.5, abs=0.1)
    assert info.size_bytes == formats[fmt.name].stat().st_size


def test_probe_mono_file_has_one_channel(tmp_path: Path) -> None:
    """A mono recording reports one channel."""
    assert probe(make_wav(tmp_path / "m.wav", channels=1), max_duration_s=60).channels == 1


@pytest.mark.parametrize("name", ["flac", "mp3", "opus", "m4a"])
def test_probe_refuses_cut_off_files(formats: dict[str, Path], tmp_path: Path, name: str) -> None:
    """A compressed file a crashed writer left half-written is refused as truncated (a cut WAV is
    salvaged instead: tests/test_pbx_formats.py)."""
    src = formats[name]
    with pytest.raises(TruncatedAudio, match=r"^truncated or damaged audio: cut\."):
        probe(truncate(src, tmp_path / f"cut{src.suffix}", keep=0.5), max_duration_s=60)


def test_probe_salvages_wav_whose_header_was_never_finished(formats: dict[str, Path], tmp_path: Path) -> None:
    """A WAV with the streaming placeholder size (0xFFFFFFFF) is taken from the bytes present, marked."""
    data = bytearray(formats["wav-pcm16"].read_bytes())
    pos = data.index(b"data")
    data[pos + 4 : pos + 8] = b"\xff\xff\xff\xff"
    (tmp_path / "open.wav").write_bytes(bytes(data))
    info = probe(tmp_path / "open.wav", max_duration_s=60)
    assert info.salvaged is not None and "never finished" in info.salvaged
    assert info.duration_s == pytest.approx(1.5, abs=0.02)


def test_probe_refusals_say_what_is_wrong(tmp_path: Path) -> None:
    """Empty, not audio, zero samples, too long and three channels each get their own one-line reason."""
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "notes.wav").write_text("this is not audio\n" * 20)
    cases = [
        (tmp_path / "empty.wav", EmptyFile, "empty file: empty.wav: 0 bytes"),
        (tmp_path / "notes.wav", NotAudio, "not an audio file: notes.wav"),
        (zero_length_wav(tmp_path / "zero.wav"), ZeroDuration, "zero duration"),
        (make_wav(tmp_path / "long.wav", seconds=3, channels=1), TooLong, "recording too long: long.wav"),
        (make_wav(tmp_path / "three.wav", channels=3), TooManyChannels, "3 channels, at most 2"),
    ]
    for path, exc_type, text in cases:
        with pytest.raises(exc_type) as err:
            probe(path, max_duration_s=2)
        assert text in str(err.value)
        assert "\n" not in str(err.value)


def test_probe_refuses_codecs_outside_the_list(tmp_path: Path) -> None:
    """A container we read but a codec we don't accept (IMA ADPCM in WAV) is refused by name."""
    path = make_audio(tmp_path / "adpcm.wav", channels=1, codec_args=("-c:a", "adpcm_ima_wav"))
    with pytest.raises(UnsupportedAudio, match="codec 'adpcm_ima_wav'"):
        probe(path, max_duration_s=60)
