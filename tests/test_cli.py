"""The `callqc` command: errors are one line and non-zero; secrets never printed; `up`, `retrieve`."""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest
from sqlmodel import select

from storage.calls import Call
from storage.db import session
from storage.jobs import Job
from storage.models import AuditEvent
from tests.audio_files import make_wav

# Every test here runs `callqc` as a subprocess.
pytestmark = pytest.mark.integration


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


def test_bad_setting_is_one_line_error(data_dir: Path) -> None:
    """An invalid environment value names the setting."""
    r = _callqc("config", env={"CALLQC_JOB_MAX_ATTEMPTS": "zero"})
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "job_max_attempts" in lines[0]


def test_config_masks_secrets(data_dir: Path) -> None:
    """`callqc config` shows that a secret is set, never its value: the API token, the S3 keys, and a
    password inside the database URL."""
    r = _callqc(
        "config",
        env={
            "CALLQC_API_TOKEN": "s3cr3t-token-value",
            "CALLQC_S3_SECRET_KEY": "s3-secret-value",
            "CALLQC_S3_ACCESS_KEY": "s3-access-value",
            "CALLQC_DATABASE_URL": "postgresql+psycopg://callqc:db-p@ss-value@db.example:5432/callqc",
        },
    )
    assert r.returncode == 0, r.stderr
    for secret in ("s3cr3t-token-value", "s3-secret-value", "s3-access-value", "p@ss-value", "ss-value"):
        assert secret not in r.stdout
    assert "CALLQC_API_TOKEN=********" in r.stdout
    assert "CALLQC_S3_SECRET_KEY=********" in r.stdout
    assert "CALLQC_DATABASE_URL=postgresql+psycopg://callqc:********@db.example:5432/callqc" in r.stdout


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    """Poll ``url`` until it answers 200; fail with the log if `up` died or it never came up."""
    for _ in range(300):
        if proc.poll() is not None:
            pytest.fail(f"callqc up exited with {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"{url} never answered: {log.read_text()[-2000:]}")


@pytest.mark.slow
def test_up_runs_api_and_workers_and_sigterm_stops_every_process(sqlite_db: str, tmp_path: Path) -> None:
    """`up --no-app` serves /healthz and ingests a POSTed call; SIGTERM stops it and all its processes."""
    port = _free_port()
    env = {**os.environ, "CALLQC_API_TOKEN": "up-token-0123456789abcdef", "CALLQC_API_PORT": str(port),
           "CALLQC_WORKER_CONCURRENCY": "2", "CALLQC_WORKER_POLL_S": "0.2"}
    log = tmp_path / "up.log"
    with log.open("wb") as out:
        # --kinds score: ingest queues `transcribe`, which stays queued (no ASR model loads in a test).
        up = subprocess.Popen([sys.executable, "-m", "callqc", "up", "--no-app", "--kinds", "score"],
                              stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_ready(f"{base}/healthz", up, log)
        parts = psutil.Process(up.pid).children(recursive=True)
        commands = [" ".join(p.cmdline()) for p in parts]
        assert any("callqc recorder api" in c for c in commands), commands
        assert any("callqc live-transcribe" in c for c in commands), commands  # live calls come in by the API
        # `work --concurrency 2`: the supervising process and its two forked workers.
        assert sum("callqc work" in c for c in commands) == 3, commands

        wav = make_wav(tmp_path / "up-1.wav")
        with wav.open("rb") as fh:
            r = httpx.post(f"{base}/v1/recordings", headers={"Authorization": "Bearer up-token-0123456789abcdef"},
                           data={"call_id": "up-1", "agent_id": "7"},
                           files={"audio": ("up-1.wav", fh, "audio/wav")}, timeout=60)
        assert r.status_code == 201, r.text
        auth = {"Authorization": "Bearer up-token-0123456789abcdef"}
        got = httpx.get(f"{base}/v1/calls/up-1", headers=auth, timeout=10)
        assert (got.status_code, got.json()["status"]) == (200, "recorded")
        with session() as s:
            call = s.get(Call, "up-1")
            jobs = s.exec(select(Job)).all()
        assert call is not None and call.sha256 == hashlib.sha256(wav.read_bytes()).hexdigest()
        assert [(j.kind, j.state) for j in jobs] == [("transcribe", "queued")]

        up.send_signal(signal.SIGTERM)
        assert up.wait(timeout=60) == 0, log.read_text()[-2000:]
        _gone, alive = psutil.wait_procs(parts, timeout=10)
        assert alive == [], [p.cmdline() for p in alive]
        assert "stopped" in log.read_text()
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()


def test_up_without_a_token_refuses_to_start(data_dir: Path) -> None:
    """`up` with the API on and no CALLQC_API_TOKEN says so in one line and starts nothing."""
    r = _callqc("up", "--no-app")
    assert r.returncode == 4
    assert r.stderr.strip().splitlines() == [
        "error: the ingest API needs CALLQC_API_TOKEN (or start with --no-api)"
    ]


def test_retrieve_writes_the_checked_original_and_audits_it(sqlite_db: str, tmp_path: Path) -> None:
    """`retrieve` writes the exact stored bytes and one audit row; a damaged copy writes no file, no row."""
    from recorder.ingest import ingest_file
    from recorder.metadata import CallMeta
    from storage.settings import get_settings
    from storage.stores import make_store

    wav = make_wav(tmp_path / "ret-1.wav")
    result = ingest_file(wav, CallMeta(call_id="ret-1"))
    out = tmp_path / "out" / "copy.wav"
    out.parent.mkdir()
    r = _callqc("retrieve", "ret-1", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert out.read_bytes() == wav.read_bytes()
    with session() as s:
        audits = [(a.action, a.call_id) for a in s.exec(select(AuditEvent)).all()]
    assert audits == [("ingest", "ret-1"), ("retrieve", "ret-1")]

    other = make_wav(tmp_path / "other.wav", seconds=2)
    make_store().put_file(get_settings().bucket_recordings, result.audio_key, other)
    damaged = tmp_path / "out" / "damaged.wav"
    r = _callqc("retrieve", "ret-1", "-o", str(damaged))
    assert r.returncode != 0
    errors = [line for line in r.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and errors[0].startswith("error: SHA-256 mismatch: call ret-1: read "), r.stderr
    assert sorted(p.name for p in damaged.parent.iterdir()) == ["copy.wav"]
    with session() as s:
        assert len(s.exec(select(AuditEvent)).all()) == 2


def test_retrieve_refuses_bad_and_unknown_call_ids_in_one_line(sqlite_db: str, tmp_path: Path) -> None:
    """A traversal call ID and an unknown call are refused by name; no file is written."""
    r = _callqc("retrieve", "../etc/passwd", "-o", str(tmp_path / "x"))
    assert (r.returncode, r.stderr.strip()) == (4, "error: invalid call ID: '../etc/passwd' contains a slash")
    r = _callqc("retrieve", "nobody", "-o", str(tmp_path / "x"))
    assert (r.returncode, r.stderr.strip()) == (2, "error: recording not found: no call nobody")
    assert not (tmp_path / "x").exists()


LAZY_PROBE = """
import sys
from callqc import cli

cli._register_all()
names = sorted({c.name for c in cli.root.registered_commands} | {g.name for g in cli.root.registered_groups})
for name in names:  # each command, asked for alone, is registered (by its own module or by all)
    cli.root.registered_commands.clear()
    cli.root.registered_groups.clear()
    cli._register_all([name, "--help"])
    assert cli._registered(name), name
print(len(names))
"""


def test_every_command_is_found_when_only_its_module_is_loaded() -> None:
    """A command named after its module loads that module alone; every other name still resolves."""
    out = subprocess.run([sys.executable, "-c", LAZY_PROBE], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.strip()) >= 20
    probe = ("import sys; from callqc import cli; cli._register_all(['work', '--burst']); "
             "print(sorted(m for m in ('review_app.workflow.callview', 'callqc.cli.show') if m in sys.modules))")
    alone = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert alone.returncode == 0 and alone.stdout.strip() == "[]", alone.stdout + alone.stderr
    help_all = _callqc("--help")
    assert help_all.returncode == 0 and "work" in help_all.stdout and "rubric" in help_all.stdout
    work_help = _callqc("work", "--help")
    assert work_help.returncode == 0 and "--burst" in work_help.stdout
