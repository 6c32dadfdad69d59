"""The layer contracts (pyproject's [tool.importlinter]) hold on this tree and catch an upward import."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("storage", "recorder", "transcribe", "scoring", "review_app", "callqc")
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LINT_IMPORTS), "--config", str(tree / "pyproject.toml"), "--no-cache"],
                          cwd=tree, env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=120)


def _copy_tree(dest: Path) -> Path:
    for pkg in PACKAGES:
        shutil.copytree(ROOT / pkg, dest / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", dest / "pyproject.toml")
    return dest


def test_the_tree_keeps_every_layer_contract() -> None:
    out = _lint(ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 broken" in out.stdout


@pytest.mark.parametrize(("module", "bad_import", "expect"), [
    ("storage/keys.py", "import callqc.cli", "storage.keys -> callqc.cli"),
    ("storage/segments.py", "from scoring import rubric", "storage.segments -> scoring.rubric"),
    ("scoring/score.py", "import review_app.workflow.feedback", "scoring.score -> review_app.workflow.feedback"),
    ("recorder/probe.py", "import transcribe.audio", "recorder.probe -> transcribe.audio"),
])
def test_an_upward_import_breaks_the_contract_and_names_its_line(
    tmp_path: Path, module: str, bad_import: str, expect: str,
) -> None:
    tree = _copy_tree(tmp_path)
    path = tree / module
    lines = path.read_text(encoding="utf-8").splitlines()
    # after the module's own imports start, so it is a real top-level import
    at = next(i for i, line in enumerate(lines) if line.startswith(("import ", "from "))
              and not line.startswith("from __future__"))
    lines.insert(at, bad_import)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = _lint(tree)
    assert out.returncode == 1, out.stdout
    assert "BROKEN" in out.stdout
    assert expect in out.stdout
    assert f"l.{at + 1}" in out.stdout  # the offending line, so a failed CI points at it
