"""What `inkubator doctor` and the app's doctor screen report: each backend's
readiness, which one is in use, and the system libraries the tools need."""

from __future__ import annotations

import ctypes.util
from typing import Any


def doctor_rows(registry) -> list[dict[str, Any]]:
    """Each backend of each step: ready or not, in use or not, and how to add it."""
    from .pipeline.backend import BackendError

    rows = []
    chosen = {}
    for r in registry.readiness():
        if r.step not in chosen:
            try:
                chosen[r.step] = registry.resolve(r.step)
            except BackendError as e:  # e.g. a configured name nobody has: say so in its own row
                chosen[r.step] = None
                rows.append({"step": r.step.value, "backend": "(configured)", "ready": False, "in_use": False,
                             "non_neural": False, "detail": str(e), "fix": ""})
        backend = chosen[r.step] if r.ready else None
        in_use = backend is not None and _name(backend) == r.name
        rows.append({"step": r.step.value, "backend": r.name, "ready": r.ready, "in_use": in_use,
                     "non_neural": r.non_neural, "detail": r.detail, "fix": r.fix})
    return rows


def _name(backend) -> str:
    """The backend's registered name. Not `info()`: a configured backend that is not ready (a
    model path that is not a model) cannot say more about itself than doctor already shows."""
    spec = getattr(backend, "_inkubator_spec", None)
    return spec.name if spec is not None else backend.info().name


def doctor_table(rows: list[dict[str, Any]], title: str):
    """The doctor's findings as a table, for the CLI and the app alike."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, expand=True)
    for col in ("Step", "Backend", "State", "Details / how to add"):
        table.add_column(col, overflow="fold", ratio=3 if col.startswith("Details") else None)
    for r in rows:
        state = ("[green]in use[/]" if r["in_use"] else "[cyan]ready[/]") if r["ready"] else "[red]missing[/]"
        if r["non_neural"] and r["ready"]:
            state += "\n[dim]no model[/]"
        detail = Text(r["detail"])  # paths and model names are text, not markup
        if r["fix"]:
            detail.append(f"\n→ {r['fix']}", style="dim")
        table.add_row(r["step"], r["backend"], Text.from_markup(state), detail)
    return table


def system_checks() -> dict[str, tuple[bool, str]]:
    out = {}
    audio = ctypes.util.find_library("portaudio")
    out["audio playback"] = (bool(audio), audio or "libportaudio2 not installed: voice lines are saved as WAV files "
                                                  "you can play yourself (apt-get install libportaudio2)")
    vulkan = ctypes.util.find_library("vulkan")
    out["vulkan"] = (bool(vulkan), vulkan or "libvulkan1 not installed: the Vulkan RIFE path is unavailable "
                                             "(apt-get install libvulkan1)")
    return out
