"""`callqc check`: does every row have its object, every object its row, every archived call its image?"""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("check")
    def check_cmd(
        deep: bool = typer.Option(
            False, "--deep", help="Read every object and hash its bytes (default: the SHA-256 recorded at upload)."
        ),
        orphan_min_age_s: float = typer.Option(
            3600.0, "--orphan-min-age", min=0, help="Objects younger than this many seconds are not called orphans "
            "(an upload in progress stores its object just before its row).",
        ),
    ) -> None:
        """Check the database against the object store; exit 1 with a summary and a list when they disagree."""
        from storage.consistency import check

        report = check(deep=deep, orphan_min_age_s=orphan_min_age_s)
        typer.echo(report.summary())
        for finding in report.findings:
            typer.echo(finding.line())
        if not report.ok:
            raise typer.Exit(1)
