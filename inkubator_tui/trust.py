"""Workspace trust: which projects may set, in their own `inkubator.toml`, the settings that
reach the network or files outside the project (`config.TRUSTED_ONLY` says which those are).

A project folder may come from someone else, so its file is data, not the user's word.
Trusting is a decision about one version of that file: the store maps each project's
resolved folder to the sha256 of the `inkubator.toml` bytes the user trusted, and any
change to the file asks again (as a code editor's workspace trust does).

The store is `trust.json` in the user data dir. It only ever grants: a missing, unreadable
or damaged store means nothing is trusted, never an error.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shlex
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from platformdirs import user_data_path

log = logging.getLogger(__name__)


def trust_file() -> Path:
    return user_data_path("inkubator") / "trust.json"


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _key(project_dir: Path) -> str:
    return str(Path(project_dir).expanduser().resolve())


def _read() -> dict[str, str]:
    """Folder → trusted digest; whatever cannot be read as that grants nothing."""
    path = trust_file()
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        log.warning("%s is unreadable (%s): no project is trusted until it is written again", path, e)
        return {}
    if not isinstance(data, dict):
        log.warning("%s is not a table of projects: no project is trusted until it is written again", path)
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)}


def _write(trusted: dict[str, str]) -> None:
    # Imported here: config imports this module, and the project package must stay free to import config.
    from .project.assets import atomic_write_bytes

    atomic_write_bytes(trust_file(), json.dumps(trusted, indent=1, sort_keys=True).encode())


def is_trusted(project_dir: Path, data: bytes) -> bool:
    """Whether the user trusted this project's `inkubator.toml` with exactly these bytes."""
    return _read().get(_key(project_dir)) == digest(data)


def record(project_dir: Path, data: bytes) -> None:
    """Trust this project's `inkubator.toml` as these bytes (the ones the user was shown)."""
    trusted = _read()
    trusted[_key(project_dir)] = digest(data)
    _write(trusted)


def revoke(project_dir: Path) -> bool:
    """Forget the project's trust; False when it had none."""
    trusted = _read()
    if trusted.pop(_key(project_dir), None) is None:
        return False
    _write(trusted)
    return True


# Controls, zero-width and direction marks: in a file someone else wrote they could clear the
# screen or make one path read as another in the very prompt that asks for trust.
_HIDDEN = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def visible(text: str) -> str:
    """Text from a project's file as it is written, every hidden character escaped (\\u001b)."""
    return _HIDDEN.sub(lambda m: f"\\u{ord(m[0]):04x}", text)


def shown(value: Any) -> str:
    """A setting's value as the user is asked to trust it: quoted, nothing hidden."""
    return visible(json.dumps(value, ensure_ascii=False))


def ignored_line(project_dir: Path, keys: Iterable[str]) -> str:
    """One line saying which settings of the project's file wait for trust, and how to give it."""
    folder = Path(project_dir)
    return (f"{folder / 'inkubator.toml'} sets {', '.join(map(visible, keys))}; ignored until you trust this "
            f"project: inkubator trust {shlex.quote(str(folder))}")
