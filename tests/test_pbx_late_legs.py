"""A split-call leg that arrives after its call was ingested joins that call: one call, both legs on
their channels sample for sample, exactly once, no object left behind; also when both legs arrive at
once through two watchers. Real voices: Asterisk's recorded prompt as the agent, espeak-ng as the
customer."""

from __future__ import annotations

import io
import json
import shutil
import threading
import wave
from pathlib import Path

import numpy as np
import pytest
from sqlmodel import col, select

from recorder.watch import Outcome, Result, Watcher
from storage import calls
from storage.calls import Call, CallStatus
from storage.db import session
from storage.jobs import Job, JobState
from storage.models import AuditEvent
from storage.settings import get_settings, reset_settings
from storage.stores import get_store
from tests.services import missing_service, require_tool

pytestmark = pytest.mark.tools("espeak-ng", "sox")
PROMPT = Path("/usr/share/asterisk/sounds/en/queue-thankyou.wav")  # asterisk-core-sounds-en
RATE = 8000


def _pcm(path: Path) -> np.ndarray:
    with wave.open(str(path)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (RATE, 1, 2)
        return np.frombuffer(w.readframes(w.getnframes()), "<i2")


def _agent_leg(path: Path) -> np.ndarray:
    if not PROMPT.exists():
        missing_service("asterisk-core-sounds-en: Debian package asterisk-core-sounds-en-wav; `make deps` installs it")
    shutil.copy(PROMPT, path)
    return _pcm(path)


def _customer_leg(path: Path, text: str = "Hello, this is about my order from last week.") -> np.ndarray:
    from demo.synth import speak

    require_tool("espeak-ng")
    samples = speak(text, voice="en-us", speed=160)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(samples.astype("<i2").tobytes())
    return samples


def _drop(folder: Path, name: str, *, started: str, common: dict[str, str] | None = None) -> None:
    """The PBX finished writing ``name``: its sidecar says when it started; the marker says it is done."""
    stem = name.rsplit(".", 1)[0]
    (folder / f"{stem}.json").write_text(json.dumps({"started_at": started}))
    if common is not None:
        (folder / f"{stem.rsplit('-', 1)[0]}.json").write_text(json.dumps(common))
    (folder / f"{name}.done").touch()


def _stored(call_id: str) -> tuple[Call, np.ndarray]:
    with session() as s:
        row = s.get(Call, call_id)
        assert row is not None
        s.expunge(row)
    data = get_store().get_range(get_settings().bucket_recordings, row.audio_key)
    with wave.open(io.BytesIO(data)) as w:
        assert w.getframerate() == RATE
        pcm = np.frombuffer(w.readframes(w.getnframes()), "<i2").reshape(-1, w.getnchannels()).T
    return row, pcm


def _objects() -> list[str]:
    return sorted(o.key for o in get_store().list(get_settings().bucket_recordings, "recordings/"))


@pytest.fixture
def spool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CALLQC_SPOOL_STABLE_S", "0")
    reset_settings()
    folder = tmp_path / "spool"
    folder.mkdir()
    return folder


def test_a_leg_arriving_after_its_call_was_ingested_joins_that_call(db_url: str, spool: Path) -> None:
    """Outbound: `-in` is the agent. The agent's leg is ingested alone (customer side silent); the
    customer's leg, 0.5 s later on the timeline, comes after and fills the customer channel."""
    agent = _agent_leg(spool / "c7-in.wav")
    _drop(spool, "c7-in.wav", started="2024-03-05T10:00:00Z", common={"direction": "outbound", "agent_id": "anna"})
    [first] = Watcher(spool).poll()
    assert (first.outcome, first.call_id) == (Outcome.done, "c7")
    row, pcm = _stored("c7")
    assert (row.channels, pcm.shape[0]) == (2, 2) and not pcm[1].any()

    customer = _customer_leg(spool / "c7-out.wav")
    _drop(spool, "c7-out.wav", started="2024-03-05T10:00:00.500Z")
    [late] = Watcher(spool).poll()
    assert (late.outcome, late.call_id) == (Outcome.done, "c7")

    row, pcm = _stored("c7")
    at = RATE // 2
    assert np.array_equal(pcm[0][: len(agent)], agent) and not pcm[0][len(agent):].any()
    assert not pcm[1][:at].any() and np.array_equal(pcm[1][at : at + len(customer)], customer)
    assert (row.channel_map, row.agent_id, row.direction, row.status) == ({"agent": 0, "customer": 1}, "anna",
                                                                          "outbound", CallStatus.recorded)
    assert row.duration_s == pytest.approx(max(len(agent), at + len(customer)) / RATE, abs=0.01)
    assert row.started_at.isoformat().startswith("2024-03-05T10:00:00")
    legs = {leg["name"]: leg for leg in row.meta["legs"]}
    assert set(legs) == {"c7-in.wav", "c7-out.wav"}
    assert (legs["c7-in.wav"]["offset_s"], legs["c7-out.wav"]["offset_s"]) == (0.0, 0.5)
    assert _objects() == [row.audio_key]  # the first recording's object is gone
    with session() as s:
        assert len(list(s.exec(select(Call)))) == 1
        jobs = list(s.exec(select(Job).where(Job.call_id == "c7")))
        joins = list(s.exec(select(AuditEvent).where(AuditEvent.action == "leg_join")))
    assert [j.state for j in jobs] == [JobState.queued]  # the first job, not yet run, reads the new audio
    assert [j.detail["files"] for j in joins] == [["c7-out.wav"]]
    assert not any(p.suffix == ".wav" for p in spool.iterdir())

    # the same leg delivered again (a copy job retried): joined once, nothing changes
    shutil.copy(spool / "done" / "c7-out.wav", spool / "c7-out.wav")
    _drop(spool, "c7-out.wav", started="2024-03-05T10:00:00.500Z")
    [again] = Watcher(spool).poll()
    assert (again.outcome, again.call_id) == (Outcome.done, "c7")
    assert _stored("c7")[0].sha256 == row.sha256 and _objects() == [row.audio_key]


def test_a_late_leg_sends_a_scored_call_back_to_be_transcribed_and_scored_again(sqlite_db: str, spool: Path) -> None:
    _customer_leg(spool / "c8-in.wav")  # inbound: `-in` is the caller
    _drop(spool, "c8-in.wav", started="2024-03-05T11:00:00Z", common={"direction": "inbound"})
    assert [r.outcome for r in Watcher(spool).poll()] == [Outcome.done]
    with session(write=True) as s:
        calls.move(s, "c8", CallStatus.transcribed)
        calls.move(s, "c8", CallStatus.scored)
        for job in s.exec(select(Job).where(Job.call_id == "c8")):
            job.state = JobState.done
            s.add(job)
    agent = _agent_leg(spool / "c8-out.wav")
    _drop(spool, "c8-out.wav", started="2024-03-05T11:00:00Z")
    assert [r.outcome for r in Watcher(spool).poll()] == [Outcome.done]
    row, pcm = _stored("c8")
    assert row.status == CallStatus.recorded and np.array_equal(pcm[0][: len(agent)], agent)
    with session() as s:
        states = [j.state for j in s.exec(select(Job).where(Job.call_id == "c8").order_by(col(Job.id)))]
    assert states == [JobState.done, JobState.queued]


def test_a_late_leg_of_an_archived_call_is_refused_with_a_reason(sqlite_db: str, spool: Path) -> None:
    _customer_leg(spool / "c9-in.wav")
    _drop(spool, "c9-in.wav", started="2024-03-05T12:00:00Z", common={"direction": "inbound"})
    Watcher(spool).poll()
    with session() as s:
        row = s.get(Call, "c9")
        assert row is not None
        row.archived_at = row.started_at
        s.add(row)
    _agent_leg(spool / "c9-out.wav")
    _drop(spool, "c9-out.wav", started="2024-03-05T12:00:00Z")
    [result] = Watcher(spool).poll()
    assert result.outcome is Outcome.rejected and "archived" in (result.reason or "")
    assert (spool / "rejected" / "c9-out.wav").exists()
    assert len(_objects()) == 1


def test_both_legs_arriving_at_once_through_two_watchers_make_one_call(db_url: str, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Two media servers, two spool folders, the two legs of one call released together: one call with
    both legs, exactly one object."""
    monkeypatch.setenv("CALLQC_SPOOL_STABLE_S", "0")
    reset_settings()
    a, b = tmp_path / "fs1", tmp_path / "fs2"
    a.mkdir()
    b.mkdir()
    agent = _agent_leg(a / "c10-in.wav")
    customer = _customer_leg(b / "c10-out.wav")
    _drop(a, "c10-in.wav", started="2024-03-05T13:00:00Z", common={"direction": "outbound"})
    _drop(b, "c10-out.wav", started="2024-03-05T13:00:00Z", common={"direction": "outbound"})
    watchers = [Watcher(a), Watcher(b)]
    gate = threading.Barrier(2)
    results: list[list[Result]] = [[], []]

    def run(i: int) -> None:
        gate.wait()
        results[i] = watchers[i].poll()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [[(r.outcome, r.call_id) for r in rs] for rs in results] == [[(Outcome.done, "c10")]] * 2
    row, pcm = _stored("c10")
    assert np.array_equal(pcm[0][: len(agent)], agent) and np.array_equal(pcm[1][: len(customer)], customer)
    assert {leg["name"] for leg in row.meta["legs"]} == {"c10-in.wav", "c10-out.wav"}
    assert _objects() == [row.audio_key]
    with session() as s:
        assert len(list(s.exec(select(Call)))) == 1
