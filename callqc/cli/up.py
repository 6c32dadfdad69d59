"""`callqc up`: the recorder API, the workers, the spool watcher, the SIPREC server, the live transcriber and
the review app, together.

Each part runs as its own `callqc` subprocess (exactly what an operator would start separately);
`up` supervises them: when one exits, the others are stopped and `up` exits non-zero.

Each part gets its own process group. A terminal's Ctrl-C then reaches only `up`, which stops the
parts in order (SIGTERM to each part: the workers finish their current job, uvicorn drains), and
whatever a part leaves behind (the Streamlit server under `callqc app`, forked workers) is still
reachable through its group: after the grace period the groups are terminated, then killed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import typer

from storage.db import migrate
from storage.errors import CallqcError, InvalidInput
from storage.settings import get_settings

log = logging.getLogger(__name__)

GRACE_S = 20.0  # how long a part may take to stop after SIGTERM (a worker finishing its job)
_POLL_S = 0.2


class MissingApiToken(InvalidInput):
    """the ingest API needs CALLQC_API_TOKEN (or start with --no-api)"""


class NothingToRun(InvalidInput):
    """nothing to start"""


class PartExited(CallqcError):
    """a part of `callqc up` stopped"""


def _callqc(*args: str) -> list[str]:
    return [sys.executable, "-m", "callqc", *args]


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    # The part is its group's leader (start_new_session), so its pid is the group id.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def _group_alive(proc: subprocess.Popen[bytes]) -> bool:
    try:
        os.killpg(proc.pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def stop_parts(procs: dict[str, subprocess.Popen[bytes]], *, grace_s: float, abort: list[bool]) -> None:
    """SIGTERM each part, wait up to ``grace_s`` (less if ``abort[0]`` turns true), then clear the groups."""
    for name, p in procs.items():
        if p.poll() is None:
            log.info("up: stopping %s (pid %s)", name, p.pid)
            p.terminate()
    deadline = time.monotonic() + grace_s
    while any(p.poll() is None for p in procs.values()) and time.monotonic() < deadline and not abort[0]:
        time.sleep(_POLL_S)
    # Leftovers: a part that ignored SIGTERM, or children a part left behind when it exited.
    for p in procs.values():
        _signal_group(p, signal.SIGTERM)
    deadline = time.monotonic() + (0 if abort[0] else 5.0)
    while any(_group_alive(p) for p in procs.values()) and time.monotonic() < deadline:
        time.sleep(_POLL_S)
    for name, p in procs.items():
        if _group_alive(p):
            log.warning("up: killing what is left of %s", name)
            _signal_group(p, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            p.wait(timeout=5)


def register(app: typer.Typer) -> None:
    @app.command("up")
    def up_cmd(
        api: bool = typer.Option(True, help="Run the HTTP ingest API."),
        workers: bool = typer.Option(True, help="Run the pipeline workers."),
        review: bool = typer.Option(True, "--app/--no-app", help="Run the review app."),
        scheduler: bool = typer.Option(True, help="Run scheduled sampling and live plans and the month-end "
                                       "report (`callqc schedule loop`) and the notification sender "
                                       "(`callqc notify run`)."),
        spool: Path = typer.Option(None, help="Also watch this spool folder for PBX recordings."),
        siprec: bool = typer.Option(False, help="Run the SIPREC recording server (live capture)."),
        live: bool = typer.Option(True, help="Run the live transcriber (`callqc live-transcribe`) for the live "
                                  "calls of this host (with the API or --siprec; off with CALLQC_LIVE_TRANSCRIPT)."),
        concurrency: int = typer.Option(None, min=1, help="Worker processes (default: settings)."),
        kinds: str = typer.Option(None, help="Job kinds the workers take, e.g. transcribe,score "
                                  "(default: every kind with a handler)."),
    ) -> None:
        """Start the recorder API, workers and review app together; Ctrl-C (or SIGTERM) stops them all."""
        s = get_settings()
        if api and s.api_token is None:
            raise MissingApiToken()
        if api:
            from recorder.api import api_token

            api_token()  # a weak token: refused here in one line, before any part starts
        if not (api or workers or review or siprec or scheduler or spool is not None):
            raise NothingToRun("every part is switched off")
        if spool is not None and not spool.is_dir():
            raise InvalidInput(f"--spool {spool}: not a folder")
        migrate()
        parts: dict[str, list[str]] = {}
        if api:
            parts["recorder-api"] = _callqc("recorder", "api")
        if workers:
            work = _callqc("work", "--concurrency", str(concurrency or s.worker_concurrency))
            parts["workers"] = work + (["--kinds", kinds] if kinds else [])
        if siprec:
            parts["siprec"] = _callqc("recorder", "siprec")
        if live and s.live_transcript and (api or siprec):  # live calls come in through one of them
            parts["live-transcriber"] = _callqc("live-transcribe")
        if spool is not None:
            parts["spool-watch"] = _callqc("recorder", "watch", str(spool))
        if scheduler:
            parts["scheduler"] = _callqc("schedule", "loop")
            parts["notifier"] = _callqc("notify", "run")
        if review:
            parts["review-app"] = _callqc("app", "--address", s.app_host)

        stopping = [False]
        abort = [False]

        def on_signal(*_: object) -> None:
            if stopping[0]:
                abort[0] = True  # a second Ctrl-C: don't wait for running jobs
            stopping[0] = True

        # Handlers first: a signal arriving while the parts start must still stop every one of them.
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        procs: dict[str, subprocess.Popen[bytes]] = {}
        failed: str | None = None
        try:
            for name, cmd in parts.items():
                procs[name] = subprocess.Popen(cmd, start_new_session=True)
                typer.echo(f"started {name} (pid {procs[name].pid})")
            if api:
                typer.echo(f"ingest API: http://{s.api_host}:{s.api_port}/v1/recordings")
            if review:
                typer.echo(f"review app: http://{s.app_host}:{s.app_port}")
            while not stopping[0] and failed is None:
                time.sleep(_POLL_S)
                failed = next((n for n, p in procs.items() if p.poll() is not None), None)
        finally:
            stop_parts(procs, grace_s=GRACE_S, abort=abort)
        if failed is not None:
            raise PartExited(f"{failed} exited with {procs[failed].returncode}; stopped the rest")
        typer.echo("stopped")
