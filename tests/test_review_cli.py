"""`callqc user add` and friends: passwords from stdin, one-line errors, agents need an agent ID."""

from __future__ import annotations

import os
import subprocess
import sys

from storage.db import session
from storage.users import Role, authenticate


def _callqc(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "callqc", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ),
    )


def test_user_add_reads_password_from_stdin(sqlite_db: str) -> None:
    """A user added with --password-stdin can sign in with that password."""
    r = _callqc(
        "user", "add", "ann", "--role", "agent", "--agent-id", "A7", "--password-stdin", stdin="s3cret-pass\n"
    )
    assert r.returncode == 0, r.stderr
    with session() as s:
        who = authenticate(s, "ann", "s3cret-pass")
    assert (who.role, who.agent_id) == (Role.agent, "A7")
    listed = _callqc("user", "list").stdout
    assert "ann\tagent\tA7" in listed


def test_user_add_errors_are_one_line(sqlite_db: str) -> None:
    """An agent without --agent-id and an unknown role are refused in one line."""
    r = _callqc("user", "add", "bob", "--role", "agent", "--password-stdin", stdin="s3cret-pass\n")
    assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1 and "agent-id" in r.stderr
    r = _callqc("user", "add", "bob", "--role", "wizard", "--password-stdin", stdin="s3cret-pass\n")
    assert r.returncode != 0 and r.stderr.strip().startswith("error: invalid input: role 'wizard'")


def test_user_disable_ends_open_app_sessions(sqlite_db: str) -> None:
    """Disabling a user revokes their review-app sessions in the database at once."""
    from storage.app_sessions import resolve, start

    added = _callqc("user", "add", "cid", "--role", "inspector", "--password-stdin", stdin="s3cret-pass\n")
    assert added.returncode == 0, added.stderr
    with session() as s:
        token, _ = start(s, "cid")
    r = _callqc("user", "disable", "cid")
    assert r.returncode == 0 and "1 open session(s) ended" in r.stdout
    with session() as s:
        assert resolve(s, token) is None
