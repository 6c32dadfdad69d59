"""The `callqc` command: errors are one line and non-zero; secrets never printed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def _callqc(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "callqc", *args], capture_output=True, text=True, timeout=120,
        env={**os.environ, **(env or {})},
    )


def test_invalid_call_id_is_one_line_error_and_non_zero_exit(sqlite_db: str) -> None:
    """A path-traversal call ID is refused before it reaches the database, in one line."""
    r = _callqc("show", "../../etc/passwd")
    assert r.returncode != 0
    assert r.stderr.strip().splitlines() == ["error: invalid call ID: '../../etc/passwd' contains a slash"]


def test_unknown_call_is_reported_without_traceback(sqlite_db: str) -> None:
    """Asking for a call that does not exist names it in one line."""
    r = _callqc("show", "no-such-call")
    assert r.returncode != 0
    assert r.stderr.strip() == "error: no such call: no-such-call"


def test_unmigrated_database_says_what_to_run(data_dir: Path) -> None:
    """A fresh data folder tells the operator to migrate instead of showing SQL errors."""
    r = _callqc("show")
    assert r.returncode != 0
    assert r.stderr.strip() == "error: database not migrated: run `callqc db migrate`"


def test_bad_setting_is_one_line_error(data_dir: Path) -> None:
    """An invalid environment value names the setting."""
    r = _callqc("config", env={"CALLQC_JOB_MAX_ATTEMPTS": "zero"})
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "job_max_attempts" in lines[0]


def test_config_masks_secrets(data_dir: Path) -> None:
    """`callqc config` shows that a secret is set, never its value."""
    r = _callqc("config", env={"CALLQC_API_TOKEN": "s3cr3t-token-value"})
    assert r.returncode == 0, r.stderr
    assert "s3cr3t-token-value" not in r.stdout
    assert "CALLQC_API_TOKEN=********" in r.stdout
