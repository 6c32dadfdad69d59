"""Real SIP peers for the live-capture tests: G.711 audio, RTP pcaps (impaired on request), SIPp
scenarios acting as a SIPREC client, a baresip account, and a recorder subprocess."""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tests.services import missing_service, require_tool

BARESIP = shutil.which("baresip")
SPP = 160  # samples per 20 ms packet


def need_sipp() -> str:
    sipp = require_tool("sipp")
    if os.geteuid() != 0:
        missing_service("SIPp's play_pcap_audio needs root (raw socket)")
    return sipp


def need_tool(name: str) -> str:
    return require_tool(name)


def tone(path: Path, seconds: float, freq: int, encoding: str = "mu-law") -> bytes:
    """``seconds`` of a tone as raw G.711 bytes (sox), also written to ``path``."""
    sox = need_tool("sox")
    subprocess.run([sox, "-n", "-r", "8000", "-c", "1", "-e", encoding, "-t", "raw", str(path),
                    "synth", str(seconds), "sine", str(freq), "vol", "0.5"], check=True)
    return path.read_bytes()


def speech(path: Path, text: str, encoding: str = "mu-law") -> bytes:
    """Synthesised speech (espeak-ng, resampled by sox) as raw G.711 bytes."""
    espeak, sox = need_tool("espeak-ng"), need_tool("sox")
    wav = path.with_suffix(".src.wav")
    subprocess.run([espeak, "-w", str(wav), text], check=True)
    # -D: no dither, so the same text gives the same bytes (real-model assertions stay deterministic)
    subprocess.run([sox, "-D", str(wav), "-r", "8000", "-c", "1", "-e", encoding, "-t", "raw", str(path)],
                   check=True)
    return path.read_bytes()


@dataclass
class Stream:
    data: bytes
    pt: int = 0
    drop: set[int] = field(default_factory=set)  # packet numbers never sent
    duplicate: set[int] = field(default_factory=set)  # sent twice
    swap: set[int] = field(default_factory=set)  # packet k sent after k+1
    ssrc_change_at: int | None = None  # from this packet on, a new SSRC with new bases
    delay_s: float = 0.0  # the network delays this stream (arrival later than the sender's clock says)
    sender_reports: bool = False  # RTCP SRs every second from 0.5 s (to the stream's port + 1)
    dtmf_after: int | None = None  # after this packet, an RFC 4733 digit '7' (PT 101, 4 packets)

    @property
    def packets(self) -> int:
        return len(self.data) // SPP

    def payload(self, k: int) -> bytes:
        return self.data[k * SPP:(k + 1) * SPP]


