"""`callqc up`: the recorder API, the workers, the spool watcher and the review app, together.

Each part runs as its own `callqc` subprocess (exactly what an operator would start separately);
`up` supervises them: when one exits, the others are stopped and `up` exits non-zero.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time
from pathlib import Path

import typer

from callqc.errors import InvalidInput
from storage.db import migrate
from storage.settings import get_settings

log = logging.getLogger(__name__)


class MissingApiToken(InvalidInput):
    """the ingest API needs CALLQC_API_TOKEN (or start with --no-api)"""


def _callqc(*args: str) -> list[str]:
    return [sys.executable, "-m", "callqc", *args]


def register(app: typer.Typer) -> None:
    @app.command("up")
    def up_cmd(
        api: bool = typer.Option(True, help="Run the HTTP ingest API."),
        workers: bool = typer.Option(True, help="Run the pipeline workers."),
        review: bool = typer.Option(True, "--app/--no-app", help="Run the review app."),
        spool: Path = typer.Option(None, help="Also watch this spool folder for PBX recordings."),
        concurrency: int = typer.Option(None, min=1, help="Worker processes (default: settings)."),
    ) -> None:
        """Start the recorder API, workers and review app together; Ctrl-C stops them all."""
        s = get_settings()
        if api and s.api_token is None:
            raise MissingApiToken()
        migrate()
        parts: dict[str, list[str]] = {}
        if api:
            parts["recorder-api"] = _callqc("recorder", "api")
        if workers:
            parts["workers"] = _callqc("work", "--concurrency", str(concurrency or s.worker_concurrency))
        if spool is not None:
            parts["spool-watch"] = _callqc("recorder", "watch", str(spool))
        if review:
            parts["review-app"] = _callqc("app")
        procs = {name: subprocess.Popen(cmd) for name, cmd in parts.items()}
        for name in procs:
            typer.echo(f"started {name}")
        if api:
            typer.echo(f"ingest API: http://{s.api_host}:{s.api_port}/v1/recordings")
        if review:
            typer.echo(f"review app: http://localhost:{s.app_port}")
        stopping = False

        def _stop(*_: object) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        failed = None
        while not stopping and failed is None:
            time.sleep(0.5)
            failed = next((n for n, p in procs.items() if p.poll() is not None), None)
        for p in procs.values():
            if p.poll() is None:
                p.terminate()
        for p in procs.values():
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        if failed is not None:
            typer.echo(f"{failed} exited with {procs[failed].returncode}; stopped the rest", err=True)
            raise typer.Exit(1)
