"""`callqc ingest FILE...`: store recordings, register their calls, queue their transcription."""

from __future__ import annotations

import getpass
from pathlib import Path

import typer

from storage.errors import CallqcError, InvalidInput


class NotAllIngested(CallqcError):
    """some recordings were not ingested"""


def register(app: typer.Typer) -> None:
    @app.command("ingest")
    def ingest_cmd(
        files: list[Path] = typer.Argument(..., help="Recordings (WAV, FLAC, MP3, Ogg/Opus, M4A)."),
        call_id: str | None = typer.Option(
            None,
            "--call-id",
            help="Call ID (one FILE only); default the "
            "sidecar's call_id, else the file name without its extension.",
        ),
        agent: str | None = typer.Option(None, "--agent", help="Agent ID."),
        meta: list[str] = typer.Option(
            [],
            "--meta",
            help="key=value, repeatable: Call columns (tenant, team, "
            "queue, direction, caller, callee, started_at, ended_at) or extra fields.",
        ),
        channel_map: str | None = typer.Option(
            None, "--channel-map", help="Stereo channel map, default agent=left,customer=right."
        ),
        sidecar: bool = typer.Option(
            True, "--sidecar/--no-sidecar", help="Read <file>.json / <stem>.json next to each file."
        ),
    ) -> None:
        """Ingest recordings; prints one call ID per file. Options override the sidecar's values."""
        from recorder.ingest import ingest_file
        from recorder.metadata import CallMeta, parse_meta, parse_pairs, read_sidecar, sidecar_for

        if call_id is not None and len(files) > 1:
            raise InvalidInput("--call-id names one call: give exactly one FILE")
        raw: dict[str, object] = dict(parse_pairs(meta))
        for key, value in (("call_id", call_id), ("agent_id", agent), ("channel_map", channel_map)):
            if value is not None:
                raw[key] = value
        given = parse_meta(raw)
        actor = f"cli:{getpass.getuser()}"
        failures: list[CallqcError] = []
        for path in files:
            try:
                if not path.is_file():
                    raise InvalidInput(f"{path}: no such file")
                side = sidecar_for(path) if sidecar else None
                call_meta = (read_sidecar(side) if side else CallMeta()).merged(given)
                result = ingest_file(path, call_meta, actor=actor, source="cli")
            except CallqcError as exc:
                if len(files) == 1:
                    raise
                typer.echo(f"error: {exc}", err=True)
                failures.append(exc)
                continue
            typer.echo(result.call_id)
            if not result.created:
                typer.echo(f"{result.call_id}: already registered with the same audio", err=True)
        if failures:
            raise NotAllIngested(f"{len(failures)} of {len(files)} files (see above)")
