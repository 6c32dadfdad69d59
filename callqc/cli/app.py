"""`callqc app` (the review app) and `callqc user ...` (its local accounts)."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import typer

from storage.errors import InvalidInput


def _read_password(stdin: bool) -> str:
    if stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            raise InvalidInput("no password on standard input")
        return line
    return typer.prompt("password", hide_input=True, confirmation_prompt=True)


def register(app: typer.Typer) -> None:
    @app.command("app")
    def app_cmd(
        port: int = typer.Option(None, help="Port (default: settings app_port)."),
        address: str = typer.Option(None, help="Address to listen on (default: settings app_host)."),
    ) -> None:
        """Run the review app (Streamlit) until Ctrl-C."""
        from storage.db import migrate
        from storage.settings import get_settings

        migrate()
        spec = importlib.util.find_spec("review_app")
        assert spec is not None and spec.submodule_search_locations  # part of this distribution
        # server.py: the app behind security headers and the HttpOnly sign-in cookie route
        script = Path(next(iter(spec.submodule_search_locations))) / "server.py"
        cmd = [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(script),
            "--server.port",
            str(port or get_settings().app_port),
            "--server.address",
            address or get_settings().app_host,
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
            # no "Deploy" button or developer menu for QC staff
            "--client.toolbarMode",
            "viewer",
        ]
        typer.echo(f"review app: http://{address or get_settings().app_host}:{port or get_settings().app_port}/")
        sys.stdout.flush()
        # become Streamlit, so a supervisor's (`callqc up`) SIGTERM reaches the server itself
        os.execv(sys.executable, cmd)

    user = typer.Typer(help="Review-app user accounts.", no_args_is_help=True)

    @user.command("add")
    def user_add(
        name: str = typer.Argument(..., help="User name (sign-in name)."),
        role: str = typer.Option(..., help="inspector, agent, supervisor, archivist or admin."),
        agent_id: str = typer.Option(None, "--agent-id", help="For agents: the agent ID their calls carry."),
        team: str = typer.Option(None, help="Team: an agent's team; for inspectors and supervisors the one "
                                 "team they see (none: every team of the tenant)."),
        tenant: str = typer.Option("default", help="Tenant the user belongs to (agent IDs are unique per tenant)."),
        password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from stdin."),
    ) -> None:
        """Add a user; prompts for the password (argon2-hashed, never stored in clear)."""
        from storage.db import migrate, session
        from storage.users import add_user

        password = _read_password(password_stdin)
        migrate()
        with session() as s:
            u = add_user(s, name, role=role, password=password, agent_id=agent_id, team=team, tenant=tenant)
        typer.echo(f"added {u.name} ({u.role})")

    @user.command("list")
    def user_list() -> None:
        """List users."""
        from storage.db import session
        from storage.users import list_users

        with session() as s:
            for u in list_users(s):
                state = "" if u.active else " (disabled)"
                teams = "+".join([u.team, *u.also_teams]) if u.team else "*"
                typer.echo(f"{u.name}\t{u.role}\t{u.agent_id or '-'}\t{u.tenant}/{teams}{state}")

    @user.command("disable")
    def user_disable(name: str) -> None:
        """Stop a user from signing in and end their open review-app sessions (history stays)."""
        from storage.app_sessions import revoke_user
        from storage.db import session
        from storage.users import set_active

        with session() as s:
            set_active(s, name, False)
            ended = revoke_user(s, name)
        typer.echo(f"disabled {name}" + (f" ({ended} open session(s) ended)" if ended else ""))

    @user.command("teams")
    def user_teams(
        name: str = typer.Argument(..., help="User name."),
        teams: list[str] = typer.Argument(None, help="Teams of the user's tenant: the first is their own, the "
                                          "others further teams they see (a supervisor over several teams). "
                                          "None: every team of the tenant."),
    ) -> None:
        """Set the teams an inspector or supervisor sees (an agent: their one team)."""
        from storage.db import session
        from storage.users import set_teams

        with session() as s:
            u = set_teams(s, name, list(teams or []))
        typer.echo(f"{name}: teams {'+'.join([u.team, *u.also_teams]) if u.team else 'all of ' + u.tenant}")

    @user.command("timezone")
    def user_timezone(
        name: str = typer.Argument(..., help="User name."),
        zone: str = typer.Argument(..., help="IANA time zone (e.g. Europe/Berlin), or `default` for the "
                                   "app's CALLQC_TIMEZONE."),
    ) -> None:
        """Set the time zone the review app shows a user's times in (the user can change it on Profile)."""
        from storage.db import session
        from storage.users import set_timezone

        with session() as s:
            set_timezone(s, name, None if zone == "default" else zone)
        typer.echo(f"{name}: times in {zone}")

    app.add_typer(user, name="user")
