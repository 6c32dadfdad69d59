"""Wideband codecs of the SIPREC server, with real encoders and decoders: G.722 from SIPp (a pcap of
FFmpeg-encoded packets) and Opus from a Python RTP sender (libopus-encoded packets)."""

from __future__ import annotations

import os
import re
import socket
import struct
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from sqlmodel import select

from recorder.siprec import codecs, sdp
from recorder.siprec.codecs import G722, OPUS, PCMU, opus_samples
from recorder.siprec.recording import wav_data
from storage.calls import Call, CallStatus
from storage.db import session
from storage.settings import get_settings
from storage.stores import get_store
from tests.live_peers import (
    SPP,
    Recorder,
    Stream,
    build_pcap,
    encode,
    free_port,
    need_sipp,
    peak_hz,
    rtp_range,
    run_sipp,
    sine,
    tone,
)

WT = Path(__file__).resolve().parents[1]


@dataclass
class Srs:
    port: int
    tmp: Path
    recorder: Recorder


@pytest.fixture
def wide_srs(tmp_path: Path, data_dir: Path, worker_id: str) -> Iterator[Srs]:
    """The recording server with every codec enabled."""
    port = free_port()
    low, high = rtp_range(worker_id)
    env = {
        **os.environ, "PYTHONPATH": str(WT), "CALLQC_DATA_DIR": str(data_dir), "CALLQC_SIPREC_PORT": str(port),
        "CALLQC_SIPREC_RTP_PORT_MIN": str(low), "CALLQC_SIPREC_RTP_PORT_MAX": str(high), "CALLQC_LOG_LEVEL": "INFO",
        "CALLQC_SIPREC_CODECS": '["PCMU", "PCMA", "G722", "opus"]',
    }
    rec = Recorder(env, tmp_path / "recorder.log")
    rec.start()
    try:
        yield Srs(port, tmp_path, rec)
    finally:
        rec.stop()


def _recorded(timeout_s: float = 30.0) -> Call:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with session() as s:
            row = s.exec(select(Call).where(Call.status == CallStatus.recorded)).first()
        if row is not None:
            return row
        time.sleep(0.1)
    raise AssertionError("no call was recorded")


def _stored(call: Call, tmp: Path) -> tuple[int, list[np.ndarray]]:
    path = tmp / "stored.wav"
    path.write_bytes(get_store().get_range(get_settings().bucket_recordings, call.audio_key))
    tag, channels, data = wav_data(path)
    assert tag == 1  # 16-bit PCM
    rate = struct.unpack_from("<I", path.read_bytes(), 24)[0]
    planes = np.frombuffer(data, dtype="<i2").reshape(-1, channels)
    return rate, [planes[:, c] for c in range(channels)]


def _reference_g722(packets: list[bytes]) -> np.ndarray:
    """The packets decoded in order by a fresh FFmpeg G.722 decoder: what the recording must hold."""
    import av

    ctx = av.CodecContext.create("g722", "r")
    ctx.sample_rate, ctx.layout = 16000, "mono"  # type: ignore[attr-defined]
    return np.concatenate([f.to_ndarray().reshape(-1) for p in packets for f in ctx.decode(av.Packet(p))])


def test_codec_choices_are_answered_only_when_configured() -> None:
    offer = sdp.parse_offer(b"v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 111 9 0\r\na=rtpmap:111 opus/48000/2\r\n"
                            b"a=rtpmap:9 G722/8000\r\na=sendonly\r\n")
    narrow = sdp.answer(offer, "192.0.2.5", [20000]).decode()
    assert "m=audio 20000 RTP/AVP 0\r\n" in narrow and "opus" not in narrow and "G722" not in narrow
    wide = sdp.answer(offer, "192.0.2.5", [20000], codecs=codecs.configured(["PCMU", "G722", "opus"])).decode()
    assert "m=audio 20000 RTP/AVP 111 9 0" in wide
    assert "a=rtpmap:111 opus/48000/2" in wide and "a=rtpmap:9 G722/8000" in wide
    only_wide = sdp.parse_offer(b"v=0\r\nm=audio 4000 RTP/AVP 9\r\n")
    with pytest.raises(sdp.NoCodec, match="takes PCMU, PCMA"):
        sdp.check_codecs(only_wide)
    sdp.check_codecs(only_wide, [G722])
    with pytest.raises(codecs.UnknownCodec):
        codecs.configured(["G729"])


def test_payload_map_knows_dynamic_opus_and_the_static_types() -> None:
    pts = codecs.payload_map([111, 0], {111: "opus/48000/2"}, [PCMU, OPUS, G722])
    assert pts == {111: OPUS, 0: PCMU, 9: G722}  # static G.722 decoded even when not offered
    assert codecs.from_names(codecs.to_names(pts)) == pts


def test_opus_packet_lengths_come_from_the_toc_of_real_packets() -> None:
    packets = encode("libopus", sine(440, 1.0, 48000), 48000, 960)
    assert {opus_samples(p) for p in packets} == {960}
    assert opus_samples(bytes([0x03 | (18 << 3), 0x03])) == 3 * 480  # code 3: three 10 ms CELT frames
    assert codecs.ticks(OPUS, packets[0]) == 160


