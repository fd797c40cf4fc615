"""The sketch board: the labelled non-neural keyframe default.

When no diffusion model is configured, each shot becomes a storyboard panel a
person can read at a glance: framing for the shot size, a placeholder figure
per character, the horizon for the angle, an arrow for the camera move, and
the action and first line as a caption. It says SKETCH on its face; it is
previs, never noise pretending to be a model.
"""

from __future__ import annotations

import json
import math
import random
import re
import textwrap
from typing import ClassVar

from PIL import Image, ImageDraw, ImageFont
from PIL.PngImagePlugin import PngInfo

from ...config import Config
from pydantic import BaseModel, ConfigDict

from ...pipeline.backend import BackendInfo, Capabilities, JobContext, Progress, Readiness, no_progress
from ...pipeline.registry import validate_options
from ...pipeline.requests import KeyframeRequest, Result
from ...project.models import Angle, Movement, Size, Step

# Head height as a fraction of frame height, per shot size.
HEAD = {Size.ECU: 1.4, Size.CU: 0.55, Size.MCU: 0.34, Size.MS: 0.2, Size.MWS: 0.13, Size.WS: 0.08,
        Size.EWS: 0.035, Size.OTS: 0.22, Size.POV: 0.12, Size.INSERT: 0.0}
HORIZON = {Angle.EYE: 0.55, Angle.HIGH: 0.3, Angle.LOW: 0.78, Angle.OVERHEAD: None, Angle.DUTCH: 0.55,
           Angle.AERIAL: 0.18}
PAPER, INK, GUIDE, LABEL = (244, 241, 234), (40, 40, 48), (200, 196, 186), (178, 34, 52)


class SketchOptions(BaseModel):
    """`[keyframe.options]` for the sketch board."""

    model_config = ConfigDict(extra="forbid")

    # The action and first line written under the panel.
    caption: bool = True
    # Rule-of-thirds guides.
    guides: bool = True


