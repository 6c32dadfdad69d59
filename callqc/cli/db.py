"""`callqc db migrate`: bring the database schema to head; `callqc db rollup`: refresh the day rollup."""

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

    @db.command("rollup")
    def rollup_cmd() -> None:
        """Refresh the per-day rollup (day_stats) for the days touched since the last refresh."""
        from storage.db import session
        from storage.rollups import refresh

        with session(write=True) as s:
            done = refresh(s)
        typer.echo(f"rollup: {done.days} days recomputed ({done.rows} rows), "
                   f"watermark {done.watermark:%Y-%m-%d %H:%M:%S}")

    app.add_typer(db, name="db")
