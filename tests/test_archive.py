"""The monthly burn-to-archive on the local store: discs, manifests, verify-before-forget, retrieval."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import col, select

from storage.archive.plan import Month, PlanItem, TooBigForMedia, pack, parse_media
from storage.archive.run import run_month
from storage.archive.tables import ArchiveEntry, ArchiveImage, ArchiveRun, ImageState
from storage.calls import Call
from storage.db import session
from storage.models import AuditAction, AuditEvent
from storage.objectstore import ObjectNotFound
from storage.retrieval import RecordingSource, open_recording, save_recording
from storage.settings import get_settings, reset_settings
from storage.stores import make_store
from tests.archive_helpers import extract_with_xorriso, make_calls

SMALL_DISC = 340_000  # room for two of the 20 KB test calls next to a disc's fixed structures


def _image_path(key: str) -> Path:
    return get_settings().resolved_store_dir / get_settings().bucket_archive / key


def test_pack_never_splits_a_call_and_keeps_order() -> None:
    """Next-fit packing opens a new disc instead of splitting, and refuses a call bigger than a disc."""
    items = [PlanItem(f"c{i}", 30) for i in range(7)]
    discs = pack(items, media_bytes=100, fixed=10)
    assert [len(d) for d in discs] == [3, 3, 1]
    assert [i for d in discs for i in d] == items
    with pytest.raises(TooBigForMedia):
        pack([PlanItem("huge", 91)], media_bytes=100, fixed=10)


def test_media_and_month_parsing() -> None:
    """dvd/bd are the real disc sizes; sizes and months are checked."""
    assert parse_media("dvd") == 4_700_372_992
    assert parse_media("bd") == 25_025_314_816
    assert parse_media("1M") == 1024**2
    assert str(Month.parse("2024-05")) == "2024-05"
    with pytest.raises(Exception, match="YYYY-MM"):
        Month.parse("2024-13")


@pytest.mark.integration  # xorriso reads the images
@pytest.mark.tools("xorriso")
def test_month_bigger_than_a_disc_splits_into_readable_images(db_url: str, tmp_path: Path) -> None:
    """A month over one disc becomes several images, each under the media size, readable with xorriso."""
    store = make_store()
    calls = make_calls(store, month="2024-05", n=6)
    make_calls(store, month="2024-06", n=1)  # another month stays out
    summary = run_month("2024-05", media=SMALL_DISC, actor="test", store=store)
    assert summary.calls == 6 and summary.images >= 2
    with session() as s:
        images = list(s.exec(select(ArchiveImage).order_by(col(ArchiveImage.disc))))
        entries = list(s.exec(select(ArchiveEntry)))
    assert sorted(e.call_id for e in entries) == sorted(calls)
    assert all(i.state == ImageState.verified and i.disc_count == len(images) for i in images)
    seen: list[str] = []
    for image in images:
        path = _image_path(image.object_key)
        assert path.stat().st_size <= SMALL_DISC
        manifest = extract_with_xorriso(path, tmp_path / f"disc{image.disc}")
        assert manifest["label"].endswith(f"disc {image.disc} of {len(images)}")
        audio = [f for f in manifest["files"] if f["path"].endswith(".wav")]
        seen += [f["call_id"] for f in audio]
        for f in audio:
            assert (tmp_path / f"disc{image.disc}" / f["path"]).read_bytes() == calls[f["call_id"]]
        index = (tmp_path / f"disc{image.disc}" / "index.json").read_text()
        assert all(cid in index for cid in calls)
    assert sorted(seen) == sorted(calls)  # every call exactly once over all discs


def test_calls_are_marked_archived_and_hot_copies_deleted_after_verify(db_url: str, monkeypatch) -> None:
    """With delete-hot on, verified calls lose their hot copy and are still retrieved byte for byte."""
    monkeypatch.setenv("CALLQC_ARCHIVE_DELETE_HOT", "true")
    reset_settings()
    store = make_store()
    calls = make_calls(store, month="2024-03", n=3)
    summary = run_month("2024-03", media="dvd", actor="test", store=store)
    assert summary.hot_deleted == 3
    with session() as s:
        rows = list(s.exec(select(Call)))
    assert all(c.archived_at is not None and not c.hot_present for c in rows)
    for c in rows:
        with pytest.raises(ObjectNotFound):
            store.stat(get_settings().bucket_recordings, c.audio_key)
    cid = next(iter(calls))
    rec = open_recording(cid, actor="auditor", source="test", store=store)
    assert rec.data == calls[cid] and rec.source == RecordingSource.archive
    with session() as s:
        event = s.exec(select(AuditEvent).where(AuditEvent.action == AuditAction.retrieve)).one()
    assert event.call_id == cid and event.actor == "auditor" and event.detail["from"] == "archive"


def test_rerun_adds_only_late_calls_as_a_second_run(sqlite_db: str) -> None:
    """Running a finished month again does nothing; calls that arrived later go into run 2."""
    store = make_store()
    make_calls(store, month="2024-04", n=2)
    run_month("2024-04", media="dvd", actor="test", store=store)
    assert run_month("2024-04", media="dvd", actor="test", store=store).calls == 0
    make_calls(store, month="2024-04", n=1, prefix="late")
    assert run_month("2024-04", media="dvd", actor="test", store=store).calls == 1
    with session() as s:
        runs = list(s.exec(select(ArchiveRun).order_by(col(ArchiveRun.seq))))
        entries = list(s.exec(select(ArchiveEntry)))
    assert [r.seq for r in runs] == [1, 2] and len(entries) == 3


def test_retrieve_hot_call_to_file_checks_hash_and_audits(sqlite_db: str, tmp_path: Path) -> None:
    """A call not yet archived is served from its hot copy; a tampered hot copy is refused."""
    store = make_store()
    calls = make_calls(store, month="2024-02", n=1)
    cid, data = next(iter(calls.items()))
    out = tmp_path / "out.wav"
    rec = save_recording(cid, out, actor="cli:me", source="cli", store=store)
    assert out.read_bytes() == data and rec.source == RecordingSource.hot
    with session() as s:
        key = s.get(Call, cid).audio_key
    hot = get_settings().resolved_store_dir / get_settings().bucket_recordings / key
    hot.write_bytes(b"x" + data[1:])
    with pytest.raises(Exception, match="SHA-256 mismatch"):
        open_recording(cid, actor="cli:me", source="cli", store=store)
    with session() as s:
        assert len(list(s.exec(select(AuditEvent).where(AuditEvent.call_id == cid)))) == 1
