"""Disc images: streamed sources, exact fit on the media, legal hold on the local store."""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import col, select

from storage.archive.discs import estimate
from storage.archive.hold import NoHold, NotArchived, hold, release
from storage.archive.images import DiscFile, build_image
from storage.archive.run import run_month
from storage.archive.tables import ArchiveHold, ArchiveImage
from storage.calls import Call
from storage.db import session
from storage.models import AuditAction, AuditEvent
from storage.settings import get_settings
from storage.stores import make_store
from tests.archive_helpers import extract_with_xorriso, make_calls


@pytest.mark.integration  # xorriso reads the image
@pytest.mark.tools("xorriso")
def test_sources_in_odd_chunks_are_copied_whole_and_closed_one_by_one(tmp_path: Path) -> None:
    """Chunks not aligned to pycdlib's reads land byte for byte, and each source closes before the next opens."""
    events: list[str] = []
    bodies = {f"calls/2024-05-01/c{i}.wav": random.Random(i).randbytes(70_001 + i) for i in range(3)}

    def source(name: str, data: bytes):  # type: ignore[no-untyped-def]
        def chunks() -> Iterator[bytes]:
            events.append(f"open {name}")
            try:
                for cut in range(0, len(data), 4099):  # odd sizes: short reads if not refilled
                    yield data[cut : cut + 4099]
            finally:
                events.append(f"close {name}")

        return chunks

    files = [DiscFile(p, len(b), source(p, b), hashlib.sha256(b).hexdigest()) for p, b in bodies.items()]

    def manifest(offsets: dict[str, int]) -> bytes:
        rows = [{"path": f.path, "offset": offsets[f.path], "length": f.length, "sha256": f.sha256} for f in files]
        return json.dumps({"files": rows}).encode()

    built = build_image(files, tmp_path / "a.iso", volume_id="T", disc=1, discs=1, manifest=manifest)
    assert events == [f"{kind} {p}" for p in bodies for kind in ("open", "close")]
    extract_with_xorriso(built.path, tmp_path / "out")
    for path, body in bodies.items():
        assert (tmp_path / "out" / path).read_bytes() == body


def test_a_disc_packed_to_the_last_byte_of_the_estimate_fits_the_media(sqlite_db: str) -> None:
    """With media equal to the planner's estimate one disc holds every call and stays within the media."""
    store = make_store()
    # longest call IDs and tiny audio: directory records, Rock Ridge, Joliet and the manifest dominate
    calls = make_calls(store, month="2024-05", n=40, size=10, prefix="x" * 116)
    assert all(len(c) == 128 for c in calls)
    with session() as s:
        rows = list(s.exec(select(Call).order_by(col(Call.started_at), col(Call.call_id))))
        items, fixed = estimate(s, rows, month="2024-05", seq=1)
    media = fixed + sum(i.footprint for i in items)
    summary = run_month("2024-05", media=media, actor="test", store=store)
    assert summary.images == 1 and summary.calls == 40
    with session() as s:
        image = s.exec(select(ArchiveImage)).one()
    path = get_settings().resolved_store_dir / get_settings().bucket_archive / image.object_key
    assert path.stat().st_size == image.size_bytes <= media


def test_one_byte_less_than_the_estimate_needs_a_second_disc(sqlite_db: str) -> None:
    """The packer never overfills: a disc one byte short of the estimate makes the month two discs."""
    store = make_store()
    make_calls(store, month="2024-05", n=5, size=3000)
    with session() as s:
        rows = list(s.exec(select(Call).order_by(col(Call.started_at), col(Call.call_id))))
        items, fixed = estimate(s, rows, month="2024-05", seq=1)
    summary = run_month("2024-05", media=fixed + sum(i.footprint for i in items) - 1, actor="t", store=store)
    assert summary.images == 2 and summary.calls == 5


def test_hold_and_release_on_the_local_store_are_recorded_and_audited(sqlite_db: str) -> None:
    """A hold locks the image against deletion and is audited; release lifts it; bad calls are refused."""
    store = make_store()
    cid = sorted(make_calls(store, month="2024-05", n=1, size=3000))[0]
    with pytest.raises(NotArchived):
        hold(cid, actor="legal", store=store)
    run_month("2024-05", media="dvd", actor="test", store=store)
    with pytest.raises(NoHold):
        release(cid, actor="legal", store=store)
    state = hold(cid, actor="legal", reason="case 17", store=store)
    bucket = get_settings().bucket_archive
    assert state.image_held and store.get_legal_hold(bucket, state.object_key)
    assert not release(cid, actor="legal", store=store).image_held
    assert not store.get_legal_hold(bucket, state.object_key)
    with pytest.raises(Exception, match="invalid call ID"):
        hold("../etc", actor="legal", store=store)
    with session() as s:
        actions = [e.action for e in s.exec(select(AuditEvent).where(AuditEvent.call_id == cid))]
        assert s.exec(select(ArchiveHold)).first() is None
        assert s.exec(select(ArchiveImage)).one().legal_hold is False
    assert actions.count(AuditAction.legal_hold) == 1 and actions.count(AuditAction.legal_release) == 1
