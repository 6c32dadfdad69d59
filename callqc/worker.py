"""Worker processes: claim jobs from the database queue and run their handlers.

A handler is ``handle(ctx: JobContext) -> None``; it must be idempotent (a job may run twice when a
worker dies mid-job). Raise :class:`PermanentError` for a failure no retry can fix. Handlers are
named in :data:`HANDLERS` as ``"module:function"``; a kind whose module does not exist yet is not
claimed, so its jobs wait in the queue instead of failing.
"""

from __future__ import annotations

import importlib
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
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from callqc.errors import CallqcError, InvalidInput


@dataclass(frozen=True)
class JobContext:
    """What a handler gets: the claimed job and who runs it."""

    job_id: int
    kind: str
    call_id: str | None
    payload: dict[str, Any] = field(default_factory=dict)
    attempt: int = 1
    worker_id: str = ""
    # Set when the worker lost the lease (the job was requeued elsewhere): a long handler may
    # check it and stop early; its result will not be recorded either way.
    lease_lost: threading.Event = field(default_factory=threading.Event, repr=False, compare=False)


class PermanentError(CallqcError):
    """job failed permanently"""


class HandlerBroken(CallqcError):
    """job handler cannot be loaded"""


Handler = Callable[[JobContext], None]

# Job kind → "module:function". Tests and plugins may add kinds (child processes get the mapping
# passed explicitly, so additions made before run_workers() reach them).
HANDLERS: dict[str, str] = {
    "transcribe": "transcribe.handler:handle",
    "score": "scoring.handler:handle",
}

log = logging.getLogger(__name__)


def load_handler(spec: str) -> Handler | None:
    """The function ``spec`` names, or ``None`` when its module does not exist (yet)."""
    module_name, _, func_name = spec.partition(":")
    if not module_name or not func_name:
        raise HandlerBroken(f"{spec!r} is not 'module:function'")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        # Only the handler's own module (or its package) missing means "not there yet"; a missing
        # dependency inside an existing handler is a broken install and must say so.
        if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            return None
        raise HandlerBroken(f"{spec}: {type(exc).__name__}: {exc}") from exc
    func = getattr(module, func_name, None)
    if not callable(func):
        raise HandlerBroken(f"{spec}: no function {func_name!r}")
    return func


def available_handlers(kinds: Sequence[str], specs: Mapping[str, str]) -> dict[str, Handler]:
    """Load the handlers of ``kinds``; kinds whose module is missing are left out (logged once)."""
    unknown = [k for k in kinds if k not in specs]
    if unknown:
        raise InvalidInput(f"unknown job kind(s) {', '.join(unknown)}; known: {', '.join(sorted(specs))}")
    out: dict[str, Handler] = {}
    for kind in kinds:
        func = load_handler(specs[kind])
        if func is None:
            log.warning("work: no handler for %r yet (%s not installed); its jobs stay queued",
                        kind, specs[kind])
        else:
            out[kind] = func
    return out


class _Heartbeat(threading.Thread):
    """Renews the lease every ``interval`` seconds while the handler runs."""

    def __init__(self, engine: sa.Engine, ctx: JobContext, interval: float) -> None:
        super().__init__(name=f"heartbeat-{ctx.job_id}", daemon=True)
        self.engine, self.ctx, self.interval = engine, ctx, interval
        self.done = threading.Event()

    def run(self) -> None:
        from storage.queue import LeaseLost, heartbeat

        while not self.done.wait(self.interval):
            try:
                heartbeat(self.engine, self.ctx.job_id, self.ctx.worker_id)
            except LeaseLost:
                log.warning("heartbeat: job %s lease lost by %s", self.ctx.job_id, self.ctx.worker_id)
                self.ctx.lease_lost.set()
                return
            except Exception as exc:  # noqa: BLE001 - a blip must not kill the lease keeper
                log.warning("heartbeat: job %s renewal failed (%s), retrying", self.ctx.job_id, exc)

    def stop(self) -> None:
        self.done.set()
        self.join()


def _error_line(exc: BaseException) -> str:
    msg = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__


