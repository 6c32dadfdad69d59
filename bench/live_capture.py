"""Live-capture benchmark (not a test): N concurrent two-stream SIPREC calls from SIPp into
``callqc recorder siprec`` on this machine.

What it reports: calls SIPp completed and calls stored ``recorded``; RTP packets the recorder counted
(sum of every stored call's per-stream figures) against packets sent (N × 2 × packets per stream);
``/proc/net/snmp`` Udp ``RcvbufErrors`` and ``NoPorts`` during the run; the recorder's CPU (seconds and
cores over the busy span) and peak RSS; and a byte-for-byte comparison of a sample of stored calls
with the pcap payloads. SIPp runs on the same machine (it needs about a core by itself at 400 calls).

Run as root (SIPp's pcap play uses a raw socket):
``python -m bench.live_capture --calls 200 [--seconds 10] [--rate 50] [--transport u1] [--check 20]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]


def snmp_udp() -> dict[str, int]:
    lines = [line.split() for line in Path("/proc/net/snmp").read_text().splitlines() if line.startswith("Udp:")]
    return dict(zip(lines[0][1:], map(int, lines[1][1:]), strict=True))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calls", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=10.0, help="audio per call")
    ap.add_argument("--rate", type=float, default=50.0, help="new calls per second while ramping up")
    ap.add_argument("--transport", default="u1", choices=["u1", "t1"])
    ap.add_argument("--check", type=int, default=20, help="stored calls compared byte for byte")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()

    sys.path.insert(0, str(ROOT))
    from tests.live_peers import SPP, Stream, build_pcap, free_port, siprec_scenario, tone

    work = Path(tempfile.mkdtemp(prefix="live-bench-"))
    data = work / "data"
    agent = tone(work / "agent.ul", args.seconds, 440)
    customer = tone(work / "customer.ul", args.seconds, 880)
    build_pcap(work / "calls.pcap", [Stream(agent), Stream(customer)])
    per_stream = len(agent) // SPP
    port = free_port()
    low = 20000
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CALLQC_DATA_DIR": str(data), "CALLQC_SIPREC_PORT": str(port),
           "CALLQC_SIPREC_RTP_PORT_MIN": str(low), "CALLQC_SIPREC_RTP_PORT_MAX": str(low + 4 * args.calls + 400),
           "CALLQC_LOG_LEVEL": "WARNING"}
    log = work / "recorder.log"
    with log.open("ab") as fh:
        rec = subprocess.Popen([sys.executable, "-m", "callqc", "recorder", "siprec"], env=env, stdout=fh,
                               stderr=fh)
    while "listening on" not in log.read_text():
        if rec.poll() is not None:
            sys.exit(log.read_text())
        time.sleep(0.1)
    proc = psutil.Process(rec.pid)
    scenario = work / "scenario.xml"
    scenario.write_text(siprec_scenario(work / "calls.pcap", int(args.seconds * 1000) + 500))
    before = snmp_udp()
    cpu0 = proc.cpu_times()
    t0 = time.monotonic()
    cmd = ["sipp", f"127.0.0.1:{port}", "-sf", str(scenario), "-i", "127.0.0.1", "-mi", "127.0.0.1",
           "-ci", "127.0.0.1", "-cp", str(free_port()), "-p", str(free_port()),
           "-mp", str(40000 + 2 * random.randrange(1000)), "-m", str(args.calls), "-l", str(args.calls),
           "-r", str(args.rate), "-t", args.transport, "-timeout", f"{args.seconds * 3 + 60:.0f}s", "-nostdin",
           "-max_socket", str(args.calls + 50)]
    sipp = subprocess.Popen(cmd, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak_rss = 0
    while sipp.poll() is None:
        peak_rss = max(peak_rss, proc.memory_info().rss)
        time.sleep(0.5)
    out = sipp.stdout.read() if sipp.stdout else ""
    sent_span = time.monotonic() - t0

    from sqlmodel import select

    from storage.calls import Call, CallStatus
    from storage.db import session
    from storage.settings import reset_settings

    os.environ["CALLQC_DATA_DIR"] = str(data)
    reset_settings()
    deadline = time.monotonic() + 120
    rows: list[Call] = []
    while time.monotonic() < deadline:
        peak_rss = max(peak_rss, proc.memory_info().rss)
        with session() as s:
            rows = list(s.exec(select(Call).where(Call.status == CallStatus.recorded)).all())
        if len(rows) >= args.calls or not any((data / "live").iterdir()):
            break
        time.sleep(0.5)
    busy = time.monotonic() - t0
    cpu1 = proc.cpu_times()
    after = snmp_udp()
    rec.terminate()
    rec.wait(60)

    ok = re.search(r"Successful call\s*\|\s*\d+\s*\|\s*(\d+)", out)
    failed = re.search(r"Failed call\s*\|\s*\d+\s*\|\s*(\d+)", out)
    received = sum(v["packets"] for c in rows for v in c.meta["live"]["stats"].values())
    lost = sum(v["lost"] for c in rows for v in c.meta["live"]["stats"].values())
    exact = 0
    sample = random.Random(1).sample(rows, min(args.check, len(rows)))
    from recorder.siprec.recording import wav_data
    from storage.settings import get_settings

    for c in sample:
        path = get_settings().resolved_store_dir / get_settings().bucket_recordings / c.audio_key
        _, channels, raw = wav_data(path)
        left, right = raw[0::channels], raw[1::channels]
        exact += agent in left and customer in right
    cpu = (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)
    result = {
        "calls": args.calls, "transport": args.transport, "seconds": args.seconds, "rate": args.rate,
        "sipp_successful": int(ok.group(1)) if ok else None, "sipp_failed": int(failed.group(1)) if failed else None,
        "recorded": len(rows), "packets_sent": args.calls * 2 * per_stream, "packets_received": received,
        "lost_by_sequence": lost,
        "udp_rcvbuf_errors": after["RcvbufErrors"] - before["RcvbufErrors"],
        "udp_noports": after["NoPorts"] - before["NoPorts"],
        "recorder_cpu_s": round(cpu, 1), "recorder_cores": round(cpu / busy, 2), "busy_s": round(busy, 1),
        "sipp_span_s": round(sent_span, 1), "recorder_peak_rss_mb": round(peak_rss / 2**20, 1),
        "byte_exact": f"{exact}/{len(sample)}",
        "machine": f"{platform.node()} {platform.machine()}, {psutil.cpu_count()} cores, "
                   f"{psutil.virtual_memory().total / 2**30:.1f} GiB, Python {platform.python_version()}",
        "command": "python -m bench.live_capture " + " ".join(sys.argv[1:]),
    }
    print(json.dumps(result, indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
