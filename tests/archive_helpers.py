"""Helpers for the archive tests: tiny calls registered directly, and reading images without callqc."""

from __future__ import annotations

import hashlib
import io
import json
import random
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

from storage.calls import Call
from storage.db import session
from storage.keys import recording_key
from storage.objectstore import ObjectStore
from storage.redactions import replace_redaction
from storage.settings import get_settings
from tests.services import require_tool


def make_calls(
    store: ObjectStore,
    *,
    month: str,
    n: int,
    size: int = 20_000,
    tenant: str = "default",
    prefix: str = "call",
    checked: bool = True,
) -> dict[str, bytes]:
    """Register ``n`` calls of ``month`` with random audio of ``size`` bytes; returns call ID -> bytes."""
    year, mon = (int(x) for x in month.split("-"))
    base = datetime(year, mon, 1, 8, 0, tzinfo=UTC)
    out: dict[str, bytes] = {}
    bucket = get_settings().bucket_recordings
    with session() as s:
        for i in range(n):
            cid = f"{prefix}-{month}-{i:03d}"
            data = random.Random(cid).randbytes(size + i)
            started = base + timedelta(days=i % 27, minutes=i)
            key = recording_key(cid, started, "wav")
            digest = hashlib.sha256(data).hexdigest()
            store.put_stream(bucket, key, io.BytesIO(data), length=len(data), sha256=digest)
            s.add(
                Call(
                    call_id=cid,
                    tenant=tenant,
                    started_at=started,
                    codec="pcm_s16le",
                    sample_rate=8000,
                    channels=2,
                    channel_map={"agent": 0, "customer": 1},
                    audio_key=key,
                    size_bytes=len(data),
                    sha256=digest,
                    agent_id="a1",
                )
            )
            if checked:
                # random bytes hold no personal data: the call is checked, its original is what everyone hears
                s.flush()
                replace_redaction(s, cid, [], originals=None, audio=None)
            out[cid] = data
    return out


def extract_with_xorriso(image: Path, dest: Path) -> dict:
    """Extract ``image`` with Debian's xorriso; returns its manifest.json after checking every file's hash."""
    subprocess.run(
        [require_tool("xorriso"), "-osirrox", "on", "-indev", str(image), "-extract", "/", str(dest)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    manifest = json.loads((dest / "manifest.json").read_text())
    raw = image.read_bytes()
    for f in manifest["files"]:
        body = (dest / f["path"]).read_bytes()
        assert hashlib.sha256(body).hexdigest() == f["sha256"], f["path"]
        assert raw[f["offset"] : f["offset"] + f["length"]] == body, f["path"]
    return manifest
