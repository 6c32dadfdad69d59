"""Hostile input at the command line: each case ends with one `error: ...` line on stderr, a non-zero
exit, no traceback, and nothing stored (no object, no call, no job, no audit row)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from callqc.cli import main
from storage.settings import reset_settings
from tests.api_server import wav_bytes
from tests.hostile import assert_nothing_stored, block_registration, deep, stored, unblock_registration

WAV = wav_bytes(seconds=1.0)


def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["callqc", *args])
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def one_error(code: int, err: str, start: str) -> None:
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"error: {start}"), lines[0]
    assert "Traceback" not in err


@pytest.fixture
def wav(tmp_path: Path) -> Path:
    path = tmp_path / "c-1.wav"
    path.write_bytes(WAV)
    return path


INGEST_CASES: dict[str, tuple[list[str], str]] = {
    "meta-no-equals": (["--meta", "agent"], "invalid metadata: --meta 'agent': expected key=value"),
    "meta-empty-key": (["--meta", "=x"], "invalid metadata: --meta '=x': expected key=value"),
    "meta-twice": (["--meta", "a=1", "--meta", "a=2"], "invalid metadata: --meta 'a': given twice"),
    "meta-surrogate": (["--meta", "note=\udcff"], "invalid metadata: meta.note: text with NUL or invalid"),
    "meta-key-surrogate": (["--meta", "n\udcffte=1"], "invalid metadata: key"),
    "meta-key-control": (["--meta", "a\x1bb=1"], "invalid metadata: key"),
    "meta-direction": (["--meta", "direction=sideways"], "invalid metadata: direction: 'sideways'"),
    "meta-started": (["--meta", "started_at=last tuesday"], "invalid metadata: started_at:"),
    "meta-started-ms": (["--meta", "started_at=1709631000000"], "invalid metadata: started_at:"),
    "meta-tenant": (["--meta", "tenant=a b"], "invalid metadata: tenant:"),
    "meta-many": ([a for i in range(600) for a in ("--meta", f"k{i}=1")], "invalid metadata: 600 fields, at most 500"),
    "meta-meta": (["--meta", "meta=x"], "invalid metadata: meta: expected a JSON object"),
    "agent-surrogate": (["--agent", "7\udc80"], "invalid metadata: agent_id: not valid Unicode"),
    "agent-control": (["--agent", "a\x1b[2J"], "invalid metadata: agent_id: contains control characters"),
    "agent-long": (["--agent", "a" * 65], "invalid metadata: agent_id: 65 characters, at most 64"),
    "call-id-slash": (["--call-id", "a/b"], "invalid call ID: 'a/b' contains a slash"),
    "call-id-dotdot": (["--call-id", "a..b"], "invalid call ID: 'a..b' contains '..'"),
    "call-id-unicode": (["--call-id", "呼叫"], "invalid call ID:"),
    "call-id-surrogate": (["--call-id", "a\udcff"], "invalid call ID:"),
    "call-id-long": (["--call-id", "x" * 129], "invalid call ID: 129 characters"),
    "call-id-dash": (["--call-id", "-x"], "invalid call ID:"),
    "channel-map": (["--channel-map", "agent=left"], "invalid metadata: channel_map:"),
    "channel-map-role": (["--channel-map", "boss=left,agent=right"], "invalid metadata: channel_map: unknown role"),
}


@pytest.mark.parametrize("case", sorted(INGEST_CASES))
def test_ingest_option_refusals(
    sqlite_db: str, wav: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    args, start = INGEST_CASES[case]
    code, out, err = run(capsys, monkeypatch, "ingest", *args, str(wav))
    one_error(code, err, start)
    assert out == ""
    assert_nothing_stored()


SIDECAR_CASES: dict[str, tuple[bytes, str]] = {
    "deep": (b'{"x": ' + str(deep(20)).replace("'", '"').encode() + b"}", "invalid metadata: c-1.json: meta: nested"),
    "very-deep": (b'{"x": ' + b"[" * 30000 + b"]" * 30000 + b"}", "invalid metadata: c-1.json: nested deeper"),
    "surrogate": (b'{"agent_id": "\\ud800"}', "invalid metadata: c-1.json: agent_id: not valid Unicode"),
    "nul": (b'{"note": "\\u0000"}', "invalid metadata: c-1.json: meta.note: text with NUL"),
    "duplicate": (b'{"agent_id": "1", "agent_id": "2"}', "invalid metadata: c-1.json: key 'agent_id' given twice"),
    "infinity": (b'{"x": Infinity}', "invalid metadata: c-1.json: Infinity is not a JSON number"),
    "not-json": (b"{", "invalid metadata: c-1.json: not valid JSON"),
    "not-utf8": (b'{"a": "\xc3"}', "invalid metadata: c-1.json: not UTF-8"),
    "number": (b"42", "invalid metadata: c-1.json: expected a JSON object"),
}


@pytest.mark.parametrize("case", sorted(SIDECAR_CASES))
def test_ingest_sidecar_refusals(
    sqlite_db: str, wav: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    data, start = SIDECAR_CASES[case]
    wav.with_suffix(".json").write_bytes(data)
    code, _, err = run(capsys, monkeypatch, "ingest", str(wav))
    one_error(code, err, start)
    assert_nothing_stored()
    # --no-sidecar: the same recording goes in without it
    code, out, _ = run(capsys, monkeypatch, "ingest", "--no-sidecar", str(wav))
    assert (code, out.strip()) == (0, "c-1")


@pytest.mark.slow
def test_ingest_file_refusals(
    sqlite_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Missing files, folders, FIFOs, links to sidecars, empty, too short and non-audio files."""
    (tmp_path / "dir.wav").mkdir()
    os.mkfifo(tmp_path / "pipe.wav")
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "short.wav").write_bytes(wav_bytes(seconds=0.1))
    (tmp_path / "text.wav").write_text("hello\n" * 100)
    (tmp_path / "linked.wav").write_bytes(WAV)
    (tmp_path / "elsewhere.json").write_text('{"agent_id": "1"}')
    (tmp_path / "linked.json").symlink_to(tmp_path / "elsewhere.json")
    bad_name = tmp_path / os.fsdecode(b"r\xff.wav")
    bad_name.write_bytes(WAV)
    cases = [
        (tmp_path / "missing.wav", "invalid input: "),
        (tmp_path / "dir.wav", "invalid input: "),
        (tmp_path / "pipe.wav", "invalid input: "),
        (tmp_path / "empty.wav", "empty file: empty.wav: 0 bytes"),
        (tmp_path / "short.wav", "recording too short: short.wav: 0.100 s, at least 0.5 s"),
        (tmp_path / "text.wav", "not an audio file: text.wav"),
        (tmp_path / "linked.wav", "invalid metadata: linked.json: is a symbolic link"),
        (bad_name, "invalid call ID:"),
    ]
    for path, start in cases:
        code, _, err = run(capsys, monkeypatch, "ingest", str(path))
        one_error(code, err, start)
        err.encode("utf-8")  # printable
    assert_nothing_stored()