def build_pcap(out: Path, streams: list[Stream], *, seed: int = 7866) -> None:
    """One RTP stream per entry, stream i to UDP dport 6000+2i (SIPp sends it to answer port + 2i)."""
    rnd = random.Random(seed)
    recs: list[tuple[float, bytes]] = []
    for i, s in enumerate(streams):
        ssrc, seq0, ts0 = rnd.getrandbits(32), rnd.getrandbits(16), rnd.getrandbits(32)
        order = list(range(s.packets))
        for k in sorted(s.swap):
            a, b = order.index(k), order.index(k + 1)
            order[a], order[b] = order[b], order[a]
        slot = 0
        for k in order:
            if k in s.drop:
                slot += 1
                continue
            cur_ssrc, seq, ts = ssrc, seq0 + k, ts0 + k * SPP
            if s.dtmf_after is not None and k > s.dtmf_after:
                seq += 4  # the event's packets took four sequence numbers
            if s.ssrc_change_at is not None and k >= s.ssrc_change_at:
                cur_ssrc, seq, ts = ssrc ^ 0xFFFF, 1000 + k, 5000 + k * SPP
            marker = 0x80 if k == 0 else 0
            rtp = struct.pack("!BBHII", 0x80, marker | s.pt, seq & 0xFFFF, ts & 0xFFFFFFFF, cur_ssrc) + s.payload(k)
            for copy in range(2 if k in s.duplicate else 1):
                at = slot * 0.020 + i * 0.0005 + copy * 0.0002 + s.delay_s
                recs.append((at, _frame(40000 + 2 * i, 6000 + 2 * i, rtp)))
            if k == s.dtmf_after:
                for n, end in enumerate((False, True, True, True)):  # start, then the end three times
                    ev = struct.pack("!BBHII", 0x80, 101, (seq0 + k + 1 + n) & 0xFFFF,
                                     (ts0 + (k + 1) * SPP) & 0xFFFFFFFF, cur_ssrc)
                    ev += bytes([7, 0x8A if end else 0x0A, 0, 160])
                    recs.append((slot * 0.020 + i * 0.0005 + 0.001 * (n + 1) + s.delay_s,
                                 _frame(40000 + 2 * i, 6000 + 2 * i, ev)))
            slot += 1
        if s.sender_reports:
            ntp0 = 3_900_000_000.0  # the sender's wall clock at its packet 0 (same for every stream)
            t = 0.5
            while t < s.packets * 0.020:
                ntp = ntp0 + t
                sr = struct.pack("!BBHIIIIII", 0x80, 200, 6, ssrc, int(ntp), int((ntp % 1) * 2**32),
                                 (ts0 + round(t * 8000)) & 0xFFFFFFFF, int(t * 50), int(t * 50) * SPP)
                recs.append((t + i * 0.0005 + s.delay_s, _frame(40001 + 2 * i, 6001 + 2 * i, sr)))
                t += 1.0
    recs.sort(key=lambda r: r[0])
    t0 = 1_700_000_000
    with out.open("wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for t, frame in recs:
            sec = int(t0 + t)
            usec = int(round((t0 + t - sec) * 1e6))
            f.write(struct.pack("<IIII", sec, usec, len(frame), len(frame)) + frame)


def _frame(sport: int, dport: int, rtp: bytes) -> bytes:
    udp = struct.pack("!HHHH", sport, dport, 8 + len(rtp), 0) + rtp
    iph = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0x4000, 64, 17, 0, bytes([127, 0, 0, 1]),
                      bytes([127, 0, 0, 1]))
    s = sum(struct.unpack("!10H", iph))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    iph = iph[:10] + struct.pack("!H", ~s & 0xFFFF) + iph[12:]
    return b"\x00" * 12 + b"\x08\x00" + iph + udp


AGENT_AOR = "sip:agent1001@example.com"
CUSTOMER_AOR = "sip:+8613800000000@example.com"


def _metadata(agent_label: str) -> str:
    other = "2" if agent_label == "1" else "1"
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<recording xmlns="urn:ietf:params:xml:ns:recording:1">
<datamode>complete</datamode>
<session session_id="hVpd7YQgRW2nD22h7q60JQ==">
<sipSessionID>[call_id];remote=sipp-src</sipSessionID>
</session>
<participant participant_id="srfBElmCRp2QB23b7Mpk0w==">
<nameID aor="{AGENT_AOR}"><name xml:lang="en">Agent 1001</name></nameID>
</participant>
<participant participant_id="zSfPoSvdSDCmU3A3TRDxAw==">
<nameID aor="{CUSTOMER_AOR}"><name xml:lang="en">Customer</name></nameID>
</participant>
<stream stream_id="UAAMm5GRQKSCMVvLyl4rFw==" session_id="hVpd7YQgRW2nD22h7q60JQ=="><label>{agent_label}</label></stream>
<stream stream_id="i1Pz3to5hGk8fuXl+PbwCw==" session_id="hVpd7YQgRW2nD22h7q60JQ=="><label>{other}</label></stream>
<participantstreamassoc participant_id="srfBElmCRp2QB23b7Mpk0w==">
<send>UAAMm5GRQKSCMVvLyl4rFw==</send>
</participantstreamassoc>
<participantstreamassoc participant_id="zSfPoSvdSDCmU3A3TRDxAw==">
<send>i1Pz3to5hGk8fuXl+PbwCw==</send>
</participantstreamassoc>
</recording>"""


def _sdp(direction: str = "sendonly", g722: bool = False) -> str:
    pts, wide = ("9 0 8 101", "a=rtpmap:9 G722/8000\n") if g722 else ("0 8 101", "")
    return f"""v=0
