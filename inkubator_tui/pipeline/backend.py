"""The one small protocol every step backend speaks.

Like a diffusers pipeline: `load()` once, then `__call__(request, ctx)`
returns a typed `Result`. The request (pipeline/requests.py) is plain data
that names its inputs by content hash; the context is what only this run
has: a workdir for output files, local paths of the inputs, progress, the
cancel token and, for the agent, live tokens. A backend declares what it
needs in `capabilities` and its own settings in `Options`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from ..project.models import AssetRef, Step
from .requests import Request, Result

log = logging.getLogger(__name__)

Progress = Callable[[float, str], None]


def no_progress(fraction: float, message: str) -> None:
    pass


class BackendError(Exception):
    """A backend cannot load or run (missing model, unreachable server); the
    message says what is missing and how to fix it."""


class Cancelled(Exception):
    """Raised inside a job when the person cancels it."""


class CancelToken:
    """Cooperative cancel: backends call `check()` between units of work, and may
    register `on_cancel` hooks for work they cannot poll (a worker process to
    kill, a diffusers pipeline's interrupt flag)."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._hooks: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    def cancel(self) -> None:
        with self._lock:
            if self._event.is_set():
                return
            self._event.set()
            hooks, self._hooks = self._hooks, []
        for hook in hooks:
            _call_quietly(hook)

    def on_cancel(self, hook: Callable[[], None]) -> Callable[[], None]:
        """Run `hook` when cancelled (at once if already); returns a function that
        unregisters it, for a backend to call when its work is done."""
        with self._lock:
            if not self._event.is_set():
                self._hooks.append(hook)
                return lambda: self._remove(hook)
        _call_quietly(hook)
        return lambda: None

    def _remove(self, hook: Callable[[], None]) -> None:
        with self._lock:
            if hook in self._hooks:
                self._hooks.remove(hook)

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        if self._event.is_set():
            raise Cancelled("cancelled")


def _call_quietly(fn: Callable[[], None]) -> None:
    try:
        fn()
    except Exception:  # noqa: BLE001 - a failing hook must not stop the others
        log.exception("cancel hook failed")


@dataclass(frozen=True)
class Capabilities:
    """What a backend needs and can do; the planner and executors read it.

    `inputs` names the request inputs the backend reads and whether each is
    required: a motion backend that lists "end" makes the keyframes step offer
    an end frame for shots that move."""

    inputs: dict[str, Literal["required", "optional"]] = field(default_factory=dict)
    cancellable: bool = True
    device: Literal["cpu", "cuda", "vulkan", "any"] = "cpu"
    # Jobs of this backend that may run side by side (0 = as many as the executor runs).
    max_concurrency: int = 0
    # Run each job in its own process (a backend whose library is not thread-safe
    # or must be killed to cancel).
    isolation: bool = False


DEFAULT_CAPABILITIES = Capabilities()


def capabilities(backend: Any) -> Capabilities:
    return getattr(backend, "capabilities", DEFAULT_CAPABILITIES)


class NoOptions(BaseModel):
    """A backend without options of its own: any key under `[section.options]` is an error."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class BackendInfo:
    """Identity of a backend: part of every cache key and of provenance."""

    name: str
    model_id: str = ""
    weights_sha256: str = ""
    licence: str = ""
    # A labelled default that is not a neural model (sketch board, rules).
    non_neural: bool = False
    # Bump when the backend's output for the same inputs changes.
    version: str = "1"
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class VoiceOption:
    """One voice a voice backend can cast in one language (its `catalog(language)`).
    `quality` orders default casting: native voices first, then accented ones
    (Kokoro's Japanese voices reading English), then robotic ones (espeak-ng)."""

    engine: str
    voice: str
    language: str
    gender: Literal["female", "male", ""] = ""
    quality: Literal["native", "accented", "robotic"] = "native"
    licence: str = ""
    # Words for a person: "en_US-joe-medium (CC0-1.0)", "jf_alpha, Japanese voice reading English".
    label: str = ""


@dataclass
class Readiness:
    """What `inkubator doctor` says about one backend."""

    step: Step
    name: str
    ready: bool
    detail: str
    # How to make it ready (or to get the real thing instead of the default).
    fix: str = ""
    non_neural: bool = False


@dataclass(frozen=True)
class ProgressEvent:
    job: str
    fraction: float
    message: str
    step: str = ""  # the pipeline step the job belongs to, when known
    # A small picture of the work so far (a denoising preview), for the app to show.
    preview: Any = None


@dataclass
class JobContext:
    """What one run of one request has that the request does not carry."""

    workdir: Path
    cancel: CancelToken
    # Local files of the request's named inputs (`path(request.start)`).
    files: dict[AssetRef, Path] = field(default_factory=dict)
    emit: Callable[[float, str, Any], None] | None = None
    # Streams model tokens to whoever watches (the app's chat pane).
    on_token: Callable[[str], None] | None = None
    # The result as it grows (the beats step: the sheet and how many shots are filled).
    on_partial: Callable[[Any], None] | None = None

    def path(self, ref: AssetRef) -> Path:
        try:
            return self.files[ref]
        except KeyError:
            raise BackendError(f"input {ref.rel} was not given to this job") from None

    def progress(self, fraction: float, message: str = "", preview: Any = None) -> None:
        """Report progress; never raises (a failing listener is logged, the job goes on).
        Cancel is `cancel.check()`, never a side effect of reporting."""
        if self.emit is None:
            return
        try:
            self.emit(max(0.0, min(1.0, float(fraction))), message, preview)
        except Exception:  # noqa: BLE001
            log.exception("progress listener failed")


@runtime_checkable
class Backend(Protocol):
    """A class constructed with the app's `Config`; it also has a classmethod
    `readiness(config) -> Readiness`, and may set `capabilities` (a
    `Capabilities`) and `Options` (a pydantic model of its `[section.options]`)."""

    step: ClassVar[Step]

    def info(self) -> BackendInfo: ...

    def load(self, progress: Progress = no_progress) -> None: ...

    def __call__(self, request: Request, ctx: JobContext) -> Result: ...
