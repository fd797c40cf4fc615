"""Runs jobs off the caller's thread with progress events and cooperative cancel.

Outcomes come back to the caller one by one, in the caller's thread, so the
caller alone writes to the store. A failing job becomes an outcome with its
error; the other jobs go on. Jobs are plain callables of their inputs, so
this runner can later be swapped for a distributed one (Ray) unchanged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from .backend import Cancelled, CancelToken, Progress

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProgressEvent:
    job: str
    fraction: float
    message: str
    step: str = ""  # the pipeline step the job belongs to, when known


@dataclass
class Outcome:
    job: str
    result: Any = None
    error: BaseException | None = None
    cancelled: bool = False
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None and not self.cancelled


JobFn = Callable[[Progress], Any]


class JobRunner:
    def __init__(self, workers: int = 1):
        self.workers = max(1, workers)

    def run(self, jobs: Iterable[tuple[str, JobFn]], *, cancel: CancelToken,
            on_progress: Callable[[ProgressEvent], None] | None = None) -> Iterator[Outcome]:
        """Yield one Outcome per job as each finishes."""
        emit = on_progress or (lambda e: None)

        def wrapped(name: str, fn: JobFn) -> Outcome:
            if cancel.cancelled:
                return Outcome(name, cancelled=True)
            t0 = time.perf_counter()

            def progress(fraction: float, message: str) -> None:
                cancel.check()
                emit(ProgressEvent(name, max(0.0, min(1.0, fraction)), message))

            try:
                result = fn(progress)
            except Cancelled:
                return Outcome(name, cancelled=True, seconds=time.perf_counter() - t0)
            except Exception as e:  # one job's failure is its own outcome
                log.exception("job %s failed", name)
                return Outcome(name, error=e, seconds=time.perf_counter() - t0)
            emit(ProgressEvent(name, 1.0, "done"))
            return Outcome(name, result=result, seconds=time.perf_counter() - t0)

        with ThreadPoolExecutor(self.workers, thread_name_prefix="inkubator-job") as ex:
            names: dict[Future, str] = {ex.submit(wrapped, name, fn): name for name, fn in jobs}
            pending: set[Future] = set(names)
            order = {f: i for i, f in enumerate(names)}
            try:
                while pending:
                    done, pending = wait(pending, timeout=0.1, return_when=FIRST_COMPLETED)
                    for f in sorted(done, key=order.__getitem__):  # finished together: submission order
                        yield Outcome(names[f], cancelled=True) if f.cancelled() else f.result()
                    if cancel.cancelled:
                        for f in pending:
                            f.cancel()
            except BaseException:  # Ctrl+C or the caller stopped listening: stop the jobs too
                cancel.cancel()
                for f in pending:
                    f.cancel()
                raise
