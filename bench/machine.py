"""What a benchmark records about the machine and the process: CPU, memory, load, versions.

Every bench in this folder reports its figures with these, so a reader can tell a quiet machine's
run from a loaded one's.
"""

from __future__ import annotations

import os
import platform
import resource
from pathlib import Path


def peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    # RUSAGE_CHILDREN: the largest single reaped descendant (grandchildren included), in kB on Linux.
    return resource.getrusage(who).ru_maxrss / 1024


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def cpu_children_s() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def tree_cpu_s(pid: int) -> float:
    """user+system CPU seconds of ``pid`` and its live descendants (from /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    stats: dict[int, tuple[int, float]] = {}  # pid → (parent pid, CPU seconds)
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                f = (d / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # exited meanwhile
            stats[int(d.name)] = (int(f[1]), (int(f[11]) + int(f[12])) / tick)
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        total += stats.get(p, (0, 0.0))[1]
        todo.extend(c for c, (ppid, _cpu) in stats.items() if ppid == p)
    return total


def machine() -> str:
    """CPU model, cores, memory, Python and library versions (for the record)."""
    from importlib.metadata import version

    cpu = platform.processor() or platform.machine()
    mem = ""
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
        kb = int(next(x for x in Path("/proc/meminfo").read_text().splitlines() if x.startswith("MemTotal"))
                 .split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GB RAM"
    except (OSError, StopIteration, ValueError):
        pass
    return (f"{cpu}, {os.cpu_count()} CPUs{mem}, Python {platform.python_version()}, "
            f"faster-whisper {version('faster-whisper')}, CTranslate2 {version('ctranslate2')}")



def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"
