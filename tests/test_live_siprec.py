"""The SIPREC recording server against real SIP peers (SIPp as a SIPREC client, baresip as a plain
phone): what is stored is what was sent, byte for byte; loss figures are exact; a killed recorder
loses at most 2 s; pauses are silence."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from recorder.siprec.journal import Tap
from recorder.siprec.recording import wav_data
from recorder.siprec.rtp import PCMA, decode
from storage import pauses
from storage.calls import Call, CallStatus
from storage.db import session
from storage.jobs import Job
from storage.settings import get_settings, reset_settings
from storage.stores import get_store
from tests.live_peers import (
    SPP,
    Recorder,
    Stream,
    build_pcap,
    free_port,
    need_sipp,
    need_tool,
    rtp_range,
    run_sipp,
    siprec_scenario,
    speech,
    tone,
)
from tests.services import missing_service

WT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.integration


@dataclass
class Srs:
    port: int
    env: dict[str, str]
    recorder: Recorder
    data_dir: Path
    tmp: Path
    procs: list[subprocess.Popen[bytes]]

    def sipp(self, scenario: str, **kw: object) -> subprocess.Popen[bytes]:
        """SIPp running in the background (stopped at the end of the test whatever happens)."""
        proc = run_sipp(self.tmp, scenario, self.port, wait=False, **kw)  # type: ignore[arg-type]
        assert isinstance(proc, subprocess.Popen)
        self.procs.append(proc)
        return proc

    def restart_with(self, **settings: str) -> None:
        self.recorder.stop()
        self.env.update({f"CALLQC_{k.upper()}": v for k, v in settings.items()})
        self.recorder.start()


@pytest.fixture
def srs(tmp_path: Path, data_dir: Path, worker_id: str) -> Iterator[Srs]:
    port = free_port()
    low, high = rtp_range(worker_id)
    env = {
        **os.environ, "PYTHONPATH": str(WT), "CALLQC_DATA_DIR": str(data_dir), "CALLQC_SIPREC_PORT": str(port),
        "CALLQC_SIPREC_RTP_PORT_MIN": str(low), "CALLQC_SIPREC_RTP_PORT_MAX": str(high), "CALLQC_LOG_LEVEL": "INFO",
    }
    rec = Recorder(env, tmp_path / "recorder.log")
    rec.start()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        yield Srs(port, env, rec, data_dir, tmp_path, procs)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)
        rec.stop()


def wait_call(status: CallStatus, timeout_s: float = 30.0) -> Call:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with session() as s:
            rows = s.exec(select(Call).where(Call.status == status)).all()
        if rows:
            return rows[0]
        time.sleep(0.1)
    raise AssertionError(f"no call became {status} in {timeout_s} s")


def eventually(check: Callable[[], bool], timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def stored_channels(call: Call, tmp: Path) -> tuple[int, list[bytes]]:
    path = tmp / "stored.wav"
    path.write_bytes(get_store().get_range(get_settings().bucket_recordings, call.audio_key))
    tag, channels, data = wav_data(path)
    return tag, [data[c::channels] for c in range(channels)]


def only_at(channel: bytes, payload: bytes, silence: int = 0xFF) -> int:
    """Where ``payload`` sits in ``channel``, everything else being silence."""
    at = channel.find(payload)
    assert at >= 0, "the sent audio is not in the stored channel"
    rest = channel[:at] + channel[at + len(payload):]
    assert rest == bytes([silence]) * len(rest)
    return at


def sipp_ok(result: subprocess.CompletedProcess[bytes]) -> None:
    assert result.returncode == 0, result.stderr.decode(errors="replace")[-2000:]


@pytest.mark.slow
@pytest.mark.parametrize("transport", ["u1", "t1"])
def test_siprec_call_is_stored_byte_exact_with_channel_map_and_metadata(srs: Srs, transport: str) -> None:
    need_sipp()
    agent = speech(srs.tmp / "agent.ul", "Thank you for calling, this is agent one zero zero one.")[: 150 * SPP]
    customer = tone(srs.tmp / "customer.ul", 3, 660)
    build_pcap(srs.tmp / "call.pcap", [Stream(agent), Stream(customer, dtmf_after=60)])
    sipp = srs.sipp(siprec_scenario(srs.tmp / "call.pcap", 3600), transport=transport)
    live = wait_call(CallStatus.in_progress, 15)  # the row exists while the call is live
    assert live.agent_id == "agent1001" and live.channel_map == {"agent": 0, "customer": 1}
    assert sipp.wait(60) == 0, (srs.tmp / "sipp-stderr.log").read_text(errors="replace")[-2000:]
    call = wait_call(CallStatus.recorded)
    assert call.call_id == live.call_id
    tag, (left, right) = stored_channels(call, srs.tmp)
    assert tag == 7 and call.codec == "pcm_mulaw" and call.channels == 2
    only_at(left, agent)
    only_at(right, customer)
    assert call.agent_id == "agent1001" and call.caller == "+8613800000000" and call.queue == "cn-support"
    participants = call.meta["rs_metadata"]["participants"]
    assert {p["aor"] for p in participants} == {"sip:agent1001@example.com", "sip:+8613800000000@example.com"}
    stats = call.meta["live"]["stats"]
    assert stats["1"]["packets"] == 150 and stats["2"]["packets"] == 154 and stats["1"]["lost"] == 0
    assert (stats["2"]["dtmf"], stats["2"]["lost"], stats["2"]["duplicates"]) == ("7", 0, 0)  # logged, not recorded
    assert "DTMF 7 on stream 1" in srs.recorder.log.read_text()
    assert call.meta["live"]["end_reason"] == "bye"
    assert abs(call.duration_s - 3.0) < 0.1
    with session() as s:
        jobs = [(j.kind, j.call_id) for j in s.exec(select(Job)).all()]
    assert jobs == [("transcribe", call.call_id)]
    # the journal goes once the call is stored (just after the commit)
    assert eventually(lambda: not list((srs.data_dir / "live").iterdir())), "journal left behind"


@pytest.mark.slow
def test_agent_on_the_second_stream_goes_to_the_left_channel(srs: Srs) -> None:
    need_sipp()
    agent = tone(srs.tmp / "agent.ul", 2, 500)
    customer = tone(srs.tmp / "customer.ul", 2, 900)
    # m-line 1 carries the customer: the metadata, not the order, decides the channel
    build_pcap(srs.tmp / "call.pcap", [Stream(customer), Stream(agent)])
    sipp_ok(run_sipp(srs.tmp, siprec_scenario(srs.tmp / "call.pcap", 2600, agent_label="2"), srs.port))
    call = wait_call(CallStatus.recorded)
    _, (left, right) = stored_channels(call, srs.tmp)
    only_at(left, agent)
    only_at(right, customer)


@pytest.mark.slow
def test_alaw_call_is_stored_as_alaw_byte_exact(srs: Srs) -> None:
    need_sipp()
    agent = tone(srs.tmp / "agent.al", 2, 440, "a-law")
    customer = tone(srs.tmp / "customer.al", 2, 770, "a-law")
    build_pcap(srs.tmp / "call.pcap", [Stream(agent, pt=PCMA), Stream(customer, pt=PCMA)])
    sipp_ok(run_sipp(srs.tmp, siprec_scenario(srs.tmp / "call.pcap", 2600), srs.port))
    call = wait_call(CallStatus.recorded)
    tag, (left, right) = stored_channels(call, srs.tmp)
    assert tag == 6 and call.codec == "pcm_alaw"
    only_at(left, agent, 0xD5)
    only_at(right, customer, 0xD5)
    assert call.meta["live"]["stats"]["1"]["codecs"] == ["PCMA"]


@pytest.mark.slow
def test_impaired_media_loss_figures_are_exact_and_gaps_are_silence(srs: Srs) -> None:
    need_sipp()
    agent = tone(srs.tmp / "agent.ul", 3, 440)
    customer = tone(srs.tmp / "customer.ul", 3, 880)
    drop, dup, swap = {10, 11, 12, 80}, {20, 21, 90}, {40, 100}
    build_pcap(srs.tmp / "call.pcap", [Stream(agent, drop=drop, duplicate=dup, swap=swap), Stream(customer)])
    sipp_ok(run_sipp(srs.tmp, siprec_scenario(srs.tmp / "call.pcap", 3600), srs.port))
    call = wait_call(CallStatus.recorded)
    stats = call.meta["live"]["stats"]
    assert (stats["1"]["expected"], stats["1"]["packets"], stats["1"]["lost"]) == (150, 146, 4)
    assert (stats["1"]["duplicates"], stats["1"]["reordered"]) == (3, 2)
    assert (stats["2"]["lost"], stats["2"]["duplicates"], stats["2"]["reordered"]) == (0, 0, 0)
    _, (left, right) = stored_channels(call, srs.tmp)
    # Every kept packet at its own place, every lost one silence of its own length: the same
    # layout as the clean stream with the dropped packets blanked.
    blanked = bytearray(agent[: 150 * SPP])
    for k in drop:
        blanked[k * SPP:(k + 1) * SPP] = b"\xff" * SPP
    start = left.find(agent[:SPP])
    assert left[start:start + len(blanked)] == bytes(blanked)
    only_at(right, customer)
    assert abs(call.duration_s - 3.0) < 0.1


@pytest.mark.slow
def test_recorder_killed_mid_call_is_finalised_on_restart_losing_at_most_2_s(srs: Srs) -> None:
    need_sipp()
    agent = tone(srs.tmp / "agent.ul", 8, 440)
    customer = tone(srs.tmp / "customer.ul", 8, 880)
    build_pcap(srs.tmp / "call.pcap", [Stream(agent), Stream(customer)])
    srs.sipp(siprec_scenario(srs.tmp / "call.pcap", 8600), timeout_s=20)  # its BYE will find nobody
    live = wait_call(CallStatus.in_progress, 15)
    time.sleep(4.0)
    srs.recorder.kill9()
    killed_after = time.time() - live.started_at.timestamp()
    srs.recorder.start()
    call = wait_call(CallStatus.recorded, 30)
    assert call.call_id == live.call_id
    gap = call.meta["live"]["capture_interrupted"]
    assert call.meta["live"]["end_reason"] == "capture_interrupted"
    kept_until = call.meta["live"]["first_audio_s"] + call.meta["live"]["written_s"]  # since the answer
    assert kept_until >= killed_after - 2.0, (kept_until, killed_after)
    assert gap["gap_start_s"] == pytest.approx(kept_until, abs=0.05) and gap["gap_end_s"] > killed_after
    _, (left, right) = stored_channels(call, srs.tmp)
    start = left.find(agent[:SPP])
    kept = left[start:].rstrip(b"\xff")
    assert len(kept) > 0 and agent.startswith(kept[: len(kept) - len(kept) % SPP])


@pytest.mark.slow
def test_api_pause_and_resume_are_silence_in_the_file_with_who_paused(
    srs: Srs, monkeypatch: pytest.MonkeyPatch
) -> None:
    need_sipp()
    from recorder.api import create_app

    monkeypatch.setenv("CALLQC_API_TOKEN", "t0ken-live-capture-1")
    reset_settings()
    client = TestClient(create_app())
    auth = {"Authorization": "Bearer t0ken-live-capture-1"}
    agent = tone(srs.tmp / "agent.ul", 6, 440)
    customer = tone(srs.tmp / "customer.ul", 6, 880)
    build_pcap(srs.tmp / "call.pcap", [Stream(agent), Stream(customer)])
    sipp = srs.sipp(siprec_scenario(srs.tmp / "call.pcap", 6600))
    live = wait_call(CallStatus.in_progress, 15)
    time.sleep(1.5)
    r = client.post(f"/v1/calls/{live.call_id}/pause", json={"by": "desk-7"}, headers=auth)
    assert r.status_code == 200, r.text
    assert client.post(f"/v1/calls/{live.call_id}/pause", headers=auth).status_code == 409  # already paused
    time.sleep(2.0)
    assert client.post(f"/v1/calls/{live.call_id}/resume", json={"by": "desk-7"}, headers=auth).status_code == 200
    assert client.post(f"/v1/calls/{live.call_id}/resume", headers=auth).status_code == 409
    assert client.post(f"/v1/calls/{live.call_id}/pause").status_code == 401
    assert sipp.wait(60) == 0
    call = wait_call(CallStatus.recorded)
    with session() as s:
        (p,) = pauses.of_calls(s, [call.call_id])
    assert p.paused_by == "desk-7" and p.resumed_by == "desk-7" and p.ended_at is not None
    a = round((p.started_at - call.started_at).total_seconds() * 8000)
    b = round((p.ended_at - call.started_at).total_seconds() * 8000)
    assert 1.0 * 8000 < a < b < 4.5 * 8000
    _, (left, right) = stored_channels(call, srs.tmp)
    assert set(left[a:b]) == {0xFF} and set(right[a:b]) == {0xFF}
    start = left.find(agent[:SPP])
    assert left[start:a] == agent[: a - start]  # before the pause: kept
    tail = 2 * 8000  # after it: kept (the last 2 s of the call)
    assert left[start + len(agent) - tail:start + len(agent)] == agent[-tail:]
    assert call.meta["live"]["pauses"][0]["by"] == "desk-7"
    assert client.post(f"/v1/calls/{call.call_id}/pause", headers=auth).status_code == 409  # not live any more


@pytest.mark.slow
def test_siprec_inactive_reinvite_pauses_the_recording(srs: Srs) -> None:
    need_sipp()
    agent = tone(srs.tmp / "agent.ul", 5, 440)
    customer = tone(srs.tmp / "customer.ul", 5, 880)
    build_pcap(srs.tmp / "call.pcap", [Stream(agent), Stream(customer)])
    scenario = siprec_scenario(srs.tmp / "call.pcap", 5600, inactive=(1500, 1500))
    sipp_ok(run_sipp(srs.tmp, scenario, srs.port))
    call = wait_call(CallStatus.recorded)
    with session() as s:
        (p,) = pauses.of_calls(s, [call.call_id])
    assert p.paused_by == "siprec" and p.ended_at is not None
    a = round((p.started_at - call.started_at).total_seconds() * 8000)
    b = round((p.ended_at - call.started_at).total_seconds() * 8000)
    assert 0.8 * 8000 < b - a < 2.2 * 8000
    _, (left, _right) = stored_channels(call, srs.tmp)
    assert set(left[a:b]) == {0xFF}
    start = left.find(agent[:SPP])
    assert left[start:a] == agent[: a - start]


@pytest.mark.slow
def test_live_tap_gives_both_speakers_decoded_within_a_second(srs: Srs) -> None:
    need_sipp()
    agent = tone(srs.tmp / "agent.ul", 5, 440)
    customer = tone(srs.tmp / "customer.ul", 5, 880)
    build_pcap(srs.tmp / "call.pcap", [Stream(agent), Stream(customer)])
    sipp = srs.sipp(siprec_scenario(srs.tmp / "call.pcap", 5600))
    live = wait_call(CallStatus.in_progress, 15)
    tap = Tap(srs.data_dir, live.call_id)
    got: dict[str, dict[int, list[int]]] = {"agent": {}, "customer": {}}
    lags = []
    while tap.live:
        time.sleep(0.2)
        now_s = time.time() - live.started_at.timestamp()
        for chunk in tap.read():
            got[chunk.role][chunk.position] = chunk.samples
        if 1.0 < now_s < 4.5 and got["agent"]:
            newest = max(p + len(s) for p, s in got["agent"].items()) / 8000
            lags.append(now_s - newest)
    assert sipp.wait(60) == 0
    assert lags and max(lags) < 1.0, lags
    for role, sent in (("agent", agent), ("customer", customer)):
        first = min(got[role])
        samples = [v for p in sorted(got[role]) for v in got[role][p]]
        assert samples[: len(sent)] == list(decode(0, sent[: len(samples)]))[: len(sent)]
        assert len(samples) == len(sent) and first < 8000


def _udp_request(port: int, data: bytes, timeout: float = 3.0) -> bytes:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        s.settimeout(timeout)
        s.sendto(data, ("127.0.0.1", port))
        while True:
            reply = s.recv(65535)
            if not reply.startswith(b"SIP/2.0 100"):
                return reply


def _req(method: str, *, extra: str = "", body: bytes = b"", ctype: str = "application/sdp", cl: int | None = None,
         call: str = "x") -> bytes:
    head = (f"{method} sip:srs@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK{call}\r\n"
            f"From: <sip:src@127.0.0.1>;tag=a{call}\r\nTo: <sip:srs@127.0.0.1>\r\nCall-ID: {call}@test\r\n"
            f"CSeq: 1 {method}\r\nMax-Forwards: 70\r\n{extra}")
    if body or cl is not None:
        head += f"Content-Type: {ctype}\r\n"
    return (head + f"Content-Length: {len(body) if cl is None else cl}\r\n\r\n").encode() + body


SDP_G729 = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 7000 RTP/AVP 18\r\n" \
    b"a=rtpmap:18 G729/8000\r\na=sendonly\r\n"
SDP_PCMU = SDP_G729.replace(b"RTP/AVP 18", b"RTP/AVP 0").replace(b"G729/8000", b"PCMU/8000")


def test_bad_requests_get_the_right_4xx_and_the_server_keeps_serving(srs: Srs) -> None:
    port = srs.port
    assert _udp_request(port, _req("OPTIONS")).startswith(b"SIP/2.0 200")
    r = _udp_request(port, _req("INVITE", body=SDP_PCMU, call="plain"))
    assert r.startswith(b"SIP/2.0 421") and b"Require: siprec" in r
    r = _udp_request(port, _req("INVITE", extra="Require: siprec\r\n", body=SDP_G729, call="g729"))
    assert r.startswith(b"SIP/2.0 488")
    r = _udp_request(port, _req("INVITE", extra="Require: siprec, 100rel-x\r\n", body=SDP_PCMU, call="ext"))
    assert r.startswith(b"SIP/2.0 420") and b"Unsupported: 100rel-x" in r
    r = _udp_request(port, _req("INVITE", extra="Require: siprec\r\n", body=SDP_PCMU, cl=10_000_000, call="big"))
    assert r.startswith(b"SIP/2.0 413")
    r = _udp_request(port, _req("INVITE", extra="Require: siprec\r\nCSeq: 1 INVITE\r\nBroken header\r\n",
                                body=SDP_PCMU, call="bad"))
    assert r.startswith(b"SIP/2.0 400")
    r = _udp_request(port, _req("INVITE", extra="Require: siprec\r\n", body=b"hello", ctype="text/plain",
                                call="nosdp"))
    assert r.startswith(b"SIP/2.0 415")
    assert _udp_request(port, _req("BYE", call="nobody")).startswith(b"SIP/2.0 481")
    assert _udp_request(port, _req("MESSAGE", call="msg")).startswith(b"SIP/2.0 405")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(b"\x00\x01garbage that is not SIP\r\n\r\n", ("127.0.0.1", port))
    with socket.create_connection(("127.0.0.1", port), timeout=3) as t:  # TCP: too large a body
        t.sendall(_req("INVITE", extra="Require: siprec\r\n", body=b"", cl=10_000_000, call="tcpbig"))
        assert t.recv(65535).startswith(b"SIP/2.0 413")
    assert _udp_request(port, _req("OPTIONS", call="after")).startswith(b"SIP/2.0 200")  # still serving
    log = srs.recorder.log.read_text()
    assert "dropped 400" in log and "refused 421" in log and "Traceback" not in log
    with session() as s:
        assert s.exec(select(Call)).all() == []


def test_invite_retransmission_gets_the_same_answer_and_the_200_repeats_until_ack(srs: Srs) -> None:
    body = SDP_PCMU.replace(b"a=sendonly", b"a=sendonly\r\na=label:1")
    invite = _req("INVITE", extra="Require: siprec\r\n", body=body, call="retrans")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        s.settimeout(5)
        s.sendto(invite, ("127.0.0.1", srs.port))
        answers = []
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            try:
                data = s.recv(65535)
            except TimeoutError:
                break
            if data.startswith(b"SIP/2.0 200"):
                answers.append(data)
                if len(answers) == 1:
                    s.sendto(invite, ("127.0.0.1", srs.port))  # the client did not hear it: again
        assert len(answers) >= 3 and len(set(answers)) == 1  # the first, the retransmission's, timer G's
        assert b"a=recvonly" in answers[0] and b"m=audio " in answers[0]
        to = next(line for line in answers[0].split(b"\r\n") if line.startswith(b"To:")).decode()
        ack = _req("ACK", call="retrans").replace(b"To: <sip:srs@127.0.0.1>", to.encode())
        s.sendto(ack.replace(b"CSeq: 1 ACK", b"CSeq: 1 ACK"), ("127.0.0.1", srs.port))
        time.sleep(1.5)
        s.settimeout(1.2)
        with pytest.raises(TimeoutError):
            s.recv(65535)  # no more 200s after the ACK
        bye = _req("BYE", call="retrans").replace(b"To: <sip:srs@127.0.0.1>", to.encode())
        s.sendto(bye.replace(b"CSeq: 1 BYE", b"CSeq: 2 BYE"), ("127.0.0.1", srs.port))
        s.settimeout(5)
        assert s.recv(65535).startswith(b"SIP/2.0 200")
    call = wait_call(CallStatus.recorded)
    live = call.meta["live"]
    assert call.channels == 1 and live["stats"]["1"]["packets"] == 0 and live["silent_streams"] == ["1"]


def _baresip(tmp: Path, target_port: int, wav: Path, *, cafile: Path | None = None
             ) -> subprocess.CompletedProcess[bytes]:
    """baresip calls the recorder once (over TLS, trusting ``cafile``, when one is given)."""
    baresip = need_tool("baresip")
    conf = tmp / "baresip"
    conf.mkdir()
    tls = f"sip_cafile {cafile}\n" if cafile is not None else ""
    target = f"sip:srs@127.0.0.1:{target_port}" + (";transport=tls" if cafile is not None else "")
    sip_port = free_port()
    rtp = free_port() // 2 * 2
    (conf / "config").write_text(f"""poll_method epoll
