"""`callqc report monthly`: the monthly quality audit report (品质稽核报表) as XLSX or CSV."""

from __future__ import annotations

import getpass
import os
from pathlib import Path

import typer

from storage.errors import InvalidInput


def register(app: typer.Typer) -> None:
    report = typer.Typer(help="Reports.", no_args_is_help=True)

    @report.command("monthly")
    def monthly_cmd(
        month: str = typer.Option(None, help="The month, YYYY-MM (default: last month, UTC)."),
        out: Path = typer.Option(..., help="File to write: .xlsx (one sheet per view) or .csv; a folder: "
                                 "qc-report-YYYY-MM[-TEAM].xlsx in it."),
        team: str = typer.Option(None, help="Only this team (default: every team of the tenant)."),
        tenant: str = typer.Option("default", help="Tenant whose calls the report covers."),
    ) -> None:
        """Write the month's report per agent and per team (audited)."""
        from review_app.report_files import to_csv, to_xlsx
        from review_app.workflow.report import monthly_report
        from storage.db import session
        from storage.users import Principal, Role

        if month is None:
            from datetime import UTC, datetime, timedelta

            month = f"{datetime.now(UTC).replace(day=1) - timedelta(days=1):%Y-%m}"
        if out.is_dir():
            out = out / f"qc-report-{month}{'-' + team if team else ''}.xlsx"
        kind = out.suffix.lower()
        if kind not in (".xlsx", ".csv"):
            raise InvalidInput(f"--out {out}: the file must end in .xlsx or .csv")
        if not out.parent.is_dir():
            raise InvalidInput(f"--out {out}: folder {out.parent} does not exist")
        who = Principal(f"cli:{getpass.getuser()}", Role.supervisor, tenant=tenant, team=team)
        with session(write=True) as s:
            rep = monthly_report(s, who, month, team=team, source="cli")
        data = to_xlsx(rep) if kind == ".xlsx" else to_csv(rep)
        tmp = out.with_name(out.name + ".part")
        tmp.write_bytes(data)
        os.replace(tmp, out)
        agents = next(v for v in rep.views if v.key == "agents")
        typer.echo(f"wrote {out} ({len(agents.rows)} agents, {len(data)} bytes)")

    app.add_typer(report, name="report")
