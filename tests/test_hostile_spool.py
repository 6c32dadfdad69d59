"""Hostile files in the spool folder: each is rejected with a one-line reason file (or ignored, or
retried), its bytes kept in rejected/, and nothing stored or registered; the watcher never dies."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from recorder.watch import Outcome, Result, Watcher
from storage.settings import get_settings, reset_settings
from storage.stores import make_store
from tests.api_server import wav_bytes
from tests.hostile import (
    assert_nothing_stored,
    assert_one_line,
    block_registration,
    deep,
    stored,
    unblock_registration,
)

WAV = wav_bytes(seconds=1.0)


@pytest.fixture
def spool(tmp_path: Path) -> Path:
    d = tmp_path / "spool"
    d.mkdir()
    return d


def drop(spool: Path, name: str, audio: bytes = WAV, sidecar: bytes | None = None, *, done: bool = True) -> Path:
    path = spool / name
    path.write_bytes(audio)
    if sidecar is not None:
        (spool / (Path(name).stem + ".json")).write_bytes(sidecar)
    if done:
        (spool / (name + ".done")).touch()
    return path


def rejected_reason(spool: Path, name: str) -> str:
    reason = (spool / "rejected" / f"{name}.reason.txt").read_text()
    assert_one_line(reason)
    return reason.strip()


def _j(value: Any) -> bytes:
    return json.dumps(value).encode()


SIDECARS: dict[str, tuple[bytes, str]] = {
    "nested-900": (_j({"call_id": "s1", "x": deep(900)}), "invalid metadata: s1.json: meta: nested deeper"),
    "nested-30000": (b'{"x": ' + b"[" * 30000 + b"]" * 30000 + b"}", "invalid metadata: s1.json: nested deeper"),
    "surrogate-value": (b'{"call_id": "s1", "note": "\\ud800"}', "invalid metadata: s1.json: meta.note: text"),
    "surrogate-agent": (b'{"call_id": "s1", "agent_id": "\\udcff"}', "invalid metadata: s1.json: agent_id: not valid"),
    "surrogate-key": (b'{"call_id": "s1", "\\ud800": 1}', "invalid metadata: s1.json: key"),
    "nul": (b'{"call_id": "s1", "note": "a\\u0000"}', "invalid metadata: s1.json: meta.note: text with NUL"),
    "nan": (b'{"call_id": "s1", "x": NaN}', "invalid metadata: s1.json: NaN is not a JSON number"),
    "big-int": (b'{"call_id": "s1", "x": 123456789012345678901234}', "invalid metadata: s1.json: meta.x: integer"),
    "huge-int": (b'{"x": ' + b"9" * 5000 + b"}", "invalid metadata: s1.json: not valid JSON"),
    "duplicate": (b'{"call_id": "s1", "call_id": "s2"}', "invalid metadata: s1.json: key 'call_id' given twice"),
    "not-json": (b"call_id=s1", "invalid metadata: s1.json: not valid JSON"),
    "not-utf8": (b'{"call_id": "s1", "note": "\xff\xfe"}', "invalid metadata: s1.json: not UTF-8"),
    "a-list": (b'["s1"]', "invalid metadata: s1.json: expected a JSON object"),
    "too-big": (b'{"x": "' + b"a" * 300_000 + b'"}', "invalid metadata: s1.json: more than 262144 bytes"),
    "many-keys": (_j({f"k{i}": i for i in range(700)}), "invalid metadata: s1.json: 700 fields"),
    "bad-call-id": (_j({"call_id": "../../etc/passwd"}), "invalid call ID:"),
    "bad-direction": (_j({"call_id": "s1", "direction": 5}), "invalid metadata: s1.json: direction:"),
    "bad-started": (_j({"call_id": "s1", "started_at": "2999-01-01"}), "invalid metadata: s1.json: started_at:"),
    "bad-channel-map": (_j({"call_id": "s1", "channel_map": "agent=up"}), "invalid metadata: s1.json: channel_map:"),
    "control-in-team": (_j({"call_id": "s1", "team": "a\u001b[2Jb"}), "invalid metadata: s1.json: team: contains"),
}


@pytest.mark.parametrize("case", sorted(SIDECARS))
def test_poison_sidecar_is_rejected_with_a_reason_and_nothing_stored(sqlite_db: str, spool: Path, case: str) -> None:
    """A sidecar that would poison readers (or names a bad call) rejects its recording; the recording
    and sidecar are kept byte for byte in rejected/ with a one-line reason; no object, no row."""
    sidecar, reason = SIDECARS[case]
    drop(spool, "s1.wav", sidecar=sidecar)
    [result] = Watcher(spool).poll()
    assert result.outcome is Outcome.rejected, result
    assert rejected_reason(spool, "s1.wav").startswith(reason)
    assert (spool / "rejected" / "s1.wav").read_bytes() == WAV
    assert (spool / "rejected" / "s1.json").read_bytes() == sidecar
    assert sorted(p.name for p in spool.iterdir()) == ["done", "rejected"]
    assert_nothing_stored()


@pytest.mark.parametrize(
    ("audio", "reason"),
    [
        (b"", "empty file: bad.wav: 0 bytes"),
        (b"hello\n" * 100, "not an audio file: bad.wav"),
        (WAV[:30], "truncated or damaged audio: bad.wav"),  # cut inside its header (a cut body is salvaged)
        (wav_bytes(seconds=0.2), "recording too short: bad.wav: 0.200 s, at least 0.5 s"),
    ],
    ids=["empty", "not-audio", "truncated", "too-short"],
)
def test_bad_recordings_are_rejected(sqlite_db: str, spool: Path, audio: bytes, reason: str) -> None:
    drop(spool, "bad.wav", audio=audio)
    [result] = Watcher(spool).poll()
    assert result.outcome is Outcome.rejected
    assert rejected_reason(spool, "bad.wav").startswith(reason)
    assert (spool / "rejected" / "bad.wav").read_bytes() == audio
    assert_nothing_stored()


def test_symlinked_recording_and_sidecar_are_rejected_never_followed(
    sqlite_db: str, spool: Path, tmp_path: Path
) -> None:
    """A link to a recording elsewhere, a dangling link and a linked sidecar are rejected; the link
    targets are untouched and never read into the store."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "real.wav").write_bytes(WAV)
    (outside / "secret.json").write_text('{"call_id": "linked-2"}')
    (spool / "link1.wav").symlink_to(outside / "real.wav")
    (spool / "link1.wav.done").touch()
    (spool / "dangling.wav").symlink_to(outside / "gone.wav")
    (spool / "dangling.wav.done").touch()
    drop(spool, "link2.wav")
    (spool / "link2.json").symlink_to(outside / "secret.json")
    results = {r.name: r for r in Watcher(spool).poll()}
    assert {n: r.outcome for n, r in results.items()} == {
        "link1.wav": Outcome.rejected, "dangling.wav": Outcome.rejected, "link2.wav": Outcome.rejected
    }
    assert rejected_reason(spool, "link1.wav") == "refused: a symbolic link: link1.wav"
    assert rejected_reason(spool, "dangling.wav") == "refused: a symbolic link: dangling.wav"
    assert rejected_reason(spool, "link2.wav") == "invalid metadata: link2.json: is a symbolic link"
    assert (outside / "real.wav").read_bytes() == WAV and (outside / "secret.json").exists()
    assert (spool / "rejected" / "link1.wav").is_symlink()
    assert_nothing_stored()


