"""`callqc schedule`: scheduled sampling plans, run once (a Kubernetes CronJob) or in a loop (`callqc up`)."""

from __future__ import annotations

import signal
import threading
from datetime import UTC, datetime

import typer

from storage.errors import InvalidInput


def _when(raw: str | None) -> datetime | None:
    if raw is None:
        return None
    try:
        when = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(f"--now {raw!r}: use an ISO time such as 2026-12-01T02:00:00Z") from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def register(app: typer.Typer) -> None:
    schedule = typer.Typer(help="Scheduled sampling plans (each period runs exactly once).", no_args_is_help=True)

    @schedule.command("run-once")
    def run_once_cmd(
        now: str = typer.Option(None, help="Pretend the time is this (ISO, UTC); for replays and tests."),
    ) -> None:
        """Run every scheduled plan's periods that have ended and not run yet, last month's report and
        the live plans firing now, then exit."""
        from review_app.workflow.schedule import tick
        from storage.db import migrate

        migrate()
        done = tick(now=_when(now))
        for r in done.sampling:
            typer.echo(f"plan {r.plan_id}\t{r.period_start.isoformat()}\t{r.period_end.isoformat()}\trun {r.run_id}")
        for m in done.reports:
            typer.echo(f"report {m.month}\t{m.tenant}\t{m.path}")
        for f in done.live:
            typer.echo(f"live plan {f.plan_id}\t{f.fire_at.isoformat()}\t{len(f.picks)} pick(s)")

    @schedule.command("loop")
    def loop_cmd() -> None:
        """Run scheduled plans as their periods end, until SIGTERM or Ctrl-C."""
        from review_app.workflow.schedule import loop
        from storage.db import migrate

        migrate()
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        loop(stop)

    @schedule.command("set")
    def set_cmd(
        plan_id: int = typer.Argument(..., help="Sampling plan ID."),
        cron: str = typer.Argument(..., help="Five-field cron expression in UTC, e.g. '0 2 * * *'; '' removes it."),
    ) -> None:
        """Give a sampling plan a schedule (or remove it)."""
        from review_app.workflow.sampling import set_schedule
        from storage.db import session
        from storage.users import Principal, Role

        with session() as s:
            plan = set_schedule(s, Principal("cli", Role.admin), plan_id, cron or None)
        typer.echo(f"plan {plan.id}: schedule {plan.schedule or 'none'}")

    @schedule.command("set-live")
    def set_live_cmd(
        plan_id: int = typer.Argument(..., help="Live plan ID."),
        cron: str = typer.Argument(..., help="Five-field cron in UTC, e.g. '0 10,15 * * 1-5'; '' removes it."),
        inspector: list[str] = typer.Option(None, "--inspector", help="Who gets a live call at each firing "
                                            "(repeat the option)."),
    ) -> None:
        """Schedule a live plan: at each firing each inspector is given a live call to listen to."""
        from review_app.workflow.live_schedule import set_live_schedule
        from storage.db import session
        from storage.users import Principal, Role

        with session() as s:
            plan = set_live_schedule(s, Principal("cli", Role.admin), plan_id, cron or None, list(inspector or []))
        typer.echo(f"live plan {plan.id}: schedule {plan.schedule or 'none'} for {', '.join(plan.inspectors) or '-'}")

    app.add_typer(schedule, name="schedule")
