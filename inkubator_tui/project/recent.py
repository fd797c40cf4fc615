"""The projects this person opened lately, for the app's project picker.

Kept as a short JSON list of folders in the user data dir, newest first. Each
is described by reading its database read-only (never opening it as a Store,
which would tidy it), so listing projects changes none of them.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from platformdirs import user_data_path

from .assets import atomic_write_bytes

LIMIT = 20


def recent_file() -> Path:
    return user_data_path("inkubator") / "recent.json"


def _read(file: Path) -> list[str]:
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [p for p in data if isinstance(p, str)] if isinstance(data, list) else []


def remember(root: Path, file: Path | None = None) -> None:
    """Put `root` first in the list (an unwritable data dir only loses the list)."""
    file = file or recent_file()
    folder = str(root.resolve())
    paths = [folder, *(p for p in _read(file) if p != folder)][:LIMIT]
    try:
        atomic_write_bytes(file, json.dumps(paths, indent=1).encode("utf-8"))
    except OSError:
        pass


@dataclass(frozen=True)
class RecentProject:
    root: Path
    title: str
    shots: int
    changed: datetime


def describe(root: Path) -> RecentProject | None:
    """Title, shot count and last change of the project at `root` (None when it is not one)."""
    db = root / "project.sqlite"
    if not db.is_file():
        return None
    try:
        con = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True, timeout=1)
        try:
            row = con.execute("SELECT json FROM settings WHERE id = 1").fetchone()
            shots = con.execute("SELECT COUNT(*) FROM shots").fetchone()[0]
        finally:
            con.close()
        title = json.loads(row[0]).get("title", "") if row else ""
    except (sqlite3.Error, ValueError, TypeError):
        return None
    changed = max((p.stat().st_mtime for p in root.glob("project.sqlite*") if p.is_file()), default=0)
    return RecentProject(root, str(title) or root.name, int(shots), datetime.fromtimestamp(changed))


def recent_projects(file: Path | None = None) -> list[RecentProject]:
    """The remembered projects that are still there, newest first."""
    found = (describe(Path(p)) for p in _read(file or recent_file()))
    return [r for r in found if r is not None]
