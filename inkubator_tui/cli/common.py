"""What every command shares: errors, exit codes, config, opening a project, progress lines."""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..config import LoadedConfig, load_config, parse_cli_overrides
from ..project.models import BeatSheet, Draft, Step
from ..project.store import Store
from ..trust import ignored_line

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_GATE, EXIT_FAILED, EXIT_CANCELLED = 0, 1, 2, 3, 4, 130


class CliError(Exception):
    """Bad input: one line on stderr, non-zero exit, nothing lost."""


def console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


def load_args_config(args, project: Path | None = None, say_ignored: bool = True) -> LoadedConfig:
    """The settings for this run: `--set` and the model flags over the environment, the project's
    file and the user's. What the project's file sets that needs trust it lacks is left out and
    said in one line on stderr (`say_ignored=False`: the caller says it its own way)."""
    cli = parse_cli_overrides(getattr(args, "set", None) or [])
    if getattr(args, "model", None):
        cli.update({"llm.backend": "llama", "llm.model_path": str(Path(args.model).expanduser())})
    if getattr(args, "server", None):
        cli.update({"llm.backend": "openai", "llm.server_url": args.server})
    if getattr(args, "model_name", None):
        cli["llm.model_name"] = args.model_name
    if getattr(args, "strategy", None):
        cli["llm.strategy"] = args.strategy
    loaded = load_config(cli, project_dir=project)
    if loaded.untrusted and say_ignored:
        print(f"note: {ignored_line(project, loaded.untrusted)}", file=sys.stderr)
    return loaded


_opened: list[Store] = []


def open_project(project: Path, *, write: bool = True) -> Store:
    """A command's project: as its writer (the lock is held until the command ends), or as a
    reader that looks without disturbing whoever is working on it."""
    store = Store.open(project, write=write)
    _opened.append(store)
    return store


def create_project(root: Path, settings) -> Store:
    store = Store.create(root, settings)
    _opened.append(store)
    return store


def close_projects() -> None:
    """Close what the command opened: the WAL is folded into project.sqlite and the lock let go."""
    while _opened:
        _opened.pop().close()


def pipeline_for(store: Store, loaded: LoadedConfig):
    from ..pipeline.pipeline import Pipeline
    from ..pipeline.registry import Registry

    return Pipeline(store, Registry(loaded.config))