sip_listen 127.0.0.1:{sip_port}
call_local_timeout 120
audio_player aubridge,nil
audio_source aufile,{wav}
audio_alert aubridge,nil
rtp_ports {rtp}-{rtp + 20}
jitter_buffer_delay 5-10
net_interface 127.0.0.1
dns_server 127.0.0.1:53
{tls}module_path /usr/lib/baresip/modules
module g711.so
module aufile.so
module aubridge.so
module_app account.so
module_app menu.so
""")
    (conf / "accounts").write_text(f"<sip:customer@127.0.0.1:{sip_port}>;regint=0;audio_codecs=PCMU,PCMA\n")
    return subprocess.run([baresip, "-4", "-f", str(conf), "-t", "12", "-e", f"/dial {target}"],
                          stdin=subprocess.DEVNULL, capture_output=True, timeout=60)


@pytest.mark.slow
def test_baresip_plain_call_is_refused_by_default_and_recorded_mono_when_allowed(srs: Srs) -> None:
    wav = srs.tmp / "phone.wav"
    sox = need_tool("sox")
    subprocess.run([sox, "-n", "-r", "8000", "-c", "1", "-b", "16", "-e", "signed", str(wav), "synth", "3", "sine",
                    "500", "vol", "0.5"], check=True)
    _baresip(srs.tmp, srs.port, wav)
    log = srs.recorder.log.read_text()
    if "INVITE" not in log and "refused" not in log:
        missing_service("baresip did not place the call")
    assert "INVITE refused 421" in log
    with session() as s:
        assert s.exec(select(Call)).all() == []
    srs.restart_with(siprec_allow_plain="true")
    (srs.tmp / "baresip").rename(srs.tmp / "baresip-1")
    _baresip(srs.tmp, srs.port, wav)
    call = wait_call(CallStatus.recorded, 30)
    assert call.channels == 1 and call.channel_map == {"unknown": 0}
    assert call.meta["speaker_map"] == "fallback" and call.caller == "customer"
    (stats,) = call.meta["live"]["stats"].values()
    assert stats["packets"] > 100 and stats["lost"] == 0 and stats["codecs"] in (["PCMU"], ["PCMA"])
    assert 2.0 < call.duration_s < 4.5


@pytest.mark.slow
def test_object_store_down_at_bye_keeps_the_journal_and_uploads_when_it_returns(
    srs: Srs, monkeypatch: pytest.MonkeyPatch
) -> None:
    need_sipp()
    blocker = srs.tmp / "store-blocked"
    blocker.write_text("a file where the store's folder should be: every put fails")
    srs.restart_with(store_dir=str(blocker / "objects"), siprec_retry_s="1")
    agent = tone(srs.tmp / "agent.ul", 2, 440)
    customer = tone(srs.tmp / "customer.ul", 2, 880)
    build_pcap(srs.tmp / "call.pcap", [Stream(agent), Stream(customer)])
    sipp_ok(run_sipp(srs.tmp, siprec_scenario(srs.tmp / "call.pcap", 2600), srs.port))
    assert eventually(lambda: "storing failed, journal kept for retry" in srs.recorder.log.read_text(), 15)
    status = subprocess.run([sys.executable, "-m", "callqc", "recorder", "status"], env=srs.env,
                            capture_output=True, text=True, check=True).stdout
    assert "waiting for storage" in status and "NotADirectoryError" in status
    overview = subprocess.run([sys.executable, "-m", "callqc", "status"], env=srs.env, capture_output=True,
                              text=True, check=True).stdout
    assert "1 waiting for storage" in overview
    with session() as s:
        (row,) = s.exec(select(Call)).all()
    assert row.status == CallStatus.in_progress  # not recorded until its audio is stored
    blocker.unlink()  # the store comes back
    blocker.mkdir()
    monkeypatch.setenv("CALLQC_STORE_DIR", str(blocker / "objects"))
    reset_settings()
    call = wait_call(CallStatus.recorded, 20)
    _, (left, right) = stored_channels(call, srs.tmp)
    only_at(left, agent)
    only_at(right, customer)


def _multipart(sdp_body: bytes, metadata: str | None) -> tuple[bytes, str]:
    parts = [b"--B7866\r\nContent-Type: application/sdp\r\n\r\n" + sdp_body]
    if metadata is not None:
        parts.append(b"--B7866\r\nContent-Type: application/rs-metadata+xml\r\nContent-Disposition: "
                     b"recording-session\r\n\r\n" + metadata.encode())
    return b"\r\n".join(parts) + b"\r\n--B7866--\r\n", "multipart/mixed;boundary=B7866"


class Dialogue:
    """A hand-driven SIPREC client on a UDP socket (for what SIPp scenarios make awkward)."""

    def __init__(self, port: int, call: str) -> None:
        self.port, self.call = port, call
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(5)
        self.to = "To: <sip:srs@127.0.0.1>"

    def __enter__(self) -> Dialogue:
        return self

    def __exit__(self, *_: object) -> None:
        self.sock.close()

    def send(self, method: str, cseq: int, **kw: object) -> None:
        data = _req(method, call=self.call, **kw)  # type: ignore[arg-type]
        data = data.replace(b"CSeq: 1 " + method.encode(), f"CSeq: {cseq} {method}".encode())
        self.sock.sendto(data.replace(b"To: <sip:srs@127.0.0.1>", self.to.encode()), ("127.0.0.1", self.port))

    def answer(self) -> bytes:
        while True:
            data = self.sock.recv(65535)
            if not data.startswith(b"SIP/2.0 100"):
                if data.startswith(b"SIP/2.0 200") and b"CSeq: 1 INVITE" in data:
                    self.to = next(x for x in data.decode().split("\r\n") if x.startswith("To:"))
                return data


def test_update_with_new_metadata_is_merged_into_the_call(srs: Srs) -> None:
    meta = _metadata_doc("Agent 1001")
    body, ctype = _multipart(SDP_TWO, meta)
    with Dialogue(srs.port, "upd") as d:
        d.send("INVITE", 1, extra="Require: siprec\r\n", body=body, ctype=ctype)
        assert d.answer().startswith(b"SIP/2.0 200")
        d.send("ACK", 1)
        partial = _metadata_doc("Agent 1001 (Wang Fang)").replace("complete", "partial")
        d.send("UPDATE", 2, body=partial.encode(), ctype="application/rs-metadata+xml")
        assert d.answer().startswith(b"SIP/2.0 200")
        d.send("BYE", 3)
        assert d.answer().startswith(b"SIP/2.0 200")
    call = wait_call(CallStatus.recorded)
    names = {p["name"] for p in call.meta["rs_metadata"]["participants"]}
    assert "Agent 1001 (Wang Fang)" in names and call.agent_id == "agent1001"


def test_cancel_before_the_answer_gets_487_and_leaves_no_live_call(srs: Srs) -> None:
    body, ctype = _multipart(SDP_TWO, _metadata_doc("Agent"))
    with Dialogue(srs.port, "cancel") as d:
        d.send("INVITE", 1, extra="Require: siprec\r\n", body=body, ctype=ctype)
        d.send("CANCEL", 1)  # in the same socket batch as the INVITE: before the answer
        answers = [d.answer(), d.answer()]
        assert any(a.startswith(b"SIP/2.0 200") and b"CANCEL" in a for a in answers)
        assert any(a.startswith(b"SIP/2.0 487") for a in answers)

    def cancelled() -> bool:
        with session() as s:
            rows = s.exec(select(Call)).all()
        return [(r.status, r.last_error) for r in rows] in ([], [(CallStatus.failed, "cancelled before answer")])

    assert eventually(cancelled)
    assert eventually(lambda: not list((srs.data_dir / "live").iterdir()))


def test_call_without_rtp_ends_at_the_rtp_timeout_marked_as_such(srs: Srs) -> None:
    srs.restart_with(siprec_rtp_timeout_s="1.5")
    body, ctype = _multipart(SDP_TWO, _metadata_doc("Agent"))
    with Dialogue(srs.port, "quiet") as d:
        d.send("INVITE", 1, extra="Require: siprec\r\n", body=body, ctype=ctype)
        assert d.answer().startswith(b"SIP/2.0 200")
        d.send("ACK", 1)
    call = wait_call(CallStatus.recorded, 15)
    assert call.meta["live"]["end_reason"] == "rtp_timeout"
    assert sorted(call.meta["live"]["silent_streams"]) == ["1", "2"]


SDP_TWO = (b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
           b"m=audio 7000 RTP/AVP 0\r\na=label:1\r\na=sendonly\r\n"
           b"m=audio 7002 RTP/AVP 0\r\na=label:2\r\na=sendonly\r\n")


def _metadata_doc(agent_name: str) -> str:
    from tests.live_peers import _metadata

    return _metadata("1").replace("[call_id]", "x").replace("Agent 1001", agent_name)


def test_up_with_siprec_runs_the_recording_server_and_sigterm_stops_it(data_dir: Path, tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(WT), "CALLQC_DATA_DIR": str(data_dir), "CALLQC_SIPREC_PORT": str(port)}
    log = tmp_path / "up.log"
    with log.open("wb") as out:
        up = subprocess.Popen([sys.executable, "-m", "callqc", "up", "--siprec", "--no-api", "--no-workers",
                               "--no-app"], stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        assert eventually(lambda: "listening on" in log.read_text() or up.poll() is not None, 30)
        assert "started siprec" in log.read_text()
        assert _udp_request(port, _req("OPTIONS", call="up")).startswith(b"SIP/2.0 200")
        up.send_signal(signal.SIGTERM)
        assert up.wait(timeout=60) == 0, log.read_text()[-2000:]
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()


@pytest.mark.slow
def test_rtcp_sender_reports_align_a_stream_the_network_delayed(srs: Srs) -> None:
    need_sipp()
    agent = tone(srs.tmp / "agent.ul", 3, 440)
    customer = tone(srs.tmp / "customer.ul", 3, 880)
    # The customer's stream arrives 300 ms late; its sender reports say it started with the agent's.
    build_pcap(srs.tmp / "call.pcap", [Stream(agent, sender_reports=True),
                                       Stream(customer, sender_reports=True, delay_s=0.3)])
    sipp_ok(run_sipp(srs.tmp, siprec_scenario(srs.tmp / "call.pcap", 3900), srs.port))
    call = wait_call(CallStatus.recorded)
    live = call.meta["live"]
    assert live["aligned_by"] == "rtcp_sr" and live["stats"]["2"]["rtcp"] >= 2
    _, (left, right) = stored_channels(call, srs.tmp)
    a, c = only_at(left, agent), only_at(right, customer)
    assert abs(a - c) <= 8, (a, c)  # by arrival they would be 2,400 samples apart


def test_sip_over_tls_records_a_call_when_a_certificate_is_configured(srs: Srs) -> None:
    import ssl

    openssl = need_tool("openssl")
    cert, key = srs.tmp / "srs.crt", srs.tmp / "srs.key"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    tls_port = free_port()
    srs.restart_with(siprec_tls_cert=str(cert), siprec_tls_key=str(key), siprec_tls_port=str(tls_port))
    ctx = ssl.create_default_context(cafile=str(cert))
    body, ctype = _multipart(SDP_TWO, _metadata_doc("Agent"))
    with socket.create_connection(("127.0.0.1", tls_port), timeout=5) as raw, \
            ctx.wrap_socket(raw, server_hostname="127.0.0.1") as t:
        t.sendall(_req("OPTIONS", call="tls-o"))
        assert t.recv(65535).startswith(b"SIP/2.0 200")
        t.sendall(_req("INVITE", extra="Require: siprec\r\n", body=body, ctype=ctype, call="tls"))
        answer = t.recv(65535)
        assert answer.startswith(b"SIP/2.0 200") and b"a=recvonly" in answer
        to = next(x for x in answer.split(b"\r\n") if x.startswith(b"To:"))
        t.sendall(_req("BYE", call="tls").replace(b"To: <sip:srs@127.0.0.1>", to).replace(b"CSeq: 1 BYE",
                                                                                         b"CSeq: 2 BYE"))
        assert t.recv(65535).startswith(b"SIP/2.0 200")
    call = wait_call(CallStatus.recorded)
    assert call.meta["peer"].startswith("tls:") and call.agent_id == "agent1001"


@pytest.mark.slow
def test_baresip_over_tls_is_recorded_by_the_tls_listener(srs: Srs) -> None:
    """A real SIP stack (baresip, libre's TLS) calls the TLS port with a self-signed certificate it was
    told to trust: the call is answered there and recorded (plain call allowed: baresip is not a
    SIPREC client; the installed SIPp has no TLS)."""
    openssl = need_tool("openssl")
    cert, key = srs.tmp / "srs.crt", srs.tmp / "srs.key"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    tls_port = free_port()
    srs.restart_with(siprec_tls_cert=str(cert), siprec_tls_key=str(key), siprec_tls_port=str(tls_port),
                     siprec_allow_plain="true")
    wav = srs.tmp / "phone.wav"
    subprocess.run([need_tool("sox"), "-n", "-r", "8000", "-c", "1", "-b", "16", "-e", "signed", str(wav), "synth",
                    "3", "sine", "500", "vol", "0.5"], check=True)
    out = _baresip(srs.tmp, tls_port, wav, cafile=cert)
    said = (out.stdout + out.stderr).decode(errors="replace")
    if "SIP/TLS transport failed" in said or "tls_alloc() failed" in said:
        missing_service(f"this baresip build has no TLS: {said[-400:]}")
    call = wait_call(CallStatus.recorded, 30)
    assert call.meta["peer"].startswith("tls:127.0.0.1:")
    assert call.channels == 1 and call.caller == "customer"
    (stats,) = call.meta["live"]["stats"].values()
    assert stats["packets"] > 100 and stats["lost"] == 0
    assert 2.0 < call.duration_s < 4.5
