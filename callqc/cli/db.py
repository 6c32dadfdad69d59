"""`callqc db migrate`: bring the database schema to head; `callqc db rollup`: refresh the hour rollup;
`callqc db partitions`: list (or create) the month partitions on PostgreSQL."""

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
        """Refresh the hour rollup (hour_stats) for the hours touched since the last refresh and the day
        layer above it (day_stats) for their days, then its siblings: the agreement rollup
        (agreement_days) and the review-day rollup (review_days)."""
        from review_app.workflow import review_days
        from review_app.workflow.rollup import refresh
        from scoring import agreement_rollup
        from storage.db import session

        with session(write=True) as s:
            done = refresh(s, full=everything, progress=lambda line: typer.echo(line, err=True))
        typer.echo(f"rollup: {done.hours} hours recomputed ({done.rows} rows), "
                   f"watermark {done.watermark:%Y-%m-%d %H:%M:%S}")
        for name, unit, sibling in (("agreement", "days", agreement_rollup.refresh),
                                    ("review days", "days", review_days.refresh)):
            with session(write=True) as s:
                done = sibling(s, full=everything)
            typer.echo(f"{name}: {done.hours} {unit} recomputed ({done.rows} rows), "
                       f"watermark {done.watermark:%Y-%m-%d %H:%M:%S}")

    @db.command("partitions")
    def partitions_cmd(
        create: bool = typer.Option(False, "--create", help="Create this month's and the coming months' "
                                    "partitions where missing (the workers also do this hourly)."),
        ahead: int | None = typer.Option(None, "--ahead", min=0, max=120,
                                         help="Months ahead to create (default: setting partition_months_ahead)."),
    ) -> None:
        """List the month partitions of segments, transcripts and the audit log (PostgreSQL)."""
        from storage import partitions
        from storage.db import get_engine
        from storage.settings import get_settings

        engine = get_engine()
        if engine.dialect.name != "postgresql":
            typer.echo("partitions: none on SQLite (tables are not partitioned there)")
            return
        if create:
            made = partitions.upkeep(engine, ahead=get_settings().partition_months_ahead if ahead is None else ahead)
            typer.echo(f"partitions: created {len(made)}" + (f": {', '.join(made)}" if made else ""))
        with engine.connect() as conn:
            for p in partitions.partitions(conn):
                typer.echo(p.line())

    app.add_typer(db, name="db")
