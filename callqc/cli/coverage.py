"""`callqc coverage --day D`: was every answered call of the day recorded? (PBX call records vs recordings)"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

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
            "asterisk", "--cdr-format", help="asterisk (cdr_csv Master.csv), freeswitch (mod_cdr_csv, "
            "`example` template), freeswitch-json (mod_json_cdr files: --cdr FILE or folder, default "
            "CALLQC_CDR_JSON_DIR) or freepbx-db (FreePBX's asteriskcdrdb.cdr table at CALLQC_CDR_DSN)."),
        as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    ) -> None:
        """Match the PBX's answered calls to recordings; coverage % per queue and agent, and the missing calls.

        Exits 1 when coverage is below CALLQC_COVERAGE_ALERT_PCT."""
        from recorder.cdr import BadCdr, coverage, import_cdr_csv, missing_lines
        from storage.cdr import add_new
        from storage.db import session
        from storage.settings import get_settings

        settings = get_settings()
        try:
            when = date.fromisoformat(day)
        except ValueError:
            raise BadCdr(f"--day {day!r}: expected YYYY-MM-DD") from None
        # The other sources are read before the write transaction: no connection held while they answer.
        records = _read_other(cdr_format, cdr, when)
        source = cdr or settings.cdr_csv
        with session(write=True) as s:
            new = 0
            if records is not None:
                new = add_new(s, records)
            elif source is not None:
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


def _read_other(kind: str, path: Path | None, day: date) -> list[Any] | None:
    """Records of the non-CSV sources (None for the CSV ones, which import_cdr_csv reads)."""
    from recorder.cdr import BadCdr, pbx_zone
    from recorder.cdr_sources import read_cdr_table, read_json_cdr
    from recorder.layouts import read_agent_map
    from storage.settings import get_settings

    settings = get_settings()
    agents = read_agent_map(settings.agent_map_csv)
    if kind == "freeswitch-json":
        folder = path or settings.cdr_json_dir
        if folder is None:
            raise BadCdr("--cdr-format freeswitch-json needs --cdr or CALLQC_CDR_JSON_DIR")
        return read_json_cdr(folder, timezone=settings.pbx_timezone, agents=agents)
    if kind == "freepbx-db":
        if settings.cdr_dsn is None:
            raise BadCdr("--cdr-format freepbx-db needs CALLQC_CDR_DSN")
        start = datetime(day.year, day.month, day.day, tzinfo=pbx_zone(settings.pbx_timezone))
        return read_cdr_table(settings.cdr_dsn.get_secret_value(), since=start - timedelta(hours=1),
                              until=start + timedelta(days=1, hours=1), timezone=settings.pbx_timezone, agents=agents)
    return None
