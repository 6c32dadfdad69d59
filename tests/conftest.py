"""Shared fixtures: an isolated data folder per test, SQLite and real PostgreSQL databases, the real
models and synthesised calls that several modules transcribe."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa

from storage import db as dbmod
from storage.settings import reset_settings
from tests.services import missing_service, missing_tools_header, require_tool

if TYPE_CHECKING:
    from demo.synth import Placement
    from transcribe.engine import Transcriber

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"

pytest_plugins = ["tests.s3server"]


def pytest_report_header(config: pytest.Config) -> str | None:
    return missing_tools_header()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the modules with slow tests first, then the larger ones, each module's tests together and
    in their own order.

    `make test` hands whole files to its two workers (``--dist loadfile``, so a module's fixtures are
    built once) in this order: the long ones start early and the run does not end on one long file
    running alone while the other worker idles.
    """
    modules: dict[str, list[pytest.Item]] = {}
    for item in items:
        modules.setdefault(item.nodeid.split("::", 1)[0], []).append(item)

    def weight(group: list[pytest.Item]) -> tuple[int, int]:
        return sum(1 for item in group if item.get_closest_marker("slow")), len(group)

    items[:] = [item for group in sorted(modules.values(), key=weight, reverse=True) for item in group]


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """``@pytest.mark.tools("sox", ...)``: skip before any fixture runs when a command is absent."""
    for mark in item.iter_markers("tools"):
        require_tool(*mark.args)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[pytest.TestReport]:
    """A skip raised in tests/services.py is reported at the test, not at the helper that raised it."""
    report: pytest.TestReport = yield
    if report.skipped and isinstance(report.longrepr, tuple) and report.longrepr[0].endswith("services.py"):
        path, line, _ = item.reportinfo()
        report.longrepr = (str(path), (line or 0) + 1, report.longrepr[2])
    return report


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every test gets its own data folder and a fresh settings/engine cache."""
    d = tmp_path / "data"
    monkeypatch.setenv("CALLQC_DATA_DIR", str(d))
    for name in list(os.environ):
        if name.startswith("CALLQC_") and name not in ("CALLQC_DATA_DIR", "CALLQC_REQUIRE_SERVICES"):
            monkeypatch.delenv(name)
    reset_settings()
    dbmod.reset_engines()
    yield d
    reset_settings()
    dbmod.reset_engines()


@contextmanager
def fresh_pg_database(prefix: str = "callqc_test", *, template: str | None = None) -> Iterator[str]:
    """A new PostgreSQL database named ``<prefix>_<random>``, dropped (even if still in use) after:
    empty, or a copy of the database ``template`` (which nobody may be connected to).

    Skips the calling test (fails under CALLQC_REQUIRE_SERVICES=1) when PostgreSQL is not reachable.
    """
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text("select 1"))
    except Exception as exc:  # noqa: BLE001 - any failure means "not there"
        admin.dispose()
        missing_service(f"PostgreSQL at 127.0.0.1:5432 ({type(exc).__name__})")
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            copy = f' TEMPLATE "{template}"' if template else ""
            conn.execute(sa.text(f'CREATE DATABASE "{name}"{copy}'))
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test process, dropped at the end."""
    with fresh_pg_database() as url:
        yield url


_pg_heads: dict[str, str | None] = {}


def migrate_pg(engine: sa.Engine) -> None:
    """Bring this process's PostgreSQL database to head unless its alembic_version says it is there.

    alembic's own no-op upgrade reads every migration script first: most of a second per test.
    """
    url = engine.url.render_as_string(hide_password=False)
    if url not in _pg_heads:
        _pg_heads[url] = dbmod._head_revision()
    if dbmod._current_revision(engine) != _pg_heads[url]:
        dbmod.migrate(engine)


