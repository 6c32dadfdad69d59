"""Database engine, sessions and migrations.

SQLite (the embedded default) runs in WAL mode with foreign keys on and a generous busy timeout so
several worker processes can share one file; PostgreSQL is the scale option. The schema is owned
by the Alembic migrations in ``storage/migrations``; :func:`migrate` brings a database to head.

On SQLite the first engine a process makes brings the file to head by itself, so a fresh data folder
needs no ``callqc db migrate``. PostgreSQL is shared and upgraded on purpose: it keeps the explicit
command.
"""

from __future__ import annotations

import fcntl
import logging
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from functools import cache
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from storage.errors import ServiceUnavailable
from storage.settings import get_settings

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).with_name("migrations")


def make_engine(url: str) -> Engine:
    """An engine for ``url`` with callqc's connection settings."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 60})

        @sa.event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy's BEGIN reach SQLite so "BEGIN IMMEDIATE" claims are possible.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=60000")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @sa.event.listens_for(engine, "begin")
        def _sqlite_begin(conn: sa.Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.info.get("immediate") else "BEGIN")

        return engine
    settings = get_settings()
    return sa.create_engine(
        url,
        pool_pre_ping=True,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout_s,
    )


class DatabaseUnavailable(ServiceUnavailable):
    """database unavailable or busy; try again later"""


def unavailable(exc: BaseException) -> DatabaseUnavailable | None:
    """The :class:`DatabaseUnavailable` a database error means, or None when it is not a passing one
    (a refused connection, a server gone away, every pooled connection taken, SQLite locked too long).
    The reason goes to the log only: it names hosts and ports that callers need not see."""
    if isinstance(exc, sa.exc.TimeoutError):  # the pool's wait for a free connection ran out
        log.warning("database busy: no free connection within %s s", get_settings().db_pool_timeout_s)
        return DatabaseUnavailable()
    if isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError) or (
        isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated
    ):
        log.warning("database unavailable: %s", " ".join(str(getattr(exc, "orig", exc)).split())[:300])
        return DatabaseUnavailable()
    return None


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


_engines: dict[str, Engine] = {}


def get_engine() -> Engine:
    """The process's engine for the configured database (on SQLite, with the schema at head)."""
    url = get_settings().resolved_database_url
    if url not in _engines:
        engine = make_engine(url)
        if is_sqlite(engine):
            ensure_schema(engine)
        _engines[url] = engine
    return _engines[url]


def reset_engines(*, close: bool = True) -> None:
    """Dispose cached engines: when tests switch databases, or (close=False) in a forked child,
    whose inherited connections belong to the parent and must not be closed from here."""
    for engine in _engines.values():
        engine.dispose(close=close)
    _engines.clear()


@contextmanager
def session(engine: Engine | None = None, *, write: bool = False) -> Iterator[Session]:
    """A session that commits on success and rolls back on error.

    ``write=True`` for a transaction that reads and then writes while other workers write too: on
    SQLite it begins ``IMMEDIATE``, taking the write lock up front. A deferred SQLite transaction
    that has read cannot upgrade to a write once another connection committed (SQLITE_BUSY, with no
    waiting), so two job slots scoring at the same moment would fail one of the jobs.
    """
    engine = engine or get_engine()
    if write and is_sqlite(engine):
        with engine.connect() as conn:
            conn.info["immediate"] = True
            try:
                with Session(bind=conn, expire_on_commit=False) as s:
                    yield from _committed(s)
            finally:
                conn.info.pop("immediate", None)  # it lives on the pooled connection
        return
    with Session(engine, expire_on_commit=False) as s:
        yield from _committed(s)


def _committed(s: Session) -> Iterator[Session]:
    try:
        yield s
        s.commit()
    except BaseException:
        s.rollback()
        raise


def alembic_config(engine: Engine) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return cfg


@cache
def _head_revision() -> str | None:
    """The newest migration shipped with this code: read once per process (parsing every migration
    script costs ~0.3 s, paid before by every new SQLite engine and every CLI call)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(cfg).get_current_head()


def _current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    """Hold an exclusive lock file beside the SQLite file while its schema is upgraded.

    Two processes starting on a fresh data folder would otherwise both run the first migration and
    one would fail on a table the other just made. An in-memory database has no neighbours.
    """
    path = engine.url.database
    if not path or path == ":memory:":
        yield
        return
    with open(f"{path}.migrate-lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def ensure_schema(engine: Engine) -> None:
    """Bring a SQLite database to head unless it is there already (the embedded default's first use)."""
    if _current_revision(engine) != _head_revision():
        migrate(engine)


def migrate(engine: Engine | None = None) -> None:
    """Upgrade the database schema to the newest migration (idempotent)."""
    from alembic import command

    engine = engine or get_engine()
    logging.getLogger("alembic").setLevel(max(logging.WARNING, log.getEffectiveLevel()))
    cfg = alembic_config(engine)
    # idempotent: a process that waited for the lock finds the schema at head and does nothing
    with _migration_lock(engine) if is_sqlite(engine) else nullcontext(), engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    log.info("migrate: database at head (%s)", engine.url.render_as_string(hide_password=True))
