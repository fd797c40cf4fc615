"""The one small protocol every step backend speaks.

Like a diffusers pipeline: `load()` once, then `__call__(job, seed=…,
progress=…, cancel=…)` returns a typed result. A job is a pure function of
its inputs; the backend writes files into `job.workdir` and the pipeline
moves them into the content-addressed store.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

from ..project.models import BeatSheet, DialogueLine, Draft, ProjectSettings, Shot, Step

Progress = Callable[[float, str], None]


def no_progress(fraction: float, message: str) -> None:
    pass


class BackendError(Exception):
    """A backend cannot load or run (missing model, unreachable server); the
    message says what is missing and how to fix it."""


class Cancelled(Exception):
    """Raised inside a job when the person cancels it."""


class CancelToken:
    """Cooperative cancel: backends call `check()` between units of work."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        if self._event.is_set():
            raise Cancelled("cancelled")


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


@dataclass
class Job:
    """Everything one unit of work reads. Nothing here comes from model output
    that has not been validated into these types."""

    step: Step
    target: str
    settings: ProjectSettings
    workdir: Path
    sheet: BeatSheet | None = None
    shot: Shot | None = None
    line: DialogueLine | None = None
    notes: str = ""
    # Approved upstream drafts and their absolute file paths.
    upstream: list[Draft] = field(default_factory=list)
    upstream_files: dict[int, list[Path]] = field(default_factory=dict)
    # The director's note from the last rejection ("redo with a note").
    note: str = ""
    # Streams model tokens to whoever watches (the app's chat pane); may be None.
    on_token: Callable[[str], None] | None = None
    # The result as it grows, for whoever watches (the beats step: the sheet and how
    # many shots the model has filled); may be None.
    on_partial: Callable[[Any], None] | None = None


@dataclass
class JobResult:
    files: list[Path] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    prompt: str = ""
    negative_prompt: str = ""
    steps: int | None = None
    parameters: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Backend(Protocol):
    step: ClassVar[Step]

    def info(self) -> BackendInfo: ...

    def load(self, progress: Progress = no_progress) -> None: ...

    def __call__(self, job: Job, *, seed: int, progress: Progress, cancel: CancelToken) -> JobResult: ...
