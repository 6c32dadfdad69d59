"""`callqc redact`, `show` (what was redacted), `clip` and `export`, run as the operator runs them."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import wave
from pathlib import Path

import pytest
from sqlmodel import select

from storage.db import session
from storage.models import AuditEvent
from tests.redaction_helpers import CARD_WORDS, RATE, add_transcribed_call

pytestmark = pytest.mark.integration


def _callqc(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "callqc", *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


def _audits() -> list[tuple[str, str]]:
    with session() as s:
        return [(e.action, e.detail.get("audio", "")) for e in s.exec(select(AuditEvent))]


def test_redact_then_show_lists_what_was_redacted_but_never_the_value(sqlite_db: str) -> None:
    add_transcribed_call("cli-1")
    r = _callqc("redact", "cli-1")
    assert r.returncode == 0, r.stderr
    assert "card" in r.stdout and "customer" in r.stdout and "1 call(s) redacted, 1 span(s)" in r.stdout
    doc = json.loads(_callqc("show", "cli-1", "--json").stdout)
    [span] = doc["redactions"]["spans"]
    assert (span["kind"], span["speaker"], span["digits"]) == ("card", "customer", 16)
    assert doc["transcript"]["segments"][1]["text"] == "[CARD:16]"
    assert CARD_WORDS not in json.dumps(doc) and " one" not in json.dumps(doc["transcript"]["segments"][1])
    table = _callqc("show", "cli-1").stdout
    assert "redaction: 1 span(s), audio: redacted copy" in table and "card" in table
    again = _callqc("redact", "--all")
    assert again.returncode == 0 and "1 call(s) redacted, 1 span(s)" in again.stdout
    assert json.loads(_callqc("show", "cli-1", "--json").stdout)["redactions"]["spans"] == [span]


def test_show_original_needs_the_kept_text_and_is_audited(sqlite_db: str) -> None:
    add_transcribed_call("cli-2")
    env = {"CALLQC_REDACTION_KEEP_ORIGINAL": "true"}
    assert _callqc("redact", "cli-2", env=env).returncode == 0
    doc = json.loads(_callqc("show", "cli-2", "--json", "--original", env=env).stdout)
    assert doc["transcript"]["segments"][1]["text"] == CARD_WORDS and doc["transcript"]["original"]
    assert ("view_original", "") in _audits()


@pytest.mark.tools("ffmpeg")  # the MP3 export goes through pydub, which runs ffmpeg
def test_clip_and_export_give_the_redacted_copy_unless_original_is_asked_for(sqlite_db: str, tmp_path: Path) -> None:
    add_transcribed_call("cli-3")
    assert _callqc("redact", "cli-3").returncode == 0
    out = tmp_path / "c.wav"
    r = _callqc("clip", "cli-3", "--start", "5", "--end", "9.5", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert "redacted audio" in r.stdout
    with wave.open(io.BytesIO(out.read_bytes())) as w:
        assert (w.getnchannels(), w.getnframes()) == (2, int(4.5 * RATE))
    mp3 = tmp_path / "c.mp3"
    r = _callqc("export", "cli-3", "--format", "mp3", "-o", str(mp3), "--original")
    assert r.returncode == 0, r.stderr
    head = mp3.read_bytes()[:3]
    assert head == b"ID3" or head[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2")
    assert [a for a in _audits() if a[0] in ("clip", "export")] == [("clip", "redacted"), ("export", "original")]
    r = _callqc("retrieve", "cli-3", "--redacted", "-o", str(tmp_path / "r.wav"))
    assert r.returncode == 0 and "(redacted)" in r.stdout, r.stderr
    assert (tmp_path / "r.wav").read_bytes()[:4] == b"RIFF" and ("retrieve", "redacted") in _audits()


def test_bad_clip_and_redact_input_is_one_line(sqlite_db: str) -> None:
    add_transcribed_call("cli-4")
    r = _callqc("clip", "cli-4", "--start", "5", "--end", "2")
    assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1
    assert "start must be before the end" in r.stderr
    r = _callqc("redact")
    assert r.returncode != 0 and r.stderr.strip() == "error: invalid input: give a call ID or --all (not both)"
    r = _callqc("export", "cli-4", "--format", "flac")
    assert r.returncode != 0 and "choose one of wav, mp3, ogg" in r.stderr
