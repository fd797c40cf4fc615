"""Content-addressed asset files with a provenance sidecar beside each.

A file is written to a temporary name in the same folder, flushed to disk, and
renamed into place, so a crash leaves either the whole file or none of it
under its final name. Leftover temporary files are swept on open.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import tempfile
import time
from functools import cache
from pathlib import Path

from platformdirs import user_cache_path

from .errors import ProjectError, disk_full, is_disk_full
from .models import Provenance

_HASH_NAME = re.compile(r"^[0-9a-f]{64}$")

TMP_PREFIX = ".tmp-"
# A temp file untouched this long is left over from a killed write, not one in progress.
STALE_TEMP_S = 3600.0


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# mkstemp makes 0600 files; assets are meant to be shared, copied and committed.
FILE_MODE = 0o666 & ~_umask()


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def weights_sha256(path: Path) -> str:
    """SHA-256 of a big weights file (a GGUF, a checkpoint), hashed once and then remembered
    on disk by (path, size, mtime): hashing gigabytes at every start would cost seconds."""
    st = path.stat()
    return _remembered_sha256(str(path.resolve()), st.st_size, st.st_mtime_ns)


@cache
def _remembered_sha256(path: str, size: int, mtime_ns: int) -> str:
    index = user_cache_path("inkubator") / "sha256.json"
    try:
        known = json.loads(index.read_text())
    except (OSError, ValueError):
        known = {}
    key = f"{path}|{size}|{mtime_ns}"
    if key not in known:
        known[key] = sha256_file(Path(path))
        index.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(index, json.dumps(known, indent=1).encode())
    return known[key]


def _atomic(dest: Path, fill, size: int) -> None:
    """Create `dest` whole or not at all: `fill(binary_file)` writes a temp file
    in the same folder, which is flushed to disk and renamed into place. A full disk
    is `DiskFull` naming the `size` wanted, with nothing left behind."""
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, dir=dest.parent)
    except OSError as e:
        if is_disk_full(e):
            raise disk_full(dest.parent, size) from None
        raise
    try:
        with os.fdopen(fd, "wb") as f:
            fill(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, dest)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if is_disk_full(e):
            raise disk_full(dest.parent, size) from None
        raise


def atomic_write_bytes(dest: Path, data: bytes) -> None:
    _atomic(dest, lambda f: f.write(data), len(data))


def refuse_links(project: Path, path: Path) -> Path:
    """`path` inside the project folder, checked so that nothing between the folder and it
    (the file included) is a symbolic link: a link in a folder someone sent could make a
    write land, or a read come from, anywhere on the machine. Returns `path`."""
    try:
        rel = Path(os.path.abspath(path)).relative_to(os.path.abspath(project))
    except ValueError:
        raise ProjectError(f"{path} is outside the project {project}") from None
    here = Path(project)
    for part in rel.parts:
        here = here / part
        try:
            linked = stat.S_ISLNK(os.lstat(here).st_mode)
        except FileNotFoundError:
            break  # what does not exist yet is made as a real folder or file
        if linked:
            raise ProjectError(f"{here} is a symbolic link; inkubator never writes or reads through links inside "
                               f"a project: replace it with the real {'folder' if part != rel.name else 'file'}")
    return path


class AssetStore:
    """`assets/<sha[:2]>/<sha><ext>` plus `<sha><ext>.json` holding provenance.

    The name is the content's hash, so an asset read for a job or an export is checked
    against it (`verified`): a file changed or swapped behind the project's back is an
    error naming it, never a wrong picture in the animatic."""

    def __init__(self, root: Path):
        self.root = root
        self.project = root.parent
        self._checked: dict[str, tuple[int, int, int]] = {}  # rel → (inode, size, mtime) last hashed fine

    def sweep_temporaries(self, older_than_s: float = STALE_TEMP_S) -> int:
        """Remove temp files an interrupted write left behind: only ones untouched for
        `older_than_s` (a write in progress, this process's or another's, keeps its
        temp's time fresh), and never through a symlink (a link in `assets/` may point
        anywhere; an `assets` that is itself a link is not swept at all)."""
        if self.root.is_symlink() or not self.root.is_dir():
            return 0
        cutoff = time.time() - older_than_s
        n = 0
        for folder, dirs, names in os.walk(self.root, followlinks=False):
            for name in names:
                p = Path(folder) / name
                if not name.startswith(TMP_PREFIX) or p.is_symlink():
                    continue
                try:
                    if p.stat().st_mtime < cutoff:
                        p.unlink()
                        n += 1
                except FileNotFoundError:  # its writer finished (renamed it) meanwhile
                    pass
        return n

    def put_file(self, src: Path, provenance: Provenance) -> str:
        """Copy `src` in under its content hash; returns the path relative to
        the project folder (e.g. ``assets/ab/ab12….png``)."""
        digest = sha256_file(src)
        ext = "".join(src.suffixes[-1:]).lower()
        dest = refuse_links(self.project, self.root / digest[:2] / f"{digest}{ext}")
        if not dest.exists() or self.problem(dest.relative_to(self.project).as_posix()):
            def copy(f) -> None:
                with open(src, "rb") as source:
                    shutil.copyfileobj(source, f, 1 << 20)

            _atomic(dest, copy, src.stat().st_size)
        self.write_sidecar(dest, provenance)
        return dest.relative_to(self.root.parent).as_posix()

    def write_sidecar(self, asset: Path, provenance: Provenance) -> None:
        sidecar = refuse_links(self.project, asset.with_name(asset.name + ".json"))
        atomic_write_bytes(sidecar, (provenance.model_dump_json(indent=2) + "\n").encode())

    def path(self, rel: str) -> Path:
        """Where an asset lives, for showing; read it through `verified`."""
        return self.project / rel

    def problem(self, rel: str, *, content: bool = True) -> str:
        """What is wrong with an asset, in a word or two ("missing", "a symbolic link",
        "changed since it was made"), or "" when it is whole. `content=False` skips hashing."""
        path = self.project / rel
        try:
            refuse_links(self.project, path)
        except ProjectError as e:
            return "outside the project" if "outside the project" in str(e) else "a symbolic link"
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return "missing"
        if not stat.S_ISREG(st.st_mode):
            return "not a file"
        name = path.name.split(".")[0]
        if not content or not _HASH_NAME.match(name):
            return ""
        seen = (st.st_ino, st.st_size, st.st_mtime_ns)
        if self._checked.get(rel) == seen:
            return ""
        if sha256_file(path) != name:
            return "changed since it was made"
        self._checked[rel] = seen
        return ""

    def verified(self, rel: str) -> Path:
        """The asset's path once it is checked whole; raises ProjectError saying what to do."""
        trouble = self.problem(rel)
        if trouble:
            raise ProjectError(f"{rel} is {trouble}; reject its draft and run the step again, or put the "
                               f"file back from a backup (`inkubator verify` lists every such file)")
        return self.project / rel
