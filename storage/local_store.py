"""The local-folder object store: the embedded default.

Layout: ``<root>/<bucket>/<key>`` for the bytes and ``<root>/.meta/<bucket>/<key>.json`` for what S3
keeps as object metadata (SHA-256, retention, legal hold). Writes are atomic: a temp file in the
same folder, fsync, rename, fsync of the folder; a reader never sees half an object.

Retention here is recorded and enforced by this class only, and files are made read-only: that is
not tamper-proof (anyone with the folder's permissions can change them). Use S3 Object Lock for WORM.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from storage.objectstore import (
    CHUNK,
    ChecksumMismatch,
    ObjectInfo,
    ObjectNotFound,
    Retention,
    RetentionLocked,
    RetentionMode,
)

_BAD_PARTS = {"", ".", ".."}


class LocalStore:
    """Objects as files under one root folder."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    # --- paths ----------------------------------------------------------------------------------
    def _path(self, bucket: str, key: str, *, meta: bool = False) -> Path:
        parts = [bucket, *key.split("/")]
        if parts[0].startswith(".") or any(p in _BAD_PARTS for p in parts):
            raise ValueError(f"unsafe object key {bucket}/{key}")
        base = self.root / ".meta" if meta else self.root
        path = base.joinpath(*parts)
        if meta:
            path = path.with_name(path.name + ".json")
        return path

    def _read_meta(self, bucket: str, key: str) -> dict:
        try:
            return json.loads(self._path(bucket, key, meta=True).read_text())
        except FileNotFoundError:
            return {}

    def _write_meta(self, bucket: str, key: str, meta: dict) -> None:
        path = self._path(bucket, key, meta=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write(path, json.dumps(meta, sort_keys=True).encode())

    # --- protocol -------------------------------------------------------------------------------
    def ensure_bucket(self, bucket: str, *, object_lock: bool = False) -> None:
        self._path(bucket, "x").parent.mkdir(parents=True, exist_ok=True)

    def put_stream(
        self, bucket: str, key: str, stream: BinaryIO, *, length: int = -1, sha256: str | None = None,
        content_type: str = "application/octet-stream",
    ) -> ObjectInfo:
        path = self._path(bucket, key)
        if path.exists() and self._locked(bucket, key):
            raise RetentionLocked(f"{bucket}/{key}")
        path.parent.mkdir(parents=True, exist_ok=True)
        h = hashlib.sha256()
        size = 0
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in iter(lambda: stream.read(CHUNK), b""):
                    h.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            digest = h.hexdigest()
            if sha256 is not None and sha256 != digest:
                raise ChecksumMismatch(f"{bucket}/{key}: expected {sha256}, got {digest}")
            if length >= 0 and size != length:
                raise ChecksumMismatch(f"{bucket}/{key}: expected {length} bytes, got {size}")
            self._write_meta(bucket, key, {"sha256": digest, "size": size})
            os.replace(tmp, path)
            _fsync_dir(path.parent)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        return ObjectInfo(bucket, key, size, digest, None, _mtime(path))

    def put_file(self, bucket: str, key: str, path: Path, *, sha256: str | None = None) -> ObjectInfo:
        with Path(path).open("rb") as fh:
            return self.put_stream(bucket, key, fh, length=Path(path).stat().st_size, sha256=sha256)

    def stat(self, bucket: str, key: str) -> ObjectInfo:
        path = self._path(bucket, key)
        try:
            st = path.stat()
        except FileNotFoundError:
            raise ObjectNotFound(f"{bucket}/{key}") from None
        meta = self._read_meta(bucket, key)
        return ObjectInfo(bucket, key, st.st_size, meta.get("sha256"), None, _mtime(path))

    def get_range(self, bucket: str, key: str, *, offset: int = 0, length: int | None = None) -> bytes:
        return b"".join(self.iter_chunks(bucket, key, offset=offset, length=length))

    def iter_chunks(
        self, bucket: str, key: str, *, offset: int = 0, length: int | None = None
    ) -> Iterator[bytes]:
        path = self._path(bucket, key)
        try:
            fh = path.open("rb")
        except FileNotFoundError:
            raise ObjectNotFound(f"{bucket}/{key}") from None
        with fh:
            fh.seek(offset)
            left = length
            while left is None or left > 0:
                chunk = fh.read(CHUNK if left is None else min(CHUNK, left))
                if not chunk:
                    break
                if left is not None:
                    left -= len(chunk)
                yield chunk

    def delete(self, bucket: str, key: str, *, version_id: str | None = None) -> None:
        path = self._path(bucket, key)
        if not path.exists():
            return
        if self._locked(bucket, key):
            raise RetentionLocked(f"{bucket}/{key}")
        path.unlink()
        with contextlib.suppress(FileNotFoundError):
            self._path(bucket, key, meta=True).unlink()

    def list(self, bucket: str, prefix: str = "") -> Iterator[ObjectInfo]:
        base = self.root / bucket
        if not base.is_dir():
            return
        keys = sorted(
            p.relative_to(base).as_posix()
            for p in base.rglob("*")
            if p.is_file() and not p.name.startswith(".")
        )
        for key in keys:
            if key.startswith(prefix):
                yield self.stat(bucket, key)

    def presigned_get(self, bucket: str, key: str, *, ttl_s: int | None = None) -> str:
        self.stat(bucket, key)
        return self._path(bucket, key).as_uri()

    # --- retention (recorded, not tamper-proof) -------------------------------------------------
    def set_retention(
        self, bucket: str, key: str, *, mode: RetentionMode, until: datetime, version_id: str | None = None
    ) -> None:
        self.stat(bucket, key)
        meta = self._read_meta(bucket, key)
        old = meta.get("retention")
        if old and old["mode"] == RetentionMode.COMPLIANCE and datetime.fromisoformat(old["until"]) > until:
            raise RetentionLocked(f"{bucket}/{key}: COMPLIANCE retention cannot be shortened")
        meta["retention"] = {"mode": str(mode), "until": until.astimezone(UTC).isoformat()}
        self._write_meta(bucket, key, meta)
        self._path(bucket, key).chmod(0o444)

    def get_retention(self, bucket: str, key: str, *, version_id: str | None = None) -> Retention | None:
        ret = self._read_meta(bucket, key).get("retention")
        if not ret:
            return None
        return Retention(RetentionMode(ret["mode"]), datetime.fromisoformat(ret["until"]))

    def set_legal_hold(self, bucket: str, key: str, on: bool, *, version_id: str | None = None) -> None:
        self.stat(bucket, key)
        meta = self._read_meta(bucket, key)
        meta["legal_hold"] = bool(on)
        self._write_meta(bucket, key, meta)

    def get_legal_hold(self, bucket: str, key: str, *, version_id: str | None = None) -> bool:
        return bool(self._read_meta(bucket, key).get("legal_hold"))

    def _locked(self, bucket: str, key: str) -> bool:
        meta = self._read_meta(bucket, key)
        if meta.get("legal_hold"):
            return True
        ret = meta.get("retention")
        if not ret:
            return False
        return datetime.fromisoformat(ret["until"]) > datetime.now(UTC)


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _mtime(path: Path) -> datetime:
    return datetime.fromtimestamp(path.stat().st_mtime, UTC)