def test_ingest_of_many_files_takes_the_good_ones_and_lists_the_bad(
    sqlite_db: str, wav: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "bad.wav").write_text("not audio\n" * 40)
    code, out, err = run(capsys, monkeypatch, "ingest", str(wav), str(tmp_path / "bad.wav"))
    assert code != 0 and out.strip() == "c-1"
    lines = err.strip().splitlines()
    assert lines == [
        "error: not an audio file: bad.wav: not a recognised audio container",
        "error: some recordings were not ingested: 1 of 2 files (see above)",
    ]
    keys, calls, jobs, audits = stored()
    assert (len(keys), calls, jobs, audits) == (1, 1, 1, 1)


def test_ingest_failed_registration_removes_the_object(
    sqlite_db: str, wav: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    block_registration()
    try:
        code, _, err = run(capsys, monkeypatch, "ingest", str(wav))
    finally:
        unblock_registration()
    one_error(code, err, "database: blocked")
    assert_nothing_stored()


def test_ingest_with_the_database_down(
    data_dir: Path, wav: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CALLQC_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:1/none")
    reset_settings()
    code, _, err = run(capsys, monkeypatch, "ingest", str(wav))
    one_error(code, err, "database unavailable or busy")
    assert code == 6


@pytest.mark.parametrize(
    ("env", "args", "start"),
    [
        ({"CALLQC_API_TOKEN": "x"}, ["recorder", "api"], "CALLQC_API_TOKEN is too weak: 1 characters, at least 16"),
        ({"CALLQC_API_TOKEN": "fifteen-chars.."}, ["recorder", "api"], "CALLQC_API_TOKEN is too weak: 15"),
        ({}, ["recorder", "api"], "the ingest API needs a token: set CALLQC_API_TOKEN"),
        ({"CALLQC_API_TOKEN": "change-me-long-random-token"}, ["recorder", "api"],
         "CALLQC_API_TOKEN is too weak: it is still the example's placeholder"),
        ({"CALLQC_API_TOKEN": "short"}, ["up", "--no-app", "--no-workers"], "CALLQC_API_TOKEN is too weak"),
        ({}, ["recorder", "watch", "/nonexistent/spool"], "invalid input: /nonexistent/spool: not a folder"),
        ({"CALLQC_MIN_DURATION_S": "-1"}, ["config"], "invalid setting min_duration_s"),
        ({"CALLQC_SPOOL_MAX_ATTEMPTS": "0"}, ["config"], "invalid setting spool_max_attempts"),
        ({"CALLQC_DB_POOL_SIZE": "many"}, ["config"], "invalid setting db_pool_size"),
        ({"CALLQC_API_DOCS": "perhaps"}, ["config"], "invalid setting api_docs"),
    ],
    ids=["token-1", "token-15", "no-token", "example-token", "up-short-token", "watch-missing", "min-duration",
         "max-attempts", "pool-size", "docs"],
)
def test_start_up_refusals(
    data_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str], args: list[str], start: str,
) -> None:
    """Bad settings and weak tokens are refused before anything starts, in one line."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    reset_settings()
    code, _, err = run(capsys, monkeypatch, *args)
    one_error(code, err, start)


RUBRICS: dict[str, tuple[bytes, str]] = {
    "unclosed": (b"id: x\nitems: [\n", "invalid rubric: {path}:"),
    "tabs": (b"id: x\n\tversion: 1\n", "invalid rubric: {path}:"),
    "not-utf8": (b"id: \xff\xfe\n", "invalid rubric: {path}"),
    "empty": (b"", "invalid rubric: {path}"),
    "a-list": (b"- 1\n- 2\n", "invalid rubric: {path}"),
    "alias-bomb": (
        b'a: &a ["x","x","x","x","x","x","x","x","x"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n'
        b"c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
        b"e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n",
        "invalid rubric: {path}",
    ),
    "python-tag": (b"id: !!python/object/apply:os.system ['echo pwned']\n", "invalid rubric: {path}"),
}


@pytest.mark.parametrize("case", sorted(RUBRICS))
def test_rubric_check_refusals(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    """`callqc rubric check` on hostile YAML: exit 4, the file named on its error line, no traceback,
    no code run."""
    data, start = RUBRICS[case]
    path = tmp_path / "rubric.yaml"
    path.write_bytes(data)
    code, _, err = run(capsys, monkeypatch, "rubric", "check", str(path))
    assert code == 4, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: " + start.format(path=path)), err
    assert "Traceback" not in err and "pwned" not in err
