"""deploy/dev/ceph_rgw.py on the command line: a second server beside the session's, used, then stopped."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr

from storage.s3_store import S3Store
from storage.settings import get_settings
from tests.s3server import CEPH_RGW_PATH, load_ceph_rgw


@pytest.mark.integration
def test_script_starts_a_usable_s3_server_and_stops_it(s3_server: object, tmp_path: Path) -> None:
    """`start DIR` writes an env file for a working endpoint; `stop DIR` kills every daemon, wipes DIR."""
    ceph_rgw = load_ceph_rgw()
    folder = tmp_path / "ceph2"
    started = subprocess.run([sys.executable, str(CEPH_RGW_PATH), "start", str(folder)],
                             capture_output=True, text=True, timeout=120)
    try:
        assert started.returncode == 0, started.stderr
        assert started.stdout.strip() == str(folder / "env")
        server = ceph_rgw.read_env(folder)
        assert server.endpoint != s3_server.endpoint  # type: ignore[attr-defined]
        settings = get_settings().model_copy(update={
            "s3_endpoint": server.endpoint, "s3_secure": False,
            "s3_access_key": SecretStr(server.access_key), "s3_secret_key": SecretStr(server.secret_key),
        })
        store = S3Store.from_settings(settings)
        store.ensure_bucket("script-check")
        store.put_stream("script-check", "k", io.BytesIO(b"hello"))
        assert store.get_range("script-check", "k") == b"hello"
        pids = ceph_rgw.live_daemons(folder)
        assert len(pids) == 3
    finally:
        stopped = subprocess.run([sys.executable, str(CEPH_RGW_PATH), "stop", str(folder)],
                                 capture_output=True, text=True, timeout=60)
    assert stopped.returncode == 0, stopped.stderr
    assert not folder.exists()
    assert not any(ceph_rgw._alive(p) for p in pids)
