"""Asterisk's recording formats (GSM, WAV49, raw μ-law/A-law/signed-linear/G.722) and crash-cut WAVs:
accepted, stored as received, and decoded by the transcriber the same way the probe read them."""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

from recorder.ingest import ingest_file
from recorder.metadata import CallMeta
from recorder.probe import TruncatedAudio, probe
from storage.calls import Call
from storage.db import session
from storage.objectstore import sha256_file
from tests.services import require_tool
from transcribe import handler
from transcribe.audio import SAMPLE_RATE, decode

pytestmark = pytest.mark.tools("espeak-ng", "sox", "ffmpeg")

TEXT = "Thank you for calling, my name is Anna, how can I help you today with your account"


def _run(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True)


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One espeak-ng sentence in every format, written the way sox/ffmpeg (and Asterisk) write them."""
    d = tmp_path_factory.mktemp("pbx-formats")
    sox, ffmpeg = require_tool("sox"), require_tool("ffmpeg")
    _run(require_tool("espeak-ng"), "-w", str(d / "src.wav"), TEXT)
    ref = d / "ref.wav"
    _run(sox, str(d / "src.wav"), "-r", "8000", "-c", "1", "-b", "16", str(ref))
    files = {"ref": ref}
    raw = {"ulaw": ("-e", "mu-law"), "alaw": ("-e", "a-law"), "sln": ("-e", "signed", "-b", "16")}
    for ext, enc in raw.items():
        files[ext] = d / f"call.{ext}"
        _run(sox, str(ref), "-t", "raw", *enc, str(files[ext]))
    files["sln16"] = d / "call.sln16"
    _run(sox, str(d / "src.wav"), "-r", "16000", "-c", "1", "-t", "raw", "-e", "signed", "-b", "16",
         str(files["sln16"]))
    files["gsm"] = d / "call.gsm"
    _run(sox, str(ref), str(files["gsm"]))
    files["WAV"] = d / "call.WAV"  # WAV49: GSM 06.10 in a RIFF, Microsoft framing
    _run(sox, str(ref), "-t", "wav", "-e", "gsm-full-rate", str(files["WAV"]))
    files["g722"] = d / "call.g722"
    _run(ffmpeg, "-loglevel", "error", "-y", "-i", str(d / "src.wav"), "-ar", "16000", "-f", "g722",
         str(files["g722"]))
    return files


# extension -> (codec, sample rate, object-key extension, correlation floor after the codec's loss)
CASES = {
    "ulaw": ("pcm_mulaw", 8000, "ulaw", 0.98),
    "alaw": ("pcm_alaw", 8000, "alaw", 0.98),
    "sln": ("pcm_s16le", 8000, "sln", 0.999),
    "sln16": ("pcm_s16le", 16000, "sln16", 0.95),
    "gsm": ("gsm", 8000, "gsm", 0.6),
    "WAV": ("gsm_ms", 8000, "wav", 0.6),
    "g722": ("g722", 16000, "g722", 0.9),
}


def _reference(speech: dict[str, Path]) -> np.ndarray:
    return decode(speech["ref"]).channels[0].astype(np.float64)


def _similarity(a: np.ndarray, ref: np.ndarray) -> float:
    """Best normalised correlation within ±5 ms (codecs delay the signal a little)."""
    b = a.astype(np.float64)
    n = min(len(b), len(ref))
    best = 0.0
    for lag in range(0, 81):
        x, y = b[lag:n], ref[: n - lag]
        best = max(best, float(np.dot(x, y) / (np.linalg.norm(x) * np.linalg.norm(y) + 1e-9)))
    return best


@pytest.mark.parametrize("ext", list(CASES))
def test_probe_reads_asterisk_formats_by_extension(speech: dict[str, Path], ext: str) -> None:
    """Each Asterisk format is recognised with the codec and rate its extension stands for."""
    codec, rate, key_ext, _ = CASES[ext]
    info = probe(speech[ext], max_duration_s=60)
    ref = probe(speech["ref"], max_duration_s=60)
    assert (info.codec, info.sample_rate, info.channels, info.ext) == (codec, rate, 1, key_ext)
    assert info.duration_s == pytest.approx(ref.duration_s, abs=0.05)
    assert (info.raw is None) == (ext == "WAV")


@pytest.mark.parametrize("ext", list(CASES))
def test_asterisk_format_round_trip_stored_as_received_and_transcriber_decodes_it(
    sqlite_db: str, speech: dict[str, Path], ext: str
) -> None:
    """Ingest keeps the bytes unchanged; the transcriber's own opening of the stored object (with the
    format hint kept in the call's meta) gives the same speech back, at the right length."""
    cid = f"fmt-{ext.lower()}"
    result = ingest_file(speech[ext], CallMeta(call_id=cid))
    assert result.sha256 == sha256_file(speech[ext])
    assert result.audio_key.endswith("." + CASES[ext][2])
    info = handler._load_call(cid)
    with session() as s:
        call = s.get(Call, cid)
        assert call is not None
        stored_hint = (call.meta or {}).get("audio_format")
    assert (stored_hint is None) == (ext == "WAV")
    with handler._open_audio(info.audio_key, cid, info.audio_format) as (stream, _):
        got = np.concatenate([w.channels[0] for w in stream.windows()])
    ref = _reference(speech)
    assert len(got) / SAMPLE_RATE == pytest.approx(len(ref) / SAMPLE_RATE, abs=0.05)
    assert _similarity(got, ref) >= CASES[ext][3]


