"""First use of a database: SQLite (the embedded default) brings its own schema to head; PostgreSQL
waits for an explicit `callqc db migrate` and says so in one line."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from storage import db as dbmod
from tests.audio_files import make_wav
from tests.conftest import fresh_pg_database

# Every test here runs `callqc` as a subprocess.
pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[1]

# The real console entry point, held until GO exists so that every process reaches the database
# at the same moment instead of one Python start-up after the other.
LAUNCH = """
import sys, time
from pathlib import Path
from callqc.cli import main
go = Path(sys.argv[1])
while not go.exists():
    time.sleep(0.005)
sys.argv = ["callqc", *sys.argv[2:]]
main()
"""


def _callqc(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "callqc", *args], capture_output=True, text=True,
                          timeout=120, env={**os.environ, **(env or {})}, cwd=ROOT)


def _revision(url: str) -> str | None:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def _head() -> str | None:
    return ScriptDirectory.from_config(dbmod.alembic_config(sa.create_engine("sqlite://"))).get_current_head()


def test_first_ingest_on_an_empty_data_folder_needs_no_migrate(data_dir: Path, tmp_path: Path) -> None:
    """`callqc ingest` on a data folder that does not exist yet creates the schema and registers the call."""
    assert not data_dir.exists()
    wav = make_wav(tmp_path / "first-1.wav")
    r = _callqc("ingest", str(wav))
    assert (r.returncode, r.stdout.split()) == (0, ["first-1"]), r.stderr
    assert _revision(f"sqlite:///{data_dir / 'callqc.db'}") == _head()
    shown = _callqc("show")
    assert shown.returncode == 0, shown.stderr
    assert "first-1" in shown.stdout


@pytest.mark.slow
def test_processes_starting_at_once_on_a_fresh_sqlite_file_all_succeed(data_dir: Path, tmp_path: Path) -> None:
    """Four `callqc ingest` processes released together on one new file: one migrates, all ingest."""
    go = tmp_path / "go"
    wavs = [make_wav(tmp_path / f"race-{i}.wav", seconds=1 + i) for i in range(4)]
    procs = [
        subprocess.Popen([sys.executable, "-c", LAUNCH, str(go), "ingest", str(wav)], cwd=ROOT,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for wav in wavs
    ]
    time.sleep(3)  # let every interpreter import callqc and reach the wait
    go.touch()
    outputs = [p.communicate(timeout=120) for p in procs]
    results = [(p.returncode, out.split(), err) for p, (out, err) in zip(procs, outputs, strict=True)]
    assert [(code, out) for code, out, _ in results] == [(0, [f"race-{i}"]) for i in range(4)], results
    assert _revision(f"sqlite:///{data_dir / 'callqc.db'}") == _head()


@pytest.fixture
def empty_pg_url() -> Iterator[str]:
    """A PostgreSQL database nobody has migrated (skips or fails when there is none)."""
    with fresh_pg_database("callqc_empty") as url:
        yield url


def test_unmigrated_postgresql_says_what_to_run_and_is_left_alone(empty_pg_url: str) -> None:
    """PostgreSQL is shared and upgraded on purpose: a command on an empty one asks for `db migrate`."""
    r = _callqc("show", env={"CALLQC_DATABASE_URL": empty_pg_url})
    assert r.returncode != 0
    assert r.stderr.strip() == "error: database not migrated: run `callqc db migrate`"
    assert _revision(empty_pg_url) is None
    migrated = _callqc("db", "migrate", env={"CALLQC_DATABASE_URL": empty_pg_url})
    assert (migrated.returncode, migrated.stdout.strip()) == (0, "database at head"), migrated.stderr
    assert _callqc("show", env={"CALLQC_DATABASE_URL": empty_pg_url}).returncode == 0
