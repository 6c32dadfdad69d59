"""`callqc prompts`: known recorded prompts (IVR greetings, announcements) transcribed once, reused."""

from __future__ import annotations

import getpass
import re
from pathlib import Path

import typer


def _default_name(path: Path) -> str:
    return re.sub(r"[^a-z0-9_-]+", "-", path.stem.lower()).strip("-_")[:64] or "prompt"


def register(app: typer.Typer) -> None:
    prompts = typer.Typer(help="Known prompts: recorded audio whose transcript is stored once and reused.",
                          no_args_is_help=True)

    @prompts.command("add")
    def add_cmd(
        file: Path = typer.Argument(..., help="The prompt's audio (WAV, FLAC, MP3, …; the first channel is used)."),
        text: str = typer.Option(..., help="What the prompt says: the transcript every call playing it gets."),
        name: str = typer.Option(None, help="Its name (lower-case letters, digits, '-', '_'; default: the file's)."),
        language: str = typer.Option(None, help="The language of the text (information only)."),
    ) -> None:
        """Register a prompt from its audio file; from now on its span in any call is not transcribed."""
        from storage.db import session
        from transcribe.prompt_files import register_file

        with session(write=True) as s:
            p = register_file(s, file, name=name or _default_name(file), text=text,
                              created_by=f"cli:{getpass.getuser()}", language=language)
            typer.echo(f"prompt {p.name}: {p.duration_s:.1f} s, {len(p.text)} characters of text")

    @prompts.command("list")
    def list_cmd() -> None:
        """Every known prompt: name, source, length and text."""
        from storage.db import session
        from storage.prompts import all_prompts

        with session() as s:
            rows = all_prompts(s)
            for p in rows:
                typer.echo(f"{p.name}\t{p.source}\t{p.duration_s:.1f} s\t{p.text}")
            if not rows:
                typer.echo("no known prompts")

    @prompts.command("remove")
    def remove_cmd(name: str = typer.Argument(..., help="The prompt's name.")) -> None:
        """Forget a prompt (calls already transcribed keep their text)."""
        from storage.db import session
        from transcribe.prompt_files import forget

        with session(write=True) as s:
            forget(s, name)
        typer.echo(f"removed prompt {name}")

    @prompts.command("learn")
    def learn_cmd(
        min_calls: int = typer.Option(5, min=2, help="Calls the same text must be heard in."),
        min_seconds: float = typer.Option(3.0, min=2.0, help="Shortest segment considered."),
        recent: int = typer.Option(2000, min=2, help="How many of the newest transcripts are searched."),
    ) -> None:
        """Learn prompts from the calls: text recurring in many calls whose audio is the same recording."""
        from storage.db import session
        from transcribe.prompt_learning import learn_prompts

        with session(write=True) as s:
            found = learn_prompts(s, min_calls=min_calls, min_s=min_seconds, recent_calls=recent)
        for c in found:
            verdict = f"learned as {c.learned}" if c.learned else "not learned: the audio differs between calls"
            typer.echo(f"{c.calls} calls: {c.text!r}: {verdict}")
        if not found:
            typer.echo("no recurring text found")

    app.add_typer(prompts, name="prompts")