def empty_all_tables(engine: sa.Engine) -> None:
    """Every table but alembic_version emptied and every id sequence restarted, as one
    ``TRUNCATE <all tables> RESTART IDENTITY CASCADE`` would leave them.

    Only the tables holding rows are truncated: TRUNCATE costs per table (files are swapped), and
    most of the 60-odd tables (partitions included) are empty after any one test.
    """
    names = [t for t in sa.inspect(engine).get_table_names() if t != "alembic_version"]
    if not names:
        return
    with engine.begin() as conn:
        probe = " UNION ALL ".join(f"SELECT '{n}' WHERE EXISTS (SELECT 1 FROM \"{n}\")" for n in names)
        filled = list(conn.execute(sa.text(probe)).scalars())
        if filled:
            conn.execute(sa.text("TRUNCATE " + ", ".join(f'"{n}"' for n in filled) + " CASCADE"))
        used = conn.execute(sa.text(
            "SELECT schemaname, sequencename FROM pg_sequences WHERE last_value IS NOT NULL"
            " AND schemaname = current_schema()")).all()
        for schema, seq in used:
            conn.execute(sa.text(f'ALTER SEQUENCE "{schema}"."{seq}" RESTART'))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite database migrated to head once per test process; each test gets a copy of it.

    Running every migration again for each of several hundred tests took minutes of the suite;
    the copy is the same file byte for byte. (First-use and migration tests make their own.)
    """
    path = tmp_path_factory.mktemp("sqlite-template") / "callqc.db"
    engine = dbmod.make_engine(f"sqlite:///{path}")
    try:
        dbmod.migrate(engine)
    finally:
        engine.dispose()  # the last connection's close checkpoints the WAL into the file
    assert not path.with_name("callqc.db-wal").exists(), "template not checkpointed"
    return path


def _migrated_sqlite(template: Path, data_dir: Path) -> str:
    """A copy of the migrated template as this test's embedded database; its URL."""
    target = data_dir / "callqc.db"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, target)
    return f"sqlite:///{target}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def db_url(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> Iterator[str]:
    """The configured database, migrated to head: once on SQLite, once on real PostgreSQL."""
    if request.param == "sqlite":
        url = _migrated_sqlite(request.getfixturevalue("sqlite_template"), data_dir)
    else:
        url = request.getfixturevalue("pg_server_url")
    monkeypatch.setenv("CALLQC_DATABASE_URL", url)
    reset_settings()
    dbmod.reset_engines()
    engine = dbmod.get_engine()
    if request.param == "postgresql":
        migrate_pg(engine)
        empty_all_tables(engine)
    yield url
    dbmod.reset_engines()


@pytest.fixture
def sqlite_db(data_dir: Path, sqlite_template: Path) -> str:
    """The embedded default database, migrated."""
    return _migrated_sqlite(sqlite_template, data_dir)


# Real models and synthesised calls, shared by every test module of a process: loading a model and
# speaking a dialogue with espeak-ng cost seconds each, and nothing in them changes between tests.
# Tests only read them (a transcriber keeps no state between calls; the WAV files are not written).


@pytest.fixture(scope="session")
def tiny_en_transcriber() -> Iterator[Transcriber]:
    """tiny.en with the default compute settings, loaded once per test process (as a worker keeps it)."""
    from transcribe.compute import ComputeSettings
    from transcribe.engine import Transcriber
    from transcribe.models import resolve_model

    transcriber = Transcriber(resolve_model("tiny.en"), ComputeSettings())
    yield transcriber
    transcriber.close()


@pytest.fixture(scope="session")
def base_transcriber() -> Iterator[Transcriber]:
    """The multilingual base model with the default compute settings, loaded once per test process."""
    from transcribe.compute import ComputeSettings
    from transcribe.engine import Transcriber
    from transcribe.models import resolve_model

    transcriber = Transcriber(resolve_model("base"), ComputeSettings())
    yield transcriber
    transcriber.close()


@pytest.fixture(scope="session")
def default_call(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Placement]]:
    """demo.synth's default English dialogue as a stereo WAV, and where each line was placed (read only)."""
    from demo.synth import default_dialogue, synth_call

    path = tmp_path_factory.mktemp("default-call") / "call.wav"
    return path, synth_call(default_dialogue(), path)


@pytest.fixture(scope="session")
def mandarin_call(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Placement]]:
    """demo.synth's Mandarin dialogue as a stereo WAV, and where each line was placed (read only)."""
    from demo.synth import mandarin_dialogue, synth_call

    path = tmp_path_factory.mktemp("mandarin-call") / "zh.wav"
    return path, synth_call(mandarin_dialogue(), path, language="zh")
