"""`callqc recorder watch DIR` (spool folder), `recorder api` (HTTP ingest), `recorder siprec` (live capture),
`recorder status` (live calls and journals waiting for storage)."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    rec = typer.Typer(
        help="Take recordings in: spool-folder watcher and HTTP ingest API.", no_args_is_help=True
    )

    @rec.command("watch")
    def watch_cmd(
        spool: Path = typer.Argument(..., help="Spool folder the PBX writes finished recordings to."),
        once: bool = typer.Option(False, "--once", help="Handle the files finished now, then exit."),
        require_done: bool = typer.Option(
            True,
            "--require-done/--no-require-done",
            help="Take only files with a .done marker (the default). --no-require-done also takes files "
            "whose size has not changed for CALLQC_SPOOL_STABLE_S: a writer pausing that long loses audio.",
        ),
        layout: str | None = typer.Option(
            None, "--layout", help="PBX layout: freepbx, asterisk, freeswitch or plain (default "
            "CALLQC_SPOOL_LAYOUT); freepbx and freeswitch also look in dated sub-folders.",
        ),
    ) -> None:
        """Ingest finished files, then move them to DIR/done or DIR/rejected (with a reason file)."""
        from recorder.watch import Outcome, Watcher

        watcher = Watcher(spool, require_marker=require_done, layout=layout)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        retry = 0
        for result in watcher.run(stop=stop, once=once):
            if result.outcome is Outcome.done:
                typer.echo(f"done\t{result.name}\t{result.call_id}")
            else:
                retry += result.outcome is Outcome.retry
                typer.echo(f"{result.outcome}\t{result.name}\t{result.reason}", err=True)
        if once and retry:
            raise typer.Exit(1)

    @rec.command("api")
    def api_cmd() -> None:
        """Run the HTTP ingest API on api_host:api_port (needs CALLQC_API_TOKEN)."""
        import uvicorn

        from recorder.api import create_app
        from recorder.server import server_config
        from storage.settings import get_settings

        settings = get_settings()
        app_ = create_app()
        typer.echo(f"ingest API on http://{settings.api_host}:{settings.api_port}/v1/recordings", err=True)
        uvicorn.Server(server_config(app_)).run()

    @rec.command("sweep")
    def sweep_cmd(
        older_than_hours: float = typer.Option(
            24.0, "--older-than-hours", min=1.0, help="Leave younger objects alone (uploads in progress)."
        ),
        dry_run: bool = typer.Option(False, "--dry-run", help="Only list what would be removed."),
    ) -> None:
        """Remove recording objects no call points to (left by an ingest killed mid-way); prints each key."""
        from recorder.orphans import sweep_orphans
        from storage.stores import get_store

        keys = sweep_orphans(get_store(), older_than_s=older_than_hours * 3600, dry_run=dry_run)
        for key in keys:
            typer.echo(key)
        typer.echo(f"{len(keys)} unregistered object(s) {'found' if dry_run else 'removed'}", err=True)

    @rec.command("siprec")
    def siprec_cmd() -> None:
        """Run the SIPREC recording server on siprec_host:siprec_port (UDP and TCP; TLS with a certificate)."""
        import asyncio

        from recorder.siprec.server import serve
        from storage.db import migrate
        from storage.settings import get_settings

        settings = get_settings()
        migrate()

        async def run() -> None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, stop.set)
            await serve(settings, stop=stop)

        typer.echo(f"SIPREC server on sip:{settings.siprec_host}:{settings.siprec_port} (UDP, TCP)", err=True)
        asyncio.run(run())

    @rec.command("status")
    def status_cmd() -> None:
        """Live calls on this host and finished calls whose journal still waits for storage."""
        from recorder.siprec.live import pending_journals
        from storage.settings import get_settings

        rows = pending_journals(get_settings().data_dir)
        if not rows:
            typer.echo("no live calls, no journals waiting")
        for index in rows:
            state = index.get("state")
            error = index.get("upload_error")
            line = f"{index['call_id']}\t{state}\t{index.get('source')}\tanswered {index.get('answered_at')}"
            if state != "live":
                line += f"\twaiting for storage: {error or 'not yet tried'}"
            typer.echo(line)

    app.add_typer(rec, name="recorder")
