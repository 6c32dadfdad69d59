"""The pieces of live capture on their own: G.711, RTP sequence bookkeeping (RFC 3550 A.3), timestamp
placement across SSRC changes, SIP and SDP parsing, recording metadata roles, the journal and the WAV."""

from __future__ import annotations

import struct
from datetime import UTC, datetime
from pathlib import Path

import pytest

from recorder.siprec import rsmeta, sdp
from recorder.siprec.journal import RECORD, Journal, records, stream_file
from recorder.siprec.recording import build_wav, wav_data
from recorder.siprec.rtp import ALAW_TO_LINEAR, PCMU, ULAW_TO_LINEAR, RtpPacket, SeqStats, StreamReceiver, parse
from recorder.siprec.sipmsg import BadMessage, StreamFramer, TooLarge
from recorder.siprec.sipmsg import parse as parse_sip
from tests.live_peers import AGENT_AOR, _metadata


def test_g711_tables_match_the_standard_values() -> None:
    assert ULAW_TO_LINEAR[0xFF] == 0 and ULAW_TO_LINEAR[0x7F] == 0
    assert ULAW_TO_LINEAR[0x00] == -32124 and ULAW_TO_LINEAR[0x80] == 32124
    assert ALAW_TO_LINEAR[0xD5] == 8 and ALAW_TO_LINEAR[0x55] == -8
    assert ALAW_TO_LINEAR[0xAA] == 32256 and ALAW_TO_LINEAR[0x2A] == -32256


def test_sequence_stats_count_loss_duplicates_and_reordering_across_wraparound() -> None:
    s = SeqStats()
    arrivals = [65533, 65534, 1, 0, 0, 3, 4, 4, 6]  # 65535, 2, 5 lost; 0 late; 0 and 4 twice
    for seq in arrivals:
        s.update(seq)
    assert s.expected == 65536 + 6 - 65533 + 1 == 10
    assert (s.received, s.lost, s.duplicates, s.reordered) == (7, 3, 2, 1)


def _pkt(seq: int, ts: int, ssrc: int = 1, payload: bytes = b"\x01" * 160, pt: int = PCMU) -> RtpPacket:
    return RtpPacket(pt, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc, payload)


def test_receiver_places_by_timestamp_and_rebases_a_new_ssrc_after_the_old() -> None:
    r = StreamReceiver(origin=100.0, depth=0)
    r.push(_pkt(10, 4294967000), 100.5)  # first packet 0.5 s after answer, timestamp about to wrap
    r.push(_pkt(12, 4294967000 + 320), 100.54)  # one packet lost; timestamp wrapped
    r.push(_pkt(500, 77, ssrc=2), 100.56)  # new source: starts where the old one ended, not at ts 77
    placed = r.ready()
    assert [p.position for p in placed] == [4000, 4320, 4480]
    assert r.stats.lost == 1 and r.stats.ssrcs == ["00000001", "00000002"] and r.stats.packets == 3


def test_receiver_logs_dtmf_and_ignores_other_payload_types() -> None:
    r = StreamReceiver(origin=0.0, depth=0)
    r.push(_pkt(1, 0), 0.0)
    for end in (False, True, True):  # the end packet is sent three times
        r.push(RtpPacket(101, 2, 160, 1, bytes([5, 0x80 if end else 0, 0, 160])), 0.02)
    r.push(RtpPacket(18, 3, 320, 1, b"\x00" * 20), 0.04)  # G.729: not recorded
    assert r.stats.dtmf == ["5"] and r.stats.ignored == 1 and (r.stats.packets, r.stats.lost) == (3, 0)


def test_rtp_parse_skips_csrcs_extensions_and_padding_and_refuses_rtcp() -> None:
    header = struct.pack("!BBHII", 0x80 | 0x20 | 0x10 | 1, 0, 7, 160, 9) + b"CSRC"
    ext = struct.pack("!HH", 0xBEDE, 1) + b"\0\0\0\0"
    pkt = parse(header + ext + b"audio" + b"\0\0\x03")
    assert pkt is not None and pkt.payload == b"audio" and pkt.seq == 7
    assert parse(struct.pack("!BBHI", 0x80, 200, 6, 9) + b"\0" * 20) is None  # RTCP SR
    assert parse(b"\x00" * 5) is None


