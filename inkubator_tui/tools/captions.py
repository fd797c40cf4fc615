"""Burnt-in captions for the animatic: the spoken line's words drawn on the
picture while it is heard, inside the title-safe area, white on a dark band
so they read over any keyframe."""

from __future__ import annotations

import re
import shutil
import subprocess
from functools import cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
SAFE = 0.9  # title-safe: the middle 90 % of the frame


def active(cues: list[dict], t: float) -> str:
    """The words of the cue heard at `t` seconds ("" between lines)."""
    return next((c["text"] for c in cues if c["start_s"] <= t < c["end_s"] and c.get("text")), "")


# Scripts DejaVu Sans does not draw, and the fontconfig language to look a font up by.
_SCRIPTS = [(re.compile(r"[\u3040-\u30ff\u31f0-\u31ff]"), "ja"), (re.compile(r"[\uac00-\ud7af\u1100-\u11ff]"), "ko"),
            (re.compile(r"[\u4e00-\u9fff\u3400-\u4dbf]"), "zh"), (re.compile(r"[\u0e00-\u0e7f]"), "th"),
            (re.compile(r"[\u0900-\u097f]"), "hi")]


@cache
def font_for(text_language: str, configured: str) -> str | None:
    """The font file to draw a script with: the configured one, DejaVu Sans ("") for scripts it
    covers, else what fontconfig has for the language — None when nothing here draws it (a
    caption of empty boxes helps no one: the line is then not burnt in, and the draft says why)."""
    if configured or not text_language:
        return configured
    if shutil.which("fc-match") is None:
        return None
    try:
        found = subprocess.run(["fc-match", "-f", "%{file}", f":lang={text_language}"], capture_output=True,
                               text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return found if found and "dejavu" not in found.lower() else None


def script_language(text: str) -> str:
    """"" when DejaVu Sans draws `text`, else the language whose font it needs."""
    return next((lang for pattern, lang in _SCRIPTS if pattern.search(text)), "")


@cache
def _font(path: str, size: int) -> ImageFont.ImageFont:
    chosen = Path(path).expanduser() if path else DEJAVU
    try:
        return ImageFont.truetype(str(chosen), size)
    except OSError:
        if path:
            raise ValueError(f"animatic.caption_font {path} is not a font file Pillow can read") from None
        return ImageFont.load_default(size=size)


def _wrap(draw: ImageDraw.ImageDraw, text: str, font, width: int) -> list[str]:
    """Greedy wrap by words, or by characters for scripts written without spaces."""
    units = text.split(" ") if " " in text.strip() else list(text)
    sep = " " if " " in text.strip() else ""
    lines, cur = [], ""
    for u in units:
        trial = f"{cur}{sep}{u}" if cur else u
        if draw.textlength(trial, font=font) <= width or not cur:
            cur = trial
        else:
            lines.append(cur)
            cur = u
    return lines + ([cur] if cur else [])


def burn(frame: Image.Image, text: str, *, font: str = "") -> Image.Image:
    """`frame` with `text` as a caption at the bottom of the safe area (unchanged when empty, or
    when no font here draws its script: see `font_for`)."""
    if not text:
        return frame
    font = font_for(script_language(text), font)
    if font is None:
        return frame
    w, h = frame.size
    size = max(10, round(h * 0.055))
    f = _font(font, size)
    out = frame.convert("RGB").copy()
    draw = ImageDraw.Draw(out, "RGBA")
    lines = _wrap(draw, text, f, int(w * SAFE * 0.92))[-2:]  # at most two lines, the end of a long one
    gap = round(size * 0.25)
    heights = [draw.textbbox((0, 0), ln, font=f)[3] for ln in lines]
    block = sum(heights) + gap * (len(lines) - 1)
    bottom = h - round(h * (1 - SAFE) / 2)
    y = bottom - block
    widest = max(draw.textlength(ln, font=f) for ln in lines)
    pad = round(size * 0.35)
    draw.rectangle([(w - widest) / 2 - pad, y - pad, (w + widest) / 2 + pad, bottom + pad], fill=(0, 0, 0, 170))
    for ln, lh in zip(lines, heights):
        draw.text(((w - draw.textlength(ln, font=f)) / 2, y), ln, font=f, fill=(255, 255, 255))
        y += lh + gap
    return out
