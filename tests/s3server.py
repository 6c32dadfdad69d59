"""Fixtures for a real S3 server: a throwaway Ceph RADOS Gateway per test process (deploy/dev/ceph_rgw.py).

``s3_server`` starts one cluster per pytest process (each xdist worker has its own, on its own ports);
``s3_settings`` points callqc's settings at it with fresh bucket names, so code under test reaches it
through ``storage.stores.make_store()`` / ``get_store()`` exactly as in production.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from storage.settings import reset_settings
from tests.services import require_tool

CEPH_RGW_PATH = Path(__file__).resolve().parents[1] / "deploy" / "dev" / "ceph_rgw.py"


def load_ceph_rgw() -> ModuleType:
    """deploy/ is not a package of the app: load the dev script as a module by its path."""
    if "callqc_ceph_rgw" in sys.modules:
        return sys.modules["callqc_ceph_rgw"]
    spec = importlib.util.spec_from_file_location("callqc_ceph_rgw", CEPH_RGW_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["callqc_ceph_rgw"] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """This process's Ceph RGW: ``.endpoint`` (host:port), ``.access_key``, ``.secret_key``."""
    ceph_rgw = load_ceph_rgw()
    require_tool(*ceph_rgw.BINARIES)  # the Ceph RGW's commands
    folder = tmp_path_factory.mktemp("ceph")
    server = ceph_rgw.start(folder, owner_pid=os.getpid())
    try:
        yield server
    finally:
        ceph_rgw.stop(folder)


def unique_bucket(role: str) -> str:
    """A bucket name no other test (or worker) uses: S3 names are 3-63 lowercase letters, digits, '-'."""
    return f"t-{role}-{uuid.uuid4().hex[:16]}"


@pytest.fixture
def s3_settings(s3_server: object, monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> Iterator[object]:
    """callqc configured for the real S3 server, with buckets of its own; yields the server."""
    monkeypatch.setenv("CALLQC_STORE", "s3")
    monkeypatch.setenv("CALLQC_S3_ENDPOINT", s3_server.endpoint)  # type: ignore[attr-defined]
    monkeypatch.setenv("CALLQC_S3_ACCESS_KEY", s3_server.access_key)  # type: ignore[attr-defined]
    monkeypatch.setenv("CALLQC_S3_SECRET_KEY", s3_server.secret_key)  # type: ignore[attr-defined]
    monkeypatch.setenv("CALLQC_S3_SECURE", "false")
    for role in ("recordings", "archive", "models"):
        monkeypatch.setenv(f"CALLQC_BUCKET_{role.upper()}", unique_bucket(role))
    reset_settings()
    yield s3_server
    reset_settings()