INVITE = (b"INVITE sip:srs@h SIP/2.0\r\nv: SIP/2.0/UDP h;branch=z9hG4bK1\r\nf: <sip:a@h>;tag=1\r\nt: <sip:b@h>\r\n"
          b"i: abc@h\r\nCSeq: 1 INVITE\r\nRequire: siprec\r\nc: application/sdp\r\nl: 4\r\n\r\nbody")


def test_sip_parse_expands_compact_headers_and_frames_a_tcp_stream() -> None:
    msg = parse_sip(INVITE, max_body=100)
    assert msg.call_id == "abc@h" and msg.tokens("Require") == {"siprec"} and msg.body == b"body"
    framer = StreamFramer(max_body=100)
    assert framer.feed(b"\r\n" + INVITE[:30]) == []
    assert framer.feed(INVITE[30:] + INVITE[:10]) == [INVITE]
    with pytest.raises(TooLarge):
        parse_sip(INVITE.replace(b"l: 4", b"l: 400"), max_body=100)
    with pytest.raises(BadMessage):
        parse_sip(INVITE.replace(b"CSeq: 1 INVITE", b"CSeq: 1 BYE"), max_body=100)
    with pytest.raises(BadMessage):
        parse_sip(b"HELLO\r\n\r\n", max_body=100)


def test_sdp_answer_puts_m_lines_on_the_given_ports_receive_only() -> None:
    offer = sdp.parse_offer(b"v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 8 0 101\r\na=rtpmap:101 "
                            b"telephone-event/8000\r\na=label:7\r\na=sendonly\r\nm=audio 4002 RTP/AVP 0\r\n"
                            b"a=label:8\r\na=inactive\r\n")
    text = sdp.answer(offer, "192.0.2.5", [20000, 20002]).decode()
    assert "m=audio 20000 RTP/AVP 8 0 101" in text and "m=audio 20002 RTP/AVP 0" in text
    assert text.count("a=recvonly") == 1 and text.count("a=inactive") == 1 and "a=label:7" in text
    with pytest.raises(sdp.NoCodec):
        sdp.check_codecs(sdp.parse_offer(b"v=0\r\nm=audio 4000 RTP/AVP 9\r\n"))


def test_metadata_roles_follow_the_agent_pattern_not_the_m_line_order() -> None:
    meta = rsmeta.parse(_metadata("2").replace("[call_id]", "x").encode())
    roles = rsmeta.roles(meta, ["1", "2"], r"^sips?:agent")
    assert (roles.agent, roles.customer, roles.by_metadata, roles.agent_aor) == (1, 0, True, AGENT_AOR)
    fallback = rsmeta.roles(meta, ["1", "2"], r"^sip:nobody@")
    assert (fallback.agent, fallback.by_metadata) == (0, False)
    with pytest.raises(rsmeta.BadMetadata):
        rsmeta.parse(b'<!DOCTYPE x [<!ENTITY a "b">]><recording/>')


def test_journal_tail_cut_by_a_crash_is_ignored(tmp_path: Path) -> None:
    from recorder.siprec.rtp import Placed

    j = Journal(tmp_path / "c", {"call_id": "c", "streams": []}, 1)
    j.add(0, [Placed(0, PCMU, b"\x11" * 160, 1.0), Placed(160, PCMU, b"\x22" * 160, 1.02)])
    j.close()
    path = stream_file(tmp_path / "c", 0)
    with path.open("ab") as fh:
        fh.write(RECORD.pack(320, 1.04, PCMU, 0, 160) + b"\x33" * 50)  # the crash cut this one short
    got = [p for _, p in records(path)]
    assert [(p.position, p.payload[:1]) for p in got] == [(0, b"\x11"), (160, b"\x22")]
    j.release(remove=False)


def test_wav_places_streams_on_channels_and_blanks_pauses(tmp_path: Path) -> None:
    from recorder.siprec.rtp import Placed

    index = {"call_id": "c", "channels": 2, "answered_at": datetime.now(UTC).isoformat(),
             "streams": [{"index": 0, "channel": 1}, {"index": 1, "channel": 0}]}
    j = Journal(tmp_path / "c", index, 2)
    j.add(0, [Placed(0, PCMU, b"\x10" * 160, 0.0), Placed(320, PCMU, b"\x11" * 160, 0.0)])
    j.add(1, [Placed(0, PCMU, b"\x20" * 160, 0.0), Placed(160, PCMU, b"\x21" * 160, 0.0)])
    j.close()
    built = build_wav(tmp_path / "c", index, tmp_path / "out.wav", [(100, 200)])
    tag, channels, data = wav_data(tmp_path / "out.wav")
    left, right = data[0::2], data[1::2]
    assert (tag, channels, built.samples) == (7, 2, 480)
    assert left == b"\x20" * 100 + b"\xff" * 100 + b"\x21" * 120 + b"\xff" * 160
    assert right == b"\x10" * 100 + b"\xff" * 220 + b"\x11" * 160
    j.release(remove=True)


