"""storage/heap.py: a process's start-up objects leave the collector's walks once, request objects never."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import gc
from storage.heap import settle_once
before = gc.get_freeze_count()
settle_once()
first = gc.get_freeze_count()
made = [[i] for i in range(5000)]  # what a request makes after start-up
settle_once()
print(before, first, gc.get_freeze_count())
"""


def test_settle_once_freezes_start_up_objects_and_never_a_later_requests() -> None:
    # a child process: freezing is process-wide and would take this test process's objects with it
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True).stdout.split()
    before, first, second = (int(x) for x in out)
    assert before == 0
    assert first > 1_000  # what the interpreter and the imports made
    assert second == first  # the second call froze nothing: the 5,000 request lists stay collectable
