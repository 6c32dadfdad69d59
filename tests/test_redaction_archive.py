"""The archive writes the redacted copy, the original, or both (archive_audio); the manifest says
which; archived calls still play redacted to people without `pii`."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import select

from storage.access import recording
from storage.archive.run import run_month
from storage.archive.tables import ArchiveEntry, ArchiveImage
from storage.db import session
from storage.keys import redacted_key
from storage.redactions import CallRedaction
from storage.retrieval import AudioVariant, OriginalNotKept, RecordingSource
from storage.settings import get_settings, reset_settings
from storage.stores import get_store
from tests.archive_helpers import extract_with_xorriso
from tests.redaction_helpers import ADMIN, INSPECTOR, add_recorded_call, add_transcribed_call
from transcribe.redaction.pipeline import redact_call

pytestmark = pytest.mark.integration
MONTH = "2026-11"
STARTED = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # as tests/redaction_helpers.py records the calls


def _archive(monkeypatch: pytest.MonkeyPatch, mode: str, *, delete_hot: bool = False) -> None:
    monkeypatch.setenv("CALLQC_ARCHIVE_AUDIO", mode)
    monkeypatch.setenv("CALLQC_ARCHIVE_DELETE_HOT", "true" if delete_hot else "false")
    reset_settings()
    run_month(MONTH, media=4_000_000, actor="test", store=get_store())


def _image_manifest(tmp_path: Path) -> dict:
    with session() as s:
        [image] = s.exec(select(ArchiveImage)).all()
    local = tmp_path / "disc.iso"
    local.write_bytes(b"".join(get_store().iter_chunks(get_settings().bucket_archive, image.object_key)))
    return extract_with_xorriso(local, tmp_path / "x")


def test_both_puts_original_and_redacted_copy_on_the_disc_and_the_manifest_says_which(
    sqlite_db: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    original = add_recorded_call("ar-1")[0]
    add_transcribed_call("ar-1", audio=False)
    redact_call("ar-1", actor="test")
    _archive(monkeypatch, "both")
    files = {f["path"]: f for f in _image_manifest(tmp_path)["files"]}
    audio = {f["audio"]: f for f in files.values() if "audio" in f}
    assert set(audio) == {"original", "redacted"}
    assert audio["original"]["sha256"] == hashlib.sha256(original).hexdigest()
    assert audio["redacted"]["path"].endswith("ar-1.redacted.wav")
    transcript = next(p for p in files if p.endswith(".transcript.json"))
    text = (tmp_path / "x" / transcript).read_text(encoding="utf-8")
    assert '"text": "[CARD:16]"' in text and " four" not in text


def test_redacted_only_keeps_originals_off_the_disc_and_still_plays_redacted_from_it(
    sqlite_db: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    add_recorded_call("ar-2")
    add_transcribed_call("ar-2", audio=False)
    redact_call("ar-2", actor="test")
    _archive(monkeypatch, "redacted", delete_hot=True)
    files = _image_manifest(tmp_path)["files"]
    assert [f["audio"] for f in files if "audio" in f] == ["redacted"]
    with session() as s:
        entry = s.get(ArchiveEntry, "ar-2")
        head = s.get(CallRedaction, "ar-2")
    assert entry is not None and head is not None and entry.audio == "redacted"
    # the hot redacted copy gone too: the player reads the disc
    get_store().delete(get_settings().bucket_recordings, redacted_key("ar-2", STARTED))
    rec = recording(INSPECTOR, "ar-2", source="test")
    assert rec.source == RecordingSource.archive and rec.variant == AudioVariant.redacted
    assert hashlib.sha256(rec.data).hexdigest() == head.audio_sha256
    with pytest.raises(OriginalNotKept):
        recording(ADMIN, "ar-2", source="test")
