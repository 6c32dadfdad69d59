"""`callqc db migrate`: bring the database schema to head; `callqc db rollup`: refresh the hour rollup."""

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
    def rollup_cmd(
        everything: bool = typer.Option(False, "--all", help="Recompute every hour, not only those touched "
                                        "since the last refresh (after a hand edit of a call's start time)."),
    ) -> None:
        """Refresh the hour rollup (hour_stats) for the hours touched since the last refresh."""
        from review_app.workflow.rollup import refresh
        from storage.db import session

        with session(write=True) as s:
            done = refresh(s, full=everything)
        typer.echo(f"rollup: {done.hours} hours recomputed ({done.rows} rows), "
                   f"watermark {done.watermark:%Y-%m-%d %H:%M:%S}")

    app.add_typer(db, name="db")
