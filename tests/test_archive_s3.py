"""The archive against a real S3 server (Ceph RGW): Object Lock, retention, ranged retrieval, hold."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from storage.archive.hold import hold, release
from storage.archive.run import run_month
from storage.archive.tables import ArchiveImage
from storage.db import session
from storage.models import utcnow
from storage.objectstore import RetentionLocked, RetentionMode
from storage.retrieval import RecordingSource, open_recording
from storage.settings import get_settings, reset_settings
from storage.stores import make_store
from tests.archive_helpers import make_calls

pytestmark = pytest.mark.integration


class RangeSpy:
    """The real store, noting every read it is asked for."""

    def __init__(self, store: object) -> None:
        self.store = store
        self.reads: list[tuple[str, str, int, int | None]] = []

    def __getattr__(self, name: str) -> object:
        return getattr(self.store, name)

    def iter_chunks(self, bucket: str, key: str, *, offset: int = 0, length: int | None = None):  # type: ignore[no-untyped-def]
        self.reads.append((bucket, key, offset, length))
        return self.store.iter_chunks(bucket, key, offset=offset, length=length)  # type: ignore[attr-defined]


def test_images_are_locked_in_compliance_mode_and_cannot_be_deleted(
    s3_settings: object, sqlite_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bucket has Object Lock; an image gets its tenant's COMPLIANCE retention; deleting is refused."""
    monkeypatch.setenv("CALLQC_ARCHIVE_RETENTION_BY_TENANT", '{"gz-bank": 5475}')
    reset_settings()
    store = make_store()
    bucket = get_settings().bucket_archive
    assert store.client.get_object_lock_config(bucket) is not None  # type: ignore[attr-defined]
    make_calls(store, month="2024-05", n=2, size=3000, tenant="gz-bank")
    run_month("2024-05", media="dvd", actor="test", store=store)
    with session() as s:
        image = s.exec(select(ArchiveImage)).one()
    retention = store.get_retention(bucket, image.object_key, version_id=image.version_id)
    assert retention is not None and retention.mode == RetentionMode.COMPLIANCE
    assert retention.until > utcnow() + timedelta(days=5474)
    with pytest.raises(RetentionLocked):
        store.delete(bucket, image.object_key, version_id=image.version_id)
    assert store.stat(bucket, image.object_key).size == image.size_bytes


def test_archived_call_is_one_ranged_read_of_exactly_its_bytes(
    s3_settings: object, sqlite_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the hot copy gone, retrieval reads only the call's byte range from the image and checks it."""
    monkeypatch.setenv("CALLQC_ARCHIVE_DELETE_HOT", "true")
    reset_settings()
    store = make_store()
    calls = make_calls(store, month="2024-06", n=3, size=5000)
    run_month("2024-06", media="dvd", actor="test", store=store)
    cid = sorted(calls)[1]
    spy = RangeSpy(store)
    rec = open_recording(cid, actor="auditor", source="test", store=spy)  # type: ignore[arg-type]
    assert rec.data == calls[cid] and rec.source == RecordingSource.archive
    with session() as s:
        image = s.exec(select(ArchiveImage)).one()
    assert len(spy.reads) == 1
    bucket, key, offset, length = spy.reads[0]
    assert (bucket, key, length) == (get_settings().bucket_archive, image.object_key, len(calls[cid]))
    assert offset % 2048 == 0 and 0 < offset < (image.size_bytes or 0)


def test_legal_hold_stays_while_any_call_on_the_image_is_held(s3_settings: object, sqlite_db: str) -> None:
    """Holding two calls of one image and releasing one keeps the S3 legal hold; releasing both lifts it."""
    store = make_store()
    calls = sorted(make_calls(store, month="2024-07", n=2, size=3000))
    run_month("2024-07", media="dvd", actor="test", store=store)
    with session() as s:
        image = s.exec(select(ArchiveImage)).one()
    bucket = get_settings().bucket_archive
    hold(calls[0], actor="legal", reason="case 17", store=store)
    hold(calls[1], actor="legal", store=store)
    assert store.get_legal_hold(bucket, image.object_key, version_id=image.version_id)
    assert release(calls[0], actor="legal", store=store).image_held
    assert store.get_legal_hold(bucket, image.object_key, version_id=image.version_id)
    assert not release(calls[1], actor="legal", store=store).image_held
    assert not store.get_legal_hold(bucket, image.object_key, version_id=image.version_id)