@pytest.mark.slow
def test_g722_from_sipp_is_stored_at_16_khz_exactly_as_decoded(wide_srs: Srs) -> None:
    """A 6 kHz tone (impossible at 8 kHz) as real G.722 packets on the agent stream, PCMU on the other:
    the file is 16 kHz and its agent channel is the G.722 decoder's output sample for sample."""
    need_sipp()
    agent_packets = encode("g722", sine(6000, 3.0, 16000), 16000, 320)[:150]
    assert {len(p) for p in agent_packets} == {SPP}  # 64 kbit/s: 160 bytes per 20 ms, RTP clock 8000
    customer = tone(wide_srs.tmp / "customer.ul", 3, 1000)
    build_pcap(wide_srs.tmp / "call.pcap", [Stream(b"".join(agent_packets), pt=9), Stream(customer)])
    from tests.live_peers import siprec_scenario

    result = run_sipp(wide_srs.tmp, siprec_scenario(wide_srs.tmp / "call.pcap", 3600, g722=True), wide_srs.port)
    assert isinstance(result, subprocess.CompletedProcess)
    assert result.returncode == 0, result.stderr.decode(errors="replace")[-2000:]
    call = _recorded()
    rate, (left, right) = _stored(call, wide_srs.tmp)
    assert rate == 16000 and call.sample_rate == 16000 and call.codec == "pcm_s16le"
    ref = _reference_g722(agent_packets)
    at = next((k for k in range(0, 400) if np.array_equal(left[k:k + len(ref)], ref)), None)
    assert at is not None, "the stored agent channel is not the decoded G.722 stream"
    assert not left[:at].any() and not left[at + len(ref):].any()
    assert abs(peak_hz(left[at:at + len(ref)], 16000) - 6000) < 20
    start = int(np.flatnonzero(right)[0])
    assert abs(peak_hz(right[start:start + 16000], 16000) - 1000) < 20  # G.711 brought to 16 kHz
    stats = call.meta["live"]["stats"]
    assert stats["1"]["codecs"] == ["G722"] and stats["2"]["codecs"] == ["PCMU"]
    assert stats["1"]["lost"] == 0 and 2.9 < call.duration_s < 3.3


def _sip(sock: socket.socket, data: bytes) -> bytes:
    sock.sendall(data)
    return sock.recv(65535)


@pytest.mark.slow
def test_opus_from_a_python_rtp_sender_is_decoded_to_16_khz(wide_srs: Srs) -> None:
    """Two streams of real libopus packets (PT 111, RTP clock 48000): a 6 kHz tone and a 1 kHz tone land
    on their channels at 16 kHz with the right length and level."""
    from tests.test_live_siprec import _metadata_doc, _multipart, _req

    offer = (b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
             b"m=audio 7000 RTP/AVP 111\r\na=rtpmap:111 opus/48000/2\r\na=label:1\r\na=sendonly\r\n"
             b"m=audio 7002 RTP/AVP 111\r\na=rtpmap:111 opus/48000/2\r\na=label:2\r\na=sendonly\r\n")
    body, ctype = _multipart(offer, _metadata_doc("Agent"))
    streams = [encode("libopus", sine(f, 3.0, 48000), 48000, 960) for f in (6000, 1000)]
    with socket.create_connection(("127.0.0.1", wide_srs.port), timeout=5) as sip:
        answer = _sip(sip, _req("INVITE", extra="Require: siprec\r\n", body=body, ctype=ctype, call="opus"))
        assert answer.startswith(b"SIP/2.0 200") and b"a=rtpmap:111 opus/48000/2" in answer
        ports = [int(p) for p in re.findall(rb"m=audio (\d+) RTP/AVP 111", answer)]
        assert len(ports) == 2
        rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            for k in range(len(streams[0])):
                for i, packets in enumerate(streams):
                    if k < len(packets):
                        head = struct.pack("!BBHII", 0x80, 111, (1000 + k) & 0xFFFF, 48000 + 960 * k, 0x51C0 + i)
                        rtp.sendto(head + packets[k], ("127.0.0.1", ports[i]))
                time.sleep(0.02)
        finally:
            rtp.close()
        to = next(x for x in answer.split(b"\r\n") if x.startswith(b"To:"))
        bye = _req("BYE", call="opus").replace(b"To: <sip:srs@127.0.0.1>", to).replace(b"CSeq: 1 BYE", b"CSeq: 2 BYE")
        assert _sip(sip, bye).startswith(b"SIP/2.0 200")
    call = _recorded()
    rate, (left, right) = _stored(call, wide_srs.tmp)
    assert rate == 16000
    stats = call.meta["live"]["stats"]
    assert stats["1"]["codecs"] == ["opus"] and stats["1"]["lost"] == 0 and stats["2"]["lost"] == 0
    assert 2.9 < call.duration_s < 3.2
    mid = slice(8000, 40000)  # 0.5-2.5 s: past the encoder's start-up
    assert abs(peak_hz(left[mid], 16000) - 6000) < 20 and abs(peak_hz(right[mid], 16000) - 1000) < 20
    level = 0.3 * 32767 / np.sqrt(2)
    for ch in (left, right):
        rms = float(np.sqrt(np.mean(ch[mid].astype(np.float64) ** 2)))
        assert 0.7 * level < rms < 1.3 * level, rms