def test_raw_file_without_its_hint_is_not_read_as_speech(speech: dict[str, Path]) -> None:
    """Why the hint must travel with the call: FFmpeg cannot tell what a headerless file holds."""
    with pytest.raises(Exception):  # noqa: B017,PT011 - FFmpeg's own error, any kind
        decode(speech["ulaw"])


def _crash_cut(src: Path, dst: Path, *, keep_bytes: int, data_size: int | None, riff_size: int | None) -> float:
    """``src`` cut after ``keep_bytes`` of audio with its header left as a crashed writer leaves it;
    returns the real length of the audio present."""
    data = src.read_bytes()
    pos = data.index(b"data")
    body = bytearray(data[: pos + 8 + keep_bytes])
    present = len(body) - pos - 8
    if data_size is not None:
        body[pos + 4 : pos + 8] = struct.pack("<I", data_size)
    if riff_size is not None:
        body[4:8] = struct.pack("<I", riff_size)
    dst.write_bytes(bytes(body))
    return (present // 2) / 8000


@pytest.mark.parametrize(
    ("case", "keep", "data_size", "riff_size"),
    [
        ("sizes-zero", 30_000, 0, 0),
        ("sizes-placeholder", 30_000, 0xFFFFFFFF, 0xFFFFFFFF),
        ("header-of-the-whole-call", 20_001, None, None),  # header finished, then the file cut off
        ("riff-wrong-data-zero", 41_235, 0, 12),
    ],
)
def test_crash_cut_wav_is_salvaged_to_its_real_length(
    sqlite_db: str, speech: dict[str, Path], tmp_path: Path, case: str, keep: int,
    data_size: int | None, riff_size: int | None,
) -> None:
    """A WAV whose RIFF/data sizes are 0 or wrong is taken from the bytes present: probe and
    transcriber both find the real length (within 20 ms), and the call is marked salvaged."""
    path = tmp_path / f"{case}.wav"
    real = _crash_cut(speech["ref"], path, keep_bytes=keep, data_size=data_size, riff_size=riff_size)
    info = probe(path, max_duration_s=60)
    assert info.salvaged is not None
    assert info.duration_s == pytest.approx(real, abs=0.02)
    ingest_file(path, CallMeta(call_id=case))
    with session() as s:
        call = s.get(Call, case)
        assert call is not None
        assert call.duration_s == pytest.approx(real, abs=0.02)
        salvaged = (call.meta or {})["salvaged"]
    assert salvaged["decoded_s"] == pytest.approx(real, abs=0.02)
    hinfo = handler._load_call(case)
    with handler._open_audio(hinfo.audio_key, case, hinfo.audio_format) as (stream, _):
        n = sum(w.samples for w in stream.windows())
    assert n / SAMPLE_RATE == pytest.approx(real, abs=0.02)


def test_finished_wav_is_not_marked_salvaged(speech: dict[str, Path]) -> None:
    """A well-formed WAV is not salvaged (the mark means something)."""
    assert probe(speech["ref"], max_duration_s=60).salvaged is None


def test_wav_cut_inside_its_header_is_still_refused(speech: dict[str, Path], tmp_path: Path) -> None:
    """Nothing to salvage when the file ends before its data chunk."""
    (tmp_path / "h.wav").write_bytes(speech["ref"].read_bytes()[:30])
    with pytest.raises(TruncatedAudio):
        probe(tmp_path / "h.wav", max_duration_s=60)
