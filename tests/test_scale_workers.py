"""Many workers, no coordinator but the database: 4 `callqc work` processes on PostgreSQL and a real S3
server (Ceph RGW) run the real pipeline (transcribe with the bundled tiny.en model, redact, score) over
many short calls while one worker is SIGKILLed twice mid-job. Every call ends scored exactly once, every
job done, and `callqc check` is clean (no orphan, nothing missing)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import col, func, select

from recorder.ingest import ingest_file
from recorder.metadata import CallMeta
from storage import queue
from storage.calls import Call, CallStatus
from storage.consistency import check
from storage.db import get_engine, session
from storage.evaluations import Evaluation, EvaluationKind
from storage.settings import get_settings
from tests.api_server import write_wav

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
CALLS = 120  # 1 s calls: the model makes each a fraction of a second; 2 cores shared by 4 processes


def _children(pid: int) -> list[int]:
    """Live worker processes forked by the `callqc work` parent."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except FileNotFoundError:
        return []
    return [int(p) for p in text.split()]


def _wait(what: str, ok: Callable[[], bool], proc: subprocess.Popen[bytes], timeout_s: float = 240) -> None:
    end = time.monotonic() + timeout_s
    while not ok():
        assert proc.poll() is None, f"workers exited ({proc.returncode}) before {what}"
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.2)


def _scored() -> int:
    with session() as s:
        return s.exec(select(func.count()).select_from(Call).where(Call.status == CallStatus.scored)).one()


def _settled() -> bool:
    """Every call scored and no job left queued or running (a worker killed after scoring a call but
    before marking its job done leaves that job running until the stall timeout hands it on)."""
    with get_engine().connect() as conn:
        open_jobs = conn.execute(sa.select(func.count()).select_from(queue.jobs)
                                 .where(queue.jobs.c.state.in_(["queued", "running"]))).scalar_one()
    return open_jobs == 0 and _scored() == CALLS


def _running_pids() -> set[int]:
    """Process IDs of workers holding a running job (worker IDs are host:pid:process.slot)."""
    with get_engine().connect() as conn:
        workers = conn.execute(sa.select(queue.jobs.c.worker).where(queue.jobs.c.state == "running")).scalars()
        return {int(w.split(":")[1]) for w in workers if w}


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_four_workers_one_killed_twice_score_every_call_exactly_once(
    s3_settings: object, db_url: str, tmp_path: Path
) -> None:
    """The killed worker's jobs come back after the stall timeout and run once more; nothing is lost or doubled."""
    audio = tmp_path / "audio"
    audio.mkdir()
    for i in range(CALLS):
        ingest_file(write_wav(audio / f"scale-{i:04d}.wav", seconds=1.0, tag=i), CallMeta(call_id=f"scale-{i:04d}"))
    env = {**os.environ, "CALLQC_ASR_MODEL": "tiny.en", "CALLQC_ASR_NUM_WORKERS": "1", "CALLQC_WORKER_SLOTS": "1",
           "CALLQC_JOB_STALL_S": "4", "CALLQC_JOB_HEARTBEAT_S": "1", "CALLQC_WORKER_POLL_S": "0.2",
           "CALLQC_LOG_LEVEL": "WARNING", "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "callqc", "work", "--concurrency", "4"], env=env, cwd=ROOT)
    killed: list[int] = []
    try:
        for share in (4, 2):  # kill at a quarter and at half way, each time a worker holding a job
            _wait(f"{CALLS // share} calls scored", lambda s=share: _scored() >= CALLS // s, proc)
            _wait("a worker mid-job", lambda: bool(_running_pids() & set(_children(proc.pid))), proc)
            victim = sorted(_running_pids() & set(_children(proc.pid)))[0]
            os.kill(victim, signal.SIGKILL)
            killed.append(victim)
        _wait("every call scored and every job done", _settled, proc)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=120) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    with session() as s:
        per_call = dict(s.exec(select(Evaluation.call_id, func.count()).where(Evaluation.kind == EvaluationKind.auto)
                               .group_by(col(Evaluation.call_id))).all())
        jobs = s.exec(select(queue.jobs.c.kind, queue.jobs.c.state, queue.jobs.c.attempts,
                             queue.jobs.c.last_error)).all()
    assert len(per_call) == CALLS and set(per_call.values()) == {1}
    assert sorted((k, st) for k, st, _a, _e in jobs) == sorted([("score", "done"), ("transcribe", "done")] * CALLS)
    retried = [e for _k, _s, a, e in jobs if a > 1]
    assert retried and all(e.startswith("stalled: worker ") for e in retried)  # the killed workers' jobs
    assert {int(e.split(":")[2]) for e in retried} <= set(killed)
    report = check(orphan_min_age_s=0)
    assert report.ok, report.findings
    assert report.calls == CALLS and get_settings().store == "s3"
