"""The backup runbook (docs/operations.md) works: pg_dump the database, copy the objects, restore both
into an empty database and an empty folder (local store) or empty buckets (a real S3 server, Ceph RGW);
`callqc check` is clean and calls (hot and archived) come back by ID with the same SHA-256."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from storage import db as dbmod
from storage.archive.run import run_month
from storage.consistency import check
from storage.local_store import LocalStore
from storage.objectstore import ObjectStore
from storage.retrieval import RecordingSource, open_recording
from storage.settings import get_settings, reset_settings
from storage.stores import make_store
from tests.archive_helpers import make_calls
from tests.conftest import fresh_pg_database
from tests.s3server import unique_bucket
from tests.services import require_tool

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _libpq(url: str) -> str:
    """The SQLAlchemy URL as the PostgreSQL tools take it."""
    return url.replace("postgresql+psycopg://", "postgresql://")


@pytest.fixture
def empty_database() -> Iterator[str]:
    """A new, empty PostgreSQL database to restore into."""
    with fresh_pg_database("callqc_restore") as url:
        try:
            yield url
        finally:
            dbmod.reset_engines()


BUCKETS = ("recordings", "archive", "models")


def _bucket(role: str) -> str:
    return str(getattr(get_settings(), f"bucket_{role}"))


def _mirror(src: ObjectStore, dst: ObjectStore, buckets: dict[str, str]) -> int:
    """Copy every object of each source bucket into its destination bucket, SHA-256 checked on arrival
    (what `mc mirror --preserve` or `rclone sync` do in the runbook); objects copied."""
    n = 0
    for src_bucket, dst_bucket in buckets.items():
        for info in src.list(src_bucket):
            sha = info.sha256 or src.stat(src_bucket, info.key).sha256
            data = src.get_range(src_bucket, info.key)
            dst.put_stream(dst_bucket, info.key, io.BytesIO(data), length=len(data), sha256=sha)
            n += 1
    return n


@pytest.mark.tools("pg_dump", "pg_restore")
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize("store_kind", ["local", "s3"])
def test_restore_into_empty_database_and_store_checks_clean_and_retrieves_by_id(
    db_url: str, empty_database: str, store_kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    """Back up (pg_dump -Fc, then the objects), restore into empty places, and everything is there."""
    if store_kind == "s3":
        request.getfixturevalue("s3_settings")
    monkeypatch.setenv("CALLQC_ARCHIVE_DELETE_HOT", "true")  # May lives only in its archive image
    reset_settings()
    store = make_store()
    calls = make_calls(store, month="2024-05", n=3, size=4000)
    run_month("2024-05", media="dvd", actor="test", store=store)
    calls |= make_calls(store, month="2024-06", n=2, size=4000)  # hot only
    assert check(orphan_min_age_s=0).ok

    # backup: the database first, then the objects (see docs/operations.md for why this order)
    dump = tmp_path / "backup" / "callqc.dump"
    dump.parent.mkdir()
    subprocess.run([require_tool("pg_dump"), "-Fc", "-f", str(dump), _libpq(db_url)], check=True, timeout=120)
    backup = tmp_path / "backup" / "objects"
    if store_kind == "local":
        shutil.copytree(get_settings().resolved_store_dir, backup, symlinks=True)
    else:
        # June's two hot calls and May's one image (May's hot copies were deleted once archived)
        assert _mirror(store, LocalStore(backup), {_bucket(r): r for r in BUCKETS}) == 3

    # restore into an empty database and an empty store, on "another machine"
    subprocess.run([require_tool("pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error",
                    "-d", _libpq(empty_database), str(dump)], check=True, timeout=120)
    monkeypatch.setenv("CALLQC_DATABASE_URL", empty_database)
    if store_kind == "local":
        restored = tmp_path / "restored-objects"
        shutil.copytree(backup, restored, symlinks=True)
        monkeypatch.setenv("CALLQC_STORE_DIR", str(restored))
    else:
        for role in BUCKETS:  # new, empty buckets; the archive one gets Object Lock when the store opens
            monkeypatch.setenv(f"CALLQC_BUCKET_{role.upper()}", unique_bucket(role))
    reset_settings()
    dbmod.reset_engines()
    if store_kind == "s3":
        fresh = make_store()
        assert all(not list(fresh.list(_bucket(r))) for r in BUCKETS)
        _mirror(LocalStore(backup), fresh, {r: _bucket(r) for r in BUCKETS})

    migrate = subprocess.run([sys.executable, "-m", "callqc", "db", "migrate"], capture_output=True, text=True,
                             timeout=120, env={**os.environ})
    assert migrate.returncode == 0, migrate.stderr  # already at head: the dump carries alembic_version
    report = check(orphan_min_age_s=0, deep=True)
    assert report.ok, report.findings
    assert (report.calls, report.images) == (5, 1)
    for cid, data in calls.items():
        rec = open_recording(cid, actor="restore-drill", source="test")
        assert rec.sha256 == hashlib.sha256(data).hexdigest() == hashlib.sha256(rec.data).hexdigest()
        assert rec.source == (RecordingSource.archive if "2024-05" in cid else RecordingSource.hot)
