"""Camera move: the labelled non-neural motion default.

In-betweening needs two frames; a shot usually has one approved keyframe. So
without a motion model the shot's camera move (push in, pan, tilt, crane,
handheld, ...) is played as a smooth 2-D move over the keyframe, which is what
a classic animatic does. It is labelled as such in doctor and provenance.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from typing import ClassVar

from PIL import Image

from ...config import Config
from pydantic import BaseModel, ConfigDict, Field

from ...pipeline.backend import BackendInfo, Capabilities, JobContext, Progress, Readiness, no_progress
from ...pipeline.registry import validate_options
from ...pipeline.requests import MotionRequest, Result
from ...project.models import Movement, Step
from ..video import write_mp4

# The handheld sway, as a fraction of the frame each way: a gentle hand, not a shake. The
# handheld move zooms in just enough (1 / (1 - 2 × SHAKE)) that the sway never shows past the picture.
SHAKE = 0.015
# A new seeded sway point every this many frames; the camera eases between them.
SWAY_FRAMES = 8

# (scale at start, scale at end, x from→to, y from→to) with x/y in [-1, 1] of the free margin.
PATHS = {
    Movement.STATIC: (1.0, 1.0, (0, 0), (0, 0)),
    Movement.DOLLY_IN: (1.0, 1.18, (0, 0), (0, 0)),
    Movement.ZOOM: (1.0, 1.3, (0, 0), (0, 0)),
    Movement.DOLLY_OUT: (1.18, 1.0, (0, 0), (0, 0)),
    Movement.PAN: (1.15, 1.15, (-1, 1), (0, 0)),
    Movement.TRUCK: (1.15, 1.15, (-1, 1), (0, 0)),
    Movement.TILT: (1.15, 1.15, (0, 0), (1, -1)),
    Movement.CRANE: (1.2, 1.1, (0, 0), (1, -1)),
    Movement.HANDHELD: (1 / (1 - 2 * SHAKE), 1 / (1 - 2 * SHAKE), (0, 0), (0, 0)),
}


def _ease(t: float) -> float:
    return 0.5 - 0.5 * math.cos(math.pi * t)


def _window(movement: Movement, t: float, sway: tuple[float, float] = (0.0, 0.0)) -> tuple[float, float, float, float]:
    """The part of the key that the frame at eased time `t` shows: (left, top, width, height) as
    fractions of the key. `sway` (each in [-1, 1] of the free margin) is the handheld offset."""
    s0, s1, (x0, x1), (y0, y1) = PATHS[movement]
    scale = s0 + (s1 - s0) * t
    cw = ch = 1 / scale
    fx, fy = (sway if movement == Movement.HANDHELD else (x0 + (x1 - x0) * t, y0 + (y1 - y0) * t))
    return (1 - cw) / 2 * (1 + fx), (1 - ch) / 2 * (1 + fy), cw, ch


def visible_area(movement: Movement) -> tuple[float, float, float, float]:
    """The part of the key every frame of `movement` shows, whatever the seed and the number of
    frames: (left, top, right, bottom) as fractions of the key. Labels drawn inside it (the sketch
    board's stamp, header and caption) are never cut by the move."""
    left, top, right, bottom = 0.0, 0.0, 1.0, 1.0
    sways = [(a, b) for a in (-1.0, 1.0) for b in (-1.0, 1.0)] if movement == Movement.HANDHELD else [(0.0, 0.0)]
    for i in range(257):
        for sway in sways:
            x, y, cw, ch = _window(movement, _ease(i / 256), sway)
            left, top, right, bottom = max(left, x), max(top, y), min(right, x + cw), min(bottom, y + ch)
    return left, top, right, bottom


def _sway(i: int, seed: int) -> tuple[float, float]:
    """The handheld offset of frame `i`: a slow sway eased between seeded points."""
    k, f = divmod(i / SWAY_FRAMES, 1)
    rng = random.Random(seed)
    points = [(rng.uniform(-1, 1), rng.uniform(-1, 1)) for _ in range(int(k) + 2)]
    (ax, ay), (bx, by) = points[int(k)], points[int(k) + 1]
    f = _ease(f)
    return ax + (bx - ax) * f, ay + (by - ay) * f


def reframe(picture: Image.Image, movement: Movement, i: int, n: int, seed: int = 0) -> Image.Image:
    """Frame `i` of `n` of the camera `movement` over `picture`. One frame at a time, so the
    move can also ride on top of in-betweens (each in-between reframed where the camera is)."""
    w, h = picture.size
    x, y, cw, ch = _window(movement, _ease(i / max(1, n - 1)),
                           _sway(i, seed) if movement == Movement.HANDHELD else (0.0, 0.0))
    box = (x * w, y * h, (x + cw) * w, (y + ch) * h)
    return picture.transform((w, h), Image.EXTENT, box, Image.BICUBIC)


class CameraOptions(BaseModel):
    """`[motion.options]` for the camera move."""

    model_config = ConfigDict(extra="forbid")

    # H.264 quality of the shot clip (lower is better and bigger).
    crf: int = Field(default=18, ge=0, le=51)


def last_framing(key: Image.Image, movement: Movement) -> Image.Image:
    """Where the camera move arrives: the end frame derived from a start frame, for
    motion backends given no approved end keyframe."""
    return list(CameraMove.frames(key, movement, 2, seed=0))[-1]


class CameraMove:
    step: ClassVar[Step] = Step.MOTION
    Options: ClassVar[type[BaseModel]] = CameraOptions
    # It moves over the start frame; an end keyframe would not change what it makes.
    capabilities: ClassVar[Capabilities] = Capabilities(inputs={"start": "required"})

    def __init__(self, config: Config):
        self.crf = validate_options(CameraMove, config, Step.MOTION, "camera").crf

    @classmethod
    def readiness(cls, config: Config) -> Readiness:
        return Readiness(Step.MOTION, "camera", True,
                         "2-D camera move over the keyframe (not in-betweening): push, pan, tilt, crane, handheld",
                         non_neural=True)

    def info(self) -> BackendInfo:
        return BackendInfo(name="camera", model_id="inkubator 2-D camera move", licence="GPL-3.0-or-later",
                           non_neural=True, version="1", parameters={"crf": self.crf})

    def load(self, progress: Progress = no_progress) -> None:
        pass

    @staticmethod
    def frames(key: Image.Image, movement: Movement, n: int, seed: int) -> Iterator[Image.Image]:
        for i in range(n):
            yield reframe(key, movement, i, n, seed)

    def __call__(self, request: MotionRequest, ctx: JobContext) -> Result:
        shot = request.shot
        key = Image.open(ctx.path(request.start)).convert("RGB")
        fps, n = request.fps, request.frames

        def tracked():
            for i, frame in enumerate(self.frames(key, request.movement, n, request.seed)):
                if i % 12 == 0:
                    ctx.cancel.check()
                    ctx.progress(i / n, f"frame {i + 1}/{n}")
                yield frame

        out = ctx.workdir / f"shot{shot.number}-{request.movement.value}.mp4"
        write_mp4(out, tracked(), key.size, fps, crf=self.crf)
        return Result(files=[out], data={"frames": n, "fps": fps},
                      parameters={"movement": request.movement.value, "frames": n, "fps": fps,
                                  "end_frame": "derived: the camera move's last framing of the start keyframe"})
