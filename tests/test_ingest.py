"""Ingest: bytes stored and verified, call + first job registered together; refusals store nothing."""

from __future__ import annotations

import hashlib
import os
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import select

from recorder.ingest import CallExists, ingest_file
from recorder.metadata import CallMeta, InvalidMetadata, parse_meta, read_sidecar, sidecar_for
from storage.calls import Call
from storage.db import session
from storage.errors import InvalidInput
from storage.jobs import Job, JobKind
from storage.keys import recording_key
from storage.models import AuditEvent
from storage.objectstore import ObjectStore, sha256_of
from storage.settings import get_settings, reset_settings
from storage.stores import make_store
from tests.audio_files import FORMATS, Fmt, make_format, make_wav, truncate, zero_length_wav

T0 = datetime(2024, 3, 5, 9, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def formats(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("formats")
    return {fmt.name: make_format(d, fmt) for fmt in FORMATS}


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def stored(store: ObjectStore | None = None) -> list[str]:
    store = store or make_store()
    return [o.key for o in store.list(get_settings().bucket_recordings)]


def counts() -> tuple[int, int, int]:
    with session() as s:
        return tuple(len(s.exec(select(m)).all()) for m in (Call, Job, AuditEvent))  # type: ignore[return-value]


@pytest.mark.parametrize("fmt", FORMATS, ids=[f.name for f in FORMATS])
def test_each_format_is_stored_byte_for_byte_and_registered(
    sqlite_db: str, formats: dict[str, Path], fmt: Fmt
) -> None:
    """Each accepted format is stored unchanged (same SHA-256) under its dated key, with its probe facts."""
    src = formats[fmt.name]
    result = ingest_file(src, CallMeta(call_id=f"c-{fmt.name}", started_at=T0))
    assert result.created
    assert re.fullmatch(rf"recordings/2024/03/05/c-{fmt.name}~[0-9a-f]{{8}}\.{fmt.ext}", result.audio_key)
    assert sha256_of(make_store(), get_settings().bucket_recordings, result.audio_key) == sha(src)
    with session() as s:
        call = s.get(Call, result.call_id)
        assert call is not None
        assert (call.codec, call.sample_rate, call.channels, call.sha256) == (
            fmt.codec,
            fmt.rate,
            2,
            sha(src),
        )
        assert call.channel_map == {"agent": 0, "customer": 1}
        assert call.size_bytes == src.stat().st_size


def test_call_and_first_job_registered_together(db_url: str, tmp_path: Path) -> None:
    """One ingest gives one recorded call, one queued transcribe job for it and one audit row."""
    wav = make_wav(tmp_path / "1700000000.42.wav")
    result = ingest_file(wav, actor="test")
    assert (result.call_id, result.created) == ("1700000000.42", True)
    with session() as s:
        call = s.get(Call, "1700000000.42")
        jobs = s.exec(select(Job)).all()
        events = s.exec(select(AuditEvent)).all()
    assert call is not None and call.status == "recorded"
    assert [(j.kind, j.call_id, j.state) for j in jobs] == [(JobKind.transcribe, "1700000000.42", "queued")]
    assert [(e.action, e.call_id, e.actor) for e in events] == [("ingest", "1700000000.42", "test")]
    # started_at defaults to the file's modification time
    assert call.started_at == datetime.fromtimestamp(wav.stat().st_mtime, UTC)


def test_same_id_same_audio_is_idempotent(db_url: str, tmp_path: Path) -> None:
    """Ingesting the same file again reports the existing call and adds no row, job or object."""
    wav = make_wav(tmp_path / "a.wav")
    first = ingest_file(wav, CallMeta(call_id="dup-1", started_at=T0))
    again = ingest_file(wav, CallMeta(call_id="dup-1", started_at=T0))
    assert (first.created, again.created) == (True, False)
    assert again.audio_key == first.audio_key
    assert counts() == (1, 1, 1)
    assert stored() == [first.audio_key]


def test_same_id_other_audio_conflicts_and_keeps_the_stored_object(db_url: str, tmp_path: Path) -> None:
    """Other audio under a registered ID (same date, so the same key) is refused and overwrites nothing."""
    first = make_wav(tmp_path / "first.wav", seconds=1)
    other = make_wav(tmp_path / "other.wav", seconds=2)
    result = ingest_file(first, CallMeta(call_id="dup-2", started_at=T0))
    with pytest.raises(CallExists, match=r"^call ID already registered with different audio: dup-2 "):
        ingest_file(other, CallMeta(call_id="dup-2", started_at=T0))
    assert sha256_of(make_store(), get_settings().bucket_recordings, result.audio_key) == sha(first)
    assert counts() == (1, 1, 1)


def test_leftover_object_from_a_crashed_attempt_does_not_block_a_retry(db_url: str, tmp_path: Path) -> None:
    """An unregistered object a crashed attempt left (at the plain key or a tagged one) is never taken
    for the call's audio: the retry stores its own verified copy and registers it."""
    wav = make_wav(tmp_path / "x.wav")
    store = make_store()
    bucket = get_settings().bucket_recordings
    (tmp_path / "junk").write_bytes(b"half of something else")
    for key in (recording_key("crash-1", T0, "wav"), recording_key("crash-1", T0, "wav", attempt="0badc0de")):
        store.put_file(bucket, key, tmp_path / "junk")
    result = ingest_file(wav, CallMeta(call_id="crash-1", started_at=T0), store=store)
    assert result.created and result.audio_key.startswith("recordings/2024/03/05/crash-1~")
    assert sha256_of(store, bucket, result.audio_key) == sha(wav)
    assert counts() == (1, 1, 1)


def _header_only(src: Path, dst: Path) -> Path:
    """A WAV cut inside its header: nothing to salvage (a cut body is salvaged, see test_pbx_formats)."""
    dst.write_bytes(src.read_bytes()[:30])
    return dst


def _refusals(tmp: Path) -> dict[str, tuple[Path, CallMeta, str]]:
    wav = make_wav(tmp / "ok.wav")
    (tmp / "empty.wav").write_bytes(b"")
    (tmp / "notes.wav").write_text("not audio at all\n" * 50)
    return {
        "empty": (tmp / "empty.wav", CallMeta(call_id="r1"), "empty file: empty.wav: 0 bytes"),
        "truncated": (
            _header_only(wav, tmp / "cut.wav"),
            CallMeta(call_id="r2"),
            "truncated or damaged audio: cut.wav",
        ),
        "not-audio": (tmp / "notes.wav", CallMeta(call_id="r3"), "not an audio file: notes.wav"),
        "zero-duration": (
            zero_length_wav(tmp / "zero.wav"),
            CallMeta(call_id="r4"),
            "recording has no audio (zero duration): zero.wav",
        ),
        "too-long": (
            make_wav(tmp / "long.wav", seconds=3, channels=1),
            CallMeta(call_id="r5"),
            "recording too long: long.wav",
        ),
        "three-channels": (
            make_wav(tmp / "three.wav", channels=3),
            CallMeta(call_id="r6"),
            "too many channels: three.wav: 3 channels, at most 2",
        ),
        "id-dotdot": (wav, CallMeta(call_id="../x"), "invalid call ID: '../x' contains a slash"),
        "id-slash": (wav, CallMeta(call_id="a/b"), "invalid call ID: 'a/b' contains a slash"),
        "id-control": (wav, CallMeta(call_id="a\x00b\nc"), "invalid call ID: contains control characters"),
        "id-too-long": (wav, CallMeta(call_id="x" * 200), "invalid call ID: 200 characters, at most 128"),
        "id-from-bad-name": (make_wav(tmp / "my call.wav"), CallMeta(), "invalid call ID: 'my call'"),
    }


REFUSALS = [
    "empty",
    "truncated",
    "not-audio",
    "zero-duration",
    "too-long",
    "three-channels",
    "id-dotdot",
    "id-slash",
    "id-control",
    "id-too-long",
    "id-from-bad-name",
]


@pytest.mark.parametrize("case", REFUSALS)
def test_refusal_gives_one_line_reason_and_stores_nothing(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    """Each refusal names what is wrong on one line, and leaves no object, no call, no job, no audit row."""
    monkeypatch.setenv("CALLQC_MAX_DURATION_S", "2")
    reset_settings()
    path, meta, message = _refusals(tmp_path)[case]
    with pytest.raises(InvalidInput) as err:
        ingest_file(path, meta)
    assert str(err.value).startswith(message), str(err.value)
    assert "\n" not in str(err.value)
    assert stored() == []
    assert counts() == (0, 0, 0)


def test_too_large_file_is_refused_before_probing(
    sqlite_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file over max_upload_bytes is refused by size and nothing is stored."""
    monkeypatch.setenv("CALLQC_MAX_UPLOAD_BYTES", "1000")
    reset_settings()
    with pytest.raises(InvalidInput, match=r"^recording too large: big.wav: \d+ bytes, at most 1000$"):
        ingest_file(make_wav(tmp_path / "big.wav"))
    assert (stored(), counts()) == ([], (0, 0, 0))


def test_metadata_fills_columns_and_keeps_unknown_keys(sqlite_db: str, tmp_path: Path) -> None:
    """Known keys become Call columns (times parsed, channel map swapped), unknown keys go to meta."""
    wav = make_wav(tmp_path / "m.wav")
    meta = parse_meta(
        {
            "call_id": "meta-1",
            "agent": "1007",
            "tenant": "gz-bank",
            "team": "t1",
            "queue": "cn-support",
            "direction": "Inbound",
            "caller": "+8613800000000",
            "callee": "95588",
            "started_at": "2024-03-05T17:30:00+08:00",
            "ended_at": 1709631060,
            "channel_map": "agent=right,customer=left",
            "uniqueid": "1709.3",
            "ivr": {"path": [1, 2]},
        }
    )
    ingest_file(wav, meta)
    with session() as s:
        call = s.get(Call, "meta-1")
    assert call is not None
    assert (call.agent_id, call.tenant, call.team, call.queue, call.direction, call.caller, call.callee) == (
        "1007",
        "gz-bank",
        "t1",
        "cn-support",
        "inbound",
        "+8613800000000",
        "95588",
    )
    assert call.started_at == T0
    assert call.ended_at == datetime(2024, 3, 5, 9, 31, tzinfo=UTC)
    assert call.channel_map == {"agent": 1, "customer": 0}
    assert call.meta == {"uniqueid": "1709.3", "ivr": {"path": [1, 2]}}
    assert re.fullmatch(r"recordings/2024/03/05/meta-1~[0-9a-f]{8}\.wav", call.audio_key)


def test_mono_recording_gets_the_unknown_speaker_map(sqlite_db: str, tmp_path: Path) -> None:
    """A mono file is registered with {"unknown": 0}, whatever channel map was asked for."""
    ingest_file(
        make_wav(tmp_path / "mono-1.wav", channels=1),
        parse_meta({"channel_map": "agent=right,customer=left"}),
    )
    with session() as s:
        call = s.get(Call, "mono-1")
    assert call is not None and call.channel_map == {"unknown": 0}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"agent_id": "x" * 65}, "invalid metadata: agent_id: 65 characters, at most 64"),
        ({"direction": "sideways"}, "invalid metadata: direction: 'sideways'; use one of"),
        ({"started_at": "yesterday"}, "invalid metadata: started_at: 'yesterday' is not ISO 8601"),
        ({"started_at": 1709631060000}, "invalid metadata: started_at: "),
        ({"started_at": 1709631060, "ended_at": 1709631000}, "invalid metadata: ended_at: before started_at"),
        ({"tenant": "a b"}, "invalid metadata: tenant: 'a b'"),
        ({"queue": "q\x1b[31m"}, "invalid metadata: queue: contains control characters"),
        ({"channel_map": "agent=left,customer=left"}, "invalid metadata: channel_map: "),
        ({"channel_map": "boss=left"}, "invalid metadata: channel_map: unknown role 'boss'"),
    ],
)
def test_invalid_metadata_names_the_field(raw: dict, message: str) -> None:
    """Every metadata field is validated; the one-line message names the field."""
    with pytest.raises(InvalidMetadata) as err:
        parse_meta(raw)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_sidecar_is_found_by_either_name_and_errors_name_the_file(tmp_path: Path) -> None:
    """`call.wav.json` or `call.json` is the sidecar; a broken one is refused naming the file."""
    wav = make_wav(tmp_path / "call.wav")
    assert sidecar_for(wav) is None
    (tmp_path / "call.json").write_text('{"agent_id": "7"}')
    assert read_sidecar(sidecar_for(wav)).agent_id == "7"  # type: ignore[arg-type]
    (tmp_path / "call.wav.json").write_text('{"agent_id": ')
    with pytest.raises(InvalidMetadata, match=r"^invalid metadata: call.wav.json: not valid JSON"):
        read_sidecar(sidecar_for(wav))  # type: ignore[arg-type]


def test_original_file_is_left_untouched(sqlite_db: str, tmp_path: Path) -> None:
    """Ingest reads the source; it never changes, moves or deletes it."""
    wav = make_wav(tmp_path / "keep.wav")
    before = (sha(wav), os.stat(wav).st_mtime_ns)
    ingest_file(wav)
    assert (sha(wav), os.stat(wav).st_mtime_ns) == before


@pytest.mark.integration
def test_ingest_into_real_s3_keeps_bytes_and_refuses_overwrites(
    s3_settings: object, sqlite_db: str, formats: dict[str, Path], tmp_path: Path
) -> None:
    """Real S3: bytes stored unchanged, a retry is idempotent, other audio under the ID overwrites nothing."""
    store = make_store()
    bucket = get_settings().bucket_recordings
    src = formats["opus"]
    result = ingest_file(src, CallMeta(call_id="s3-1", started_at=T0), store=store)
    assert re.fullmatch(r"recordings/2024/03/05/s3-1~[0-9a-f]{8}\.opus", result.audio_key)
    assert (store.stat(bucket, result.audio_key).sha256, sha256_of(store, bucket, result.audio_key)) == (
        sha(src),
    ) * 2
    assert not ingest_file(src, CallMeta(call_id="s3-1", started_at=T0), store=store).created
    other = formats["flac"]
    with pytest.raises(CallExists):
        ingest_file(other, CallMeta(call_id="s3-1", started_at=T0), store=store)
    with pytest.raises(InvalidInput, match="^truncated or damaged audio"):
        ingest_file(truncate(formats["flac"], tmp_path / "cut.flac"), CallMeta(call_id="s3-2"), store=store)
    assert stored(store) == [result.audio_key]
    assert sha256_of(store, bucket, result.audio_key) == sha(src)
    assert counts() == (1, 1, 1)


@pytest.mark.integration
def test_cli_ingest_prints_call_ids_and_one_line_errors(sqlite_db: str, tmp_path: Path) -> None:
    """`callqc ingest` prints one call ID per file, options win over the sidecar, a refusal is one line."""
    import subprocess
    import sys

    def callqc(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "callqc", *args], capture_output=True, text=True, timeout=120
        )

    a = make_wav(tmp_path / "cli-a.wav")
    b = make_wav(tmp_path / "cli-b.wav", channels=1)
    (tmp_path / "cli-a.json").write_text('{"agent_id": "1", "queue": "sales"}')
    r = callqc(
        "ingest",
        str(a),
        str(b),
        "--agent",
        "2",
        "--meta",
        "crm=T-1",
        "--channel-map",
        "agent=right,customer=left",
    )
    assert (r.returncode, r.stdout.split()) == (0, ["cli-a", "cli-b"]), r.stderr
    with session() as s:
        call = s.get(Call, "cli-a")
    assert call is not None
    assert (call.agent_id, call.queue, call.meta, call.channel_map) == (
        "2",
        "sales",
        {"crm": "T-1"},
        {"agent": 1, "customer": 0},
    )
    r = callqc("ingest", str(a), "--call-id", "a/b")
    assert r.returncode == 4
    assert r.stderr.strip().splitlines() == ["error: invalid call ID: 'a/b' contains a slash"]


def test_ingest_stream_spools_and_refuses_past_the_size_limit(
    sqlite_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stream is ingested like a file (name gives the call ID); one past max_upload_bytes stores nothing."""
    from recorder.ingest import ingest_stream

    wav = make_wav(tmp_path / "s.wav")
    with wav.open("rb") as fh:
        result = ingest_stream(fh, name="stream-1.wav")
    assert (result.call_id, result.created, result.sha256) == ("stream-1", True, sha(wav))
    monkeypatch.setenv("CALLQC_MAX_UPLOAD_BYTES", str(wav.stat().st_size - 1))
    reset_settings()
    with (
        wav.open("rb") as fh,
        pytest.raises(InvalidInput, match="^recording too large: stream-2.wav: more than"),
    ):
        ingest_stream(fh, name="stream-2.wav")
    assert counts() == (1, 1, 1)
    assert list((get_settings().data_dir / "tmp").iterdir()) == []
