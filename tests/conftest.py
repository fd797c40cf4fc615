"""Shared fixtures. The developer's own config never leaks in: every test runs
with INKUBATOR_CONFIG pointing at an empty file, and offline."""

from __future__ import annotations

import os
import struct
import tempfile
import zlib
from pathlib import Path
from typing import ClassVar

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
# The installation's own files (the Content Credentials signing key, voices) go to a folder of
# the test run, never the developer's home.
os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="inkubator-test-data-")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from inkubator_tui.agents.rules import RuleBeats  # noqa: E402
from inkubator_tui.config import load_config  # noqa: E402
from inkubator_tui.pipeline.backend import BackendInfo, JobContext  # noqa: E402
from inkubator_tui.pipeline.requests import Request, Result  # noqa: E402
from inkubator_tui.pipeline.steps import role_target  # noqa: E402
from inkubator_tui.pipeline.pipeline import Pipeline  # noqa: E402
from inkubator_tui.pipeline.registry import Registry  # noqa: E402
from inkubator_tui.project.models import Step  # noqa: E402
from inkubator_tui.project.store import Store  # noqa: E402

try:  # keep torch (when a later backend imports it) to one thread on 2-core CI
    import torch

    torch.set_num_threads(1)
except ImportError:
    pass


@pytest.fixture(autouse=True)
def isolated_config(tmp_path_factory, monkeypatch):
    cfg = tmp_path_factory.mktemp("cfg") / "config.toml"
    cfg.write_text("")
    monkeypatch.setenv("INKUBATOR_CONFIG", str(cfg))
    for name in list(os.environ):
        if name.startswith("INKUBATOR_") and name != "INKUBATOR_CONFIG":
            monkeypatch.delenv(name)
    return cfg


FIVE_SHOTS = """Title: Five

INT. LAB - NIGHT

Mira checks the drone.
Oskar opens the door.
Close on the drone's blinking light.
Mira says, "It works."
Wide shot: the lab goes dark.
"""


def tiny_png(path: Path, colour: int) -> Path:
    """A valid 4x4 PNG without PIL, so doubles stay trivially small."""
    raw = b"".join(b"\x00" + bytes([colour, colour, colour]) * 4 for _ in range(4))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    return path


def target_of(request: Request) -> str:
    """The draft target a request is for (as the pipeline plans it)."""
    if hasattr(request, "line_id"):
        return request.line_id
    if hasattr(request, "shot"):
        return role_target(request.shot.id, getattr(request, "role", "start"))
    return "project" if hasattr(request, "shots") else "sheet"


class Double:
    """A test double backend: writes a small file per call and records what it was
    asked: the request, and the named inputs it received as local files (their bytes
    checked against the content hash each name refers to). Never shipped."""

    step: ClassVar[Step]

    def __init__(self, step: Step, fail_on: set[str] | None = None, ext: str = ".png"):
        self.step = step
        self.calls: list[tuple[str, int, str]] = []
        self.requests: list[Request] = []
        self.received: list[dict[str, str]] = []  # per call: input name -> sha256 of the file it got
        self.fail_on = fail_on or set()
        self.ext = ext
        self.gate = None  # a threading.Event a test can hold the job on

    def info(self) -> BackendInfo:
        return BackendInfo(name=f"double-{self.step.value}", model_id="test double", non_neural=True)

    def load(self, progress=None) -> None:
        pass

    def __call__(self, request: Request, ctx: JobContext) -> Result:
        import hashlib

        target = target_of(request)
        label = request.shot.number if hasattr(request, "shot") else target
        if self.gate is not None:
            while not self.gate.wait(0.01):
                ctx.progress(0.5, "waiting")  # progress never raises: a backend polls its cancel token
                ctx.cancel.check()
        ctx.cancel.check()
        self.received.append({name: hashlib.sha256(ctx.path(ref).read_bytes()).hexdigest()
                              for name, ref in request.inputs().items()})
        self.requests.append(request)
        self.calls.append((target, request.seed, request.note))
        if label in self.fail_on:
            raise RuntimeError(f"double failed on {label}")
        name = target.replace("/", "-")
        out = tiny_png(ctx.workdir / f"{name}-{request.seed}{self.ext}", (request.seed + len(self.calls)) % 256)
        ctx.progress(0.5, "half")
        return Result(files=[out], prompt=f"{target} {request.note}".strip())


