"""The spool-folder watcher: PBX recorders (Asterisk MixMonitor, FreeSWITCH) drop files, we ingest them.

A file is taken only when finished: a ``<name>.done`` / ``<stem>.done`` marker exists, or it has not been
modified for ``spool_stable_s`` (and its size did not change since the previous look). Then it is
ingested with its sidecar ``<name>.json`` / ``<stem>.json`` and moved, with its sidecar and marker, to
``DIR/done/``, or to ``DIR/rejected/`` next to ``<name>.reason.txt`` saying why. The move happens only
after the ingest returned, i.e. after the stored copy was read back and its SHA-256 matched; a watcher
killed at any point leaves the file in ``DIR`` and the next look retries it (ingest is idempotent).
Errors that may pass (database or object store unreachable) leave the file in place for the next look.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from recorder.ingest import ingest_file
from recorder.metadata import CallMeta, read_sidecar, sidecar_for
from storage.errors import CallqcError, Conflict, InvalidInput
from storage.objectstore import ObjectStore
from storage.settings import get_settings
from storage.stores import get_store

log = logging.getLogger(__name__)

DONE_DIR = "done"
REJECTED_DIR = "rejected"
MARKER = ".done"
# Names that are not recordings: sidecars, markers, and the temporary names writers use while busy.
_NOT_AUDIO = {".json", MARKER, ".tmp", ".part", ".partial", ".lock", ".swp", ".txt"}


class Outcome(StrEnum):
    done = "done"  # registered (now or before) and moved to done/
    rejected = "rejected"  # refused; moved to rejected/ with a reason file
    retry = "retry"  # a passing failure; left in place


class WatcherBusy(CallqcError):
    """another watcher is already working on this folder"""


@dataclass(frozen=True)
class Result:
    name: str
    outcome: Outcome
    call_id: str | None = None
    reason: str | None = None


class Watcher:
    """Looks at one spool folder; :meth:`poll` handles every finished file once."""

    def __init__(
        self, spool: Path, *, store: ObjectStore | None = None, require_marker: bool = False
    ) -> None:
        self.spool = Path(spool).resolve()
        if not self.spool.is_dir():
            raise InvalidInput(f"{spool}: not a folder")
        self.require_marker = require_marker
        self._store = store
        self._seen: dict[str, tuple[int, int]] = {}
        for sub in (DONE_DIR, REJECTED_DIR):
            (self.spool / sub).mkdir(exist_ok=True)

    @property
    def store(self) -> ObjectStore:
        if self._store is None:
            self._store = get_store()
        return self._store

    def poll(self) -> list[Result]:
        """Ingest every finished file now in the folder, oldest first."""
        results = []
        for path in self.finished():
            results.append(self.handle(path))
        return results

    def finished(self) -> list[Path]:
        stable_s = get_settings().spool_stable_s
        now = time.time()
        seen: dict[str, tuple[int, int]] = {}
        ready: list[tuple[int, Path]] = []
        for path in self.candidates():
            try:  # the writer (or an operator) may rename or remove files while we look
                st = path.stat()
                side = sidecar_for(path)
                side_mtime = side.stat().st_mtime if side else 0.0
            except FileNotFoundError:
                continue
            seen[path.name] = (st.st_size, st.st_mtime_ns)
            if _marker(path) is not None:
                ready.append((st.st_mtime_ns, path))
                continue
            if self.require_marker:
                continue
            unchanged = self._seen.get(path.name, seen[path.name]) == seen[path.name]
            quiet = now - max(st.st_mtime, side_mtime) >= stable_s
            if unchanged and quiet:
                ready.append((st.st_mtime_ns, path))
        self._seen = seen
        return [p for _, p in sorted(ready)]

    def candidates(self) -> Iterator[Path]:
        for path in self.spool.iterdir():
            if path.name.startswith(".") or path.suffix.lower() in _NOT_AUDIO or not path.is_file():
                continue
            yield path

    def handle(self, path: Path) -> Result:
        """Ingest one file and move it (with its sidecar and marker) to done/ or rejected/."""
        side = sidecar_for(path)
        try:
            meta = read_sidecar(side) if side else CallMeta()
            result = ingest_file(path, meta, actor="watch", source=f"spool:{self.spool}", store=self.store)
        except (InvalidInput, Conflict) as exc:
            log.warning("watch: rejected %s: %s", path.name, exc)
            self._move(path, side, REJECTED_DIR, reason=str(exc))
            return Result(path.name, Outcome.rejected, reason=str(exc))
        except Exception as exc:  # noqa: BLE001 - anything else may pass: keep the file for the next look
            log.warning(
                "watch: %s left for a retry: %s", path.name, " ".join(str(exc).split()) or type(exc).__name__
            )
            return Result(path.name, Outcome.retry, reason=" ".join(str(exc).split()) or type(exc).__name__)
        self._move(path, side, DONE_DIR)
        log.info(
            "watch: %s -> %s (%s)",
            path.name,
            result.call_id,
            "new" if result.created else "already registered",
        )
        return Result(path.name, Outcome.done, call_id=result.call_id)

    def _move(self, path: Path, side: Path | None, folder: str, *, reason: str | None = None) -> None:
        # The recording moves first: once it is gone from the spool nothing retries it, so its sidecar
        # (which may hold its call ID) must still be beside it if we die before the move.
        group = [p for p in (path, side, _marker(path)) if p is not None]
        target = self.spool / folder
        prefix = _free_prefix(
            target, [p.name for p in group] + ([f"{path.name}.reason.txt"] if reason else [])
        )
        if reason is not None:
            _write_atomic(target / f"{prefix}{path.name}.reason.txt", reason + "\n")
        for p in group:
            with contextlib.suppress(FileNotFoundError):
                os.replace(p, target / f"{prefix}{p.name}")

    def run(self, *, stop: threading.Event | None = None, once: bool = False) -> Iterator[Result]:
        """Poll until ``stop`` is set (or once), yielding each file's result."""
        stop = stop or threading.Event()
        with self.exclusive():
            while True:
                yield from self.poll()
                if once or stop.wait(get_settings().spool_poll_s):
                    return

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """One watcher per folder: two would race to move the same file."""
        with (self.spool / ".callqc-watch.lock").open("a") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise WatcherBusy(str(self.spool)) from None
            yield


def _marker(path: Path) -> Path | None:
    for candidate in (path.with_name(path.name + MARKER), path.with_suffix(MARKER)):
        if candidate != path and candidate.is_file():
            return candidate
    return None


def _free_prefix(folder: Path, names: list[str]) -> str:
    """ "" or "2~", "3~", ... so that no file already in ``folder`` is overwritten."""
    n = 1
    while True:
        prefix = "" if n == 1 else f"{n}~"
        if not any((folder / f"{prefix}{name}").exists() for name in names):
            return prefix
        n += 1


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
