"""Worker processes: start N workers, supervise them, stop them on SIGINT/SIGTERM.

``run_workers`` is what `callqc work` runs. Each process runs ``worker_slots`` job slots: one
:class:`callqc.worker.Worker` loop per thread, all sharing what the process loaded (the Whisper
model and its replicas), so one call is fetched, decoded and stored while another is transcribed.
Processes isolate crashes and add models; slots add overlap without another model in memory.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from callqc.worker import JobBudget, Worker, available_handlers, load_handler
from storage.errors import InvalidInput
from storage.jobs import HANDLERS

log = logging.getLogger(__name__)


def _setup_logging() -> None:
    from storage.settings import get_settings

    logging.basicConfig(
        level=get_settings().log_level.upper(),
        format="%(asctime)s %(levelname)s %(processName)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def _worker_id(n: int, slot: int) -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{n}.{slot}"


def run_slots(n: int, handlers: Mapping[str, Any], *, burst: bool, stop: threading.Event,
              max_jobs: int | None, alive: Callable[[], bool] = lambda: True) -> int:
    """Run this process's job slots until they stop; jobs processed. A slot that crashes stops them all."""
    from storage.settings import get_settings

    budget = JobBudget(max_jobs)
    drain_s = get_settings().worker_drain_s
    # Built here, one after another: each Worker touches the process's cached engine and settings.
    workers = [Worker(_worker_id(n, k), handlers, burst=burst, stop=stop, alive=alive, budget=budget)
               for k in range(get_settings().worker_slots)]
    crashed: list[BaseException] = []

    def slot(w: Worker) -> None:
        try:
            w.run()
        except BaseException as exc:
            log.error("work: %s crashed: %s", w.worker_id, exc, exc_info=True)
            crashed.append(exc)
            stop.set()

    # Daemon threads: an abort (second signal) must end the process even while a slot is mid-job.
    threads = [threading.Thread(target=slot, args=(w,), name=f"slot-{k}", daemon=True)
               for k, w in enumerate(workers)]
    for t in threads:
        t.start()
    deadline: float | None = None
    while alive_threads := [t for t in threads if t.is_alive()]:
        alive_threads[0].join(0.5)  # short joins: the main thread must stay free to run signal handlers
        if not stop.is_set():
            continue
        # Draining: no new claims; running jobs get drain_s to finish, then go back to the queue so
        # another worker takes them at once instead of after the stall timeout.
        deadline = time.monotonic() + drain_s if deadline is None else deadline
        if time.monotonic() >= deadline and any(t.is_alive() for t in threads):
            log.warning("work: still running after %ss of draining: handing the jobs back", drain_s)
            for w in workers:
                w.hand_back()
            break
    if crashed:
        raise crashed[0]
    return sum(w.processed for w in workers)


def _child_main(n: int, specs: dict[str, str], burst: bool, max_jobs: int | None, parent_pid: int) -> None:
    """Entry point of a worker process (forked, or spawned where fork does not exist)."""
    from storage.db import reset_engines

    # A forked child shares the parent's pooled sockets: drop them without closing the parent's.
    reset_engines(close=False)
    _setup_logging()
    stop = threading.Event()

    def on_term(_sig: int, _frame: Any) -> None:
        # First SIGTERM: finish the current job, then stop. A second one kills (default action).
        stop.set()
        signal.signal(signal.SIGTERM, signal.SIG_DFL)

    # Ctrl-C reaches the whole process group; the parent turns it into SIGTERM for us.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, on_term)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)  # blocked by the parent around fork
    handlers = {kind: func for kind, spec in specs.items() if (func := load_handler(spec)) is not None}
    run_slots(n, handlers, burst=burst, stop=stop, max_jobs=max_jobs, alive=lambda: os.getppid() == parent_pid)


_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


class _StopSignals:
    """SIGINT/SIGTERM: the first asks for a stop after the current job; the same signal again aborts.

    A different second signal is not an abort: ``callqc up`` answers Ctrl-C (SIGINT to the whole
    process group) with a SIGTERM of its own, and that must stay a graceful stop.
    """

    def __init__(self, on_stop: Callable[[], None], on_abort: Callable[[], None]) -> None:
        self.on_stop, self.on_abort = on_stop, on_abort
        self.seen: set[int] = set()
        self.previous: dict[int, Any] = {}

    def _handle(self, sig: int, _frame: Any) -> None:
        if sig in self.seen:
            log.warning("work: signal %s again: aborting running jobs (stall recovery requeues them)", sig)
            self.on_abort()
            return
        if not self.seen:
            log.warning("work: signal %s: finishing current jobs, then stopping (again to abort)", sig)
            self.on_stop()
        self.seen.add(sig)

    def __enter__(self) -> _StopSignals:
        if threading.current_thread() is threading.main_thread():
            for s in (signal.SIGINT, signal.SIGTERM):
                self.previous[s] = signal.signal(s, self._handle)
        return self

    def __exit__(self, *_exc: object) -> None:
        for s, h in self.previous.items():
            signal.signal(s, h)