@pytest.fixture
def store(tmp_path):
    s = Store.create(tmp_path / "proj")
    yield s
    s.close()


@pytest.fixture
def doubles():
    return {Step.KEYFRAMES: Double(Step.KEYFRAMES), Step.MOTION: Double(Step.MOTION),
            Step.VOICE: Double(Step.VOICE), Step.ANIMATIC: Double(Step.ANIMATIC)}


@pytest.fixture
def pipe(store, doubles):
    """A pipeline with the real rule-based beats backend (fast, deterministic) and doubles downstream."""
    config = load_config().config
    reg = Registry(config, overrides={Step.BEATS: RuleBeats(config), **doubles})
    return Pipeline(store, reg)


def approve_all(pipe: Pipeline, step: Step) -> list[int]:
    ids = [d.id for d in pipe.pending(step)]
    for i in ids:
        pipe.approve(i, mode="test", approver="tester")
    return ids


def produce_all(pipe: Pipeline, notes: str = FIVE_SHOTS) -> None:
    pipe.draft_beats(notes)
    approve_all(pipe, Step.BEATS)
    for step in (Step.KEYFRAMES, Step.MOTION, Step.VOICE, Step.ANIMATIC):
        report = pipe.run_step(step)
        assert report.ok, report.failed
        approve_all(pipe, step)


TWO_SCENES = """Title: The Last Keeper

INT. LIGHTHOUSE - NIGHT

Close on Oskar's hands on the lamp.
Oskar says, "It still turns."
Mira climbs the stairs, wide shot, slow push in.

EXT. CLIFF - DAWN

Wide: the lamp sweeps the sea.
Mira says, "Then we keep it lit."
"""


# Two shots and two lines: the smallest notes that take every step (kill and network tests run them whole).
TWO_LINES = """INT. LIGHTHOUSE - NIGHT

Wide on the lighthouse in the rain.

MIRA
It still turns.

Close on the lamp.

JONAS
Then we keep it lit.
"""


@pytest.fixture(scope="session")
def produced_project(tmp_path_factory):
    """A whole project made by the real embedded defaults (sketch keyframes, the camera move,
    Piper and Kokoro voices, the ffmpeg animatic) in English and Japanese (typed translations),
    every draft approved by "tester". Read-only for tests: copy it before changing anything."""
    from inkubator_tui.project.models import ProjectSettings

    root = tmp_path_factory.mktemp("produced") / "keeper"
    store = Store.create(root, ProjectSettings(languages=["en", "ja"]))
    config = load_config(cli={"motion.backend": "camera", "keyframe.backend": "sketch"}).config
    pipe = Pipeline(store, Registry(config, overrides={Step.BEATS: RuleBeats(config)}))
    pipe.draft_beats(TWO_SCENES)
    approve_all(pipe, Step.BEATS)
    for step in (Step.KEYFRAMES, Step.MOTION):
        report = pipe.run_step(step)
        assert report.ok, report.failed
        approve_all(pipe, step)
    for n, text in enumerate(["まだ回っている。", "なら、灯しておこう。"]):
        shot = [s for s in store.sheet().shots if s.dialogue][n]
        pipe.type_translation(f"{shot.number}.1", "ja", text, approver="tester")
    for step in (Step.VOICE, Step.ANIMATIC):
        report = pipe.run_step(step)
        assert report.ok, report.failed
        approve_all(pipe, step)
    store.close()
    return root