o=src 2890844526 2890844526 IN IP[media_ip_type] [media_ip]
s=SIPREC
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP {pts}
{wide}a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=label:1
a={direction}
m=audio [media_port+2] RTP/AVP {pts}
{wide}a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=label:2
a={direction}"""


def _invite(agent_label: str, cseq: int, direction: str, in_dialog: bool, g722: bool = False) -> str:
    to_tag = "[peer_tag_param]" if in_dialog else ""
    return f"""
      INVITE sip:srs@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:src@[local_ip]:[local_port]>;tag=[pid]SRC[call_number]
      To: <sip:srs@[remote_ip]:[remote_port]>{to_tag}
      Call-ID: [call_id]
      CSeq: {cseq} INVITE
      Contact: <sip:src@[local_ip]:[local_port];transport=[transport]>;+sip.src
      Max-Forwards: 70
      Require: siprec
      X-Callqc-Queue: cn-support
      Accept: application/sdp, application/rs-metadata+xml
      MIME-Version: 1.0
      Content-Type: multipart/mixed;boundary=SIPREC-BOUNDARY-7866
      Content-Length: [len]

      --SIPREC-BOUNDARY-7866
      Content-Type: application/sdp

{_sdp(direction, g722)}

      --SIPREC-BOUNDARY-7866
      Content-Type: application/rs-metadata+xml
      Content-Disposition: recording-session

{_metadata(agent_label)}
      --SIPREC-BOUNDARY-7866--
"""


def siprec_scenario(pcap: Path, pause_ms: int, *, agent_label: str = "1",
                    inactive: tuple[int, int] | None = None, g722: bool = False) -> str:
    """A SIPREC client: INVITE (2 streams + metadata; G.722 offered first with ``g722``), ACK, play
    ``pcap``, [re-INVITE a=inactive at ``inactive[0]`` ms, back to sendonly ``inactive[1]`` ms later],
    BYE after ``pause_ms``."""
    steps = [f"""<send retrans="500"><![CDATA[{_invite(agent_label, 1, "sendonly", False, g722)}]]></send>
  <recv response="100" optional="true"/>
  <recv response="200" rtd="true"/>
  <send><![CDATA[
      ACK sip:srs@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:src@[local_ip]:[local_port]>;tag=[pid]SRC[call_number]
      To: <sip:srs@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0
  ]]></send>
  <nop><action><exec play_pcap_audio="{pcap}"/></action></nop>"""]
    spent = 0
    cseq = 2
    if inactive is not None:
        for at, direction in ((inactive[0], "inactive"), (inactive[0] + inactive[1], "sendonly")):
            steps.append(f'<pause milliseconds="{at - spent}"/>')
            spent = at
            steps.append(f"""<send retrans="500"><![CDATA[{_invite(agent_label, cseq, direction, True)}]]></send>
  <recv response="200"/>
  <send><![CDATA[
      ACK sip:srs@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:src@[local_ip]:[local_port]>;tag=[pid]SRC[call_number]
      To: <sip:srs@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: {cseq} ACK
      Max-Forwards: 70
      Content-Length: 0
  ]]></send>""")
            cseq += 1
    steps.append(f'<pause milliseconds="{max(0, pause_ms - spent)}"/>')
    steps.append(f"""<send retrans="500"><![CDATA[
      BYE sip:srs@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:src@[local_ip]:[local_port]>;tag=[pid]SRC[call_number]
      To: <sip:srs@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: {cseq} BYE
      Max-Forwards: 70
      Content-Length: 0
  ]]></send>
  <recv response="200" crlf="true"/>""")
    body = "\n  ".join(steps)
    return f"""<?xml version="1.0" encoding="UTF-8" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="callqc SIPREC client">
  {body}
