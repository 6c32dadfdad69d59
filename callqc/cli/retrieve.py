"""`callqc retrieve CALL_ID -o FILE`: the original audio of a hot or archived call, SHA-256 checked."""

from __future__ import annotations

import getpass
from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("retrieve")
    def retrieve_cmd(
        call_id: str = typer.Argument(..., help="Call ID."),
        output: Path = typer.Option(
            None, "-o", "--output", help="File to write; default <call-id>.<ext> here."
        ),
        redacted: bool = typer.Option(
            False, "--redacted", help="The copy with personal data cut out instead of the original."
        ),
    ) -> None:
        """Write a call's original recording (hot or archived) after a SHA-256 check."""
        from storage.db import session
        from storage.models import AuditAction
        from storage.retrieval import AudioVariant, locate, save_recording

        variant = AudioVariant.redacted if redacted else AudioVariant.original
        if output is None:
            with session() as s:
                _, filename, _ = locate(s, call_id, variant)
            output = Path(filename)
        rec = save_recording(
            call_id, output, actor=f"cli:{getpass.getuser()}", source="cli", action=AuditAction.retrieve,
            variant=variant,
        )
        typer.echo(f"{output}: {rec.size} bytes ({variant}) from {rec.source}, sha256 {rec.sha256}")
