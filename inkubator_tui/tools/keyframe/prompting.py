"""Prompts a text-to-image model understands, composed the same way every time.

Directors write "Close on Mira as she reads the letter"; a diffusion model
knows "close-up", not shot codes, and knows nothing of Mira. The same shot
must always give the same prompt (it is part of the cache key and of the
picture's provenance), and the parts that hold a sequence together — the
style bible and each character's look — must appear in every shot in the
same words. CLIP reads 75 tokens; parts that do not fit are dropped whole,
least important first, and named, so a person can see what the model never
read.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from ...pipeline.requests import KeyframeRequest
from ...project.camera_words import ANGLE_WORDS, MOVE_WORDS, SIZE_WORDS
from ...project.models import Angle, Size

# The framing in words that image models were trained on (captions, prompt sites).
SIZE_PHRASE = {
    Size.ECU: "extreme close-up", Size.CU: "close-up shot", Size.MCU: "medium close-up",
    Size.MS: "medium shot", Size.MWS: "medium wide shot, full body", Size.WS: "wide shot",
    Size.EWS: "extreme wide shot, establishing shot", Size.OTS: "over-the-shoulder shot",
    Size.POV: "point-of-view shot", Size.INSERT: "insert shot, detail close-up",
}
ANGLE_PHRASE = {
    Angle.EYE: "", Angle.HIGH: "high-angle shot", Angle.LOW: "low-angle shot",
    Angle.OVERHEAD: "overhead shot, top-down view", Angle.DUTCH: "dutch angle, tilted frame",
    Angle.AERIAL: "aerial view",
}
# What a film still should not be; a project adds its own.
DEFAULT_NEGATIVE = ("blurry, lowres, jpeg artifacts, watermark, signature, text, caption, deformed, "
                    "extra limbs, bad anatomy, out of frame")
# Style-bible lines about sound are directions to the crew, not to the picture.
NOT_VISUAL = re.compile(r"\b(music|score|sound|audio|cello|piano|violin|song|silence|voice[- ]?over|sfx|"
                        r"dialogue|ambience|mix)\b", re.I)
TOKEN_BUDGET = 75


@dataclass
class Composed:
    prompt: str
    negative_prompt: str
    # Parts left out because the text encoder reads no more (in order of importance).
    dropped: list[str] = field(default_factory=list)


def lens_phrase(lens: str) -> str:
    """'35' or '35mm' → '35mm lens'; anything else as written."""
    lens = lens.strip()
    if not lens:
        return ""
    m = re.fullmatch(r"(\d{2,3})\s*(mm)?", lens, re.I)
    return f"{m.group(1)}mm lens" if m else lens


def framing_phrase(request: KeyframeRequest) -> str:
    shot = request.shot
    parts = [SIZE_PHRASE[shot.size], ANGLE_PHRASE[shot.angle], lens_phrase(shot.lens)]
    return ", ".join(p for p in parts if p)


def without_camera_words(text: str) -> str:
    """'Close on Mira as she reads' → 'Mira as she reads': the framing is said once, in the model's words."""
    for pat, _ in (*SIZE_WORDS, *ANGLE_WORDS, *MOVE_WORDS):
        text = re.sub(r"(?:slow(?:ly)?\s+|fast\s+)?(?:" + pat + r")(?:\s+shot)?\s*(?:on|of|at|to)?\s*:?\s*", "",
                      text, flags=re.I)
    text = re.sub(r"\s{2,}", " ", text).strip(" ,.;:-—")
    return text[:1].upper() + text[1:] if text else text


def visual_style(style_bible: str) -> str:
    """The style bible's lines about the picture (the music notes stay with the crew)."""
    lines = [ln.strip(" -•*\t") for ln in style_bible.splitlines()]
    return ", ".join(ln.rstrip(".") for ln in lines if ln and not NOT_VISUAL.search(ln))


def compose(request: KeyframeRequest, *, negative: str = DEFAULT_NEGATIVE,
            count_tokens: Callable[[str], int] | None = None, budget: int = TOKEN_BUDGET) -> Composed:
    """The prompt for one keyframe: framing, what happens, the director's redo note, who is
    in it and how they look, the project's style. Parts are added in order of importance while the
    text encoder can read them."""
    action = without_camera_words(request.prompt)
    looks = [f"{name}, {look.strip().rstrip('.')}" for name, look in request.looks.items() if look.strip()]
    parts = [framing_phrase(request), action, request.note.strip().rstrip("."), *looks,
             visual_style(request.style), "cinematic film still"]
    parts = [p for p in parts if p]
    count = count_tokens or (lambda text: len(re.findall(r"\w+|[^\w\s]", text)))
    kept: list[str] = []
    dropped: list[str] = []
    for i, part in enumerate(parts):
        trial = ", ".join([*kept, part])
        # The framing and the action always stay (the encoder truncates what is left of them).
        if i < 2 or count(trial) <= budget:
            kept.append(part)
        else:
            dropped.append(part)
    return Composed(", ".join(kept), negative.strip(), dropped)


def character_prompt(name: str, look: str, style_bible: str) -> str:
    """A neutral picture of one character: what the shots of a sequence share."""
    parts = ["full body portrait", f"{name}, {look.strip().rstrip('.')}" if look.strip() else name,
             "plain background", visual_style(style_bible)]
    return ", ".join(p for p in parts if p)
