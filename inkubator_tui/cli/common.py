"""What every command shares: errors, exit codes, config, opening a project, progress lines."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

from ..config import LoadedConfig, load_config, parse_cli_overrides
from ..project.models import BeatSheet, Draft, Step
from ..project.store import Store

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_GATE, EXIT_FAILED, EXIT_CANCELLED = 0, 1, 2, 3, 4, 130


class CliError(Exception):
    """Bad input: one line on stderr, non-zero exit, nothing lost."""


def console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


def load_args_config(args, project: Path | None = None) -> LoadedConfig:
    cli = parse_cli_overrides(getattr(args, "set", None) or [])
    if getattr(args, "model", None):
        cli.update({"llm.backend": "llama", "llm.model_path": str(Path(args.model).expanduser())})
    if getattr(args, "server", None):
        cli.update({"llm.backend": "openai", "llm.server_url": args.server})
    if getattr(args, "model_name", None):
        cli["llm.model_name"] = args.model_name
    if getattr(args, "strategy", None):
        cli["llm.strategy"] = args.strategy
    return load_config(cli, project_dir=project)


def open_project(project: Path) -> Store:
    return Store.open(project)


def pipeline_for(store: Store, loaded: LoadedConfig):
    from ..pipeline.pipeline import Pipeline
    from ..pipeline.registry import Registry

    return Pipeline(store, Registry(loaded.config))


class ProgressPrinter:
    """Throttled progress lines on stderr (one per job per half second)."""

    def __init__(self, quiet: bool = False):
        self.quiet = quiet
        self._last: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def __call__(self, event) -> None:
        if self.quiet:
            return
        now = time.monotonic()
        key = (event.step, event.job)  # shot 1's motion is not shot 1's keyframe
        with self._lock:
            if event.fraction < 1.0 and now - self._last.get(key, 0) < 0.5:
                return
            self._last[key] = now
            print(f"  {event.job}: {event.fraction:4.0%} {event.message}", file=sys.stderr, flush=True)


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
