"""`callqc coverage --day D`: was every answered call of the day recorded? (PBX call records vs recordings)"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("coverage")
    def coverage_cmd(
        day: str = typer.Option(
            ..., "--day", help="The day, YYYY-MM-DD, in the PBX's time zone (CALLQC_PBX_TIMEZONE)."),
        cdr: Path | None = typer.Option(
            None, "--cdr", help="Asterisk cdr_csv Master.csv to read first (default CALLQC_CDR_CSV; records "
            "already read are skipped)."),
        cdr_format: str = typer.Option(
            "asterisk", "--cdr-format", help="asterisk (cdr_csv Master.csv) or freeswitch (mod_cdr_csv, "
            "`example` template)."),
        as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    ) -> None:
        """Match the PBX's answered calls to recordings; coverage % per queue and agent, and the missing calls.

        Exits 1 when coverage is below CALLQC_COVERAGE_ALERT_PCT."""
        from recorder.cdr import BadCdr, coverage, import_cdr_csv, missing_lines
        from storage.db import session
        from storage.settings import get_settings

        settings = get_settings()
        try:
            when = date.fromisoformat(day)
        except ValueError:
            raise BadCdr(f"--day {day!r}: expected YYYY-MM-DD") from None
        source = cdr or settings.cdr_csv
        with session(write=True) as s:
            new = 0
            if source is not None:
                new = import_cdr_csv(s, source, timezone=settings.pbx_timezone, agent_map=settings.agent_map_csv,
                                     kind=cdr_format)
            cov = coverage(s, when, timezone=settings.pbx_timezone)
        if as_json:
            typer.echo(json.dumps({**cov.as_dict(), "new_records": new}, indent=2))
        else:
            typer.echo(f"{cov.day}: {cov.recorded} of {cov.answered} answered calls recorded ({cov.pct:.2f}%), "
                       f"{len(cov.missing)} missing; {new} new CDR records read")
            for title, table in (("queue", cov.by_queue), ("agent", cov.by_agent)):
                for key, (rec, ans) in sorted(table.items()):
                    typer.echo(f"  {title} {key}: {rec}/{ans} ({100.0 * rec / ans:.1f}%)")
            for line in missing_lines(cov):
                typer.echo("  " + line)
        if cov.pct < settings.coverage_alert_pct:
            raise typer.Exit(1)
