"""The archive survives being killed and notices damage: resume without duplicates, fixity checks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlmodel import col, select

from storage.archive.run import run_month
from storage.archive.tables import ArchiveEntry, ArchiveImage, ArchiveRun, ImageState, RunState
from storage.archive.verify import failed_images, verify_images
from storage.calls import Call
from storage.db import session
from storage.models import AuditAction, AuditEvent
from storage.retrieval import open_recording
from storage.settings import get_settings, reset_settings
from storage.stores import make_store
from tests.archive_helpers import extract_with_xorriso, make_calls

SMALL_DISC = 340_000

_KILLER = """
import os, signal, sys
from storage.archive.run import run_month
stage, disc, month, media = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
def hook(name, image):
    if name == stage and image.disc == disc:
        os.kill(os.getpid(), signal.SIGKILL)
run_month(month, media=media, actor="killed", on_stage=hook)
"""


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.tools("xorriso")
@pytest.mark.parametrize("stage", ["built", "uploaded", "stored", "verified"])
def test_run_killed_mid_month_resumes_to_a_correct_archive(
    stage: str, sqlite_db: str, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGKILL at a stage of disc 2, then run again: every call archived once, no stray images."""
    monkeypatch.setenv("CALLQC_ARCHIVE_DELETE_HOT", "true")
    reset_settings()
    store = make_store()
    calls = make_calls(store, month="2024-05", n=6)
    env = {**os.environ, "CALLQC_DATA_DIR": str(data_dir), "CALLQC_DATABASE_URL": sqlite_db}
    r = subprocess.run(
        [sys.executable, "-c", _KILLER, stage, "2", "2024-05", str(SMALL_DISC)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == -9, r.stderr
    with session() as s:
        assert s.exec(select(ArchiveRun)).one().state == RunState.open
        assert len(list(s.exec(select(Call).where(col(Call.archived_at).is_not(None))))) < len(calls)
    run_month("2024-05", media=SMALL_DISC, actor="resumed", store=store)
    with session() as s:
        run = s.exec(select(ArchiveRun)).one()
        images = list(s.exec(select(ArchiveImage).order_by(col(ArchiveImage.disc))))
        entries = list(s.exec(select(ArchiveEntry)))
        rows = list(s.exec(select(Call)))
    assert run.state == RunState.done and len(images) == run.disc_count >= 3
    assert sorted(e.call_id for e in entries) == sorted(calls)
    assert all(c.archived_at is not None and not c.hot_present for c in rows)
    keys = [o.key for o in store.list(get_settings().bucket_archive)]
    assert sorted(keys) == sorted(i.object_key for i in images)
    root = get_settings().resolved_store_dir / get_settings().bucket_archive
    for image in images:
        assert image.state == ImageState.verified
        extract_with_xorriso(root / image.object_key, tmp_path / str(image.disc))
    for cid, data in calls.items():
        assert open_recording(cid, actor="t", source="test", store=store).data == data
    assert not any((data_dir / "archive-work").iterdir())  # the killed run's scratch image is gone


def test_verify_reports_a_corrupted_and_a_missing_image(sqlite_db: str) -> None:
    """Flipping one byte or removing an image fails the fixity check, audits it and lists it for admins."""
    store = make_store()
    make_calls(store, month="2024-05", n=6)
    run_month("2024-05", media=SMALL_DISC, actor="test", store=store)
    assert all(r.ok for r in verify_images(month="2024-05", actor="cron"))
    with session() as s:
        images = list(s.exec(select(ArchiveImage).order_by(col(ArchiveImage.disc))))
    root = get_settings().resolved_store_dir / get_settings().bucket_archive
    damaged, gone = root / images[0].object_key, root / images[1].object_key
    # the local store is not tamper-proof: anyone with folder permissions can do this
    damaged.chmod(0o644)
    raw = bytearray(damaged.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    damaged.write_bytes(bytes(raw))
    gone.chmod(0o644)
    gone.unlink()
    results = verify_images(all_months=True, actor="cron")
    assert [r.ok for r in results] == [False, False] + [True] * (len(images) - 2)
    assert "corrupted" in (results[0].error or "") and "missing" in (results[1].error or "")
    with session() as s:
        failed = failed_images(s)
        audits = list(
            s.exec(select(AuditEvent).where(AuditEvent.action == AuditAction.archive_verify_failed))
        )
    assert sorted(f.object_key for f in failed) == sorted([images[0].object_key, images[1].object_key])
    assert len(audits) == 2