</scenario>
"""


def encode(codec: str, pcm: np.ndarray, rate: int, frame: int) -> list[bytes]:
    """``pcm`` (int16 mono at ``rate``) encoded by FFmpeg through PyAV (``g722``, ``libopus``), one
    packet per ``frame`` samples: what a real sender would put in its RTP payloads."""
    import av

    ctx: Any = av.CodecContext.create(codec, "w")
    ctx.sample_rate, ctx.layout, ctx.format = rate, "mono", "s16"
    if codec == "libopus":
        ctx.bit_rate = 32000
    ctx.open()
    out: list[bytes] = []
    for i in range(0, len(pcm) - frame + 1, frame):
        f = av.AudioFrame.from_ndarray(pcm[i:i + frame].reshape(1, -1), format="s16", layout="mono")
        f.sample_rate, f.pts = rate, i
        out += [bytes(p) for p in ctx.encode(f)]
    out += [bytes(p) for p in ctx.encode(None)]
    return out


def sine(freq: float, seconds: float, rate: int, level: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (np.sin(2 * np.pi * freq * t) * level * 32767).astype(np.int16)


def peak_hz(samples: np.ndarray, rate: int) -> float:
    """The strongest frequency of ``samples``."""
    x = samples.astype(np.float64) * np.hanning(len(samples))
    spectrum = np.abs(np.fft.rfft(x))
    return float(np.argmax(spectrum) * rate / len(samples))


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    """A port free for both UDP and TCP."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind(("127.0.0.1", 0))
            port = u.getsockname()[1]
            try:
                with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                    t.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port")


def rtp_range(worker: str) -> tuple[int, int]:
    """A disjoint RTP port range per xdist worker."""
    n = int(worker[2:]) if worker.startswith("gw") else 0
    low = 30000 + 2000 * (n % 8) + random.randrange(0, 900) * 2
    return low, low + 99


def run_sipp(tmp: Path, scenario: str, port: int, *, transport: str = "u1", calls: int = 1, rate: int = 1,
             media_port: int | None = None, timeout_s: int = 60, extra: list[str] | None = None,
             wait: bool = True) -> subprocess.Popen[bytes] | subprocess.CompletedProcess[bytes]:
    sipp = need_sipp()
    sf = tmp / "scenario.xml"
    sf.write_text(scenario)
    mp = media_port or 16000 + 2 * random.randrange(2000)
    cmd = [sipp, f"127.0.0.1:{port}", "-sf", str(sf), "-i", "127.0.0.1", "-mi", "127.0.0.1", "-ci", "127.0.0.1",
           "-cp", str(free_port()), "-p", str(free_port()), "-mp", str(mp),
           "-m", str(calls), "-r", str(rate), "-t", transport, "-timeout", f"{timeout_s}s", "-nostdin",
           "-trace_err", *(extra or [])]
    if wait:
        return subprocess.run(cmd, cwd=tmp, capture_output=True, timeout=timeout_s + 30)
    with (tmp / "sipp-stderr.log").open("ab") as err:
        return subprocess.Popen(cmd, cwd=tmp, stdout=subprocess.DEVNULL, stderr=err)


class Recorder:
    """``callqc recorder siprec`` as a subprocess with the test's environment."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        seen = self.log.read_text().count("listening on") if self.log.exists() else 0
        with self.log.open("ab") as fh:  # the child keeps its own descriptor
            self.proc = subprocess.Popen([sys.executable, "-m", "callqc", "recorder", "siprec"], env=self.env,
                                         stdout=fh, stderr=fh, start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.log.read_text().count("listening on") > seen:
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"recorder exited: {self.log.read_text()[-2000:]}")
            time.sleep(0.1)
        raise RuntimeError(f"recorder did not start: {self.log.read_text()[-2000:]}")


    def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
