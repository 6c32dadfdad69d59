"""The spool-folder watcher: PBX recorders (Asterisk MixMonitor, FreeSWITCH) drop files, we ingest them.

A file is taken only when finished: a ``<name>.done`` / ``<stem>.done`` marker exists (the default
requires one), or, with ``require_marker=False``, it has not been modified for ``spool_stable_s`` (and
its size did not change since the previous look); a writer that pauses that long loses the rest of
its audio, hence the default. Then it is ingested with its sidecar ``<name>.json`` / ``<stem>.json``
and moved, with its sidecar and marker, to ``DIR/done/``, or to ``DIR/rejected/`` next to
``<name>.reason.txt`` saying why. The move happens only after the ingest returned, i.e. after the
stored copy was read back and its SHA-256 matched; a watcher killed at any point leaves the file in
``DIR`` and the next look retries it (ingest is idempotent).

Errors of a service (database or object store down or busy) leave the file in place for the next
look, however often. Any other unexpected error is retried too, but a file that fails that way
``spool_max_attempts`` looks in a row is rejected with the last error as its reason: one bad file
never stops the watcher or keeps it busy for good. A symbolic link is rejected (whoever can write the
spool folder must not make us read files elsewhere), and so is a name too long to carry the
``.reason.txt`` suffix: the names in ``done/`` and ``rejected/`` are shortened to fit when needed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import fcntl
import hashlib
import logging
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from recorder.ingest import CallExists, ingest_file, spool_file
from recorder.late_legs import join_late
from recorder.layouts import BadLayout, fields_from_name, get_layout, read_agent_map
from recorder.legs import Piece, Role, join, split_name
from recorder.metadata import CallMeta, parse_meta, read_sidecar, safe_text, sidecar_for
from storage.errors import CallqcError, Conflict, InvalidInput, ServiceUnavailable
from storage.objectstore import ObjectStore
from storage.settings import get_settings
from storage.stores import get_store

log = logging.getLogger(__name__)

DONE_DIR = "done"
REJECTED_DIR = "rejected"
MARKER = ".done"
# Names that are not recordings: sidecars, markers, and the temporary names writers use while busy.
_NOT_AUDIO = {".json", MARKER, ".tmp", ".part", ".partial", ".lock", ".swp", ".txt"}
# Longest name (bytes) kept as it is in done/ and rejected/: room for a "NN~" prefix and ".reason.txt"
# within the 255 bytes most file systems allow.
_NAME_MAX = 200


class SymlinkRefused(InvalidInput):
    """refused: a symbolic link"""


class KeepsFailing(InvalidInput):
    """failed too often"""


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
        self, spool: Path, *, store: ObjectStore | None = None, require_marker: bool = True,
        layout: str | None = None,
    ) -> None:
        self.spool = Path(spool).resolve()
        if not self.spool.is_dir():
            raise InvalidInput(f"{spool}: not a folder")
        self.require_marker = require_marker
        settings = get_settings()
        self.layout = get_layout(layout or settings.spool_layout)
        self._agents = read_agent_map(settings.agent_map_csv)
        self._timezone = settings.pbx_timezone
        self._store = store
        self._seen: dict[str, tuple[int, int]] = {}
        self._failures: dict[str, int] = {}  # file name -> unexpected failures in a row
        self._looked_at: list[Path] = []  # every candidate of the last look, finished or not
        for sub in (DONE_DIR, REJECTED_DIR):
            (self.spool / sub).mkdir(exist_ok=True)

    @property
    def store(self) -> ObjectStore:
        if self._store is None:
            self._store = get_store()
        return self._store

    def poll(self) -> list[Result]:
        """Ingest every finished file now in the folder, oldest first; the files of one call written
        as legs or parts (see :mod:`recorder.legs`) together, once all of them are finished."""
        ready = self.finished()
        groups: dict[str, list[Path]] = {}
        for path in ready:
            groups.setdefault(self._group_key(path), []).append(path)
        taken = set(ready)
        waiting = {self._group_key(p) for p in self._looked_at if p not in taken}
        results = []
        for key, paths in groups.items():
            if key in waiting:
                continue  # a leg or part of this call is still being written
            single = len(paths) == 1 and split_name(paths[0].name)[1] is Role.both
            results.append(self.handle(paths[0]) if single else self.handle_joined(sorted(paths)))
        return results

    def _group_key(self, path: Path) -> str:
        """What ties the files of one call together: the call ID its name gives, without a leg suffix."""
        stripped, role = split_name(path.name)
        if path.is_symlink():
            return f"file:{path}"
        try:
            fields = fields_from_name(self.layout, stripped, timezone=self._timezone)
        except BadLayout:
            fields = {}
        if fields:
            return f"id:{fields['call_id']}"
        return f"leg:{path.parent / Path(stripped).stem}" if role is not Role.both else f"file:{path}"

    def finished(self) -> list[Path]:
        stable_s = get_settings().spool_stable_s
        now = time.time()
        seen: dict[str, tuple[int, int]] = {}
        ready: list[tuple[int, Path]] = []
        self._looked_at = list(self.candidates())
        for path in self._looked_at:
            if path.is_symlink():
                ready.append((0, path))  # rejected at once by handle()
                continue
            try:  # the writer (or an operator) may rename or remove files while we look
                st = path.stat()
                side = sidecar_for(path)
                side_mtime = side.lstat().st_mtime if side else 0.0
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
        yield from self._candidates(self.spool)

    def _candidates(self, folder: Path) -> Iterator[Path]:
        for path in sorted(folder.iterdir()):
            if path.name.startswith(".") or path.suffix.lower() in _NOT_AUDIO:
                continue
            if path.is_symlink() or _is_file(path):  # a link is yielded to be rejected, never followed
                yield path
            elif (self.layout.recursive and path.is_dir()
                  and not (folder == self.spool and path.name in (DONE_DIR, REJECTED_DIR))):
                # FreePBX and FreeSWITCH write into dated folders (YYYY/MM/DD); a linked folder is
                # is_dir() but never entered: the spool must not lead elsewhere.
                yield from self._candidates(path)

    def handle(self, path: Path) -> Result:
        """Ingest one file and move it (with its sidecar and marker) to done/ or rejected/."""
        shown = safe_text(path.name)
        side = sidecar_for(path)
        try:
            if path.is_symlink():
                raise SymlinkRefused(shown)
            meta = self._meta(path.name, read_sidecar(side) if side else CallMeta())
            result = ingest_file(path, meta, actor="watch", source=f"spool:{self.spool}", store=self.store)
        except (InvalidInput, Conflict) as exc:
            return self._reject(path, side, str(exc))
        except Exception as exc:  # noqa: BLE001 - anything else may pass: keep the file for the next look
            reason = " ".join(str(exc).split()) or type(exc).__name__
            if not isinstance(exc, ServiceUnavailable):  # the service's fault, not the file's: never counted
                tries = self._failures[path.name] = self._failures.get(path.name, 0) + 1
                if tries >= get_settings().spool_max_attempts:
                    return self._reject(path, side, str(KeepsFailing(f"{tries} looks in a row; last: {reason}")))
            log.warning("watch: %s left for a retry: %s", shown, reason)
            return Result(shown, Outcome.retry, reason=reason)
        self._failures.pop(path.name, None)
        self._move(path, side, DONE_DIR)
        log.info(
            "watch: %s -> %s (%s)",
            shown,
            result.call_id,
            "new" if result.created else "already registered",
        )
        return Result(shown, Outcome.done, call_id=result.call_id)

    def handle_joined(self, paths: list[Path]) -> Result:
        """Join the legs/parts of one call into one recording, ingest it, move every file."""
        stripped = split_name(paths[0].name)[0]
        shown = safe_text(stripped)
        sides = [sidecar_for(p) for p in paths]
        try:
            if any(p.is_symlink() for p in paths):
                raise SymlinkRefused(shown)
            common = sidecar_for(paths[0].with_name(stripped))
            metas = [self._meta(split_name(p.name)[0], read_sidecar(s) if s else CallMeta())
                     for p, s in zip(paths, sides, strict=True)]
            # The earliest part says most about the call (queue, caller); later parts fill its gaps.
            def when(i: int) -> tuple[bool, float, str]:
                at = metas[i].started_at
                return (at is None, at.timestamp() if at else 0.0, paths[i].name)

            order = sorted(range(len(paths)), key=when)
            meta = metas[order[-1]]
            for i in reversed(order[:-1]):
                meta = meta.merged(metas[i])
            if common is not None:
                meta = meta.merged(read_sidecar(common))
            pieces = [Piece(p, split_name(p.name)[1], m.started_at) for p, m in zip(paths, metas, strict=True)]
            with spool_file() as tmp:
                joined = join(pieces, tmp, direction=meta.direction)
                meta = dataclasses.replace(
                    meta, call_id=meta.call_id or Path(stripped).stem, channel_map=joined.channel_map,
                    started_at=joined.started_at, ended_at=None, meta={**meta.meta, "legs": joined.legs})
                try:
                    result = ingest_file(tmp, meta, name=stripped, actor="watch", source=f"spool:{self.spool}",
                                         store=self.store)
                except CallExists:
                    if any(p.role is Role.both for p in pieces):
                        raise
                    # the other leg came first and is registered: this one joins it (recorder/late_legs.py)
                    result = join_late(meta.call_id or Path(stripped).stem, pieces, actor="watch",
                                       source=f"spool:{self.spool}", store=self.store)
        except (InvalidInput, Conflict) as exc:
            for p, s in zip(paths, sides, strict=True):
                self._reject(p, s, str(exc))
            self._move_common(paths[0].with_name(stripped), REJECTED_DIR)
            return Result(shown, Outcome.rejected, reason=str(exc))
        except Exception as exc:  # noqa: BLE001 - a passing failure: all files stay for the next look
            reason = " ".join(str(exc).split()) or type(exc).__name__
            log.warning("watch: %s left for a retry: %s", shown, reason)
            return Result(shown, Outcome.retry, reason=reason)
        for p, s in zip(paths, sides, strict=True):
            self._move(p, s, DONE_DIR)
        self._move_common(paths[0].with_name(stripped), DONE_DIR)
        log.info("watch: %s (%s files) -> %s", shown, len(paths), result.call_id)
        return Result(shown, Outcome.done, call_id=result.call_id)

    def _move_common(self, named: Path, folder: str) -> None:
        """The sidecar of the whole call (``<call>.json`` beside its legs) follows them."""
        common = sidecar_for(named)
        if common is not None and not named.exists():
            self._move(common, None, folder)

    def _meta(self, name: str, given: CallMeta) -> CallMeta:
        """What the layout reads from the file name, under what the sidecar says (the sidecar wins)."""
        fields = fields_from_name(self.layout, name, timezone=self._timezone, agents=self._agents)
        if not fields:
            return given
        pbx = fields.pop("pbx")
        named = parse_meta(fields)
        merged = {f.name: getattr(given, f.name) if getattr(given, f.name) is not None else getattr(named, f.name)
                  for f in dataclasses.fields(CallMeta) if f.name != "meta"}
        return CallMeta(**merged, meta={"pbx": pbx, **named.meta, **given.meta})

    def _reject(self, path: Path, side: Path | None, reason: str) -> Result:
        log.warning("watch: rejected %s: %s", safe_text(path.name), reason)
        self._failures.pop(path.name, None)
        self._move(path, side, REJECTED_DIR, reason=reason)
        return Result(safe_text(path.name), Outcome.rejected, reason=reason)

    def _move(self, path: Path, side: Path | None, folder: str, *, reason: str | None = None) -> None:
        # The recording moves first: once it is gone from the spool nothing retries it, so its sidecar
        # (which may hold its call ID) must still be beside it if we die before the move.
        group = [p for p in (path, side, _marker(path)) if p is not None]
        target = self.spool / folder
        names = {p: _fit(p.name) for p in group}
        reason_name = f"{_fit(path.name)}.reason.txt"
        prefix = _free_prefix(target, [*names.values()] + ([reason_name] if reason else []))
        if reason is not None:
            _write_atomic(target / f"{prefix}{reason_name}", reason + "\n")
        for p in group:
            with contextlib.suppress(FileNotFoundError):
                os.replace(p, target / f"{prefix}{names[p]}")

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
        if candidate != path and _is_file(candidate):
            return candidate
    return None


def _is_file(path: Path) -> bool:
    """``path.is_file()`` that says False for a name too long to exist instead of raising."""
    try:
        return path.is_file()
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:
            return False
        raise


def _fit(name: str) -> str:
    """``name``, or a shortened one that still shows its start and suffix when it is too long to take
    a prefix and ``.reason.txt`` (the hash keeps different long names apart)."""
    raw = name.encode("utf-8", "surrogateescape")
    if len(raw) <= _NAME_MAX:
        return name
    tag = hashlib.sha256(raw).hexdigest()[:12]
    suffix = Path(name).suffix if len(Path(name).suffix) <= 16 else ""
    head = raw[:120].decode("utf-8", "ignore")
    return f"{head}~{tag}{suffix}"


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
    tmp.write_text(text, encoding="utf-8", errors="replace")
    os.replace(tmp, path)
