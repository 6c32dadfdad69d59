"""Browser playback of PBX formats browsers cannot play (GSM, WAV49, headerless μ-law/A-law/sln):
decoded to PCM WAV for the player; playable formats are passed through as stored."""

from __future__ import annotations

import hashlib
import io
import subprocess
import wave
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from recorder.api import create_app
from recorder.playback import browser_mime, to_wav
from storage import media_tokens
from storage.calls import Call
from storage.db import session
from storage.settings import get_settings, reset_settings
from storage.stores import get_store
from storage.users import Principal, Role
from tests import review_world
from tests.services import require_tool


def _sox(path: Path, *args: str) -> bytes:
    subprocess.run([require_tool("sox"), "-n", "-r", "8000", "-c", "1", *args, str(path), "synth", "1.5",
                    "sine", "440"], check=True)
    return path.read_bytes()


def _wav_seconds(data: bytes) -> float:
    with wave.open(io.BytesIO(data)) as w:
        assert w.getsampwidth() == 2  # 16-bit PCM
        return w.getnframes() / w.getframerate()


@pytest.mark.tools("sox", "ffmpeg")
def test_pbx_formats_are_decoded_to_wav_and_browser_formats_pass_through(tmp_path: Path) -> None:
    pcm = _sox(tmp_path / "a.wav", "-e", "signed-integer", "-b", "16")
    ulaw_wav = _sox(tmp_path / "u.wav", "-e", "u-law")
    assert browser_mime(pcm) == browser_mime(ulaw_wav) == "audio/wav"  # played as stored
    subprocess.run([require_tool("ffmpeg"), "-loglevel", "error", "-i", str(tmp_path / "a.wav"), "-c:a", "gsm_ms",
                    str(tmp_path / "b.WAV")], check=True)
    wav49 = (tmp_path / "b.WAV").read_bytes()
    raws = {"gsm": _sox(tmp_path / "c.gsm"), "mulaw": _sox(tmp_path / "d.ul"), "alaw": _sox(tmp_path / "e.al"),
            "s16le": _sox(tmp_path / "f.raw", "-e", "signed-integer", "-b", "16")}
    assert browser_mime(wav49) is None  # GSM in RIFF: the header says 0x31, browsers refuse it
    assert abs(_wav_seconds(to_wav(wav49)) - 1.5) < 0.05
    for fmt, raw in raws.items():
        assert browser_mime(raw) is None, fmt
        data = to_wav(raw, audio_format={"format": fmt, "sample_rate": 8000}, name=f"x.{fmt}")
        assert abs(_wav_seconds(data) - 1.5) < 0.05, fmt


@pytest.mark.integration
@pytest.mark.tools("sox")
def test_the_media_endpoint_serves_a_gsm_recording_as_wav_with_range(sqlite_db: str, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A call stored as raw GSM reaches the browser's player as PCM WAV, seekable by Range; a
    download still gets the bytes as stored."""
    monkeypatch.setenv("CALLQC_PII_ROLES", '["inspector", "admin"]')
    monkeypatch.setenv("CALLQC_API_TOKEN", "media-api-t0ken-0123456789")
    reset_settings()
    review_world.fast_hashing(monkeypatch)
    review_world.build(calls_per_agent=1)
    gsm = _sox(tmp_path / "call.gsm")
    with session() as s:
        call = s.get(Call, "a1-call-0")
        assert call is not None
        get_store().put_stream(get_settings().bucket_recordings, call.audio_key, io.BytesIO(gsm), length=len(gsm))
        call.sha256, call.size_bytes, call.codec = hashlib.sha256(gsm).hexdigest(), len(gsm), "gsm"
        call.meta = {"audio_format": {"format": "gsm", "sample_rate": 8000}}
        s.add(call)
    inspector = Principal("insp1", Role.inspector)
    with TestClient(create_app()) as client:
        whole = client.get("/v1/media/a1-call-0", params={"token": media_tokens.grant(inspector, "a1-call-0")})
        part = client.get("/v1/media/a1-call-0", params={"token": media_tokens.grant(inspector, "a1-call-0")},
                          headers={"Range": "bytes=100-199"})
        saved = client.get("/v1/media/a1-call-0",
                           params={"token": media_tokens.grant(Principal("admin", Role.admin), "a1-call-0",
                                                               download=True)})
    assert whole.status_code == 200 and whole.headers["content-type"] == "audio/wav"
    assert abs(_wav_seconds(whole.content) - 1.5) < 0.05
    assert part.status_code == 206 and part.content == whole.content[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(whole.content)}"
    assert saved.status_code == 200 and saved.content == gsm
