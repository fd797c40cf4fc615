"""The one error a project folder raises: its message says why and what to do."""

from __future__ import annotations

import errno
import shutil
from pathlib import Path


class ProjectError(Exception):
    """A project folder cannot be used; the message says why and what to do."""


class DiskFull(ProjectError):
    """The disk filled up part-way through a change; the change was undone whole."""


def _free_bytes(where: Path) -> int | None:
    for folder in (where, *where.parents):
        try:
            return shutil.disk_usage(folder).free
        except OSError:
            continue
    return None


def disk_full(where: Path, needed: int | None) -> DiskFull:
    """The error for a write that found no room: how much it wanted (when known), how much is free."""
    free = _free_bytes(Path(where))
    left = f" ({free / 2**20:.0f} MB free)" if free is not None else ""
    want = f"about {max(1, -(-needed // 2**20))} MB more is needed at {where}" if needed is not None \
        else f"no room left at {where}"
    return DiskFull(f"disk full: {want}{left}; nothing was lost: free some space and run it again")


def is_disk_full(e: BaseException) -> bool:
    """ENOSPC/EDQUOT from the OS, SQLITE_FULL from SQLite."""
    if isinstance(e, OSError):
        return e.errno in (errno.ENOSPC, errno.EDQUOT)
    return getattr(e, "sqlite_errorcode", None) == 13  # SQLITE_FULL
