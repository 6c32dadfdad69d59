"""Wake idle workers the moment a job is queued, instead of letting them sleep out their poll interval.

- PostgreSQL: :func:`announce` sends ``NOTIFY callqc_jobs`` inside the enqueuing transaction (so it
  is delivered on commit, never for a job that was rolled back); an idle worker ``LISTEN``s on a
  connection of its own.
- SQLite (one file, no notifications): an idle worker reads ``PRAGMA data_version`` every
  :data:`SQLITE_CHECK_S`; the value changes whenever another connection commits, and reading it
  touches no table and takes no lock.

Either way ``worker_poll_s`` stays the upper bound: a lost notification costs one interval, never a
job. A wake-up only says "look again"; the claim itself stays the one guarded statement.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

log = logging.getLogger(__name__)

CHANNEL = "callqc_jobs"
SQLITE_CHECK_S = 0.05
PG_SLICE_S = 0.25  # longest block on the socket, so a stop request is seen quickly


def announce(session: Session) -> None:
    """Tell idle workers (on commit of ``session``'s transaction) that a job was queued."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})


class JobWaiter:
    """An idle worker's wait: returns when a job may have been queued, on stop, or after ``timeout``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._conn: Any = None
        self._version: Any = None

    def _connect(self) -> None:
        if self.engine.dialect.name == "postgresql":
            import psycopg

            url = self.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
            self._conn = psycopg.connect(url, autocommit=True)
            self._conn.execute(f"LISTEN {CHANNEL}")
        else:
            self._conn = self.engine.raw_connection()
            self._version = self._sqlite_version()

    def _sqlite_version(self) -> Any:
        cur = self._conn.cursor()
        try:
            cur.execute("PRAGMA data_version")
            return cur.fetchone()[0]
        finally:
            cur.close()

    def wait(self, timeout: float, stop: threading.Event) -> bool:
        """Block up to ``timeout`` s; True when woken early (something was committed or announced)."""
        try:
            if self._conn is None:
                self._connect()
            if self.engine.dialect.name == "postgresql":
                return self._wait_pg(timeout, stop)
            return self._wait_sqlite(timeout, stop)
        except Exception as exc:  # noqa: BLE001 - waking early is an optimisation; fall back to polling
            log.warning("wait: wake-up connection failed (%s); polling every %.1f s", exc, timeout)
            self.close()
            stop.wait(timeout)
            return False

    def _wait_pg(self, timeout: float, stop: threading.Event) -> bool:
        deadline = time.monotonic() + timeout
        while not stop.is_set() and (left := deadline - time.monotonic()) > 0:
            for _note in self._conn.notifies(timeout=min(left, PG_SLICE_S), stop_after=1):
                return True
        return False

    def _wait_sqlite(self, timeout: float, stop: threading.Event) -> bool:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            if stop.wait(min(SQLITE_CHECK_S, left)):
                return False
            version = self._sqlite_version()
            if version != self._version:
                self._version = version
                return True
        return False

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):  # closing a connection that may be broken
                self._conn.close()
            self._conn = None
