"""The Alembic migrations build exactly the schema the models declare, on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from storage import db as dbmod
from storage.partitions import is_partition
from storage.schema import metadata


def test_migrations_match_the_models(db_url: str) -> None:
    """After `migrate`, autogenerate finds no difference between database and models."""
    engine = dbmod.get_engine()
    with engine.connect() as conn:
        # a month's partition is the database's own table under its parent, which the models declare
        opts = {"include_name": lambda name, kind, _parent: not (kind == "table" and is_partition(name or ""))}
        diff = compare_metadata(MigrationContext.configure(conn, opts=opts), metadata)
    assert diff == []


def test_migrate_is_idempotent(db_url: str) -> None:
    """Running the migrations again changes nothing and keeps one head revision."""
    engine = dbmod.get_engine()
    dbmod.migrate(engine)
    with engine.connect() as conn:
        versions = conn.execute(sa.text("select version_num from alembic_version")).scalars().all()
    assert len(versions) == 1


def test_sqlite_runs_in_wal_mode_with_foreign_keys(sqlite_db: str) -> None:
    """The embedded default is set up for several processes and enforces references."""
    with dbmod.get_engine().connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