class SketchBoard:
    step: ClassVar[Step] = Step.KEYFRAMES
    Options: ClassVar[type[BaseModel]] = SketchOptions
    capabilities: ClassVar[Capabilities] = Capabilities(inputs={"init_image": "optional"})

    def __init__(self, config: Config):
        self.long_side = config.keyframe.long_side
        self.options = validate_options(SketchBoard, config, Step.KEYFRAMES, "sketch")

    @classmethod
    def readiness(cls, config: Config) -> Readiness:
        return Readiness(Step.KEYFRAMES, "sketch", True,
                         "sketch board (not a diffusion model): framing, figures, camera arrows, caption",
                         fix="real images need a diffusion backend; this build has none yet (it will load your "
                             "local diffusers folder or .safetensors file)",
                         non_neural=True)

    def info(self) -> BackendInfo:
        return BackendInfo(name="sketch", model_id="inkubator sketch board", licence="GPL-3.0-or-later",
                           non_neural=True, version="1",
                           parameters={"long_side": self.long_side, **self.options.model_dump()})

    def load(self, progress: Progress = no_progress) -> None:
        pass

    def __call__(self, request: KeyframeRequest, ctx: JobContext) -> Result:
        shot, seed, progress, cancel = request.shot, request.seed, ctx.progress, ctx.cancel
        w, h = request.width, request.height
        rng = random.Random(seed)
        img = Image.new("RGB", (w, h), PAPER)
        d = ImageDraw.Draw(img)
        unit = h / 360
        font = ImageFont.load_default(size=max(9, round(13 * unit)))
        small = ImageFont.load_default(size=max(8, round(11 * unit)))

        for i in (1, 2) if self.options.guides else ():  # rule of thirds
            _dashed(d, (w * i / 3, 0), (w * i / 3, h), GUIDE)
            _dashed(d, (0, h * i / 3), (w, h * i / 3), GUIDE)
        horizon = HORIZON[shot.angle]
        if horizon is not None and shot.size not in (Size.ECU, Size.CU, Size.INSERT):
            d.line([(0, h * horizon), (w, h * horizon)], fill=INK, width=max(1, round(unit)))
        progress(0.3, "framing")
        cancel.check()

        names = shot.characters[:4]
        head = HEAD[shot.size] * h
        if shot.size == Size.INSERT or not names:
            # No one in shot: a subject box, sized by the framing, named by the action.
            frac = {Size.INSERT: 0.36, Size.ECU: 0.8, Size.CU: 0.6, Size.MCU: 0.5}.get(shot.size, 0.3)
            bw, bh = w * frac, h * frac * 0.8
            x0 = (w - bw) / 2 + rng.uniform(-w * .04, w * .04)
            y0 = (h - bh) / 2 - h * 0.05
            d.rounded_rectangle([x0, y0, x0 + bw, y0 + bh], radius=8 * unit, outline=INK, width=round(2 * unit))
            subject = " ".join(_without_camera_words(shot.action).split()[:4]).rstrip(".,:") or "subject"
            d.text((x0 + 8 * unit, y0 + 6 * unit), ("INSERT · " if shot.size == Size.INSERT else "") + subject,
                   font=small, fill=INK)
        elif shot.angle in (Angle.OVERHEAD, Angle.AERIAL) and shot.size not in (Size.ECU, Size.CU, Size.MCU):
            for i, name in enumerate(names):  # seen from above: shoulders and heads as rings
                cx = w * (i + 1) / (len(names) + 1) + rng.uniform(-w * 0.03, w * 0.03)
                cy = h * 0.45 + rng.uniform(-h * 0.05, h * 0.05)
                r = max(head, 6 * unit)
                d.ellipse([cx - r * 1.8, cy - r, cx + r * 1.8, cy + r], fill=(214, 210, 200), outline=INK,
                          width=round(2 * unit))
                d.ellipse([cx - r * 0.8, cy - r * 0.8, cx + r * 0.8, cy + r * 0.8], fill=(230, 226, 218),
                          outline=INK, width=round(2 * unit))
                d.text((cx - d.textlength(name, font=small) / 2, cy + r + 4 * unit), name, font=small, fill=INK)
        else:
            slots = [w * (i + 1) / (len(names) + 1) for i in range(len(names))]
            if shot.size == Size.OTS:  # a shoulder in the foreground
                d.ellipse([-w * 0.12, h * 0.35, w * 0.3, h * 1.4], fill=(214, 210, 200), outline=INK,
                          width=round(2 * unit))
                slots = [w * 0.64 + (i * w * 0.12) for i in range(len(names))]
            # Close sizes put the eyes on the upper third; wider ones stand people on the horizon.
            close = {Size.ECU: 0.5, Size.CU: 0.45, Size.MCU: 0.38, Size.MS: 0.33, Size.OTS: 0.36}
            for name, cx in zip(names, slots):
                cx += rng.uniform(-w * 0.03, w * 0.03)
                if shot.size in close:
                    cy = h * close[shot.size]
                else:
                    feet = min(h * 0.9, h * (horizon if horizon is not None else 0.6) + h * 0.12)
                    cy = feet - head * 3.5
                _figure(d, cx, cy, head, unit)
                tw = d.textlength(name, font=small)
                ty = cy + head * 0.6 + 4 * unit if head < h * 0.5 else h * 0.1
                d.rectangle([cx - tw / 2 - 3, ty - 1, cx + tw / 2 + 3, ty + 13 * unit], fill=PAPER)
                d.text((cx - tw / 2, ty), name, font=small, fill=INK)
        if shot.size == Size.POV:
            d.ellipse([-w * 0.1, -h * 0.25, w * 1.1, h * 1.25], outline=INK, width=round(3 * unit))
        progress(0.6, "camera")
        _camera_arrow(d, shot.movement, w, h, unit)

        # caption and labels
        end = request.role == "end"
        caption = (shot.end_action or shot.action) if end else shot.action
        lines = textwrap.wrap(caption, width=max(30, int(w / (7.2 * unit))))[:2] if self.options.caption else []
        if shot.dialogue and self.options.caption and not end:
            first = shot.dialogue[0]
            lines.append(f"{first.character.upper()}: “{first.text}”"[: max(30, int(w / (6.6 * unit)))])
        band = (len(lines) * 15 + 8) * unit if lines else 0
        if lines:
            d.rectangle([0, h - band, w, h], fill=(255, 255, 255))
        for i, text in enumerate(lines):
            d.text((8 * unit, h - band + (4 + 15 * i) * unit), text, font=small, fill=INK)
        tag = "SKETCH · no diffusion model"
        d.rectangle([0, 0, d.textlength(tag, font=small) + 12 * unit, 18 * unit], fill=LABEL)
        d.text((6 * unit, 3 * unit), tag, font=small, fill=(255, 255, 255))
        head_txt = f"{shot.number}{' END' if end else ''} · {shot.size.value} · {shot.angle.value} · {shot.movement.value} · {shot.duration_s:g}s"
        d.text((w - d.textlength(head_txt, font=font) - 8 * unit, 3 * unit), head_txt, font=font, fill=INK)
        d.rectangle([0, 0, w - 1, h - 1], outline=INK, width=max(1, round(unit)))
        if shot.angle == Angle.DUTCH:
            img = img.rotate(6, resample=Image.BICUBIC, fillcolor=PAPER)

        prompt = request.prompt
        meta = PngInfo()
        meta.add_text("inkubator", json.dumps({"tool": "keyframes", "backend": "sketch", "non_neural": True,
                                               "shot": shot.number, "role": request.role, "seed": seed,
                                               "prompt": prompt}))
        out = ctx.workdir / f"shot{shot.number}-{request.role}-sketch.png"
        img.save(out, pnginfo=meta)
        progress(1.0, "sketched")
        return Result(files=[out], prompt=prompt, data={"width": w, "height": h, "role": request.role},
                      parameters={"width": w, "height": h, "role": request.role})


