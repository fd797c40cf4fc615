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
from ..project.notes_file import without_controls
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


# What a file configured as a model may be instead, by its first bytes: the usual mistakes are a
# picture, an archive, or the HTML page a download saved in place of the file.
_LOOKS_LIKE = ((b"\x89PNG", "a PNG picture"), (b"\xff\xd8\xff", "a JPEG picture"), (b"GIF8", "a GIF picture"),
               (b"%PDF", "a PDF document"), (b"PK\x03\x04", "a zip archive"), (b"\x1f\x8b", "a gzip archive"),
               (b"GGUF", "a GGUF model"), (b"<!doctype html", "an HTML page"), (b"<html", "an HTML page"))


def starts_with(path: Path, *magic: bytes) -> bool:
    """Whether `path` is a readable file that begins with one of `magic` (a format's signature)."""
    try:
        with open(path, "rb") as f:
            head = f.read(max(map(len, magic)))
    except OSError:  # a folder, gone, or not ours to read: what_file_is says which
        return False
    return head.startswith(magic)


def what_file_is(path: Path) -> str:
    """What `path` looks like, for a backend's one-line refusal of a model path ("it is empty",
    "it is a PNG picture", 'it starts with "hello"'): the person sees which file they gave
    without opening it. Never a control character, whatever the file holds."""
    if path.is_dir():
        return "it is a folder"
    try:
        with open(path, "rb") as f:
            head = f.read(64)
    except OSError as e:
        return f"it cannot be read: {e.strerror or e}"
    if not head:
        return "it is empty"
    low = head.lstrip().lower()
    for magic, words in _LOOKS_LIKE:
        if head.startswith(magic) or low.startswith(magic):
            return f"it is {words}"
    text = head.decode("utf-8", errors="replace")
    if sum(c.isprintable() and c != "\ufffd" or c in "\t\n\r" for c in text) >= 0.75 * len(text):
        shown = " ".join(without_controls(text).split())[:24]
        if shown:
            return f'it starts with "{shown}"'
    return "it starts with the bytes " + head[:8].hex(" ")


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
    # The setting the person gave that keeps it from being ready ("llm.model_path" naming a file
    # that is not a model); "" when it is merely not set up. "auto" then says so, once, instead
    # of quietly choosing another backend.
    setting: str = ""


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
