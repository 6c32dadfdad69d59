"""Live flags benchmark (not a test): what the Live now page's flags cost per live call.

N two-stream calls are journaled (recorder/siprec/journal.py) with ``--minutes`` of audio each: the
agent and the customer take turns in 3 s tone "sentences" at two loudness levels with pauses, so
every rule has work. Then, CPU time (this process), per call:

- **recorder, levels**: what the recording process adds to write each call's loudness rows
  (recorder/levels.py): reading the tap, framing and one database transaction per pass, for 5 s of
  new audio per call, against decoding those 5 s with a plain tap (``Tap.read``): the ratio is what
  framing and writing add to decoding;
- **app, first sight**: :func:`review_app.workflow.live_flags.audio_flags` on calls it has not seen
  (it reads the rows of the last LOOKBACK_S, 1 minute, and judges them);
- **app, refresh**: 5 s more levels written for every call, then ``audio_flags`` again (what each 5 s
  refresh of the page costs);
- **forbidden words**: the default rubric's forbidden checks over a live transcript of 100 lines.

The database is a SQLite file in a temporary folder.

``python -m bench.live_flags [--calls 20] [--minutes 6] [--json out.json]``
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psutil

from bench.live_listen import mulaw
from recorder import levels
from recorder.media import journal_end
from recorder.siprec.journal import Journal, Tap
from recorder.siprec.rtp import Placed
from review_app.workflow.live_flags import Rules, audio_flags, forbidden_heard
from scoring.rubric import load_rubric
from scoring.variants import load_variants
from storage.db import session
from storage.live_segments import LiveSegment
from storage.settings import reset_settings

RATE = 8000
PACKET = 160


def _signal(seconds: float, role: int) -> bytes:
    """Turns of 3 s tone (quieter or louder) then 1 s pause, the customer half a turn behind."""
    out = []
    for k in range(int(seconds * RATE)):
        t = k / RATE + role * 2.0
        turn, at = divmod(t, 4.0)
        amp = (1500 if int(turn) % 5 else 6000) if at < 3.0 and int(turn) % 2 == role else 0
        out.append(int(amp * math.sin(2 * math.pi * 300 * k / RATE)))
    return mulaw(out)


def _write(journals: list[Journal], audio: list[bytes], first: int, last: int) -> None:
    for j in journals:
        for stream in (0, 1):
            j.add(stream, [Placed(k * PACKET, 0, audio[stream][(k % (len(audio[stream]) // PACKET)) * PACKET:][:PACKET],
                                  0.0) for k in range(first, last)])
        j.flush()


def _cpu(fn: Callable[[], object]) -> float:
    start = time.process_time()
    fn()
    return time.process_time() - start


def run(calls: int, minutes: float) -> dict[str, object]:
    data = Path(tempfile.mkdtemp(prefix="live-flags-"))
    os.environ.update(CALLQC_DATA_DIR=str(data), CALLQC_DATABASE_URL=f"sqlite:///{data / 'callqc.db'}")
    reset_settings()
    streams = [{"index": 0, "label": "a", "role": "agent", "channel": 0},
               {"index": 1, "label": "c", "role": "customer", "channel": 1}]
    ids = [f"bench-{i}" for i in range(calls)]
    journals = [Journal(data / "live" / cid, {"version": 1, "call_id": cid, "state": "live",
                                              "answered_unix": time.time(), "streams": streams}, 2) for cid in ids]
    audio = [_signal(60, 0), _signal(60, 1)]
    packets = int(minutes * 60 * RATE / PACKET)
    more = int(5 * RATE / PACKET)
    rules = Rules()
    with session():
        pass  # the schema, before anything is timed
    for cid in ids:
        levels.follow(data, cid)
    _write(journals, audio, 0, packets)
    levels.write_once()  # the call so far: the rows the page will find on first sight

    with session() as s:
        first = _cpu(lambda: audio_flags(s, ids, rules))
    taps = [Tap(data, cid) for cid in ids]
    for tap in taps:
        tap.seek(journal_end(tap))
    _write(journals, audio, packets, packets + more)
    base_write = _cpu(lambda: [tap.read() for tap in taps])
    written = _cpu(levels.write_once)
    with session() as s:
        refresh = _cpu(lambda: audio_flags(s, ids, rules))
        flags = audio_flags(s, ids, rules)[ids[0]]
    rubric, variants = load_rubric().rubric, load_variants()
    lines = [LiveSegment(call_id="x", speaker="agent" if i % 2 else "customer", channel=i % 2, start_s=i * 3,
                         end_s=i * 3 + 2.5, text="thank you for waiting, I will check the delivery date for you")
             for i in range(100)]
    words = _cpu(lambda: forbidden_heard(lines, rubric, variants))
    for j in journals:
        j.update(state="ended")
    levels.write_once()  # ended: the followers finish, their rows go
    for j in journals:
        j.release(remove=True)
    return {
        "calls": calls, "minutes": minutes,
        "recorder_levels_5s_ms_per_call": round(1000 * written / calls, 2),
        "recorder_decode_only_5s_ms_per_call": round(1000 * base_write / calls, 2),
        "recorder_ratio": round(written / base_write, 2) if base_write else None,
        "app_first_sight_ms_per_call": round(1000 * first / calls, 2),
        "app_refresh_5s_ms_per_call": round(1000 * refresh / calls, 2),
        "forbidden_100_lines_ms": round(1000 * words, 2),
        "sample_flags": {"longest_silence_s": flags.longest_silence_s, "longest_overtalk_s": flags.longest_overtalk_s,
                         "raised": list(flags.raised)},
        "machine": f"{platform.machine()}, {psutil.cpu_count()} cores, Python {platform.python_version()}, "
                   f"load average {psutil.getloadavg()[0]:.1f}",
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=20)
    ap.add_argument("--minutes", type=float, default=6.0)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    result = run(args.calls, args.minutes)
    print(json.dumps(result, indent=2, ensure_ascii=False))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
