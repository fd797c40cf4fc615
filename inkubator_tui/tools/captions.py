"""Burnt-in captions for the animatic: the spoken line's words drawn on the
picture while it is heard, inside the title-safe area, white on a dark band
so they read over any keyframe."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
SAFE = 0.9  # title-safe: the middle 90 % of the frame


def active(cues: list[dict], t: float) -> str:
    """The words of the cue heard at `t` seconds ("" between lines)."""
    return next((c["text"] for c in cues if c["start_s"] <= t < c["end_s"] and c.get("text")), "")


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
    """`frame` with `text` as a caption at the bottom of the safe area (unchanged when empty)."""
    if not text:
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