def test_jitter_buffer_lets_a_quiet_streams_last_packets_go_after_the_hold_time() -> None:
    r = StreamReceiver(origin=0.0, depth=4)
    r.push(_pkt(1, 0), 10.0)
    r.push(_pkt(2, 160), 10.02)
    assert r.ready() == [] and r.ready(now=10.05) == []
    assert [p.position for p in r.ready(now=10.2)] == [80000, 80160]


def test_a_call_mixing_pcmu_and_pcma_is_stored_as_16_bit_pcm(tmp_path: Path) -> None:
    from recorder.siprec.rtp import PCMA, Placed

    index = {"call_id": "m", "channels": 1, "streams": [{"index": 0, "channel": 0}]}
    j = Journal(tmp_path / "m", index, 1)
    j.add(0, [Placed(0, PCMU, b"\x00" * 160, 0.0), Placed(160, PCMA, b"\xd5" * 160, 0.0)])
    j.close()
    build_wav(tmp_path / "m", index, tmp_path / "m.wav", [])
    tag, channels, data = wav_data(tmp_path / "m.wav")
    samples = struct.unpack(f"<{len(data) // 2}h", data)
    assert (tag, channels, len(samples)) == (1, 1, 320)
    assert set(samples[:160]) == {ULAW_TO_LINEAR[0]} and set(samples[160:]) == {ALAW_TO_LINEAR[0xD5]}
    j.release(remove=True)


def test_sender_reports_shift_the_late_stream_onto_the_senders_timeline() -> None:
    from recorder.siprec.rtp import align

    early, late = StreamReceiver(origin=0.0, depth=0), StreamReceiver(origin=0.0, depth=0)
    early.push(_pkt(1, 1000, ssrc=1), 0.10)  # placed at 800
    late.push(_pkt(9, 50_000, ssrc=2), 0.40)  # placed at 3200: the network held it 300 ms
    for r, ssrc, ts in ((early, 1, 1000 + 4000), (late, 2, 50_000 + 4000)):
        r.rtcp(struct.pack("!BBHIIIIII", 0x80, 200, 6, ssrc, 3_900_000_000, 0, ts, 25, 4000))
    assert align({0: early, 1: late}) == {0: 0, 1: -2400}
    assert align({0: early, 1: StreamReceiver(origin=0.0)}) is None  # no report: arrival stays


def test_telephone_events_share_the_sequence_numbers_without_counting_as_loss_or_duplicates() -> None:
    r = StreamReceiver(origin=0.0, depth=0)
    r.push(_pkt(1, 0), 0.0)
    for seq, end in ((2, False), (3, True), (3, True), (3, True)):  # the end repeated, same number
        r.push(RtpPacket(101, seq, 160, 1, bytes([9, 0x80 if end else 0, 0, 160])), 0.02)
    r.push(_pkt(4, 320), 0.06)
    assert (r.stats.lost, r.stats.duplicates, r.stats.dtmf) == (0, 0, ["9"])
    assert [p.position for p in r.ready()] == [0, 320]


def test_a_full_disk_keeps_journal_audio_in_memory_until_it_can_be_written(tmp_path: Path) -> None:
    import os

    from recorder.siprec.rtp import Placed

    j = Journal(tmp_path / "f", {"call_id": "f", "streams": []}, 1)
    real = j._fds[0]
    j._fds[0] = os.open("/dev/full", os.O_WRONLY)  # every write fails with ENOSPC
    j.add(0, [Placed(0, PCMU, b"\x44" * 160, 1.0)])
    assert j.flush() is False and j.write_error is not None
    j.add(0, [Placed(160, PCMU, b"\x55" * 160, 1.02)])
    assert j.flush() is False
    os.close(j._fds[0])
    j._fds[0] = real  # space again
    assert j.flush() is True and j.write_error is None
    got = [(p.position, p.payload[:1]) for _, p in records(stream_file(tmp_path / "f", 0))]
    assert got == [(0, b"\x44"), (160, b"\x55")]
    j.release(remove=True)
