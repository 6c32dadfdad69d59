"""Alembic environment: runs on the connection handed over by storage.db.migrate (or the URL)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from storage.partitions import is_partition

config = context.config


def _include_name(name: str | None, kind: str, _parents: object) -> bool:
    """Autogenerate leaves PostgreSQL's month partitions alone: the models declare their parents."""
    return not (kind == "table" and is_partition(name or ""))


def run() -> None:
    conn = config.attributes.get("connection")
    if conn is not None:
        context.configure(
            connection=conn, render_as_batch=True, target_metadata=config.attributes.get("target_metadata"),
            include_name=_include_name,
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = sa.create_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.begin() as conn:
        context.configure(
            connection=conn, render_as_batch=True, target_metadata=config.attributes.get("target_metadata"),
            include_name=_include_name,
        )
        with context.begin_transaction():
            context.run_migrations()


run()
