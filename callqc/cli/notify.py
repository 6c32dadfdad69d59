"""`callqc notify`: the notification sender, and what is in the outbox."""

from __future__ import annotations

import signal
import threading

import typer


def register(app: typer.Typer) -> None:
    notify = typer.Typer(help="Notifications (outbox, webhook and e-mail).", no_args_is_help=True)

    @notify.command("run")
    def run_cmd(
        once: bool = typer.Option(False, "--once", help="Send what is due now, then exit."),
    ) -> None:
        """Send due notifications until SIGTERM or Ctrl-C (the message in hand is finished first)."""
        from callqc.notifier import run
        from storage.db import migrate

        migrate()
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        n = run(stop, drain=once)
        if once:
            typer.echo(f"handled {n}")

    @notify.command("list")
    def list_cmd(state: str = typer.Option(None, help="pending, sending, sent or dead.")) -> None:
        """The outbox, newest first (subjects and states; never message bodies)."""
        from storage.db import session
        from storage.notifications import outbox

        with session() as s:
            for n in outbox(s, state=state):
                typer.echo(f"{n.id}\t{n.state}\t{n.attempts}\t{n.kind}\t{n.channel}\t{n.user_name}\t{n.subject}"
                           + (f"\t{n.last_error}" if n.last_error else ""))

    @notify.command("set")
    def set_cmd(
        user: str = typer.Argument(..., help="User name."),
        kind: str = typer.Argument(..., help="assignment, feedback, dispute or archive_failure."),
        channel: str = typer.Argument(..., help="email or webhook."),
        address: str = typer.Argument(..., help="E-mail address or webhook URL."),
        off: bool = typer.Option(False, "--off", help="Switch this notification off."),
    ) -> None:
        """Set a user's notification preference."""
        from storage.db import session
        from storage.notifications import set_pref
        from storage.users import UserNotFound, list_users

        with session() as s:
            if user not in {u.name for u in list_users(s)}:
                raise UserNotFound(user)
            p = set_pref(s, user, kind, channel, address, enabled=not off)
        typer.echo(f"{p.user_name}: {p.kind} by {p.channel} {'on' if p.enabled else 'off'}")

    app.add_typer(notify, name="notify")
