"""`callqc dev populate`: fill a PostgreSQL database with realistic rows for measuring pages at scale."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    dev = typer.Typer(help="Developer tools.", no_args_is_help=True)

    @dev.command("populate")
    def populate_cmd(
        calls: int = typer.Option(..., help="How many calls to write (each with 20 segments, an evaluation, ...)."),
        seed: int = typer.Option(1, help="The data is a function of the seed; call IDs are pop<SEED>-<n>."),
        months: int = typer.Option(12, help="Spread the calls evenly over this many months."),
        end_month: str = typer.Option(None, help="The last month, YYYY-MM (default: this month, UTC)."),
        batch: int = typer.Option(5000, help="Calls per transaction."),
        agents: int = typer.Option(None, help="How many agents (default: ~3,300 calls a year each, at most 300)."),
    ) -> None:
        """Write CALLS calls with transcripts, evaluations, reviews, audit rows and archive entries (PostgreSQL)."""
        from callqc.populate import Plan, Populated, populate
        from storage.db import get_engine

        plan = Plan(calls=calls, seed=seed, months=months, batch=batch, staff=agents,
                    **({"end_month": end_month} if end_month else {}))

        def progress(done: Populated) -> None:
            rate = done.calls / done.seconds if done.seconds else 0.0
            typer.echo(f"{done.calls} calls ({rate:.0f}/s)", err=True)

        done = populate(get_engine(), plan, progress=progress)
        typer.echo(f"wrote {done.calls} calls, {done.segments} segments, {done.evaluations} evaluations "
                   f"({done.items} items), {done.reviews} reviews, {done.audit} audit rows, "
                   f"{done.archived} archive entries in {done.seconds:.1f} s")

    app.add_typer(dev, name="dev")