def _run_inline(specs: dict[str, str], burst: bool, max_jobs: int | None) -> int:
    """One worker process, this one (``--concurrency 1``): no fork."""
    stop = threading.Event()

    def abort() -> None:
        raise KeyboardInterrupt

    with _StopSignals(stop.set, abort):
        handlers = {kind: func for kind, spec in specs.items() if (func := load_handler(spec)) is not None}
        run_slots(0, handlers, burst=burst, stop=stop, max_jobs=max_jobs)
    return 0


def _preflight() -> None:
    """Fail loudly at start on a bad lease timing or an unreachable or unmigrated database.

    Later database blips are waited out by the loop.
    """
    from storage.db import get_engine
    from storage.queue import jobs
    from storage.settings import get_settings

    s = get_settings()
    if s.job_heartbeat_s * 2 > s.job_stall_s:
        # One late heartbeat must not cost a healthy job its lease.
        raise InvalidInput(f"job_heartbeat_s {s.job_heartbeat_s} must be at most half of job_stall_s "
                           f"{s.job_stall_s}")

    with get_engine().connect() as conn:
        conn.execute(sa.select(jobs.c.id).limit(1))


def run_workers(
    concurrency: int,
    *,
    kinds: Sequence[str] | None = None,
    burst: bool = False,
    handlers: Mapping[str, str] | None = None,
    max_jobs: int | None = None,
) -> int:
    """Run ``concurrency`` worker processes until stopped; returns an exit code (0 = all clean).

    SIGINT/SIGTERM: every worker finishes its current job and stops; the same signal again aborts
    the running jobs (stall recovery requeues them). Without ``burst`` a worker process that crashes
    is restarted (with ``concurrency`` 1 the worker runs in this process); with ``burst`` each worker
    exits once nothing of its kinds is due or running.
    ``max_jobs``: each worker process exits after that many jobs, over all its slots (and is not
    restarted).
    """
    if concurrency < 1:
        raise InvalidInput(f"concurrency {concurrency}: must be at least 1")
    specs_all = dict(HANDLERS if handlers is None else handlers)
    loaded = available_handlers(list(kinds) if kinds else list(specs_all), specs_all)
    specs = {kind: specs_all[kind] for kind in loaded}
    _preflight()
    if concurrency == 1:
        # In this process: no fork. Forking is only safe from a process without other threads, and
        # callers (tests, `callqc up`'s own child) may have them; a lone worker is restarted by
        # whatever runs it (systemd, Kubernetes, compose), as `callqc up` reports its exit.
        return _run_inline(specs, burst, max_jobs)

    # fork: children inherit the loaded handlers (no re-import per process) and need no guarded
    # __main__ (`python -m callqc` has none); spawn only where fork does not exist.
    methods = multiprocessing.get_all_start_methods()
    mp: Any = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    parent_pid = os.getpid()
    stopping = threading.Event()
    procs: dict[int, multiprocessing.process.BaseProcess] = {}

    def start(n: int) -> None:
        p = mp.Process(target=_child_main, args=(n, specs, burst, max_jobs, parent_pid), name=f"worker-{n}")
        # Until the child installs its own handlers, a stop signal must not run the parent's.
        masked = hasattr(signal, "pthread_sigmask")
        old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS) if masked else set()
        try:
            p.start()
        finally:
            if masked:
                signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        procs[n] = p

    def send(sig: int) -> None:
        for p in list(procs.values()):
            if p.pid is not None and p.is_alive():
                os.kill(p.pid, sig)

    def stop() -> None:
        stopping.set()
        send(signal.SIGTERM)

    code = 0
    with _StopSignals(stop, lambda: send(signal.SIGKILL)):
        for n in range(concurrency):
            start(n)
        while procs:
            multiprocessing.connection.wait([p.sentinel for p in procs.values()], timeout=1.0)
            for n, p in list(procs.items()):
                if p.is_alive():
                    continue
                p.join()
                del procs[n]
                if p.exitcode == 0:
                    continue
                log.error("work: worker-%s exited with %s", n, p.exitcode)
                if burst or stopping.is_set():
                    code = 1
                else:
                    time.sleep(1.0)  # don't spin if every start crashes
                    start(n)
    return code
