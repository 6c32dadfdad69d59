"""The per-call journal on local disk, and the live audio tap that reads it.

Layout, under ``<data_dir>/live/<call-id>/`` (a stable interface: docs/recorder.md):

- ``call.json``: the index (call ID, source, state ``live``/``ended``, answer time, streams and
  their roles, metadata); replaced atomically whenever it changes;
- ``stream-<i>.jnl``: the audio of stream ``i`` as records, appended as packets leave the jitter
  buffer: a 20-byte header ``<qdBBH`` (position in samples since answer, arrival Unix time, RTP
  payload type, flags, payload length) then the G.711 payload. A record cut short by a crash is
  ignored;
- ``lock``: held (``flock``) by the process recording the call; a free lock on a ``live`` call
  means its recorder died.

Records are written at least every ``siprec_flush_s`` and fsynced every ``siprec_fsync_s``, so a
killed recorder loses at most the jitter buffer and one flush interval, a crashed machine one fsync
interval.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recorder.siprec.codecs import WIDE_RATE, StreamDecoder, from_names, ticks
from recorder.siprec.rtp import RATE, Placed, decode

log = logging.getLogger(__name__)
RECORD = struct.Struct("<qdBBH")
INDEX = "call.json"
LOCK = "lock"


def live_root(data_dir: Path) -> Path:
    return data_dir / "live"


def stream_file(folder: Path, index: int) -> Path:
    return folder / f"stream-{index}.jnl"


def write_index(folder: Path, index: dict[str, Any]) -> None:
    tmp = folder / (INDEX + ".tmp")
    with tmp.open("w") as fh:
        json.dump(index, fh, ensure_ascii=False, default=str)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, folder / INDEX)


def read_index(folder: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((folder / INDEX).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


class Journal:
    """The journal of one live call, owned (locked) by this process."""

    def __init__(self, folder: Path, index: dict[str, Any], streams: int) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.index = index
        self._lock = (folder / LOCK).open("a")
        fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        write_index(folder, index)
        self._fds = [
            os.open(stream_file(folder, i), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600) for i in range(streams)
        ]
        self._bufs = [bytearray() for _ in range(streams)]
        self.closed = False
        self.write_error: str | None = None

    @classmethod
    def adopt(cls, folder: Path) -> Journal | None:
        """Take over an existing journal whose recorder is gone; None while another process holds it."""
        index = read_index(folder)
        if index is None:
            return None
        lock = (folder / LOCK).open("a")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            return None
        self = cls.__new__(cls)
        self.folder, self.index, self._lock = folder, index, lock
        self._fds, self._bufs, self.closed, self.write_error = [], [], False, None
        return self

    def add(self, stream: int, packets: list[Placed]) -> None:
        buf = self._bufs[stream]
        for p in packets:
            buf += RECORD.pack(p.position, p.arrival, p.pt, 0, len(p.payload))
            buf += p.payload

    def flush(self) -> bool:
        """Hand buffered records to the OS (visible to tap readers, safe from a killed process).

        False when the disk refused (full, gone): what was not written stays buffered in memory and
        the next flush tries again, so a disk that comes back loses nothing.
        """
        ok = True
        for fd, buf in zip(self._fds, self._bufs, strict=True):
            while buf:
                try:
                    n = os.write(fd, buf)
                except OSError as exc:
                    if not self.write_error:
                        log.error("journal: %s: cannot write (%s); keeping audio in memory until it can",
                                  self.folder.name, exc)
                    self.write_error = str(exc)
                    ok = False
                    break
                del buf[:n]
        if ok and self.write_error:
            log.warning("journal: %s: writing again", self.folder.name)
            self.write_error = None
        return ok

    def fsync(self) -> None:
        for fd in self._fds:
            with contextlib.suppress(OSError):
                os.fsync(fd)

    def update(self, **changes: Any) -> None:
        self.index.update(changes)
        write_index(self.folder, self.index)

    def close(self) -> None:
        """Flush, fsync and close the stream files (the lock stays until :meth:`release`)."""
        if self.closed:
            return
        if not self.flush():
            log.error("journal: %s: %d bytes of audio could not be written and are lost", self.folder.name,
                      sum(len(b) for b in self._bufs))
        self.fsync()
        for fd in self._fds:
            os.close(fd)
        self._fds = []
        self.closed = True

    def release(self, *, remove: bool) -> None:
        self.close()
        if remove:
            shutil.rmtree(self.folder, ignore_errors=True)
        self._lock.close()


def records(path: Path, offset: int = 0) -> Iterator[tuple[int, Placed]]:
    """(offset after the record, record) from ``offset`` on; stops before a record cut short."""
    try:
        fh = path.open("rb")
    except FileNotFoundError:
        return
    with fh:
        fh.seek(offset)
        data = fh.read()
    pos = 0
    while pos + RECORD.size <= len(data):
        position, arrival, pt, _flags, length = RECORD.unpack_from(data, pos)
        end = pos + RECORD.size + length
        if end > len(data):
            break
        yield offset + end, Placed(position, pt, data[pos + RECORD.size:end], arrival)
        pos = end


def last_write(folder: Path) -> float:
    """When the journal was last written (its newest stream file), Unix time."""
    times = [p.stat().st_mtime for p in folder.glob("stream-*.jnl")]
    return max(times) if times else (folder / INDEX).stat().st_mtime


# --- the live audio tap ---------------------------------------------------------------------------

def live_calls(data_dir: Path) -> list[dict[str, Any]]:
    """The index of every call being recorded on this host now (``state`` live)."""
    out: list[dict[str, Any]] = []
    root = live_root(data_dir)
    if not root.is_dir():
        return out
    for folder in sorted(root.iterdir()):
        index = read_index(folder)
        if index is not None and index.get("state") == "live":
            out.append(index)
    return out


@dataclass
class TapChunk:
    role: str  # "agent", "customer", "unknown"
    position: int  # first sample, counted from the call's answer time at 8 kHz
    samples: list[int]  # 16-bit linear, at ``rate``
    rate: int = RATE  # 8000 for G.711, 16000 for G.722 and Opus


class Tap:
    """Follows one live call's journal and returns its decoded audio as it arrives (both speakers).

    ``read()`` gives what was written since the last call; poll it (every 100-200 ms is plenty: the
    recorder writes at least every ``siprec_flush_s``).
    """

    def __init__(self, data_dir: Path, call_id: str) -> None:
        self.folder = self.folder_of(data_dir, call_id)
        index = read_index(self.folder)
        if index is None:
            raise FileNotFoundError(f"no live call {call_id}")
        self.index = index
        self._offsets = {s["index"]: 0 for s in index["streams"]}
        self._codecs = {s["index"]: from_names(s.get("payload_types")) for s in index["streams"]}
        self._decoders = {s["index"]: StreamDecoder() for s in index["streams"]}

    @staticmethod
    def folder_of(data_dir: Path, call_id: str) -> Path:
        return live_root(data_dir) / call_id

    @property
    def live(self) -> bool:
        index = read_index(self.folder)
        return index is not None and index.get("state") == "live"

    def seek(self, position: int) -> None:
        """Skip the records that end before ``position`` (samples since answer) without decoding them.

        A listener joining a long call late starts near the end instead of decoding the whole call.
        """
        for s in self.index["streams"]:
            i = s["index"]
            known = self._codecs[i]
            for end, rec in records(stream_file(self.folder, i), self._offsets[i]):
                codec = known.get(rec.pt)
                if codec is not None and rec.position + ticks(codec, rec.payload) > position:
                    break
                self._offsets[i] = end

    def read(self) -> list[TapChunk]:
        out = []
        for s in self.index["streams"]:
            i = s["index"]
            known = self._codecs[i]
            for end, rec in records(stream_file(self.folder, i), self._offsets[i]):
                self._offsets[i] = end
                codec = known.get(rec.pt)
                if codec is None:
                    continue
                if codec.wideband:
                    pcm = self._decoders[i].decode(codec, rec.payload, rec.position)
                    out.append(TapChunk(s["role"], rec.position, pcm.tolist(), WIDE_RATE))
                else:
                    out.append(TapChunk(s["role"], rec.position, list(decode(codec.static_pt or 0, rec.payload))))
        return out
