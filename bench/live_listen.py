"""Listening-in benchmark (not a test): N live calls journaled in real time, L listeners streaming
``GET /v1/media/{id}`` from the recorder API, and the live transcript of the listened calls made by
the live transcriber (``callqc live-transcribe``, its own process, as ``callqc up`` runs it).

The calls are written to journals (recorder/siprec/journal.py) by this process in real time, 0.2 s
at a time (the recorder's flush), as the SIPREC server would: the agent side is silence with a 0.25 s
1 kHz tone burst every 5 s, the customer side a synthetic sentence (espeak-ng) every 8 s. The API
runs as its own process (uvicorn, `recorder.api.create_app`), and so does the live transcriber.
Each listener is an HTTP client reading the chunked WAV; it notes when each burst's first loud sample
arrives. Each listened call is marked watched the way the review app does it
(storage/live_watches.py), which is what makes the transcriber follow it.

Reports, per phase (baseline: 1 listener and 1 watched call; then L listeners and L other watched
calls). N + 1 calls are journaled: the baseline's call ends with its phase (the transcriber lets it
go), so N calls are live during the second phase.

- **audio delay**: arrival of a burst at the listener minus the moment it was "said" (the call's
  answer time plus the burst's position): median, p95, max;
- **transcript delay**: when a live transcript line was stored minus the end of its speech in the
  call: median, p95, max;
- **CPU**: the API process, the live transcriber and this process (journal writer), as cores = CPU
  seconds / wall seconds; the transcriber's per watched call; the ratios of the L-listener phase to
  the baseline.

``python -m bench.live_listen [--calls 50] [--listeners 5] [--seconds 60] [--model tiny.en] [--json out.json]``
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
RATE = 8000
PACKET = 160
BURST_EVERY_S = 5.0
BURST_S = 0.25
SPEECH_EVERY_S = 8.0
LOUD = 3000


def mulaw(samples: list[int]) -> bytes:
    """16-bit linear → G.711 μ-law (the standard segment encoder)."""
    out = bytearray()
    for s in samples:
        sign = 0x80 if s < 0 else 0
        s = min(abs(s), 32635) + 0x84
        exp = max(0, min(7, s.bit_length() - 8))
        out.append(~(sign | (exp << 4) | ((s >> (exp + 3)) & 0x0F)) & 0xFF)
    return bytes(out)


class Writer:
    """Journals ``n`` two-stream calls in real time until stopped."""

    def __init__(self, data: Path, ids: list[str], speech: bytes) -> None:
        from recorder.siprec.journal import Journal

        self.answered = time.time()
        streams = [{"index": 0, "label": "a", "role": "agent", "channel": 0},
                   {"index": 1, "label": "c", "role": "customer", "channel": 1}]
        self.journals = [Journal(data / "live" / cid, {"version": 1, "call_id": cid, "state": "live",
                                                       "answered_unix": self.answered, "streams": streams}, 2)
                         for cid in ids]
        tone = [int(12000 * math.sin(2 * math.pi * 1000 * k / RATE)) for k in range(int(BURST_S * RATE))]
        self.burst = mulaw(tone)
        self.speech = speech
        self.written = 0  # samples per stream so far
        self.stop = threading.Event()
        self.ended: set[int] = set()

    def end_call(self, k: int) -> None:
        """The k-th call hangs up: its journal says ended and gets no more audio."""
        self.ended.add(k)
        self.journals[k].update(state="ended")

    def agent(self, pos: int) -> bytes:
        k = pos % int(BURST_EVERY_S * RATE)
        return self.burst[k:k + PACKET].ljust(PACKET, b"\xff") if k < len(self.burst) else b"\xff" * PACKET

    def customer(self, pos: int) -> bytes:
        k = pos % int(SPEECH_EVERY_S * RATE)
        return self.speech[k:k + PACKET].ljust(PACKET, b"\xff") if k < len(self.speech) else b"\xff" * PACKET

    def run(self) -> None:
        from recorder.siprec.rtp import Placed

        while not self.stop.is_set():
            due = int((time.time() - self.answered) * RATE) // PACKET * PACKET
            if due > self.written:
                now = time.time()
                a = [Placed(p, 0, self.agent(p), now) for p in range(self.written, due, PACKET)]
                c = [Placed(p, 0, self.customer(p), now) for p in range(self.written, due, PACKET)]
                for k, j in enumerate(self.journals):
                    if k in self.ended:
                        continue
                    j.add(0, a)
                    j.add(1, c)
                    j.flush()
                self.written = due
            time.sleep(0.2)

    def end(self) -> None:
        self.stop.set()
        for k, j in enumerate(self.journals):
            if k not in self.ended:
                j.update(state="ended")
            j.release(remove=False)


def listen(url: str, token: str, heard: list[tuple[int, float]], stop: threading.Event) -> None:
    """Stream one live call; note (frame in the stream, arrival time) of each burst's first loud sample."""
    got, last_loud, header = 0, -RATE, b""
    with httpx.stream("GET", url, params={"token": token}, timeout=30) as r:
        for chunk in r.iter_bytes():
            now = time.time()
            if len(header) < 44:
                need = 44 - len(header)
                header, chunk = header + chunk[:need], chunk[need:]
            frames = memoryview(chunk[: len(chunk) // 4 * 4]).cast("h")
            for i in range(0, len(frames), 2):
                if abs(frames[i]) > LOUD:
                    frame = got + i // 2
                    if frame - last_loud > RATE:
                        heard.append((frame, now))
                    last_loud = frame
            got += len(frames) // 2
            if stop.is_set():
                return


def burst_delays(heard: list[tuple[int, float]], requested: float, answered: float) -> list[float]:
    """Arrival minus when each burst was said. The stream starts where the call was at the request
    (within a second or so), which fixes each burst's place among bursts 5 s apart."""
    out = []
    for frame, arrived in heard:
        guess = requested - answered + frame / RATE  # the burst's second of the call, ± the join error
        said = round(guess / BURST_EVERY_S) * BURST_EVERY_S
        out.append(arrived - (answered + said))
    return out


def percentiles(xs: list[float]) -> dict[str, float]:
    if not xs:
        return {"n": 0}
    xs = sorted(xs)
    return {"n": len(xs), "median": round(statistics.median(xs), 2),
            "p95": round(xs[min(len(xs) - 1, int(0.95 * len(xs)))], 2), "max": round(xs[-1], 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calls", type=int, default=50)
    ap.add_argument("--listeners", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=60.0, help="each phase")
    ap.add_argument("--model", default="tiny.en", help="live transcript model")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    sys.path.insert(0, str(ROOT))
    work = Path(tempfile.mkdtemp(prefix="live-listen-"))
    data = work / "data"
    os.environ.update(CALLQC_DATA_DIR=str(data), CALLQC_DATABASE_URL=f"sqlite:///{data / 'callqc.db'}",
                      CALLQC_API_TOKEN="bench-token-0123456789abcdef", CALLQC_ASR_MODEL=args.model,
                      CALLQC_MEDIA_TOKEN_TTL_S="3600")
    os.environ.update(CALLQC_LIVE_ASR_MODEL=args.model, CALLQC_LIVE_TRANSCRIPT_ALL="false")
    from storage import db, media_tokens
    from storage.calls import Call, CallStatus
    from storage.live_segments import for_call
    from storage.live_watches import watch
    from storage.models import utcnow
    from storage.users import Principal, Role, add_user
    from tests.live_peers import speech

    data.mkdir(parents=True)
    db.migrate()
    ids = [f"bench-{k:03d}" for k in range(args.calls + 1)]
    with db.session() as s:
        add_user(s, "insp", role=Role.inspector, password="pw-123456789")
        for cid in ids:
            s.add(Call(call_id=cid, agent_id=f"A{cid[-2:]}", started_at=utcnow(), codec="pcm_mulaw", sample_rate=8000,
                       channels=2, audio_key=f"live/{cid}", size_bytes=0, sha256="0" * 64,
                       status=CallStatus.in_progress))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    live = subprocess.Popen([sys.executable, "-m", "callqc", "live-transcribe", "--watched"], env=env,
                            stdout=subprocess.PIPE, text=True)
    assert live.stdout is not None
    print(live.stdout.readline().strip(), flush=True)  # printed once the model is loaded
    said = speech(work / "said.ul", "Thank you for calling. How can I help you today?")
    writer = Writer(data, ids, said[: int((SPEECH_EVERY_S - 1) * RATE)])
    threading.Thread(target=writer.run, daemon=True).start()
    port = 18000 + os.getpid() % 1000
    api = subprocess.Popen([sys.executable, "-c", "import uvicorn; from recorder.api import create_app; "
                            f"uvicorn.run(create_app(), host='127.0.0.1', port={port}, log_level='warning')"],
                           env=env)
    for _ in range(300):
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.1)
    server, me, tx = psutil.Process(api.pid), psutil.Process(), psutil.Process(live.pid)
    who = Principal("insp", Role.inspector)
    results = {}
    used: set[str] = set()
    try:
        for phase, n in (("baseline", 1), ("listeners", args.listeners)):
            calls = [c for c in ids if c not in used][:n]
            used.update(calls)
            stop = threading.Event()
            raw: dict[str, list[tuple[int, float]]] = {c: [] for c in calls}
            started: dict[str, float] = {}
            threads = []
            for cid in calls:
                started[cid] = time.time()
                url = f"http://127.0.0.1:{port}/v1/media/{cid}"
                threads.append(threading.Thread(target=listen, args=(url, media_tokens.grant(who, cid), raw[cid],
                                                                      stop), daemon=True))
            c0s, c0m, c0t, t0 = server.cpu_times(), me.cpu_times(), tx.cpu_times(), time.time()
            with db.session(write=True) as s:
                for cid in calls:
                    watch(s, cid)  # what opening the call in the review app does
            for th in threads:
                th.start()
            time.sleep(args.seconds)
            stop.set()
            wall = time.time() - t0
            c1s, c1m, c1t = server.cpu_times(), me.cpu_times(), tx.cpu_times()
            audio = [d for cid in calls for d in burst_delays(raw[cid], started[cid], writer.answered)]
            with db.session() as s:
                lines = [seg for cid in calls for seg in for_call(s, cid)]
            transcript = [seg.heard_at.timestamp() - (writer.answered + seg.end_s) for seg in lines
                          if seg.heard_at.timestamp() >= t0]
            cpu_s = (c1s.user + c1s.system) - (c0s.user + c0s.system)
            cpu_m = (c1m.user + c1m.system) - (c0m.user + c0m.system)
            cpu_t = (c1t.user + c1t.system) - (c0t.user + c0t.system)
            results[phase] = {"listeners": n, "audio_delay_s": percentiles(audio),
                              "transcript_delay_s": percentiles(transcript),
                              "api_cores": round(cpu_s / wall, 3), "writer_cores": round(cpu_m / wall, 3),
                              "transcriber_cores": round(cpu_t / wall, 3),
                              "transcriber_cores_per_call": round(cpu_t / wall / n, 3),
                              "load_1min": round(os.getloadavg()[0], 1)}
            print(phase, json.dumps(results[phase]), flush=True)
            for th in threads:
                th.join(timeout=10)
            for cid in calls:
                writer.end_call(ids.index(cid))
    finally:
        writer.end()
        for proc in (api, live):
            proc.terminate()
            proc.wait(20)
    base, many = results["baseline"], results["listeners"]
    results["ratio_api_cpu"] = round(many["api_cores"] / max(base["api_cores"], 1e-3), 2)
    results["ratio_transcriber_cpu"] = round(many["transcriber_cores"] / max(base["transcriber_cores"], 1e-3), 2)
    results["calls"] = args.calls
    results["model"] = args.model
    results["machine"] = (f"{platform.node()} {platform.machine()}, {psutil.cpu_count()} cores, "
                          f"load {os.getloadavg()[0]:.1f}, Python {platform.python_version()}")
    print(json.dumps(results, indent=1))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
