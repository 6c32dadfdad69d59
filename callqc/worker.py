"""A worker: claim jobs from the database queue and run their handlers (callqc.pool runs N of them).

Job kinds and their handlers (``"module:function"``) are declared once, in ``storage/jobs.py``;
this module loads them. A kind whose module does not exist yet is not claimed, so its jobs wait in
the queue instead of failing.
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence

import sqlalchemy as sa

from storage import partitions
from storage.db import get_engine
from storage.errors import CallqcError, InvalidInput
from storage.jobs import JobContext, PermanentError
from storage.queue import LeaseLost, claim, fail, finish, hand_back, has_work, heartbeat, requeue_stalled
from storage.settings import get_settings
from storage.wakeup import JobWaiter


class HandlerBroken(CallqcError):
    """job handler cannot be loaded"""


Handler = Callable[[JobContext], None]

log = logging.getLogger(__name__)
PARTITION_UPKEEP_S = 3600.0  # how often a worker makes sure the coming months' partitions exist (PostgreSQL)


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


class JobBudget:
    """How many more jobs a worker process may start (``--max-jobs``), shared by its slots.

    A slot takes one unit before it claims and gives it back when there was nothing to claim, so
    slots claiming at the same moment never overshoot the limit.
    """

    def __init__(self, limit: int | None) -> None:
        self.left, self._lock = limit, threading.Lock()

    def take(self) -> bool:
        with self._lock:
            if self.left is None:
                return True
            if self.left <= 0:
                return False
            self.left -= 1
            return True

    def give_back(self) -> None:
        with self._lock:
            if self.left is not None:
                self.left += 1


class Worker:
    """One worker (one job slot): claim, run with heartbeats, record the outcome; repeat until stopped."""

    def __init__(
        self,
        worker_id: str,
        handlers: Mapping[str, Handler],
        *,
        burst: bool = False,
        stop: threading.Event | None = None,
        alive: Callable[[], bool] = lambda: True,
        max_jobs: int | None = None,
        budget: JobBudget | None = None,
    ) -> None:

        self.worker_id, self.handlers, self.burst = worker_id, dict(handlers), burst
        self.stop = stop or threading.Event()
        self.alive = alive
        self.budget = budget or JobBudget(max_jobs)
        self.engine = get_engine()
        s = get_settings()
        self.poll_s, self.heartbeat_s = s.worker_poll_s, s.job_heartbeat_s
        self.requeue_every_s = min(s.job_stall_s / 2, 30.0)
        self._last_requeue = float("-inf")
        self._last_partitions = float("-inf")
        self.processed = 0
        self.current: JobContext | None = None  # the job this slot is running, read by the drain

    def _maybe_requeue_stalled(self) -> None:

        if time.monotonic() - self._last_requeue < self.requeue_every_s:
            return
        self._last_requeue = time.monotonic()
        requeue_stalled(self.engine)
        if time.monotonic() - self._last_partitions >= PARTITION_UPKEEP_S:
            self._last_partitions = time.monotonic()
            try:  # a busy table (lock timeout) is tried again at the next upkeep
                partitions.upkeep(self.engine, ahead=get_settings().partition_months_ahead)
            except sa.exc.OperationalError as exc:
                log.warning("work: partition upkeep put off (%s)", _error_line(exc.orig or exc))

    def run(self) -> int:
        """Work until stopped, the job budget is spent, or (burst) nothing is due or running; jobs processed."""

        log.info("work: %s started for %s%s", self.worker_id, ", ".join(self.handlers) or "no kinds",
                 " (burst)" if self.burst else "")
        kinds = list(self.handlers)
        waiter = JobWaiter(self.engine)
        try:
            while not self.stop.is_set() and self.alive() and self.budget.take():
                try:
                    self._maybe_requeue_stalled()
                    job = claim(self.engine, self.worker_id, kinds=kinds)
                    if job is None and self.burst and not has_work(self.engine, kinds=kinds):
                        self.budget.give_back()
                        break
                except sa.exc.DBAPIError as exc:
                    log.warning("work: %s database unavailable (%s); waiting", self.worker_id,
                                _error_line(exc.orig or exc))
                    self.budget.give_back()
                    self.stop.wait(self.poll_s)
                    continue
                if job is None:
                    self.budget.give_back()
                    waiter.wait(self.poll_s, self.stop)  # woken early when a job is queued
                    continue
                self.run_one(JobContext(job.id, job.kind, job.call_id, job.payload, job.attempts, self.worker_id))
        finally:
            waiter.close()
        log.info("work: %s stopped after %s job(s)", self.worker_id, self.processed)
        return self.processed

    def run_one(self, ctx: JobContext) -> None:
        """Run one claimed job's handler under a heartbeat and record how it ended."""

        self.current = ctx
        try:
            self._run_one(ctx)
        finally:
            self.current = None

    def hand_back(self) -> None:
        """Give the running job back to the queue (a drain ran out of time); its outcome is then not
        recorded, and ``ctx.lease_lost`` tells the handler it may stop."""
        ctx = self.current
        if ctx is None:
            return
        ctx.lease_lost.set()
        try:
            hand_back(self.engine, ctx.job_id, self.worker_id)
        except LeaseLost:
            log.info("work: job %s was no longer %s's to hand back", ctx.job_id, self.worker_id)
        except sa.exc.DBAPIError as exc:  # stall recovery requeues it instead
            log.error("work: job %s not handed back (%s)", ctx.job_id, _error_line(exc.orig or exc))

    def _run_one(self, ctx: JobContext) -> None:
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
