"""`callqc redact`, `callqc redactions`, `callqc clip`, `callqc export`: personal data and audio edits.

The CLI is the operator's tool: it gives the redacted audio unless ``--original`` is asked for, and
every original it gives (text or audio) is audited under ``cli:<os user>``.
"""

from __future__ import annotations

import getpass
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from storage.segments import fmt_time


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


def print_spans(spans: list[dict], *, title: str = "redacted") -> None:
    """The table of what was redacted: type, speaker, time span, digit count (never the value)."""
    table = Table("type", "speaker", "from", "to", "digits", "found by", title=title)
    for sp in spans:
        table.add_row(sp["kind"], sp["speaker"], fmt_time(sp["start"]), fmt_time(sp["end"]),
                      str(sp["digits"] or ""), sp["rule"])
    Console().print(table)


def register(app: typer.Typer) -> None:
    @app.command("redact")
    def redact_cmd(
        call_id: str = typer.Argument(None, help="Call ID; or --all."),
        all_calls: bool = typer.Option(False, "--all", help="Every call that has a transcript."),
    ) -> None:
        """Re-run redaction of a call's transcript and audio (after a rule change, or for older calls)."""
        from sqlmodel import col, select

        from storage.db import session
        from storage.errors import InvalidInput
        from storage.transcripts import Transcript
        from transcribe.redaction.pipeline import redact_call

        if (call_id is None) == (not all_calls):
            raise InvalidInput("give a call ID or --all (not both)")
        if all_calls:
            with session() as s:
                ids = list(s.exec(select(Transcript.call_id).order_by(col(Transcript.call_id))))
        else:
            ids = [call_id]
        total = 0
        for cid in ids:
            spans = redact_call(cid, actor=_actor())
            total += len(spans)
            if not all_calls:
                print_spans([{"kind": sp.kind, "speaker": sp.speaker, "start": sp.start, "end": sp.end,
                              "digits": sp.digits, "rule": sp.rule} for sp in spans], title=f"{cid}: redacted")
        typer.echo(f"{len(ids)} call(s) redacted, {total} span(s)")

    @app.command("redactions")
    def redactions_cmd(days: int = typer.Option(30, min=1, max=3650, help="How many days back.")) -> None:
        """Redaction counts per day and type (by the day each call was checked)."""
        from storage.db import session
        from storage.redactions import counts_by_day

        with session() as s:
            rows = counts_by_day(s, days=days)
        table = Table("day", "type", "spans")
        for day, kind, n in rows:
            table.add_row(day, kind, str(n))
        Console().print(table)

    @app.command("clip")
    def clip_cmd(
        call_id: str = typer.Argument(..., help="Call ID."),
        start: float = typer.Option(None, "--start", help="From this second."),
        end: float = typer.Option(None, "--end", help="To this second."),
        item: str = typer.Option(None, "--item", help="Rubric item: clip around its evidence instead."),
        around: float = typer.Option(3.0, min=0, max=120, help="Seconds before and after the evidence."),
        fmt: str = typer.Option("wav", "--format", help="wav, mp3 or ogg (mp3/ogg need ffmpeg on PATH)."),
        output: Path = typer.Option(None, "-o", "--output", help="File to write; default a name from the call."),
        original: bool = typer.Option(False, "--original", help="The original audio instead of the redacted copy."),
    ) -> None:
        """Write a clip of a call (both channels): seconds --start..--end, or around an item's evidence."""
        from storage.errors import InvalidInput
        from storage.retrieval import AudioVariant
        from transcribe.redaction.edits import clip_call, evidence_span

        if item is not None:
            ev_start, ev_end = evidence_span(call_id, item)
            start, end = max(0.0, ev_start - around), ev_end + around
        if start is None or end is None:
            raise InvalidInput("give --start and --end, or --item")
        got = clip_call(call_id, start, end, actor=_actor(), source="cli", fmt=fmt.lower(),
                        variant=AudioVariant.original if original else AudioVariant.redacted)
        out = output or Path(got.filename)
        out.write_bytes(got.data)
        typer.echo(f"{out}: {len(got.data)} bytes, {got.variant} audio, {start:.1f}–{end:.1f} s")

    @app.command("export")
    def export_cmd(
        call_id: str = typer.Argument(..., help="Call ID."),
        fmt: str = typer.Option("mp3", "--format", help="mp3, ogg or wav (mp3/ogg need ffmpeg on PATH)."),
        output: Path = typer.Option(None, "-o", "--output", help="File to write; default <call-id>.<format>."),
        original: bool = typer.Option(False, "--original", help="The original audio instead of the redacted copy."),
    ) -> None:
        """Write a whole call as MP3, OGG or WAV (for e-mailing); the redacted copy unless --original."""
        from storage.retrieval import AudioVariant
        from transcribe.redaction.edits import export_call

        got = export_call(call_id, actor=_actor(), source="cli", fmt=fmt.lower(),
                          variant=AudioVariant.original if original else AudioVariant.redacted)
        out = output or Path(got.filename)
        out.write_bytes(got.data)
        typer.echo(f"{out}: {len(got.data)} bytes, {got.variant} audio")
