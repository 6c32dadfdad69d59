"""ISO 9660 disc images (pycdlib; Joliet and Rock Ridge names) written to a file on disk.

File contents are pulled lazily while pycdlib masters the image, so a disc never sits in memory:
each file is a :class:`DiscFile` with an ``open`` callable that yields its bytes in chunks, and its
SHA-256 is checked as it streams past. The manifest is written into the image after layout so it
can record each file's byte offset (extent × 2048): it is first sized with placeholder offsets
wider than any real one, then rewritten in place with the real offsets and padded to that size,
which keeps the layout unchanged.

Names: Rock Ridge carries the real name (``calls/2024-05-13/<call-id>.wav``, what Linux and
xorriso show); Joliet (Windows) the same, shortened to 64 characters when needed; plain ISO 9660
gets generated 8.3-style names (``F0000001.WAV``) because call IDs do not fit its character set.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, cast

import pycdlib

from storage.errors import CallqcError
from storage.objectstore import CHUNK, ChecksumMismatch, sha256_file

log = logging.getLogger(__name__)

BLOCK = 2048
MANIFEST_PATH = "manifest.json"
_PLACEHOLDER_OFFSET = 10**15  # wider than any offset on a 25 GB disc
_JOLIET_MAX = 64
_NOT_DCHAR = re.compile(r"[^A-Z0-9_]")
_EMPTY = memoryview(b"")


class ManifestGrew(CallqcError):
    """disc manifest grew after layout"""


@dataclass(frozen=True)
class DiscFile:
    """One file on the disc: its Rock Ridge path, size, a chunk source and the SHA-256 it must have."""

    path: str
    length: int
    open: Callable[[], Iterable[bytes]]
    sha256: str | None = None


@dataclass(frozen=True)
class BuiltImage:
    path: Path
    size: int
    sha256: str
    offsets: dict[str, int]  # Rock Ridge path -> byte offset of the file's data in the image


ManifestBuilder = Callable[[dict[str, int]], bytes]


class _Reader(io.RawIOBase):
    """A read-once binary stream over a chunk source that hashes what passes through."""

    def __init__(self, item: DiscFile) -> None:
        self.item = item
        self._chunks: Iterator[bytes] | None = None
        self._buf = _EMPTY
        self._hash = hashlib.sha256()
        self.done = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, pos: int, whence: int = 0) -> int:
        # pycdlib seeks to 0 before copying; any other position would break the running hash
        if pos != 0 or whence != 0 or self._chunks is not None:
            raise io.UnsupportedOperation(f"{self.item.path}: only one pass from the start is possible")
        return 0

    def readinto(self, b: Any) -> int:
        # fill the whole request: pycdlib takes a short read for the end of the file and stops copying
        if self._chunks is None:
            self._chunks = iter(self.item.open())
        out = memoryview(b).cast("B")
        n = 0
        while n < len(out):
            if not self._buf:
                nxt = next(self._chunks, None)
                if nxt is None:
                    self._chunks = iter(())
                    break
                self._buf = memoryview(nxt)
                continue
            take = min(len(out) - n, len(self._buf))
            out[n : n + take] = self._buf[:take]
            self._hash.update(self._buf[:take])
            # an empty slice would still pin the whole chunk; a disc has thousands of readers
            self._buf = self._buf[take:] if take < len(self._buf) else _EMPTY
            n += take
        self.done += n
        if self.done >= self.item.length:
            # pycdlib stops at the declared length and never asks past it: end the source now so
            # its open file or HTTP response (and last chunk) is not kept for the rest of the disc
            self.finish()
        return n

    def finish(self) -> None:
        """Close the chunk source (its file or HTTP response); later reads return end of file."""
        chunks, self._chunks = self._chunks, iter(())
        closer = getattr(chunks, "close", None)
        if callable(closer):
            closer()
        self._buf = _EMPTY

    def check(self) -> None:
        got = self._hash.hexdigest()
        if self.done != self.item.length:
            raise ChecksumMismatch(f"{self.item.path}: read {self.done} bytes, expected {self.item.length}")
        if self.item.sha256 and got != self.item.sha256:
            raise ChecksumMismatch(f"{self.item.path}: source has {got}, expected {self.item.sha256}")


def bytes_source(data: bytes) -> Callable[[], Iterable[bytes]]:
    return lambda: [data]


def file_source(path: Path) -> Callable[[], Iterable[bytes]]:
    def chunks() -> Iterator[bytes]:
        with path.open("rb") as fh:
            yield from iter(lambda: fh.read(CHUNK), b"")

    return chunks


def volume_ident(text: str) -> str:
    # the Joliet descriptor stores it as UCS-2 in 32 bytes
    return _NOT_DCHAR.sub("_", text.upper())[:16]


def build_image(
    files: list[DiscFile],
    out: Path,
    *,
    volume_id: str,
    disc: int,
    discs: int,
    manifest: ManifestBuilder,
    progress: Callable[[int, int], None] | None = None,
) -> BuiltImage:
    """Master ``files`` plus ``manifest.json`` into an ISO image at ``out``; check every source hash."""
    iso = pycdlib.PyCdlib()
    iso.new(
        interchange_level=3,
        vol_ident=volume_ident(volume_id),
        set_size=discs,
        seqnum=disc,
        app_ident_str="callqc archive",
        joliet=3,
        rock_ridge="1.09",
    )
    readers: list[_Reader] = []
    dirs: dict[str, str] = {"": "/"}
    counter = 0
    try:
        for item in files:
            parent = _ensure_dirs(iso, dirs, rr_dir=item.path.rpartition("/")[0])
            counter += 1
            reader = _Reader(item)
            readers.append(reader)
            _add(iso, reader, length=item.length, rr_path=item.path, iso_dir=parent, stem=f"F{counter:07d}")
        holder = io.BytesIO(manifest(dict.fromkeys((f.path for f in files), _PLACEHOLDER_OFFSET)))
        reserved = len(holder.getvalue())
        _add(iso, holder, length=reserved, rr_path=MANIFEST_PATH, iso_dir="/", stem="MANIFEST")
        iso.force_consistency()
        offsets = {f.path: _offset(iso, f.path) for f in files}
        real = manifest(offsets)
        if len(real) > reserved:
            raise ManifestGrew(f"{out.name}: from {reserved} to {len(real)} bytes")
        holder.seek(0)
        holder.write(real + b" " * (reserved - len(real)))
        cb = (lambda done, total, _: progress(done, total)) if progress else None
        iso.write(str(out), progress_cb=cb)
    finally:
        iso.close()
        for reader in readers:
            reader.finish()
    for reader in readers:
        reader.check()
    size = out.stat().st_size
    digest = sha256_file(out)
    log.info("build_image: %s, %d files, %d bytes, disc %d of %d", out.name, len(files), size, disc, discs)
    return BuiltImage(out, size, digest, offsets)


def _ensure_dirs(iso: pycdlib.PyCdlib, dirs: dict[str, str], *, rr_dir: str) -> str:
    if rr_dir in dirs:
        return dirs[rr_dir]
    head, _, name = rr_dir.rpartition("/")
    parent = _ensure_dirs(iso, dirs, rr_dir=head)
    iso_name = _NOT_DCHAR.sub("_", name.upper())[:31] or "_"
    iso_dir = f"{parent.rstrip('/')}/{iso_name}"
    if iso_dir in dirs.values():
        iso_dir = f"{parent.rstrip('/')}/D{len(dirs):06d}"
    iso.add_directory(iso_dir, rr_name=name, joliet_path="/" + _joliet_path(rr_dir, len(dirs)))
    dirs[rr_dir] = iso_dir
    return iso_dir


def _add(iso: pycdlib.PyCdlib, fp: io.IOBase, *, length: int, rr_path: str, iso_dir: str, stem: str) -> None:
    name = rr_path.rpartition("/")[2]
    ext = _NOT_DCHAR.sub("", name.rpartition(".")[2].upper())[:3] if "." in name else ""
    iso_name = f"{stem}.{ext};1" if ext else f"{stem}.;1"
    iso.add_fp(
        cast(BinaryIO, fp),
        length,
        f"{iso_dir.rstrip('/')}/{iso_name}",
        rr_name=name,
        joliet_path="/" + _joliet_path(rr_path, int(stem[1:]) if stem[1:].isdigit() else 0),
        file_mode=0o100444,
    )


def _joliet_path(rr_path: str, n: int) -> str:
    parts = []
    for part in rr_path.split("/"):
        if len(part) > _JOLIET_MAX:
            stem, dot, ext = part.rpartition(".")
            tail = f"~{n}" + (f".{ext}" if dot and len(ext) <= 8 else "")
            part = part[: _JOLIET_MAX - len(tail)] + tail
        parts.append(part)
    return "/".join(parts)


def _offset(iso: pycdlib.PyCdlib, rr_path: str) -> int:
    record = iso.get_record(rr_path="/" + rr_path)
    return record.extent_location() * BLOCK
