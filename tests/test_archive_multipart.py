"""An archive image larger than one part goes to the real S3 server (Ceph RGW) as a multipart upload."""

from __future__ import annotations

import hashlib

import pytest
from sqlmodel import select

from storage.archive.run import run_month
from storage.archive.tables import ArchiveImage
from storage.db import session
from storage.retrieval import RecordingSource, open_recording
from storage.settings import get_settings, reset_settings
from storage.stores import make_store
from tests.archive_helpers import make_calls

pytestmark = [pytest.mark.integration, pytest.mark.slow]
MIN_PART = 5 * 1024 * 1024  # the smallest part S3 allows (and the setting's minimum)


def test_image_bigger_than_a_part_is_uploaded_in_parts_and_reads_back_exactly(
    s3_settings: object, sqlite_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ~7.5 MB image with 5 MiB parts is stored as a multipart object whose bytes match the run's SHA-256."""
    monkeypatch.setenv("CALLQC_MULTIPART_PART_BYTES", str(MIN_PART))
    monkeypatch.setenv("CALLQC_ARCHIVE_DELETE_HOT", "true")  # so retrieval must come from the image
    reset_settings()
    store = make_store()
    calls = make_calls(store, month="2024-09", n=3, size=2_500_000)
    run_month("2024-09", media="dvd", actor="test", store=store)
    with session() as s:
        image = s.exec(select(ArchiveImage)).one()
    bucket = get_settings().bucket_archive
    assert (image.size_bytes or 0) > MIN_PART
    etag = store.client.stat_object(bucket, image.object_key, version_id=image.version_id).etag  # type: ignore[attr-defined]
    parts = int(etag.strip('"').rsplit("-", 1)[1]) if "-" in etag else 1
    assert parts == -(-(image.size_bytes or 0) // MIN_PART) and parts >= 2, etag
    stored = hashlib.sha256()
    for chunk in store.iter_chunks(bucket, image.object_key):
        stored.update(chunk)
    assert stored.hexdigest() == image.sha256
    cid = sorted(calls)[2]
    rec = open_recording(cid, actor="auditor", source="test", store=store)
    assert rec.source == RecordingSource.archive and rec.data == calls[cid]
