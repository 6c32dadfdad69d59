"""`callqc work`: run worker processes; `callqc status`: queue depth and dead jobs with their errors."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

from storage.jobs import JobState

STATES = [s.value for s in JobState]


def _kinds(text: str | None) -> list[str] | None:
    if not text:
        return None
    return [k.strip() for k in text.split(",") if k.strip()] or None


def register(app: typer.Typer) -> None:
    @app.command("work")
    def work_cmd(
        burst: bool = typer.Option(False, "--burst", help="Drain the queue, then exit."),
        kinds: str = typer.Option(None, help="Comma-separated job kinds, e.g. transcribe,score "
                                  "(default: every kind with a handler)."),
        concurrency: int = typer.Option(None, min=1, help="Worker processes (default: settings)."),
        max_jobs: int = typer.Option(None, min=1, help="Each worker process exits after this many jobs "
                                     "(all its slots together)."),
    ) -> None:
        """Run worker processes: claim jobs, run their handlers; Ctrl-C finishes current jobs and stops."""
        from callqc.pool import run_workers
        from storage.settings import get_settings

        code = run_workers(concurrency or get_settings().worker_concurrency, kinds=_kinds(kinds), burst=burst,
                           max_jobs=max_jobs)
        raise typer.Exit(code)

    @app.command("status")
    def status_cmd(
        as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
        dead: int = typer.Option(20, min=0, max=1000, help="How many dead jobs to list (newest first)."),
    ) -> None:
        """Queue depth by state and kind, and the dead jobs with their errors."""
        from recorder.siprec.live import pending_journals
        from storage.db import get_engine
        from storage.queue import stats
        from storage.settings import get_settings

        st = stats(get_engine(), dead_limit=dead)
        kinds = sorted({k for _s, k in st.counts})
        # Live capture journals on this host: calls being recorded, and ended calls not yet stored.
        journals = pending_journals(get_settings().data_dir)
        live_n = sum(j.get("state") == "live" for j in journals)
        waiting = [j["call_id"] for j in journals if j.get("state") != "live"]
        if as_json:
            doc = {
                "live_capture": {"live": live_n, "waiting_for_storage": waiting},
                "counts": {s: {k: st.counts.get((s, k), 0) for k in kinds} for s in STATES},
                "dead": [
                    {"id": d.id, "kind": d.kind, "call_id": d.call_id, "attempts": d.attempts,
                     "finished_at": d.finished_at.isoformat() if d.finished_at else None,
                     "error": d.last_error}
                    for d in st.dead
                ],
            }
            typer.echo(json.dumps(doc, ensure_ascii=False, indent=2))
            return
        console = Console()
        if journals:
            console.print(f"live capture on this host: {live_n} live call(s), {len(waiting)} waiting for storage"
                          + (f": {', '.join(waiting)} (see `callqc recorder status`)" if waiting else ""),
                          soft_wrap=True, markup=False)
        if not kinds:
            console.print("queue is empty")
            return
        depth = Table("kind", *STATES, "total", title="jobs by state")
        for k in kinds:
            row = [st.counts.get((s, k), 0) for s in STATES]
            depth.add_row(k, *(str(n) for n in row), str(sum(row)))
        depth.add_row("[bold]all[/bold]", *(str(st.total(s)) for s in STATES), str(sum(st.counts.values())))
        console.print(depth)
        if st.dead:
            # One line per job, never wrapped: the error is what an operator greps and pastes.
            console.print(f"[bold]dead jobs[/bold] (newest {len(st.dead)}; "
                          "`callqc retry JOB_ID` requeues one)")
            for d in st.dead:
                died = f"{d.finished_at:%Y-%m-%d %H:%M}" if d.finished_at else "?"
                call = f" call {d.call_id}" if d.call_id else ""
                console.print(f"job {d.id} {d.kind}{call} died {died} after {d.attempts} attempt(s): "
                              f"{d.last_error or '(no error kept)'}", soft_wrap=True, markup=False,
                              highlight=False)

    @app.command("retry")
    def retry_cmd(job_id: int = typer.Argument(..., help="ID of a dead job (see `callqc status`).")) -> None:
        """Queue a dead job again with a fresh set of attempts."""
        from storage.db import get_engine
        from storage.queue import retry_dead

        retry_dead(get_engine(), job_id)
        typer.echo(f"job {job_id} queued again")