class Worker:
    """One worker: claim, run with heartbeats, record the outcome; repeat until stopped."""

    def __init__(
        self,
        worker_id: str,
        handlers: Mapping[str, Handler],
        *,
        burst: bool = False,
        stop: threading.Event | None = None,
        alive: Callable[[], bool] = lambda: True,
        max_jobs: int | None = None,
    ) -> None:
        from storage.db import get_engine
        from storage.settings import get_settings

        self.worker_id, self.handlers, self.burst = worker_id, dict(handlers), burst
        self.stop = stop or threading.Event()
        self.alive, self.max_jobs = alive, max_jobs
        self.engine = get_engine()
        s = get_settings()
        self.poll_s, self.heartbeat_s = s.worker_poll_s, s.job_heartbeat_s
        self.requeue_every_s = min(s.job_stall_s / 2, 30.0)
        self._last_requeue = float("-inf")
        self.processed = 0

    def _maybe_requeue_stalled(self) -> None:
        from storage.queue import requeue_stalled

        if time.monotonic() - self._last_requeue < self.requeue_every_s:
            return
        self._last_requeue = time.monotonic()
        requeue_stalled(self.engine)

    def run(self) -> int:
        """Work until stopped, ``max_jobs`` ran, or (burst) nothing is due or running; jobs processed."""
        from storage.queue import claim, has_work

        log.info("work: %s started for %s%s", self.worker_id, ", ".join(self.handlers) or "no kinds",
                 " (burst)" if self.burst else "")
        kinds = list(self.handlers)
        while not self.stop.is_set() and self.alive():
            try:
                self._maybe_requeue_stalled()
                job = claim(self.engine, self.worker_id, kinds=kinds)
                if job is None and self.burst and not has_work(self.engine, kinds=kinds):
                    break
            except sa.exc.DBAPIError as exc:
                log.warning("work: %s database unavailable (%s); waiting", self.worker_id,
                            _error_line(exc.orig or exc))
                self.stop.wait(self.poll_s)
                continue
            if job is None:
                self.stop.wait(self.poll_s)
                continue
            self.run_one(JobContext(job.id, job.kind, job.call_id, job.payload, job.attempts, self.worker_id))
            if self.max_jobs is not None and self.processed >= self.max_jobs:
                break
        log.info("work: %s stopped after %s job(s)", self.worker_id, self.processed)
        return self.processed

    def run_one(self, ctx: JobContext) -> None:
        """Run one claimed job's handler under a heartbeat and record how it ended."""
        from storage.queue import LeaseLost, fail, finish

        beat = _Heartbeat(self.engine, ctx, self.heartbeat_s)
        beat.start()
        error: str | None = None
        permanent = False
        started = time.monotonic()
        try:
            self.handlers[ctx.kind](ctx)
        except PermanentError as exc:
            error, permanent = _error_line(exc), True
        except Exception as exc:  # noqa: BLE001 - any handler failure is recorded on the job
            log.debug("job %s failed", ctx.job_id, exc_info=True)
            error = _error_line(exc)
        finally:
            beat.stop()
        self.processed += 1
        if ctx.lease_lost.is_set():
            log.warning("work: job %s lease lost while running; outcome not recorded", ctx.job_id)
            return
        try:
            if error is None:
                finish(self.engine, ctx.job_id, self.worker_id)
                log.info("work: job %s (%s) done in %.1fs", ctx.job_id, ctx.kind, time.monotonic() - started)
            else:
                fail(self.engine, ctx.job_id, self.worker_id, error=error, permanent=permanent)
        except LeaseLost:
            log.warning("work: job %s lease lost before its outcome was recorded", ctx.job_id)
        except sa.exc.DBAPIError as exc:
            # The job stays running; stall recovery requeues it and the idempotent handler reruns.
            log.error("work: job %s outcome not recorded (%s)", ctx.job_id, _error_line(exc.orig or exc))


def _setup_logging() -> None:
    from storage.settings import get_settings

    logging.basicConfig(
        level=get_settings().log_level.upper(),
        format="%(asctime)s %(levelname)s %(processName)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def _worker_id(n: int) -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{n}"


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
    Worker(_worker_id(n), handlers, burst=burst, stop=stop, max_jobs=max_jobs,
           alive=lambda: os.getppid() == parent_pid).run()


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
    """One worker in this process (``--concurrency 1``): no spawn cost."""
    stop = threading.Event()

    def abort() -> None:
        raise KeyboardInterrupt

    with _StopSignals(stop.set, abort):
        handlers = {kind: func for kind, spec in specs.items() if (func := load_handler(spec)) is not None}
        Worker(_worker_id(0), handlers, burst=burst, stop=stop, max_jobs=max_jobs).run()
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
    the running jobs (stall recovery requeues them). Without ``burst`` a worker that crashes is
    restarted; with ``burst`` each worker exits once nothing of its kinds is due or running.
    ``max_jobs``: each worker exits after that many jobs (and is not restarted).
    """
    if concurrency < 1:
        raise InvalidInput(f"concurrency {concurrency}: must be at least 1")
    specs_all = dict(HANDLERS if handlers is None else handlers)
    loaded = available_handlers(list(kinds) if kinds else list(specs_all), specs_all)
    specs = {kind: specs_all[kind] for kind in loaded}
    _preflight()
    if concurrency == 1:
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
