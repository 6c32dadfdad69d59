"""`callqc db migrate`: bring the database schema to head."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    db = typer.Typer(help="Database schema.", no_args_is_help=True)

    @db.command("migrate")
    def migrate_cmd() -> None:
        """Apply all migrations (idempotent)."""
        from storage.db import migrate

        migrate()
        typer.echo("database at head")

    app.add_typer(db, name="db")
