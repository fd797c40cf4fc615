"""The frames of a shot between its two keyframes, whatever network draws them.

Shared by the RIFE backends (PyTorch and ncnn-Vulkan) and `inkubator
interpolate`: which times to draw (the shot's duration × fps, on ones, twos
or threes), how to reach them (one pass per frame for networks that take a
timestep, recursive bisection for HDv3, which only makes middles), when not
to in-between at all (a scene cut holds and cuts, as Practical-RIFE does on
low SSIM; a static pair holds), and streaming: frames come out in order, one
at a time, so a long shot never sits in memory.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np
from PIL import Image

from ...pipeline.backend import JobContext
from ...pipeline.requests import MotionRequest, Result
from ...project.models import Movement

# SSIM of the two keyframes' thumbnails below which they are different scenes (a cut, not a
# morph) and above which they are the same picture (a hold, nothing to in-between). Practical-RIFE
# uses 0.2 and 0.996 on its own thumbnails.
CUT_BELOW = 0.2
HOLD_ABOVE = 0.996
# Bisection never goes deeper than 1/2**MAX_DEPTH of the shot (HDv3 on a 10 s shot at 24 fps on
# ones needs depth 8).
MAX_DEPTH = 10


class Interpolator(Protocol):
    """A network that draws the picture at time t between a and b (same size, RGB)."""

    takes_timestep: bool
    # Where it runs, in words ("cpu", "cuda:0 NVIDIA …", "vulkan 0 llvmpipe …"), for provenance.
    device: str

    def __call__(self, a: Image.Image, b: Image.Image, t: float = 0.5) -> Image.Image: ...


@dataclass(frozen=True)
class Timing:
    """Which drawing each output frame shows. On ones every frame is a new drawing; on twos a
    drawing is held for two frames (the animator's convention: 12 drawings a second at 24 fps)."""

    frames: int
    on: int
    # The time (0 = start keyframe, 1 = end keyframe) of each drawing, in order.
    times: tuple[float, ...]
    # For each output frame, the index of the drawing it shows.
    drawing_of_frame: tuple[int, ...]


def timing(frames: int, on: int = 1) -> Timing:
    """`frames` output frames on `on`s: the first drawing is the start keyframe, the last is the
    end keyframe and is held to the end, so the shot arrives where the end keyframe says."""
    if frames < 1 or on not in (1, 2, 3):
        raise ValueError("frames must be ≥ 1 and on 1, 2 or 3")
    drawings = max(1, math.ceil(frames / on))
    times = tuple(i / (drawings - 1) if drawings > 1 else 0.0 for i in range(drawings))
    return Timing(frames, on, times, tuple(min(i // on, drawings - 1) for i in range(frames)))


def bisection_depth(times: tuple[float, ...]) -> int:
    """How deep HDv3's halving must go so that every drawing lands on its own dyadic time."""
    gaps = len(times) - 1
    return min(MAX_DEPTH, max(0, math.ceil(math.log2(gaps)))) if gaps > 1 else (1 if gaps == 1 else 0)


def dyadic(t: float, depth: int) -> int:
    """The slot k of the nearest k / 2**depth to `t`."""
    return round(t * 2 ** depth)


def similarity(a: Image.Image, b: Image.Image, side: int = 64) -> float:
    """SSIM of two pictures' grey thumbnails (7×7 windows, the usual constants). A scene cut
    scores near 0, the same picture near 1; thumbnails make it fast and deaf to grain."""
    def thumb(im: Image.Image) -> np.ndarray:
        w, h = im.size
        s = side / max(w, h)
        return np.asarray(im.convert("L").resize((max(8, round(w * s)), max(8, round(h * s))),
                                                 Image.BILINEAR), dtype=np.float64) / 255.0

    x, y = thumb(a), thumb(b)
    if x.shape != y.shape:
        y = np.asarray(Image.fromarray((y * 255).astype(np.uint8)).resize(x.shape[::-1]), dtype=np.float64) / 255.0

    def box(z: np.ndarray, k: int = 7) -> np.ndarray:
        c = np.cumsum(np.cumsum(np.pad(z, ((1, 0), (1, 0))), 0), 1)
        return (c[k:, k:] - c[:-k, k:] - c[k:, :-k] + c[:-k, :-k]) / (k * k)

    c1, c2 = 0.01 ** 2, 0.03 ** 2
    mx, my = box(x), box(y)
    vx, vy, cov = box(x * x) - mx * mx, box(y * y) - my * my, box(x * y) - mx * my
    ssim = ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return float(ssim.mean())


Decision = Literal["inbetween", "cut", "hold"]


def decide(a: Image.Image, b: Image.Image, cut_below: float = CUT_BELOW,
           hold_above: float = HOLD_ABOVE) -> tuple[Decision, float]:
    """Whether to in-between `a` → `b`, cut between them (different scenes: a morph would be
    mush), or hold (the same picture: nothing moves), with the SSIM that decided."""
    s = similarity(a, b)
    return ("cut" if s < cut_below else "hold" if s > hold_above else "inbetween"), s


@dataclass
class Drawings:
    """What `drawings()` did, for provenance: the times drawn and how many network passes."""

    decision: Decision = "inbetween"
    times: list[float] = field(default_factory=list)
    passes: int = 0


def drawings(a: Image.Image, b: Image.Image, times: tuple[float, ...], net: Interpolator, *,
             decision: Decision = "inbetween", check: Callable[[], None] = lambda: None,
             record: Drawings | None = None) -> Iterator[Image.Image]:
    """The picture at each time in `times` (ascending, in [0, 1]), in order, one at a time.
    `check` runs before every network pass (cancel raises there)."""
    rec = record if record is not None else Drawings()
    rec.decision = decision
    if decision != "inbetween":
        for t in times:
            rec.times.append(t)
            yield a if (decision == "hold" or t < 0.5) else b
        return
    if net.takes_timestep:
        for t in times:
            rec.times.append(t)
            if t <= 0.0 or t >= 1.0:
                yield a if t <= 0.0 else b
                continue
            check()
            rec.passes += 1
            yield net(a, b, t)
        return
    depth = bisection_depth(times)
    n = 2 ** depth
    wanted = deque(dyadic(t, depth) for t in times)

    def walk(x: Image.Image, y: Image.Image, lo: int, hi: int) -> Iterator[Image.Image]:
        """Pictures of the wanted slots in [lo, hi) with x at slot lo and y at hi: a middle is
        drawn only when a wanted slot lies strictly inside, and only the path's pictures live."""
        while wanted and wanted[0] == lo:
            wanted.popleft()
            rec.times.append(lo / n)
            yield x
        if not wanted or wanted[0] >= hi:
            return
        mid = (lo + hi) // 2  # a wanted slot inside (lo, hi) means hi - lo ≥ 2
        check()
        rec.passes += 1
        m = net(x, y, 0.5)
        yield from walk(x, m, lo, mid)
        yield from walk(m, y, mid, hi)

    yield from walk(a, b, 0, n)
    while wanted:  # slot n: the end keyframe itself
        wanted.popleft()
        rec.times.append(1.0)
        yield b


def _times_summary(times: list[float]) -> Any:
    """The drawn times for provenance: all of them for a normal shot, a summary past 200."""
    if len(times) <= 200:
        return [round(t, 4) for t in times]
    return {"drawings": len(times), "first": round(times[1], 5), "last": round(times[-2], 5)}


def render(request: MotionRequest, ctx: JobContext, net: Interpolator, *, crf: int, camera_layer: bool,
           cut_below: float, hold_above: float, engine: str, slug: str) -> Result:
    """One shot's clip: its start keyframe, the in-betweens, its end keyframe, on ones/twos/threes,
    the camera move on top where asked, streamed to the encoder frame by frame."""
    from ..video import write_mp4
    from .camera import reframe

    shot, n, movement = request.shot, request.frames, request.movement
    start = Image.open(ctx.path(request.start)).convert("RGB")
    params: dict[str, Any] = {"engine": engine, "device": net.device, "frames": n, "fps": request.fps,
                              "on": request.on, "movement": movement.value}
    moves = movement not in (Movement.STATIC, Movement.HANDHELD)
    if request.end is not None and request.end_is_diagram and moves and not shot.end_action.strip():
        # A sketch panel of where the camera arrives: the camera move over the start panel gets there
        # exactly; in-betweening two line drawings on flat paper would smear them.
        end, decision, ssim, layer = start, "hold", 1.0, True
        params["end_frame"] = f"approved end panel {request.end.rel} (a sketch of where the camera arrives)"
        params["note"] = (f"the {movement.value} is played over the start panel: the end panel is a diagram, and "
                          "in-betweening line drawings smears them; real keyframes are in-betweened")
    elif request.end is not None:
        end = Image.open(ctx.path(request.end)).convert("RGB")
        params["end_frame"] = f"approved end keyframe {request.end.rel}"
        if end.size != start.size:
            params["end_frame"] += f" (resized from {end.size[0]}×{end.size[1]})"
            end = end.resize(start.size, Image.LANCZOS)
        decision, ssim = decide(start, end, cut_below, hold_above)
        # The end keyframe already shows where the camera arrives; a layer on top only when asked
        # (keys drawn at one framing) and for handheld, whose shake no keyframe holds.
        layer = movement == Movement.HANDHELD or (camera_layer and moves)
    elif moves:
        # No end keyframe: the only motion to show is the camera's, played exactly over the start.
        end, decision, ssim, layer = start, "hold", 1.0, True
        params["end_frame"] = "derived: the camera move's last framing of the start keyframe"
        params["note"] = f"no end keyframe to in-between: the {movement.value} is played over the start keyframe"
    else:
        end, decision, ssim, layer = start, "hold", 1.0, movement == Movement.HANDHELD
        params["end_frame"] = "none: the shot holds its start keyframe"
    plan = timing(n, request.on)
    record = Drawings()
    params.update({"decision": decision, "ssim": round(ssim, 4), "camera_layer": layer})
    if decision == "cut":
        params["note"] = (f"the keyframes are different pictures (SSIM {ssim:.2f} < {cut_below}): held and cut "
                          "half-way instead of morphing; approve a closer end keyframe for in-betweens")

    def frames() -> Iterator[Image.Image]:
        i = 0
        held = Counter(plan.drawing_of_frame)  # how many frames each drawing is shown for
        pictures = drawings(start, end, plan.times, net, decision=decision, check=ctx.cancel.check, record=record)
        for d, picture in enumerate(pictures):
            for _ in range(held[d]):
                ctx.cancel.check()
                ctx.progress(i / n, f"frame {i + 1}/{n} · {record.passes} in-between{'s' * (record.passes != 1)} "
                             f"drawn on {net.device}")
                yield reframe(picture, movement, i, n, request.seed) if layer else picture
                i += 1

    out = ctx.workdir / f"shot{shot.number}-{slug}.mp4"
    written = write_mp4(out, frames(), start.size, request.fps, crf=crf)
    if written != n:
        raise RuntimeError(f"wrote {written} frames of {n}")
    params.update({"drawings": len(plan.times), "passes": record.passes, "timesteps": _times_summary(record.times)})
    return Result(files=[out], data={"frames": n, "fps": request.fps, "decision": decision},
                  parameters=params)
