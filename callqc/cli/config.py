"""`callqc config`: the settings in force (secrets masked), or the README's configuration table."""

from __future__ import annotations

import json
import re

import typer
from pydantic import SecretStr

from storage.settings import Settings, get_settings

MASK = "********"


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
            typer.echo(f"CALLQC_{name.upper()}={shown(name, getattr(s, name))}")


def shown(name: str, value: object) -> str:
    """A setting's value as `callqc config` prints it: secrets masked, a password inside a URL too."""
    if value is None:
        return ""
    if isinstance(value, SecretStr):
        return MASK if value.get_secret_value() else ""
    if name.endswith("_url") and isinstance(value, str):
        return mask_url(value)
    return str(value)


def mask_url(url: str) -> str:
    """``url`` with its password (user:PASSWORD@host, or a ``password=`` query parameter) masked."""
    url = re.sub(r"(?<=://)([^/@:]*):[^/]*@", rf"\1:{MASK}@", url)
    return re.sub(r"(?i)([?&](?:password|passwd|pwd|secret|token)=)[^&]*", rf"\1{MASK}", url)
