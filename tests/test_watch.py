"""The spool watcher: takes only finished files, moves them to done/ or rejected/, survives SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from sqlmodel import select

from recorder.watch import Outcome, Watcher, WatcherBusy
from storage.calls import Call
from storage.db import session
from storage.jobs import Job
from storage.models import AuditEvent
from storage.objectstore import sha256_of
from storage.settings import get_settings, reset_settings
from storage.stores import make_store
from tests.audio_files import make_wav


@pytest.fixture
def spool(tmp_path: Path) -> Path:
    d = tmp_path / "spool"
    d.mkdir()
    return d


def stable_after(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    monkeypatch.setenv("CALLQC_SPOOL_STABLE_S", str(seconds))
    reset_settings()


def counts() -> tuple[int, int, int]:
    with session() as s:
        return tuple(len(s.exec(select(m)).all()) for m in (Call, Job, AuditEvent))  # type: ignore[return-value]


def age(path: Path, seconds: float = 3600) -> None:
    """Make a file look untouched for ``seconds`` (instead of waiting that long)."""
    t = time.time() - seconds
    os.utime(path, (t, t))


def test_finished_files_are_ingested_with_sidecar_and_moved_to_done(
    db_url: str, spool: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A quiet file and a file with a .done marker are both ingested, then moved with sidecar and marker."""
    stable_after(monkeypatch, 60)
    make_wav(spool / "1700.1.wav")
    (spool / "1700.1.json").write_text('{"agent_id": "1007", "queue": "sales"}')
    age(spool / "1700.1.wav")
    age(spool / "1700.1.json")
    make_wav(spool / "1700.2.wav")  # fresh, but its writer says it is done
    (spool / "1700.2.wav.done").touch()
    results = Watcher(spool, require_marker=False).poll()
    assert sorted((r.name, r.outcome, r.call_id) for r in results) == [
        ("1700.1.wav", Outcome.done, "1700.1"),
        ("1700.2.wav", Outcome.done, "1700.2"),
    ]
    assert sorted(p.name for p in spool.iterdir() if not p.name.startswith(".")) == ["done", "rejected"]
    assert sorted(p.name for p in (spool / "done").iterdir()) == [
        "1700.1.json",
        "1700.1.wav",
        "1700.2.wav",
        "1700.2.wav.done",
    ]
    with session() as s:
        call = s.get(Call, "1700.1")
    assert call is not None and (call.agent_id, call.queue) == ("1007", "sales")
    assert counts() == (2, 2, 2)


