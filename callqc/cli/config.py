"""`callqc config`: the settings in force (secrets masked), or the README's configuration table."""

from __future__ import annotations

import json

import typer
from pydantic import SecretStr

from storage.settings import Settings, get_settings


def settings_table() -> str:
    """The Markdown table of every setting, generated from the Settings class (kept in the README)."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        default = field.get_default(call_default_factory=True)
        shown = "" if default is None else json.dumps(default, default=str, ensure_ascii=False)
        desc = (field.description or "").replace("|", "\\|")
        rows.append(f"| `CALLQC_{name.upper()}` | `{shown}` | {desc} |" if shown else
                    f"| `CALLQC_{name.upper()}` | | {desc} |")
    return "\n".join(rows)


def register(app: typer.Typer) -> None:
    @app.command("config")
    def config_cmd(
        markdown: bool = typer.Option(False, "--markdown", help="Print the documentation table instead."),
    ) -> None:
        """Show the settings in force (secrets masked)."""
        if markdown:
            typer.echo(settings_table())
            return
        s = get_settings()
        for name in Settings.model_fields:
            value = getattr(s, name)
            if isinstance(value, SecretStr):
                value = "********" if value.get_secret_value() else ""
            typer.echo(f"CALLQC_{name.upper()}={'' if value is None else value}")
