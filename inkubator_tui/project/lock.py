"""One process works on a project at a time.

Two `produce` runs on one folder would each draft every shot, and their
approvals would race. A writer takes an exclusive `flock` on
`.work/writer.lock` (holding its pid and command, so the refusal can name it);
the kernel drops the lock when the process ends however it ends, so a kill
never leaves a project locked. Readers (`status`, the project picker) take no
lock and open the database read-only, so they never disturb a writer.
Within one process the lock is shared: every Store the process opens on the
folder counts as the same writer.
"""

from __future__ import annotations

import errno
import fcntl
import os
import threading
from pathlib import Path

from .errors import ProjectError

LOCK_FILE = Path(".work") / "writer.lock"

_held: dict[Path, list[int]] = {}  # resolved project folder → [fd, how many opens hold it]
_guard = threading.Lock()
_activity = ""


def set_activity(what: str) -> None:
    """What this process is ("inkubator produce", "the app"), for the refusal others see."""
    global _activity
    _activity = what


def read_only_message(root: Path, why: str) -> str:
    return (f"{root} is read-only here ({why}); copy the project to a folder you can write, "
            f"or look at it with `inkubator status {root}`")


def _open_lock_file(root: Path) -> int:
    work = root / LOCK_FILE.parent
    if work.is_symlink():
        raise ProjectError(f"{work} is a symbolic link; inkubator never writes through one: "
                           f"remove the link (`rm {work}`) and run this again")
    try:
        work.mkdir(exist_ok=True)
        return os.open(root / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
    except OSError as e:
        if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise ProjectError(read_only_message(root, e.strerror)) from None
        if e.errno == errno.ELOOP:
            raise ProjectError(f"{root / LOCK_FILE} is a symbolic link; inkubator never writes through one: "
                               f"remove it and run this again") from None
        raise


def holder(root: Path) -> str:
    """Who holds the lock, as its file says ("pid 123: inkubator produce"); "" when unknown."""
    try:
        pid, _, command = (root / LOCK_FILE).read_text(errors="replace").strip().partition(" ")
    except OSError:
        return ""
    if not pid.isdigit():
        return ""
    return f"pid {pid}: {command}" if command else f"pid {pid}"


def acquire(root: Path) -> Path:
    """Become the folder's writer or raise ProjectError naming the one who is; returns the key
    to `release` with."""
    key = Path(root).resolve()
    with _guard:
        if key in _held:
            _held[key][1] += 1
            return key
        fd = _open_lock_file(key)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            who = holder(key)
            raise ProjectError(f"another inkubator ({who or 'another process'}) is working on this project "
                               f"({root}); wait for it to finish or close it, then run this again") from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {_activity}".strip().encode() + b"\n", 0)
        _held[key] = [fd, 1]
        return key


def release(key: Path) -> None:
    with _guard:
        entry = _held.get(key)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] == 0:
            del _held[key]
            fcntl.flock(entry[0], fcntl.LOCK_UN)
            os.close(entry[0])
