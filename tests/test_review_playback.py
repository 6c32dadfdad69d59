"""Browser playback of PBX formats browsers cannot play (GSM, WAV49, headerless μ-law/A-law/sln):
decoded to PCM WAV for the player; playable formats are passed through as stored."""

from __future__ import annotations

import base64
import hashlib
import io
import re
import subprocess
import wave
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from review_app.session import _TOKEN as TOKEN
from review_app.workflow.playback import browser_mime, playable
from storage.calls import Call
from storage.db import session
from storage.settings import get_settings, reset_settings
from storage.stores import get_store
from tests import review_world
from tests.services import require_tool

APP = str(Path(__file__).resolve().parent.parent / "review_app" / "app.py")


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
    assert playable(pcm) == (pcm, "audio/wav")
    assert playable(ulaw_wav) == (ulaw_wav, "audio/wav")
    subprocess.run([require_tool("ffmpeg"), "-loglevel", "error", "-i", str(tmp_path / "a.wav"), "-c:a", "gsm_ms",
                    str(tmp_path / "b.WAV")], check=True)
    wav49 = (tmp_path / "b.WAV").read_bytes()
    raws = {"gsm": _sox(tmp_path / "c.gsm"), "mulaw": _sox(tmp_path / "d.ul"), "alaw": _sox(tmp_path / "e.al"),
            "s16le": _sox(tmp_path / "f.raw", "-e", "signed-integer", "-b", "16")}
    assert browser_mime(wav49) is None  # GSM in RIFF: the header says 0x31, browsers refuse it
    data, mime = playable(wav49)
    assert mime == "audio/wav" and abs(_wav_seconds(data) - 1.5) < 0.05
    for fmt, raw in raws.items():
        data, mime = playable(raw, audio_format={"format": fmt, "sample_rate": 8000}, name=f"x.{fmt}")
        assert mime == "audio/wav" and abs(_wav_seconds(data) - 1.5) < 0.05, fmt


@pytest.mark.app
@pytest.mark.tools("sox")
def test_the_call_page_plays_a_gsm_recording_as_wav(sqlite_db: str, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """An inspector with `pii` plays the original, stored as raw GSM: the page embeds a WAV."""
    monkeypatch.setenv("CALLQC_PII_ROLES", '["inspector"]')
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
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state[TOKEN] = review_world.session_token("insp1")
    at.query_params["call"] = "a1-call-0"
    at.run()
    at.switch_page("views/call.py").run()
    at.button(key="play_from_start").click().run()
    assert not at.exception, at.exception
    frames = [e.proto.srcdoc for e in at.get("iframe") if "<audio" in e.proto.srcdoc]
    assert len(frames) == 1
    m = re.search(r"data:(audio/[a-z0-9]+);base64,([A-Za-z0-9+/=]+)", frames[0])
    assert m is not None and m.group(1) == "audio/wav"
    assert abs(_wav_seconds(base64.b64decode(m.group(2))) - 1.5) < 0.05