def _without_camera_words(text: str) -> str:
    from ...project.camera_words import ANGLE_WORDS, MOVE_WORDS, SIZE_WORDS

    for pat, _ in (*SIZE_WORDS, *ANGLE_WORDS, *MOVE_WORDS):
        text = re.sub(r"(?:slow\s+|fast\s+)?(?:" + pat + r")(?:\s+shot)?\s*(?:on|of|at)?\s*:?\s*", "", text,
                      flags=re.I)
    return text.strip()


def _dashed(d: ImageDraw.ImageDraw, a, b, fill, dash: float = 6) -> None:
    (x0, y0), (x1, y1) = a, b
    length = math.hypot(x1 - x0, y1 - y0)
    n = int(length / dash)
    for i in range(0, n, 2):
        t0, t1 = i / n, min(1, (i + 1) / n)
        d.line([(x0 + (x1 - x0) * t0, y0 + (y1 - y0) * t0), (x0 + (x1 - x0) * t1, y0 + (y1 - y0) * t1)], fill=fill)


def _figure(d: ImageDraw.ImageDraw, cx: float, cy: float, head: float, unit: float) -> None:
    """A placeholder person: head, neck, shoulders, torso; `cy` is the head centre."""
    r = head / 2
    lw = max(1, round(2 * unit))
    body = [cx - r * 2.1, cy + r * 1.5, cx + r * 2.1, cy + r * 7]
    d.rounded_rectangle(body, radius=r * 1.2, fill=(214, 210, 200), outline=INK, width=lw)
    d.ellipse([cx - r, cy - r * 1.15, cx + r, cy + r * 1.15], fill=(230, 226, 218), outline=INK, width=lw)
    d.line([(cx - r * 0.8, cy), (cx + r * 0.8, cy)], fill=GUIDE, width=max(1, lw // 2))  # eye line


def _arrow(d: ImageDraw.ImageDraw, a, b, unit: float) -> None:
    d.line([a, b], fill=LABEL, width=max(2, round(3 * unit)))
    ang = math.atan2(b[1] - a[1], b[0] - a[0])
    s = 10 * unit
    for da in (2.6, -2.6):
        d.line([b, (b[0] + s * math.cos(ang + da), b[1] + s * math.sin(ang + da))], fill=LABEL,
               width=max(2, round(3 * unit)))


def _camera_arrow(d: ImageDraw.ImageDraw, move: Movement, w: int, h: int, unit: float) -> None:
    m = 0.12
    if move in (Movement.DOLLY_IN, Movement.ZOOM, Movement.DOLLY_OUT):
        inward = move != Movement.DOLLY_OUT
        for cx, cy in ((0, 0), (w, 0), (0, h), (w, h)):
            outer = (cx + (w * m if cx == 0 else -w * m), cy + (h * m if cy == 0 else -h * m))
            inner = (cx + (w * 2 * m if cx == 0 else -w * 2 * m), cy + (h * 2 * m if cy == 0 else -h * 2 * m))
            _arrow(d, outer, inner, unit) if inward else _arrow(d, inner, outer, unit)
        if move == Movement.ZOOM:
            d.rectangle([w * 0.3, h * 0.3, w * 0.7, h * 0.7], outline=LABEL, width=max(1, round(unit)))
    elif move in (Movement.PAN, Movement.TRUCK):
        y = h * 0.22
        _arrow(d, (w * 0.3, y), (w * 0.7, y), unit)
        if move == Movement.TRUCK:
            _arrow(d, (w * 0.3, y + 8 * unit), (w * 0.7, y + 8 * unit), unit)
    elif move in (Movement.TILT, Movement.CRANE):
        x = w * 0.92
        _arrow(d, (x, h * 0.7), (x, h * 0.3), unit)
        if move == Movement.CRANE:
            d.arc([x - 40 * unit, h * 0.3, x + 10 * unit, h * 0.7], 90, 270, fill=LABEL, width=max(1, round(unit)))
    elif move == Movement.HANDHELD:
        pts = [(w * 0.35 + i * w * 0.03, h * 0.2 + (6 * unit if i % 2 else -6 * unit)) for i in range(11)]
        d.line(pts, fill=LABEL, width=max(2, round(2 * unit)))
