"""`callqc archive run|verify|hold|release|list`: the monthly burn-to-archive and its checks."""

from __future__ import annotations

import getpass

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TaskID, TextColumn, TimeRemainingColumn
from rich.table import Table

from storage.archive.tables import ArchiveImage


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


def register(app: typer.Typer) -> None:
    archive = typer.Typer(
        help="Monthly burn-to-archive: disc images under WORM retention.", no_args_is_help=True
    )

    @archive.command("run")
    def run_cmd(
        month: str = typer.Option(None, "--month", help="YYYY-MM; default the previous month (UTC)."),
        media: str = typer.Option("dvd", "--media", help="dvd, bd, or a disc size in bytes (700M, 4g)."),
    ) -> None:
        """Pack a month's calls into ISO images, store them under retention, verify, mark archived."""
        from storage.archive.plan import Month, parse_media
        from storage.archive.run import run_month

        chosen = Month.parse(month) if month else Month.previous()
        size = parse_media(media)
        tasks: dict[int | None, TaskID] = {}
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TimeRemainingColumn(),
            transient=False,
        ) as bar:

            def progress(image: ArchiveImage, done: int, total: int) -> None:
                if image.id not in tasks:
                    tasks[image.id] = bar.add_task(
                        f"{image.month} disc {image.disc}/{image.disc_count}", total=total
                    )
                bar.update(tasks[image.id], completed=done, total=total)

            summary = run_month(chosen, media=size, actor=_actor(), progress=progress)
        typer.echo(
            f"{summary.month}: {summary.calls} calls, {summary.bytes} bytes in {summary.images} images, "
            f"{summary.hot_deleted} hot copies deleted, {summary.seconds:.1f} s"
        )

    @archive.command("verify")
    def verify_cmd(
        month: str = typer.Option(None, "--month", help="YYYY-MM to check."),
        all_months: bool = typer.Option(False, "--all", help="Check every stored image."),
    ) -> None:
        """Fixity check: recompute every image's SHA-256; non-zero exit if one is corrupted or missing."""
        from storage.archive.verify import FixityFailed, verify_images

        results = verify_images(month=month, all_months=all_months, actor=_actor())
        for r in results:
            typer.echo(
                f"{'ok    ' if r.ok else 'FAILED'} {r.object_key}" + (f"  {r.error}" if r.error else "")
            )
        bad = [r for r in results if not r.ok]
        if bad:
            raise FixityFailed(
                f"{len(bad)} of {len(results)} images: " + ", ".join(r.object_key for r in bad)
            )
        typer.echo(f"{len(results)} images ok")

    @archive.command("hold")
    def hold_cmd(
        call_id: str = typer.Argument(..., help="Call whose archive image gets a legal hold."),
        reason: str = typer.Option(None, "--reason", help="Why (kept with the hold and in the audit log)."),
    ) -> None:
        """Put a legal hold on the archive image holding CALL_ID."""
        from storage.archive.hold import hold

        state = hold(call_id, actor=_actor(), reason=reason)
        typer.echo(f"{state.call_id}: legal hold on {state.object_key}")

    @archive.command("release")
    def release_cmd(call_id: str = typer.Argument(..., help="Call whose legal hold ends.")) -> None:
        """Release CALL_ID's legal hold (the image stays held while another of its calls is)."""
        from storage.archive.hold import release

        state = release(call_id, actor=_actor())
        still = "still held for other calls" if state.image_held else "hold lifted"
        typer.echo(f"{state.call_id}: released; {state.object_key} {still}")

    @archive.command("list")
    def list_cmd(month: str = typer.Option(None, "--month", help="Only this YYYY-MM.")) -> None:
        """List archive images with their state, size, retention and last fixity check."""
        from storage.archive.verify import list_images
        from storage.db import session

        with session() as s:
            images = list_images(s, month=month)
        table = Table("month", "disc", "state", "calls", "bytes", "retain until", "hold", "fixity", "key")
        for i in images:
            fixity = "" if i.fixity_ok is None else ("ok" if i.fixity_ok else "FAILED")
            table.add_row(
                i.month,
                f"{i.disc}/{i.disc_count}",
                str(i.state),
                str(i.call_count),
                str(i.size_bytes or ""),
                f"{i.retain_until:%Y-%m-%d}" if i.retain_until else "",
                "yes" if i.legal_hold else "",
                fixity,
                i.object_key,
            )
        Console().print(table)

    app.add_typer(archive, name="archive")