class ProgressPrinter:
    """Progress of a command's jobs on stderr: Rich bars on a terminal, throttled plain lines
    (one per job per half second) anywhere else, so logs and tests read the same as ever.

    Events arrive from worker threads. Use it as a context manager (or call close()) so the
    bars are gone before the command prints what it did; a closed printer prints nothing."""

    def __init__(self, quiet: bool = False, console=None):
        from rich.console import Console

        self.quiet = quiet
        self._console = console or Console(stderr=True, highlight=False, force_terminal=_stderr_is_terminal())
        self._last: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()
        self._closed = False
        self._rows: dict[tuple[str, str], int] = {}  # (step, job) → its task in the bars
        self._steps: dict[str, _StepTally] = {}
        self._log_streams: list[tuple[logging.StreamHandler, object]] = []
        # Only the process's own stderr console borrows sys.stdout/sys.stderr, so that a print
        # meanwhile lands above the bars; an injected one (tests) leaves them alone.
        self.progress = None if quiet or not self._console.is_terminal else \
            _bars(self._console, redirect=console is None)

    def __enter__(self) -> ProgressPrinter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Take the bars off the terminal (they are transient) and give stderr back."""
        with self._lock:
            self._closed = True
            if self.progress is not None and self.progress.live.is_started:
                try:
                    self.progress.stop()
                finally:
                    for handler, stream in self._log_streams:
                        handler.setStream(stream)
                    self._log_streams.clear()

    def __call__(self, event) -> None:
        if self.quiet:
            return
        key = (event.step, event.job)  # shot 1's motion is not shot 1's keyframe
        with self._lock:
            if self._closed:
                return
            if self.progress is not None:
                self._show(key, event)
                return
            now = time.monotonic()
            if event.fraction < 1.0 and now - self._last.get(key, 0) < 0.5:
                return
            self._last[key] = now
            print(f"  {event.job}: {event.fraction:4.0%} {event.message}", file=self._console.file, flush=True)

    def _show(self, key: tuple[str, str], event) -> None:
        """One job's row; a step with several jobs also gets a row counting them, so forty
        jobs read as one line plus the few running, not forty bars."""
        progress = self.progress
        step, job = key
        done = event.fraction >= 1.0
        if not job.startswith("load"):  # a model load is not one of the step's jobs
            tally = self._steps.get(step)
            if tally is None:
                tally = self._steps[step] = _StepTally(progress.add_task(step, total=None, visible=False,
                                                                         message=""))
            tally.started.add(job)
            if done:
                tally.done.add(job)
            running = len(tally.started) - len(tally.done)
            progress.update(tally.row, visible=len(tally.started) > 1,
                            message=f"{len(tally.done)} done, {running} running")
        row = self._rows.get(key)
        if row is None:
            row = self._rows[key] = progress.add_task(f"{step} {job}".strip(), total=1.0, message="")
        progress.update(row, completed=min(max(event.fraction, 0.0), 1.0), message=event.message,
                        visible=not done)
        if not progress.live.is_started:  # after the first row, so the first frame shows it
            self._start()

    def _start(self) -> None:
        """Start the bars; log lines written to the terminal meanwhile print above them."""
        from rich.file_proxy import FileProxy

        for handler in logging.getLogger().handlers:
            if isinstance(handler, logging.StreamHandler) and handler.stream is self._console.file:
                self._log_streams.append((handler, handler.setStream(FileProxy(self._console, handler.stream))))
        self.progress.start()


@dataclass
class _StepTally:
    """The jobs of one step seen so far (how many there will be is the pipeline's to know)."""

    row: int
    started: set[str] = field(default_factory=set)
    done: set[str] = field(default_factory=set)


def _stderr_is_terminal() -> bool:
    return sys.stderr.isatty() and os.environ.get("TERM") != "dumb"


def _bars(console, redirect: bool):
    from rich.constrain import Constrain
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn, \
        TimeRemainingColumn
    from rich.table import Column

    class Bars(Progress):
        """Rows two columns short of the terminal: the ^C the terminal echoes after the last row
        then fits on it instead of wrapping, which would leave a row behind when the bars go."""

        def get_renderables(self):
            yield Constrain(self.make_tasks_table(self.tasks), max(console.width - 2, 1))

    return Bars(TextColumn("{task.description}", markup=False), BarColumn(bar_width=24), TaskProgressColumn(),
                TimeRemainingColumn(), TimeElapsedColumn(),
                TextColumn("{task.fields[message]}", markup=False,
                           table_column=Column(no_wrap=True, overflow="ellipsis", ratio=1)),
                console=console, transient=True, expand=True, redirect_stdout=redirect, redirect_stderr=redirect)


def draft_line(store: Store, d: Draft) -> str:
    label = "sketch/rules (non-neural)" if d.provenance.non_neural else d.provenance.model_id
    files = ", ".join(str(store.assets.path(f)) for f in d.files)
    extra = ""
    if d.step == Step.VOICE:
        extra = f" {d.data.get('seconds', '?')}s “{d.provenance.prompt[:60]}”"
    return f"draft {d.id}: {d.step.value} {d.target} v{d.version} [{d.provenance.backend}: {label}]{extra}" + \
        (f"\n    {files}" if files else "")


def sheet_table(sheet: BeatSheet, title: str = ""):
    from rich.table import Table

    table = Table(title=title or None, show_lines=False)
    for col in ("Shot", "Scene", "Size", "Angle", "Move", "Dur", "Action", "Dialogue"):
        table.add_column(col, overflow="fold")
    for s in sheet.shots:
        dialogue = "\n".join(f"{dl.character or '?'}: {dl.text}" for dl in s.dialogue)
        table.add_row(s.number, str(s.scene), s.size.value, s.angle.value, s.movement.value, f"{s.duration_s:g}s",
                      s.action, dialogue)
    return table
