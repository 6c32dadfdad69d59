"""Alembic environment: runs on the connection handed over by storage.db.migrate (or the URL)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

config = context.config


def run() -> None:
    conn = config.attributes.get("connection")
    if conn is not None:
        context.configure(
            connection=conn, render_as_batch=True, target_metadata=config.attributes.get("target_metadata")
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = sa.create_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.begin() as conn:
        context.configure(
            connection=conn, render_as_batch=True, target_metadata=config.attributes.get("target_metadata")
        )
        with context.begin_transaction():
            context.run_migrations()


run()
