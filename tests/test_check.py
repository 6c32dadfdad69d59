"""`callqc check`: clean on a good store; a missing object, an orphan, a wrong hash and an archived call
without its image are each reported, on the local store and on a real S3 server (Ceph RGW)."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest
from sqlmodel import select

from storage.archive.run import run_month
from storage.archive.tables import ArchiveImage
from storage.calls import Call
from storage.consistency import Problem, check
from storage.db import session
from storage.settings import get_settings
from storage.stores import make_store
from tests.archive_helpers import make_calls


def _damage(store: object) -> dict[str, str]:
    """Delete one call's object, replace another's with other bytes of the same size, add an orphan."""
    bucket = get_settings().bucket_recordings
    with session() as s:
        calls = list(s.exec(select(Call).order_by(Call.call_id)))  # type: ignore[arg-type]
    missing, changed = calls[0], calls[1]
    store.delete(bucket, missing.audio_key)  # type: ignore[attr-defined]
    store.put_stream(bucket, changed.audio_key, io.BytesIO(b"x" * changed.size_bytes))  # type: ignore[attr-defined]
    orphan = "recordings/2024/05/02/nobody.wav"
    store.put_stream(bucket, orphan, io.BytesIO(b"left behind"))  # type: ignore[attr-defined]
    return {"missing": missing.audio_key, "changed": changed.audio_key, "orphan": orphan}


def _assert_found(damage: dict[str, str]) -> None:
    report = check(orphan_min_age_s=0)
    found = {(f.problem, f.key) for f in report.findings}
    assert found == {
        (Problem.missing, damage["missing"]),
        (Problem.hash, damage["changed"]),
        (Problem.orphan, damage["orphan"]),
    }
    assert not report.ok and "3 problems" in report.summary()


@pytest.mark.tools("xorriso")
def test_check_is_clean_then_reports_missing_orphan_and_wrong_hash(db_url: str) -> None:
    """A store written by ingest and archive checks clean; each kind of damage is then named once."""
    store = make_store()
    make_calls(store, month="2024-05", n=4, size=3000)
    run_month("2024-05", media="dvd", actor="test", store=store)
    make_calls(store, month="2024-06", n=2, size=3000)  # hot only, not yet archived
    report = check(orphan_min_age_s=0)
    assert report.ok, report.findings
    assert (report.calls, report.images) == (6, 1)
    assert report.objects == 7  # six recordings and one image
    _assert_found(_damage(store))


def test_young_objects_are_not_orphans_yet(db_url: str) -> None:
    """An object stored a moment ago may belong to an upload whose row has not committed: not an orphan."""
    store = make_store()
    make_calls(store, month="2024-05", n=1, size=3000)
    store.put_stream(get_settings().bucket_recordings, "recordings/2024/05/02/uploading.wav", io.BytesIO(b"x"))
    assert check().ok
    assert [f.problem for f in check(orphan_min_age_s=0).findings] == [Problem.orphan]


def test_deep_check_finds_bytes_changed_behind_the_stores_back(db_url: str) -> None:
    """A file changed in place keeps its recorded SHA-256; only --deep, which reads the bytes, sees it."""
    store = make_store()
    calls = make_calls(store, month="2024-05", n=2, size=3000)
    with session() as s:
        call = s.get(Call, sorted(calls)[0])
        assert call is not None
    path = get_settings().resolved_store_dir / get_settings().bucket_recordings / call.audio_key
    path.write_bytes(b"y" * call.size_bytes)
    assert check(orphan_min_age_s=0).ok
    deep = check(orphan_min_age_s=0, deep=True)
    assert [(f.problem, f.call_id) for f in deep.findings] == [(Problem.hash, call.call_id)]


@pytest.mark.tools("xorriso")
def test_archived_call_without_its_image_is_reported(db_url: str) -> None:
    """A call marked archived whose image object is gone: the image is missing and the call has no copy."""
    store = make_store()
    make_calls(store, month="2024-05", n=2, size=3000)
    run_month("2024-05", media="dvd", actor="test", store=store)
    with session() as s:
        image = s.exec(select(ArchiveImage)).one()
    path = get_settings().resolved_store_dir / get_settings().bucket_archive / image.object_key
    path.chmod(0o644)
    path.unlink()
    report = check(orphan_min_age_s=0)
    assert [(f.problem, f.key) for f in report.findings] == [(Problem.missing, image.object_key)]


@pytest.mark.slow
def test_check_command_exits_non_zero_with_summary_and_list(db_url: str) -> None:
    """`callqc check` prints the summary first, then one line per problem, and exits 1; 0 when clean."""
    store = make_store()
    make_calls(store, month="2024-05", n=3, size=3000)
    env = {**os.environ, "CALLQC_DATABASE_URL": get_settings().resolved_database_url}
    cmd = [sys.executable, "-m", "callqc", "check", "--orphan-min-age", "0"]
    clean = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    assert clean.returncode == 0 and clean.stdout.startswith("check: clean (3 calls, 3 objects"), clean
    damage = _damage(store)
    bad = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    lines = bad.stdout.splitlines()
    assert bad.returncode == 1 and lines[0].startswith("check: 3 problems"), bad
    assert sorted(line.split()[0] for line in lines[1:]) == ["hash", "missing", "orphan"]
    assert any(damage["orphan"] in line for line in lines[1:])


@pytest.mark.integration
@pytest.mark.tools("xorriso")
def test_check_on_s3_finds_the_same_damage(s3_settings: object, db_url: str) -> None:
    """On a real S3 server (listings carry no SHA-256, so each object is asked): clean, then each problem."""
    store = make_store()
    make_calls(store, month="2024-05", n=3, size=3000)
    run_month("2024-05", media="dvd", actor="test", store=store)
    report = check(orphan_min_age_s=0)
    assert report.ok, report.findings
    assert report.images == 1
    _assert_found(_damage(store))