def test_growing_file_is_left_alone_until_it_stops_changing(
    sqlite_db: str, spool: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file still being written is not taken; nor is one whose size changed since the last look."""
    stable_after(monkeypatch, 30)
    whole = make_wav(spool.parent / "whole.wav", seconds=2).read_bytes()
    target = spool / "1700.3.wav"
    watcher = Watcher(spool, require_marker=False)
    with target.open("wb") as writer:
        writer.write(whole[: len(whole) // 2])
        writer.flush()
        assert watcher.poll() == []  # just written to
        writer.write(whole[len(whole) // 2 :])
    age(target)  # quiet for long enough now, but bigger than at the last look
    assert watcher.poll() == []
    assert target.exists() and counts() == (0, 0, 0)
    assert [(r.name, r.outcome) for r in watcher.poll()] == [("1700.3.wav", Outcome.done)]
    assert (spool / "done" / "1700.3.wav").read_bytes() == whole


def test_require_done_takes_only_marked_files(
    sqlite_db: str, spool: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With --require-done a quiet file without a marker stays; the marker makes it go."""
    stable_after(monkeypatch, 0)
    age(make_wav(spool / "m1.wav"))
    watcher = Watcher(spool, require_marker=True)
    assert watcher.poll() == []
    (spool / "m1.done").touch()
    assert [(r.name, r.outcome) for r in watcher.poll()] == [("m1.wav", Outcome.done)]
    assert (spool / "done" / "m1.done").exists()


def test_refused_files_go_to_rejected_with_a_reason_file(
    sqlite_db: str, spool: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not audio, cut off, bad sidecar, other audio under a taken ID: each moved aside with its reason."""
    stable_after(monkeypatch, 0)
    (spool / "notes.wav").write_text("no audio here\n" * 30)
    (spool / "cut.wav").write_bytes(make_wav(spool.parent / "src.wav").read_bytes()[:30])  # cut in its header
    make_wav(spool / "bad.wav")
    (spool / "bad.json").write_text('{"direction": "sideways"}')
    make_wav(spool / "first.wav", seconds=1)
    (spool / "first.json").write_text('{"call_id": "same"}')
    Watcher(spool, require_marker=False).poll()
    make_wav(spool / "second.wav", seconds=2)
    (spool / "second.json").write_text('{"call_id": "same"}')
    results = {r.name: r for r in Watcher(spool, require_marker=False).poll()}
    assert {n: r.outcome for n, r in results.items()} == {"second.wav": Outcome.rejected}
    rejected = spool / "rejected"
    reasons = {p.name.removesuffix(".reason.txt"): p.read_text() for p in rejected.glob("*.reason.txt")}
    assert reasons["notes.wav"] == "not an audio file: notes.wav: not a recognised audio container\n"
    assert reasons["cut.wav"].startswith("truncated or damaged audio: cut.wav: WAV file ends before")
    assert reasons["bad.wav"].startswith("invalid metadata: bad.json: direction: 'sideways'")
    assert reasons["second.wav"].startswith("call ID already registered with different audio: same ")
    assert {"notes.wav", "cut.wav", "bad.wav", "bad.json", "second.wav", "second.json"} <= {
        p.name for p in rejected.iterdir()
    }
    assert counts() == (1, 1, 1)
    with session() as s:
        registered = s.get(Call, "same")
    assert registered is not None
    assert registered.audio_key.startswith(f"recordings/{_today_of(spool / 'done' / 'first.wav')}/same~")
    assert [o.key for o in make_store().list(get_settings().bucket_recordings)] == [registered.audio_key]


def _today_of(path: Path) -> str:
    return time.strftime("%Y/%m/%d", time.gmtime(path.stat().st_mtime))


def test_unreachable_database_leaves_the_file_for_a_retry(
    spool: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A passing failure (database down) is not a rejection: the file stays in the spool."""
    monkeypatch.setenv("CALLQC_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:1/nothing")
    stable_after(monkeypatch, 0)
    make_wav(spool / "r1.wav")
    [result] = Watcher(spool, require_marker=False).poll()
    assert result.outcome is Outcome.retry and result.reason
    assert (spool / "r1.wav").exists()
    assert list((spool / "rejected").iterdir()) == [] and list((spool / "done").iterdir()) == []


def test_second_watcher_on_the_same_folder_is_refused(sqlite_db: str, spool: Path) -> None:
    """Two watchers on one folder would race to move files; the second one is refused."""
    with Watcher(spool).exclusive(), pytest.raises(WatcherBusy, match="^another watcher is already working"):
        list(Watcher(spool).run(once=True))


_KILLED_WATCHER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    import recorder.ingest, recorder.watch, storage.queue

    point, marker, spool = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])

    def pause_after(fn):
        def wrapped(*args, **kwargs):
            out = fn(*args, **kwargs)
            marker.touch()
            time.sleep(600)  # the test SIGKILLs us here
            return out
        return wrapped

    def pause_before(fn):
        def wrapped(*args, **kwargs):
            marker.touch()
            time.sleep(600)
            return fn(*args, **kwargs)
        return wrapped

    if point == "stored":  # object stored and verified, nothing registered yet
        recorder.ingest._store_verified = pause_after(recorder.ingest._store_verified)
    elif point == "uncommitted":  # call row and job inserted, transaction not committed
        storage.queue.enqueue = pause_after(storage.queue.enqueue)
    elif point == "registered":  # committed, file not yet moved to done/
        recorder.watch.Watcher._move = pause_before(recorder.watch.Watcher._move)
    recorder.watch.Watcher(spool, require_marker=False).poll()
""")


@pytest.mark.integration
@pytest.mark.parametrize("point", ["stored", "uncommitted", "registered"])
def test_watcher_killed_mid_ingest_leaves_all_or_nothing_and_the_file(
    db_url: str, spool: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, point: str
) -> None:
    """SIGKILL at any step leaves a complete call or none and the file in the spool; a rerun completes it."""
    stable_after(monkeypatch, 0)
    wav = make_wav(spool / "k1.wav", seconds=2)
    (spool / "k1.json").write_text('{"call_id": "killed-1", "agent_id": "9"}')
    original = wav.read_bytes()
    marker = tmp_path / "paused"
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILLED_WATCHER, point, str(marker), str(spool)],
        stderr=subprocess.PIPE,
        cwd=tmp_path,
    )
    try:
        while not marker.exists():
            if proc.poll() is not None:
                pytest.fail(f"watcher ended before the pause point: {proc.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
        proc.stderr.close()  # type: ignore[union-attr]
    assert proc.returncode == -signal.SIGKILL
    assert wav.read_bytes() == original and (spool / "k1.json").exists()
    assert counts() == ((1, 1, 1) if point == "registered" else (0, 0, 0))

    [result] = Watcher(spool, require_marker=False).poll()
    assert (result.outcome, result.call_id) == (Outcome.done, "killed-1")
    assert counts() == (1, 1, 1)
    with session() as s:
        call = s.get(Call, "killed-1")
    assert call is not None and call.agent_id == "9"
    assert sha256_of(make_store(), get_settings().bucket_recordings, call.audio_key) == call.sha256
    assert (spool / "done" / "k1.wav").read_bytes() == original