def test_name_too_long_for_its_marker_is_rejected_with_a_short_reason_file(
    sqlite_db: str, spool: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 255-byte name leaves no room for `.reason.txt` or `.done`: the watcher neither dies nor loops;
    with require_marker it just never takes the file; without, it is rejected under a shortened name."""
    monkeypatch.setenv("CALLQC_SPOOL_STABLE_S", "0")
    reset_settings()
    name = "a" * 251 + ".wav"
    drop(spool, name, done=False)
    drop(spool, "ok-1.wav")
    [ok] = Watcher(spool).poll()  # require_marker: the long name can carry no marker, it is left
    assert (ok.name, ok.outcome) == ("ok-1.wav", Outcome.done)
    assert (spool / name).exists()
    [result] = Watcher(spool, require_marker=False).poll()
    assert result.outcome is Outcome.rejected and result.reason and result.reason.startswith("invalid call ID: 251")
    names = sorted(p.name for p in (spool / "rejected").iterdir())
    assert len(names) == 2 and all(len(n.encode()) <= 255 for n in names)
    [audio] = [n for n in names if not n.endswith(".reason.txt")]
    assert audio.startswith("a" * 100) and audio.endswith(".wav")
    assert (spool / "rejected" / audio).read_bytes() == WAV
    assert (spool / "rejected" / f"{audio}.reason.txt").read_text().startswith("invalid call ID: 251 characters")
    assert stored()[1] == 1  # only ok-1


def test_invalid_utf8_file_name(sqlite_db: str, spool: Path) -> None:
    """A name that is not UTF-8 cannot be a call ID (rejected); with a sidecar call ID it is ingested,
    and the audit row holds a readable version of the name."""
    bad = os.fsdecode(b"rec-\xff\xfe.wav")
    drop(spool, bad)
    [result] = Watcher(spool).poll()
    assert result.outcome is Outcome.rejected and result.reason and result.reason.startswith("invalid call ID")
    assert (spool / "rejected" / bad).read_bytes() == WAV
    bad2 = os.fsdecode(b"two-\xff.wav")
    drop(spool, bad2, sidecar=b'{"call_id": "named-by-sidecar"}')
    [result] = Watcher(spool).poll()
    assert (result.outcome, result.call_id) == (Outcome.done, "named-by-sidecar")
    result.name.encode("utf-8")  # printable: the CLI prints it


def test_odd_entries_are_ignored(sqlite_db: str, spool: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A FIFO or a folder named like a recording, hidden and temporary files are never taken (and a
    FIFO never blocks the watcher)."""
    monkeypatch.setenv("CALLQC_SPOOL_STABLE_S", "0")
    reset_settings()
    os.mkfifo(spool / "pipe.wav")
    (spool / "pipe.wav.done").touch()
    (spool / "folder.wav").mkdir()
    (spool / "folder.wav.done").touch()
    (spool / ".hidden.wav").write_bytes(WAV)
    (spool / "busy.wav.part").write_bytes(WAV)
    assert Watcher(spool).poll() == []
    assert Watcher(spool, require_marker=False).poll() == []
    assert_nothing_stored()


def test_marker_is_required_by_default(sqlite_db: str, spool: Path) -> None:
    """An old file without a marker is left alone by default; taken once its marker appears."""
    path = drop(spool, "wait-1.wav", done=False)
    old = os.stat(path).st_mtime - 3600
    os.utime(path, (old, old))
    assert Watcher(spool).poll() == []
    (spool / "wait-1.wav.done").touch()
    [result] = Watcher(spool).poll()
    assert (result.outcome, result.call_id) == (Outcome.done, "wait-1")


class _FailingStore:
    """An object store whose writes fail (a full disk, say); everything else is the real store."""

    def __init__(self) -> None:
        self.real = make_store()

    def put_file(self, *args: Any, **kwargs: Any) -> Any:
        raise OSError(28, "No space left on device")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def test_a_file_that_keeps_failing_is_rejected_after_spool_max_attempts(
    sqlite_db: str, spool: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure that is neither the file's fault nor a service being down is retried, then after
    spool_max_attempts looks in a row the file is rejected with the last error; nothing stored."""
    monkeypatch.setenv("CALLQC_SPOOL_MAX_ATTEMPTS", "3")
    reset_settings()
    drop(spool, "fails-1.wav")
    watcher = Watcher(spool, store=_FailingStore())  # type: ignore[arg-type]
    outcomes: list[Result] = [r for _ in range(3) for r in watcher.poll()]
    assert [r.outcome for r in outcomes] == [Outcome.retry, Outcome.retry, Outcome.rejected]
    assert rejected_reason(spool, "fails-1.wav") == (
        "failed too often: 3 looks in a row; last: [Errno 28] No space left on device"
    )
    assert_nothing_stored()


def test_failed_registration_in_the_watcher_removes_the_object(
    sqlite_db: str, spool: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database refuses the insert after the object was stored: the object is removed, the file
    stays for the next look; once the database accepts, it is ingested."""
    drop(spool, "reg-1.wav")
    block_registration()
    try:
        [result] = Watcher(spool).poll()
    finally:
        unblock_registration()
    assert result.outcome is Outcome.retry and (spool / "reg-1.wav").exists()
    assert_nothing_stored()
    [result] = Watcher(spool).poll()
    assert (result.outcome, result.call_id) == (Outcome.done, "reg-1")


def test_database_down_is_retried_for_ever_never_rejected(spool: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A database that is down is the service's fault: the file stays in the spool past
    spool_max_attempts looks; nothing is stored."""
    monkeypatch.setenv("CALLQC_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:1/none")
    monkeypatch.setenv("CALLQC_SPOOL_MAX_ATTEMPTS", "2")
    reset_settings()
    drop(spool, "down-1.wav")
    watcher = Watcher(spool)
    results = [r for _ in range(4) for r in watcher.poll()]
    assert [r.outcome for r in results] == [Outcome.retry] * 4
    assert results[-1].reason == "database unavailable or busy; try again later"
    assert (spool / "down-1.wav").exists()
    assert list(make_store().list(get_settings().bucket_recordings)) == []
