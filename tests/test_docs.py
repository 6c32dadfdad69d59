"""The README and deploy files stay true to the code."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from callqc.cli.config import settings_table
from storage.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
SETTING_NAMES = {f"CALLQC_{n.upper()}" for n in Settings.model_fields}


def test_readme_configuration_table_matches_the_settings_class() -> None:
    """The table between the config markers is exactly what `callqc config --markdown` prints."""
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- config:start -->\n(.*?)\n<!-- config:end -->", readme, re.S)
    assert block, "README lacks the configuration table markers"
    assert block.group(1).strip() == settings_table().strip()


def test_readme_starts_with_the_two_commands() -> None:
    """`make run` and `make test` come before anything else a reader must do."""
    head = (ROOT / "README.md").read_text()[:1500]
    assert head.index("make run") < head.index("make test")


def _env_names(text: str) -> set[str]:
    return set(re.findall(r"\bCALLQC_[A-Z0-9_]+\b", text))


def test_deploy_files_parse_and_name_only_real_settings() -> None:
    """compose, Kubernetes manifests and .env.example parse, and every CALLQC_ name is a setting."""
    compose = yaml.safe_load((ROOT / "deploy/compose.yaml").read_text())
    assert {"postgres", "minio", "recorder", "workers", "app", "migrate"} <= set(compose["services"])
    for name in ("recorder", "workers", "app"):
        assert compose["services"][name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    texts = [(ROOT / "deploy/.env.example").read_text(), (ROOT / "deploy/compose.yaml").read_text()]
    for manifest in sorted((ROOT / "deploy/k8s").glob("*.yaml")):
        docs = [d for d in yaml.safe_load_all(manifest.read_text()) if d]
        assert all("kind" in d and "apiVersion" in d for d in docs), manifest
        texts.append(manifest.read_text())
    unknown = set().union(*(_env_names(t) for t in texts)) - SETTING_NAMES
    assert not unknown, f"deploy files name unknown settings: {sorted(unknown)}"


def test_container_commands_are_real_callqc_commands() -> None:
    """Every command the deploy files start exists in the CLI."""
    from typer.main import get_command

    from callqc import cli

    cli._register_all()
    group = get_command(cli.root)
    compose = yaml.safe_load((ROOT / "deploy/compose.yaml").read_text())
    commands = [svc["command"] for svc in compose["services"].values() if "command" in svc
                and svc.get("image", "").startswith("callqc")]
    for manifest in sorted((ROOT / "deploy/k8s").glob("*.yaml")):
        for doc in yaml.safe_load_all(manifest.read_text()):
            commands += _container_args(doc)
    assert commands
    for argv in commands:
        # Walk the sub-command groups, then let click parse the rest: unknown options fail here.
        cmd, name, args = group, "callqc", list(argv)
        while hasattr(cmd, "commands"):  # a group (typer's own click: no isinstance check)
            assert args and args[0] in cmd.commands, f"unknown command {argv}"
            name = args.pop(0)
            cmd = cmd.commands[name]
        cmd.make_context(name, args)


def _container_args(node: object) -> list[list[str]]:
    found: list[list[str]] = []
    if isinstance(node, dict):
        if node.get("image", "").startswith("callqc") and "args" in node:
            found.append(node["args"])
        for v in node.values():
            found += _container_args(v)
    elif isinstance(node, list):
        for v in node:
            found += _container_args(v)
    return found
