"""`callqc dispose [--dry-run] [--call ID]`: retention disposal of hot audio and transcripts."""

from __future__ import annotations

import getpass

import typer


def register(app: typer.Typer) -> None:
    @app.command("dispose")
    def dispose_cmd(
        dry_run: bool = typer.Option(False, "--dry-run", help="List what would be disposed; change nothing."),
        call_id: str = typer.Option(None, "--call", help="Only this call (refused with the reason if not safe)."),
        limit: int = typer.Option(None, "--limit", min=1, help="Stop after this many calls are handled."),
    ) -> None:
        """Delete hot audio and transcripts past their retention period once the archive holds verified
        copies (never under legal hold or WORM retention); evaluations and KPIs stay."""
        from storage.disposal import Verdict, dispose_call, dispose_due

        actor = f"cli:{getpass.getuser()}"
        if call_id is not None:
            typer.echo(dispose_call(call_id, actor=actor, dry_run=dry_run).line())
            return
        outcomes = dispose_due(actor=actor, dry_run=dry_run, limit=limit)
        for o in outcomes:
            typer.echo(o.line())
        gone = sum(o.verdict in (Verdict.disposed, Verdict.would_dispose) for o in outcomes)
        verb = "would dispose" if dry_run else "disposed"
        typer.echo(f"dispose: {verb} {gone} calls, kept {len(outcomes) - gone} that are due but not safe")
