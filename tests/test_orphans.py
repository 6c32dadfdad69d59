"""Unregistered objects left by an ingest killed between storing and registering are found and removed;
registered objects and fresh uploads are never touched."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from recorder.ingest import ingest_file
from recorder.metadata import CallMeta
from recorder.orphans import sweep_orphans
from storage.objectstore import sha256_of
from storage.settings import get_settings
from storage.stores import make_store
from tests.api_server import write_wav


def _age(key: str, hours: float) -> None:
    path = get_settings().resolved_store_dir / get_settings().bucket_recordings / key
    t = time.time() - hours * 3600
    os.utime(path, (t, t))


def test_sweep_removes_only_old_unregistered_objects(
    sqlite_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`callqc recorder sweep` removes objects no call names and older than a day; a registered object
    (however old) and a young unregistered one (an upload that may still register) stay."""
    store = make_store()
    bucket = get_settings().bucket_recordings
    result = ingest_file(write_wav(tmp_path / "kept-1.wav"), CallMeta(call_id="kept-1"))
    _age(result.audio_key, 72)  # registered: kept however old
    junk = tmp_path / "junk"
    junk.write_bytes(b"an upload whose process was killed")
    for key, hours in (
        ("recordings/2024/01/02/gone-1~0badc0de.wav", 72),  # killed mid-ingest
        ("recordings/2024/01/02/gone-2.wav", 30),  # left by the ingest of older versions
        ("recordings/2024/01/02/busy-1~12345678.wav", 1),  # an upload that may still register
    ):
        store.put_file(bucket, key, junk)
        _age(key, hours)
    assert sweep_orphans(store, older_than_s=24 * 3600, dry_run=True) == [
        "recordings/2024/01/02/gone-1~0badc0de.wav", "recordings/2024/01/02/gone-2.wav"
    ]
    assert len(list(store.list(bucket))) == 4
    from callqc.cli import main

    monkeypatch.setattr("sys.argv", ["callqc", "recorder", "sweep"])
    with pytest.raises(SystemExit) as done:
        main()
    assert done.value.code in (0, None)
    out, err = capsys.readouterr()
    assert out.split() == ["recordings/2024/01/02/gone-1~0badc0de.wav", "recordings/2024/01/02/gone-2.wav"]
    assert err.strip() == "2 unregistered object(s) removed"
    assert sorted(o.key for o in store.list(bucket)) == sorted(
        [result.audio_key, "recordings/2024/01/02/busy-1~12345678.wav"]
    )
    assert sha256_of(store, bucket, result.audio_key) == result.sha256
