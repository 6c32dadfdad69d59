"""`callqc archive` and `callqc retrieve` from the shell: summary, fixity exit code, retrieval to a file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from storage.settings import get_settings
from storage.stores import make_store
from tests.archive_helpers import make_calls


def _callqc(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "callqc", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "CALLQC_DATABASE_URL": get_settings().resolved_database_url},
    )


@pytest.mark.integration
@pytest.mark.slow
def test_archive_run_verify_and_retrieve_from_the_shell(sqlite_db: str, tmp_path: Path) -> None:
    """run prints a summary, retrieve writes the exact audio, verify exits non-zero on a damaged image."""
    calls = make_calls(make_store(), month="2024-05", n=2, size=4000)
    r = _callqc("archive", "run", "--month", "2024-05", "--media", "dvd")
    assert r.returncode == 0, r.stderr
    assert "2024-05: 2 calls" in r.stdout and "in 1 images" in r.stdout
    cid = sorted(calls)[0]
    r = _callqc("retrieve", cid, "-o", str(tmp_path / "a.wav"))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "a.wav").read_bytes() == calls[cid]
    assert _callqc("archive", "verify", "--month", "2024-05").returncode == 0
    image = next((get_settings().resolved_store_dir / get_settings().bucket_archive).rglob("*.iso"))
    image.chmod(0o644)
    with image.open("r+b") as fh:
        fh.seek(100_000 % image.stat().st_size)
        fh.write(b"\0corrupt")
    r = _callqc("archive", "verify", "--all")
    assert r.returncode != 0
    assert r.stderr.strip().startswith("error: archive fixity check failed: 1 of 1 images")
    assert "FAILED" in r.stdout
