"""Where jobs run: this process's threads (a process of its own for backends
that ask for isolation), or Ray tasks on this machine or a cluster.

Every executor takes the same work items — a typed request, how to get its
backend, and the local files of its named inputs — and yields one `Outcome`
per job as each finishes, in the caller's thread, so the caller alone writes
to the store. A failing job is an outcome with its error; the others go on.
Output files always land in a fresh local workdir under `scratch`; the
caller stores them by content hash and removes the workdir.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import multiprocessing
import queue
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..project.models import AssetRef, utcnow
from .backend import Backend, BackendError, Cancelled, CancelToken, JobContext, ProgressEvent, capabilities
from .requests import Request, Result

log = logging.getLogger(__name__)

OnProgress = Callable[[ProgressEvent], None]


@dataclass
class BackendHandle:
    """How to get a backend wherever a job runs: its class by "module:Class" and the
    settings to build it with, or (tests, the app's injected backends) the instance."""

    ref: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    instance: Backend | None = None

    @property
    def key(self) -> str:
        if self.instance is not None:
            return f"instance:{id(self.instance)}"
        return self.ref + ":" + hashlib.sha256(repr(sorted(self.config.items())).encode()).hexdigest()[:16]

    def get(self) -> Backend:
        """The backend, built and loaded once per process."""
        if self.instance is not None:
            return self.instance
        backend = _BUILT.get(self.key)
        if backend is None:
            from ..config import Config

            module, _, cls = self.ref.partition(":")
            backend = getattr(importlib.import_module(module), cls)(Config.model_validate(self.config))
            backend.load()
            _BUILT[self.key] = backend
        return backend

    def __getstate__(self) -> dict[str, Any]:
        # A worker builds its own from ref + config; only a handle without a ref ships the instance.
        return {"ref": self.ref, "config": self.config, "instance": None if self.ref else self.instance}


_BUILT: dict[str, Backend] = {}


@dataclass
class WorkItem:
    name: str
    handle: BackendHandle
    request: Request
    # Local files of the request's named inputs (by content hash).
    files: dict[AssetRef, Path] = field(default_factory=dict)
    # Live views for whoever watches; only the local executor can call them.
    on_token: Callable[[str], None] | None = None
    on_partial: Callable[[Any], None] | None = None


@dataclass
class Outcome:
    job: str
    result: Result | None = None
    started: str = ""
    finished: str = ""
    error: BaseException | None = None
    cancelled: bool = False
    seconds: float = 0.0
    workdir: Path | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and not self.cancelled


def _checked(result: Any, backend: Any) -> Result:
    if not isinstance(result, Result):
        raise TypeError(f"{type(backend).__name__} returned {type(result).__name__}, not a Result")
    return result


class LocalExecutor:
    """Threads of this process, `workers` at a time (`runtime.jobs`)."""

    name = "local"

    def __init__(self, workers: int = 1):
        self.workers = max(1, workers)

    def run(self, items: Iterable[WorkItem], *, scratch: Path, cancel: CancelToken,
            on_progress: OnProgress | None = None) -> Iterator[Outcome]:
        emit = on_progress or (lambda e: None)
        limits: dict[str, threading.Semaphore] = {}

        def run_one(item: WorkItem) -> Outcome:
            if cancel.cancelled:
                return Outcome(item.name, cancelled=True)
            backend = item.handle.get()
            caps = capabilities(backend)
            # setdefault is atomic: two threads starting at once share one gate
            gate = limits.setdefault(item.handle.key, threading.Semaphore(caps.max_concurrency)) \
                if caps.max_concurrency else None
            workdir = Path(tempfile.mkdtemp(prefix="job-", dir=scratch))
            t0, started = time.perf_counter(), utcnow()
            try:
                if gate:
                    gate.acquire()
                try:
                    if caps.isolation:
                        result = _in_process(item, workdir, cancel, emit)
                    else:
                        ctx = JobContext(workdir, cancel, dict(item.files),
                                         emit=lambda f, m, p: emit(ProgressEvent(item.name, f, m, preview=p)),
                                         on_token=item.on_token, on_partial=item.on_partial)
                        result = _checked(backend(item.request, ctx), backend)
                finally:
                    if gate:
                        gate.release()
            except Cancelled:
                return Outcome(item.name, cancelled=True, seconds=time.perf_counter() - t0, workdir=workdir)
            except Exception as e:  # one job's failure is its own outcome
                log.exception("job %s failed", item.name)
                return Outcome(item.name, error=e, seconds=time.perf_counter() - t0, workdir=workdir)
            emit(ProgressEvent(item.name, 1.0, "done"))
            return Outcome(item.name, result=result, started=started, finished=utcnow(),
                           seconds=time.perf_counter() - t0, workdir=workdir)

        with ThreadPoolExecutor(self.workers, thread_name_prefix="inkubator-job") as ex:
            futures: dict[Future, str] = {ex.submit(run_one, item): item.name for item in items}
            yield from _collect(futures, cancel)


def _collect(futures: dict[Future, str], cancel: CancelToken) -> Iterator[Outcome]:
    pending: set[Future] = set(futures)
    order = {f: i for i, f in enumerate(futures)}
    try:
        while pending:
            done, pending = wait(pending, timeout=0.1, return_when=FIRST_COMPLETED)
            for f in sorted(done, key=order.__getitem__):  # finished together: submission order
                yield Outcome(futures[f], cancelled=True) if f.cancelled() else f.result()
            if cancel.cancelled:
                for f in pending:
                    f.cancel()
    except BaseException:  # Ctrl+C or the caller stopped listening: stop the jobs too
        cancel.cancel()
        for f in pending:
            f.cancel()
        raise


# ---- a job in a process of its own ---------------------------------------------------------------
def _process_main(handle: BackendHandle, request: Request, files: dict, workdir: str, events) -> None:
    """The child's side: progress goes back as events; the result (or error) last."""
    token = CancelToken()
    ctx = JobContext(Path(workdir), token, files, emit=lambda f, m, p: events.put(("progress", f, m)))
    try:
        backend = handle.get()
        events.put(("result", _checked(backend(request, ctx), backend)))
    except BaseException as e:  # noqa: BLE001 - reported to the parent, which raises it
        events.put(("error", f"{type(e).__name__}: {e}"))


def _in_process(item: WorkItem, workdir: Path, cancel: CancelToken, emit: OnProgress) -> Result:
    """Run one job in a spawned process; cancel kills it."""
    mp = multiprocessing.get_context("spawn")
    events = mp.Queue()
    proc = mp.Process(target=_process_main, args=(item.handle, item.request, item.files, str(workdir), events),
                      daemon=True)
    proc.start()
    unhook = cancel.on_cancel(proc.kill)
    try:
        while True:
            try:
                kind, *rest = events.get(timeout=0.1)
            except queue.Empty:
                if cancel.cancelled:
                    raise Cancelled("cancelled") from None
                if not proc.is_alive():
                    raise BackendError(f"the job's process ended without a result (exit code {proc.exitcode})")
                continue
            if kind == "progress":
                emit(ProgressEvent(item.name, rest[0], rest[1]))
            elif kind == "result":
                return rest[0]
            else:
                raise BackendError(rest[0])
    finally:
        unhook()
        proc.join(timeout=5)
        if proc.is_alive():
            proc.kill()


# ---- Ray -------------------------------------------------------------------------------------
def _ray_job(handle: BackendHandle, request: Request, inputs: dict[AssetRef, Any], name: str, events) -> tuple:
    """A Ray task: inputs arrive as bytes by content hash (checked), outputs leave as bytes."""
    import ray

    with tempfile.TemporaryDirectory(prefix="inkubator-ray-") as tmp:
        root = Path(tmp)
        files = {}
        for ref, obj in inputs.items():
            data = ray.get(obj)
            if hashlib.sha256(data).hexdigest() != ref.sha256:
                raise BackendError(f"input {ref.rel} arrived altered (its content hash differs)")
            files[ref] = root / f"{ref.sha256}{ref.ext}"
            files[ref].write_bytes(data)
        workdir = root / "out"
        workdir.mkdir()

        def emit(fraction: float, message: str, preview: Any) -> None:
            try:
                events.put_nowait((name, fraction, message))
            except Exception:  # noqa: BLE001 - a full progress queue never fails the job
                pass

        started = utcnow()
        backend = handle.get()
        result = _checked(backend(request, JobContext(workdir, CancelToken(), files, emit=emit)), backend)
        blobs = {}
        for f in result.files:
            p = Path(f)
            blobs[p.name] = p.read_bytes()
        return started, utcnow(), result, blobs


class RayExecutor:
    """Ray tasks: a local Ray on this machine (`runtime.ray_address` empty) or a
    cluster. Inputs and outputs travel as bytes named by content hash, so a
    worker needs no access to the project folder."""

    name = "ray"

    def __init__(self, address: str = "", workers: int = 1):
        self.address = address
        self.workers = max(1, workers)

    def _ray(self):
        try:
            import ray
        except ImportError:
            raise BackendError("runtime.executor = 'ray' needs Ray: pip install 'inkubator-tui[ray]'") from None
        if not ray.is_initialized():
            kwargs: dict[str, Any] = dict(include_dashboard=False, log_to_driver=False, logging_level="ERROR",
                                          configure_logging=False)
            if self.address:
                ray.init(address=self.address, **kwargs)
            else:
                ray.init(num_cpus=self.workers, **kwargs)
        return ray

    def run(self, items: Iterable[WorkItem], *, scratch: Path, cancel: CancelToken,
            on_progress: OnProgress | None = None) -> Iterator[Outcome]:
        ray = self._ray()
        from ray.util.queue import Queue

        emit = on_progress or (lambda e: None)
        events = Queue(maxsize=1000)
        task = ray.remote(_ray_job).options(num_cpus=1, max_retries=0)
        shipped: dict[AssetRef, Any] = {}
        refs: dict[Any, tuple[WorkItem, float]] = {}
        for item in items:
            for ref, path in item.files.items():
                if ref not in shipped:
                    shipped[ref] = ray.put(path.read_bytes())
            inputs = {ref: shipped[ref] for ref in item.files}
            refs[task.remote(item.handle, item.request, inputs, item.name, events)] = (item, time.perf_counter())
        pending = list(refs)
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=1, timeout=0.1)
                while not events.empty():
                    name, fraction, message = events.get_nowait()
                    emit(ProgressEvent(name, fraction, message))
                for ref in done:
                    yield self._outcome(ray, ref, *refs[ref], scratch, emit)
                if cancel.cancelled and pending:
                    for ref in pending:
                        ray.cancel(ref, force=True)
                    for ref in pending:
                        yield Outcome(refs[ref][0].name, cancelled=True)
                    pending = []
        except BaseException:
            cancel.cancel()
            for ref in pending:
                ray.cancel(ref, force=True)
            raise
        finally:
            ray.kill(events.actor)

    @staticmethod
    def _outcome(ray, ref, item: WorkItem, t0: float, scratch: Path, emit: OnProgress) -> Outcome:
        seconds = time.perf_counter() - t0
        try:
            started, finished, result, blobs = ray.get(ref)
        except ray.exceptions.TaskCancelledError:
            return Outcome(item.name, cancelled=True, seconds=seconds)
        except ray.exceptions.RayTaskError as e:
            cause = e.as_instanceof_cause()
            log.error("job %s failed on Ray: %s", item.name, cause)
            return Outcome(item.name, error=cause, seconds=seconds)
        except Exception as e:  # noqa: BLE001 - a lost worker is this job's failure
            return Outcome(item.name, error=e, seconds=seconds)
        workdir = Path(tempfile.mkdtemp(prefix="job-", dir=scratch))
        for fname, data in blobs.items():
            (workdir / fname).write_bytes(data)
        result = result.model_copy(update={"files": [workdir / Path(f).name for f in result.files]})
        emit(ProgressEvent(item.name, 1.0, "done"))
        return Outcome(item.name, result=result, started=started, finished=finished, seconds=seconds,
                       workdir=workdir)


def make_executor(kind: str, *, workers: int, ray_address: str = "") -> LocalExecutor | RayExecutor:
    if kind == "ray":
        return RayExecutor(ray_address, workers)
    return LocalExecutor(workers)


def remove_workdir(outcome: Outcome) -> None:
    if outcome.workdir is not None:
        shutil.rmtree(outcome.workdir, ignore_errors=True)
