"""The sketch board: the labelled non-neural keyframe default.

When no diffusion model is configured, each shot becomes a storyboard panel a
person can read at a glance: framing for the shot size, a placeholder figure
per character, the horizon for the angle, an arrow for the camera move, and
the action and first line as a caption. It says SKETCH on its face; it is
previs, never noise pretending to be a model.

An end panel (`role == "end"`) draws where the shot arrives: the camera move's
last framing (a push-in ends a size tighter, a pull-out a size wider, a pan
with the scene moved across, a tilt or crane with the horizon moved) and the
people the end action leaves in it (who walks out is gone, who it names anew
is there), captioned with the end action.

Every label (stamp, header, names, caption) sits inside the part of the frame
that each frame of the shot's camera move shows (`camera.visible_area`), so the
motion clip never crops them.
"""

from __future__ import annotations

import json
import math
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from PIL import Image, ImageDraw, ImageFont
from PIL.PngImagePlugin import PngInfo

from ...config import Config
from pydantic import BaseModel, ConfigDict

from ...pipeline.backend import BackendInfo, Capabilities, JobContext, Progress, Readiness, no_progress
from ...pipeline.registry import validate_options
from ...pipeline.requests import KeyframeRequest, Result
from ...project.models import Angle, Movement, Shot, Size, Step
from ..motion.camera import visible_area

# Head height as a fraction of frame height, per shot size.
HEAD = {Size.ECU: 1.4, Size.CU: 0.55, Size.MCU: 0.34, Size.MS: 0.2, Size.MWS: 0.13, Size.WS: 0.08,
        Size.EWS: 0.035, Size.OTS: 0.22, Size.POV: 0.12, Size.INSERT: 0.0}
HORIZON = {Angle.EYE: 0.55, Angle.HIGH: 0.3, Angle.LOW: 0.78, Angle.OVERHEAD: None, Angle.DUTCH: 0.55,
           Angle.AERIAL: 0.18}
PAPER, INK, GUIDE, LABEL = (244, 241, 234), (40, 40, 48), (200, 196, 186), (178, 34, 52)
SKIN, CLOTH = (230, 226, 218), (214, 210, 200)
# Close sizes put the head centre near the upper third; wider ones stand people on the horizon.
CLOSE = {Size.ECU: 0.5, Size.CU: 0.45, Size.MCU: 0.38, Size.MS: 0.33, Size.OTS: 0.36}
# No one in shot: the subject box's width as a fraction of the frame, per size.
BOX = {Size.INSERT: 0.36, Size.ECU: 0.8, Size.CU: 0.6, Size.MCU: 0.5}
# The sizes a push-in climbs (and a pull-out comes down) one step at a time.
LADDER = [Size.EWS, Size.WS, Size.MWS, Size.MS, Size.MCU, Size.CU, Size.ECU]
PUSH = 1.4  # how much tighter a push-in ends where the ladder has no next size (ECU, OTS, POV, INSERT)
PAN_SHIFT = 0.22  # a pan or truck ends with the scene moved this much of the width the other way
TILT_SHIFT = 0.2  # a tilt or crane up ends with the horizon moved this much of the height down
TAG = "SKETCH · no diffusion model"

# Words a label or a cut caption must not end on: articles, prepositions, conjunctions,
# determiners and auxiliaries (what comes after them is missing).
FUNCTION_WORDS = frozenset("""
next a an the this that these those his her their its my your our some any each every no both either neither
of in on at to into onto from with without by for under over through across behind beside besides between
among near toward towards against along around beneath above below inside outside past up down off out about
after before upon within beyond via like than until till during despite except per
and or but nor so yet while as when where whereas because if then though although unless whether once
who whom whose which what
is are was were be been being am has have had do does did will would can could shall should may might must
not very just also
""".split())
# Where a phrase ends: before one of these (or at a comma, or at the end of a clause).
BREAK_BEFORE = frozenset("""
of in on at to into onto from with without by for under over through across behind beside between among near
toward towards against along around beneath above below inside outside past up down off out about after before next
upon within beyond via during until till
and or but nor so yet while as when where because if then though although unless whereas once
who whom whose which that
""".split())
CONJUNCTIONS = frozenset("and or but nor so yet while as when where because if then though although unless whereas "
                         "once who whom whose which that".split())
LABEL_WORDS = 7  # the longest subject label, in words

# People leaving, arriving. Who does it is the name just before the verb (`Mira watches Oskar
# leave`), or the clause's first name after `and` (`Oskar kisses Mira and walks out`).
_GO = (r"walk|run|storm|step|head|slip|rush|dash|march|stomp|race|stride|limp|wander|stumble|stagger|sneak|"
       r"creep|drive|ride|hurr(?:y|ie)|go|goe")
LEAVE = re.compile(
    rf"\b(?:(?:(?:{_GO})(?:s|es|ed|ing)?|went|ran|strode|crept|drove|rode)\s+(?:\w+ly\s+)?(?:out|off)\b"
    r"(?!\s+of\s+(?:breath|time|words|patience|luck|money|steam|options|ammo|gas)\b)"
    r"|\bexit(?:s|ed)?\b|\bleaves?\b|\b(?:is|are|was|were|has|have|had)\s+(?:gone|left)\b"
    r"|\b(?:is|are)\s+no\s+longer\s+(?:there|here|in\s+(?:the\s+)?(?:frame|shot|room|picture))"
    r"|\bdisappear(?:s|ed)?\b|\bvanish(?:es|ed)?\b"
    r"|\bout\s+of\s+(?:the\s+)?(?:frame|shot|view|sight|picture)\b)", re.I)
ARRIVE = re.compile(
    rf"\b(?:arriv(?:e|es|ed)|enter(?:s|ed)?|appear(?:s|ed)?|join(?:s|ed)?|return(?:s|ed)?"
    rf"|(?:(?:{_GO}|come|burst)(?:s|es|ed)?|came|ran|strode)\s+(?:\w+ly\s+)?in(?:to)?\b"
    r"|into\s+(?:the\s+)?(?:frame|shot|view|picture))", re.I)
# `leaves the room` is leaving; `leaves the letter on the table` is not.
PLACES = frozenset("""
room house frame shot building office lab kitchen bar stage scene car apartment flat party church station hall
hallway corridor shop store cafe café restaurant cell ward courtroom classroom garden yard court club hospital
hotel bedroom bathroom library studio theatre theater cabin tent train bus ship boat plane elevator lift square
street picture view table home city town village country island
""".split())
NEGATED = re.compile(r"(?:\b(?:not|never|almost|nearly|to|cannot)|n't)\s+(?:\w+ly\s+)?$", re.I)
CLAUSES = re.compile(r"[;.!?]+|\s+(?:while|as|but|then|before|after|until|when|whereupon|once)\s+", re.I)


class SketchOptions(BaseModel):
    """`[keyframe.options]` for the sketch board."""

    model_config = ConfigDict(extra="forbid")

    # The action and first line written under the panel.
    caption: bool = True
    # Rule-of-thirds guides.
    guides: bool = True


@dataclass(frozen=True)
class Framing:
    """How a panel frames the shot: the size it is drawn at, how much bigger than the shot's own
    size that draws a head (`zoom`), and how far the scene has moved (fractions of the frame)."""

    size: Size
    zoom: float = 1.0
    dx: float = 0.0
    dy: float = 0.0


def framing(shot: Shot, role: str) -> Framing:
    """The start framing is the shot's; the end framing is where its camera move arrives."""
    if role != "end":
        return Framing(shot.size)
    move = shot.movement
    if move in (Movement.DOLLY_IN, Movement.ZOOM, Movement.DOLLY_OUT):
        step = -1 if move == Movement.DOLLY_OUT else 1
        if shot.size in LADDER and 0 <= LADDER.index(shot.size) + step < len(LADDER):
            size = LADDER[LADDER.index(shot.size) + step]
            return Framing(size, HEAD[size] / HEAD[shot.size])
        return Framing(shot.size, PUSH ** step)
    if move in (Movement.PAN, Movement.TRUCK):
        return Framing(shot.size, dx=-PAN_SHIFT)
    if move in (Movement.TILT, Movement.CRANE):
        return Framing(shot.size, dy=TILT_SHIFT)
    return Framing(shot.size)


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
                         fix="real images: set keyframe.model_path to your Stable Diffusion model (a diffusers "
                             "folder or a .safetensors file) and the diffusion backend draws them",
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
        end = request.role == "end"
        rng = random.Random(seed)
        img = Image.new("RGB", (w, h), PAPER)
        d = ImageDraw.Draw(img)
        unit = min(w, h) / 360
        small = ImageFont.load_default(size=max(8, round(11 * unit)))

        # Title-safe: inside every frame of the camera move, with a margin.
        fl, ft, fr, fb = visible_area(shot.movement)
        pad = 10 * unit
        sl, st, sr, sb = w * fl + pad, h * ft + pad, max(w * fl + pad, w * fr - pad), max(h * ft + pad, h * fb - pad)

        # The labels' layout first: the picture's own marks keep clear of them.
        frame = framing(shot, request.role)
        stamp_w, stamp_h = d.textlength(TAG, font=small) + 12 * unit, 18 * unit
        sizes = shot.size.value + (f" to {frame.size.value}" if frame.size != shot.size else "")  # MCU to CU
        head_txt = f"{shot.number} · {sizes} · {shot.angle.value} · {shot.movement.value} · {shot.duration_s:g}s"
        font, badge_w = None, 0.0
        for size in range(max(8, round(13 * unit)), 7, -1):  # the header shrinks before it overflows
            font = ImageFont.load_default(size=size)
            badge_w = d.textlength("END", font=font) + 12 * unit + 6 * unit if end else 0
            if badge_w + d.textlength(head_txt, font=font) <= sr - sl:
                break
        header_w = badge_w + d.textlength(head_txt, font=font)
        header_y = st if stamp_w + 12 * unit + header_w <= sr - sl else st + stamp_h + 4 * unit
        top = header_y + stamp_h + 4 * unit  # below the stamp and header rows

        lines: list[str] = []
        if self.options.caption:
            caption = (shot.end_action.strip() or shot.action) if end else shot.action
            lines = fit_lines(d, caption, small, sr - sl - 12 * unit, 2)
            if shot.dialogue and not end:
                first = shot.dialogue[0]
                lines += fit_lines(d, f"{first.character.upper()}: “{first.text}”", small, sr - sl - 12 * unit, 1,
                                   close="”")
        band = (len(lines) * 15 + 8) * unit if lines else 0
        bottom = sb - band - 4 * unit if lines else sb  # above the caption

        # The picture: guides, horizon, people (or the subject), the camera's arrow.
        for i in (1, 2) if self.options.guides else ():  # rule of thirds
            _dashed(d, (w * i / 3, 0), (w * i / 3, h), GUIDE)
            _dashed(d, (0, h * i / 3), (w, h * i / 3), GUIDE)
        horizon = HORIZON[shot.angle]
        if horizon is not None:
            horizon = min(horizon + frame.dy, 0.93) if frame.dy else horizon
        if horizon is not None and frame.size not in (Size.ECU, Size.CU, Size.INSERT):
            d.line([(0, h * horizon), (w, h * horizon)], fill=INK, width=max(1, round(unit)))
        progress(0.3, "framing")
        cancel.check()

        at_start, at_end = people(shot)
        start_names = at_start[:4]
        names = at_end[:4] if end else start_names
        head = HEAD[shot.size] * min(w, h) * frame.zoom  # a tall frame (9:16) sizes heads by its width
        lw = max(1, round(2 * unit))
        dy = frame.dy * h
        name_tags: list[tuple[str, float, float]] = []  # (name, centre x, top y) in the picture
        box_jitter = rng.uniform(-w * .04, w * .04)
        if shot.size == Size.INSERT or not start_names and not names:
            # No one in shot: a subject box, sized by the framing, named by the action.
            frac = min(0.85, BOX.get(shot.size, 0.3) * frame.zoom)
            bw, bh = w * frac, h * frac * 0.8
            x0 = (w - bw) / 2 + box_jitter * frame.zoom + w * frame.dx
            y0 = (h - bh) / 2 - h * 0.05 + dy
            d.rounded_rectangle([x0, y0, x0 + bw, y0 + bh], radius=8 * unit, outline=INK, width=lw)
            text = (shot.end_action.strip() or shot.action) if end else shot.action
            label = subject_label(text, lambda s: d.textlength(s, font=small), bw - 16 * unit,
                                  prefix="INSERT · " if shot.size == Size.INSERT else "")
            for i, line in enumerate(label):
                d.text((x0 + 8 * unit, y0 + 6 * unit + i * 13 * unit), line, font=small, fill=INK)
        elif names:
            xs = _placements(shot, start_names, names, frame, rng)
            if shot.angle in (Angle.OVERHEAD, Angle.AERIAL) and shot.size not in (Size.ECU, Size.CU, Size.MCU):
                for name, (fx, fy) in zip(names, xs):  # seen from above: shoulders and heads as rings
                    cx = w * fx
                    cy = h * (0.45 + fy) + dy
                    r = max(head, 6 * unit)
                    d.ellipse([cx - r * 1.8, cy - r, cx + r * 1.8, cy + r], fill=CLOTH, outline=INK, width=lw)
                    d.ellipse([cx - r * 0.8, cy - r * 0.8, cx + r * 0.8, cy + r * 0.8], fill=SKIN, outline=INK,
                              width=lw)
                    name_tags.append((name, cx, cy + r + 4 * unit))
            else:
                if shot.size == Size.OTS:  # a shoulder in the foreground
                    d.ellipse([-w * 0.12, h * 0.35, w * 0.3, h * 1.4], fill=CLOTH, outline=INK, width=lw)
                for name, (fx, _) in zip(names, xs):
                    cx = w * fx
                    if frame.size in CLOSE:
                        cy = h * CLOSE[frame.size] + dy
                    else:
                        feet = min(h * 0.9, h * (horizon if horizon is not None else 0.6) + h * 0.12)
                        cy = feet - head * 3.5
                    _figure(d, cx, cy, head, unit)
                    name_tags.append((name, cx, cy + head * 0.6 + 4 * unit if head < h * 0.5 else h * 0.1))
        if shot.size == Size.POV:
            d.ellipse([-w * 0.1, -h * 0.25, w * 1.1, h * 1.25], outline=INK, width=round(3 * unit))
        progress(0.6, "camera")
        _camera_arrow(d, shot.movement, (sl, top, sr, max(top, bottom)), w, h, unit, end)
        if shot.angle == Angle.DUTCH:  # the canted frame's own edge turns with it
            d.rectangle([0, 0, w - 1, h - 1], outline=INK, width=max(1, round(unit)))
            img = img.rotate(6, resample=Image.BICUBIC, fillcolor=PAPER)
            d = ImageDraw.Draw(img)
            name_tags = [(n, *_rotated(x, y, w, h, 6)) for n, x, y in name_tags]

        # The labels, level and inside the safe area.
        for name, cx, ty in name_tags:
            tw = d.textlength(name, font=small)
            tx = min(max(cx - tw / 2, sl), max(sl, sr - tw))
            ty = min(max(ty, top), max(top, bottom - 13 * unit))
            d.rectangle([tx - 3, ty - 1, tx + tw + 3, ty + 13 * unit], fill=PAPER)
            d.text((tx, ty), name, font=small, fill=INK)
        if lines:  # a white band to the frame's foot, its words inside the safe area
            d.rectangle([0, sb - band, w, h], fill=(255, 255, 255))
        for i, text in enumerate(lines):
            d.text((sl + 6 * unit, sb - band + (4 + 15 * i) * unit), text, font=small, fill=INK)
        d.rectangle([sl, st, sl + stamp_w, st + stamp_h], fill=LABEL)
        d.text((sl + 6 * unit, st + stamp_h / 2), TAG, font=small, fill=(255, 255, 255), anchor="lm")
        hx, mid = max(sl, sr - header_w), header_y + stamp_h / 2
        d.rectangle([hx - 4 * unit, header_y, sr, header_y + stamp_h], fill=PAPER)
        if end:  # the END badge: this panel is where the shot arrives
            d.rectangle([hx, header_y, hx + badge_w - 6 * unit, header_y + stamp_h], fill=INK)
            d.text((hx + 6 * unit, mid), "END", font=font, fill=(255, 255, 255), anchor="lm")
        d.text((hx + badge_w, mid), head_txt, font=font, fill=INK, anchor="lm")
        d.rectangle([0, 0, w - 1, h - 1], outline=INK, width=max(1, round(unit)))

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


# ---- who is in the picture -------------------------------------------------------------------------
def people(shot: Shot) -> tuple[list[str], list[str]]:
    """Who is in the picture at the start of the shot and at its end. The end action takes out
    whoever it says leaves (`walks out`, `exits`, `leaves`, `is gone`) and brings in whoever it
    names who was not there (a character of the shot it says arrives, or a new name)."""
    characters = list(dict.fromkeys(shot.characters))
    text = shot.end_action.strip()
    if not text:
        return characters, characters
    from ...project.people import find_people

    cast = find_people(text, (), tuple(characters))

    def display(person) -> str:
        forms = {f.lower() for f in person.forms()}
        return next((c for c in characters if c.lower() in forms or c.lower().split()[-1] in forms), person.name)

    mentioned = [(a, b, display(p)) for a, b, p in cast.mentions(text)]
    named_before = {display(p) for _, _, p in cast.mentions(shot.action)}
    # New names only where capitals tell names from words; in all-lowercase text only the shot's own count.
    new = [n for _, _, n in mentioned if n not in characters and not cast.lowercase]
    leaving, arriving = set(), set()
    pos = 0
    for clause in CLAUSES.split(text):
        start = text.find(clause, pos)
        pos = start + len(clause)
        here = [(a - start, b - start, n) for a, b, n in mentioned if start <= a < start + len(clause)]
        before_clause = [n for a, _, n in mentioned if a < start]
        for pattern, into in ((LEAVE, leaving), (ARRIVE, arriving)):
            for m in pattern.finditer(clause):
                if NEGATED.search(clause[:m.start()]):
                    continue
                if pattern is LEAVE and m.group(0).lower().startswith("leave"):
                    obj = re.match(r"\s+(?:the|a|an|his|her|their|its|my|our|your|this|that)\s+(\S+)(?:\s+(\S+))?",
                                   clause[m.end():])
                    if obj and not {w.strip(",.").lower() for w in obj.groups() if w} & PLACES:
                        continue  # leaves something somewhere: still here
                into.update(_doers(clause, m, here, before_clause, characters))
    start_people = [c for c in characters if not (c in arriving and c not in named_before)]
    end_people = [c for c in start_people if c not in leaving]
    end_people += [n for n in dict.fromkeys([*(c for c in characters if c not in start_people), *new])
                   if n not in leaving and n not in end_people]
    return start_people, end_people


def _doers(clause: str, m: re.Match, here: list[tuple[int, int, str]], before_clause: list[str],
           everyone: list[str]) -> list[str]:
    """Who does the verb `m` in `clause`: the name just before it and whoever is joined to that
    name by `and` or a comma; after `and` + verb, the clause's first name; `with` adds company."""
    before = [x for x in here if x[1] <= m.start()]
    out: list[str] = []
    if before:
        if re.search(r"\band\s+(?:\w+ly\s+)?$", clause[:m.start()]):
            chosen = 0  # `Oskar kisses Mira and walks out`: the subject is the first name
            while chosen + 1 < len(before) and re.fullmatch(r"\s*(?:,|and|&|,\s*and)\s*",
                                                            clause[before[chosen][1]:before[chosen + 1][0]]):
                chosen += 1
            out = [n for _, _, n in before[:chosen + 1]]
        else:
            i = len(before) - 1
            out = [before[i][2]]
            while i > 0 and re.fullmatch(r"\s*(?:,|and|&|,\s*and)\s*", clause[before[i - 1][1]:before[i][0]]):
                i -= 1
                out.append(before[i][2])
    else:
        lead = clause[:m.start()].lower()
        if re.search(r"\b(?:everyone|everybody|all|both|they|the others|the rest)\b", lead):
            out = list(everyone)
        elif re.search(r"\b(?:she|he)\b", lead) and before_clause:
            out = [before_clause[-1]]
        elif not clause[:m.start()].strip() and len(everyone) == 1:
            out = list(everyone)
    company = re.match(r"(?:\s+\w+){0,3}?\s+with\s+", clause[m.end():])
    if company:
        after = [x for x in here if x[0] >= m.end() + company.end()]
        if after and after[0][0] == m.end() + company.end():
            out.append(after[0][2])
            for prev, nxt in zip(after, after[1:]):
                if not re.fullmatch(r"\s*(?:,|and|&|,\s*and)\s*", clause[prev[1]:nxt[0]]):
                    break
                out.append(nxt[2])
    return out


def _placements(shot: Shot, start: list[str], names: list[str], frame: Framing,
                rng: random.Random) -> list[tuple[float, float]]:
    """Where each of `names` stands: (x as a fraction of the width, a small seeded vertical
    offset as a fraction of the height). At the start people stand evenly spaced; at the end those
    who stayed keep their place as the camera move carried it, and newcomers take the widest gap."""
    if shot.size == Size.OTS:
        slots = [0.64 + i * 0.12 for i in range(len(start))]
    else:
        slots = [(i + 1) / (len(start) + 1) for i in range(len(start))]
    where = {n: (x + rng.uniform(-0.03, 0.03), rng.uniform(-0.05, 0.05)) for n, x in zip(start, slots)}
    spread = min(frame.zoom, 1.5)  # a push-in spreads people from the centre, a pull-out gathers them
    placed = {n: (0.5 + (where[n][0] - 0.5) * spread + frame.dx, where[n][1]) for n in names if n in where}
    newcomers = [n for n in names if n not in placed]
    if not placed:
        step = 1 / (len(newcomers) + 1)
        placed = {n: (step * (i + 1) + rng.uniform(-0.03, 0.03), rng.uniform(-0.05, 0.05))
                  for i, n in enumerate(newcomers)}
    for n in newcomers:
        if n not in placed:
            spots = [0.15 + 0.7 * i / 28 for i in range(29)]
            x = max(spots, key=lambda x: (min(abs(x - p) for p, _ in placed.values()), -x))
            placed[n] = (x, rng.uniform(-0.05, 0.05))
    return [placed[n] for n in names]


# ---- words on the panel ---------------------------------------------------------------------------
def fit_lines(d: ImageDraw.ImageDraw, text: str, font, width: float, lines: int, close: str = "") -> list[str]:
    """`text` wrapped into at most `lines` lines of `width` pixels, broken at spaces. When it does
    not all fit, the last line ends at a whole word (never an article, preposition or conjunction)
    with "…" (and `close`, e.g. a closing quote, after it)."""
    return _wrap(text, lambda s: d.textlength(s, font=font), width, lines, close)[0]


def _wrap(text: str, measure: Callable[[str], float], width: float, lines: int,
          close: str = "") -> tuple[list[str], bool]:
    words = text.split()
    out: list[str] = []
    i = 0
    while i < len(words) and len(out) < lines:
        line = words[i]
        if measure(line) > width:  # one word wider than the line: the only cut there is
            while len(line) > 1 and measure(line + "…") > width:
                line = line[:-1]
            out.append(line + "…")
            return out, True
        i += 1
        while i < len(words) and measure(f"{line} {words[i]}") <= width:
            line += f" {words[i]}"
            i += 1
        out.append(line)
    if i >= len(words):
        return out, False
    last = out[-1].split()
    while len(last) > 1 and (measure(" ".join(last) + "…" + close) > width or _function(last[-1])):
        last.pop()
    out[-1] = " ".join(last).rstrip(",;:-—") + "…" + close
    return out, True


def _function(word: str) -> bool:
    return word.strip(".,;:!?\"'“”‘’()").lower() in FUNCTION_WORDS


def subject_label(text: str, measure: Callable[[str], float], width: float, prefix: str = "",
                  lines: int = 2) -> list[str]:
    """The subject box's label from the action, camera words left out: its first clause when that
    is short, else its first phrase (`The old brass key`, from `The old brass key in the lock
    turns…`), ending on a whole word that is no article, preposition or conjunction; wrapped to
    `width` pixels in at most `lines` lines, with "…" only when no phrase fits."""
    clauses = re.split(r"[.;:!?()\"“”—]|\s-\s", _without_camera_words(text))
    clause = next((c.strip() for c in clauses if c.strip()), "")
    words = clause.split()
    if not words:
        return _wrap(prefix + "Subject", measure, width, lines)[0]

    def fits(k: int) -> bool:
        return not _wrap(prefix + _capital(" ".join(words[:k]).rstrip(",")), measure, width, lines)[1]

    # Phrase ends, strongest first: the clause's end or a comma, then before a conjunction, then
    # before a preposition; the longest of the strongest that fits.
    ends = []
    for k in range(1, min(len(words), LABEL_WORDS) + 1):
        nxt = words[k].lower().strip(",") if k < len(words) else ""
        strength = 3 if k == len(words) or words[k - 1].endswith(",") else \
            2 if nxt in CONJUNCTIONS else 1 if nxt in BREAK_BEFORE else 0
        if strength and not _function(words[k - 1]):
            ends.append((strength, k))
    for _, k in sorted(ends, reverse=True):
        if fits(k):
            return _wrap(prefix + _capital(" ".join(words[:k]).rstrip(",")), measure, width, lines)[0]
    for k in range(min(len(words), LABEL_WORDS), 0, -1):  # no phrase fits: "…" after a whole word
        text = prefix + _capital(" ".join(words[:k]).rstrip(",;")) + ("…" if k < len(words) else "")
        if not _function(words[k - 1]) and not _wrap(text, measure, width, lines)[1]:
            return _wrap(text, measure, width, lines)[0]
    return _wrap(prefix + _capital(clause), measure, width, lines)[0]


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


_LEAD = r"^\s*(?:(?:a|an|the)\s+)?(?:(?:slow|slowly|fast|quick|gentle|snap)\s+)?(?:{})(?:\s+(?:shot|view|angle))?"
_DIRECTION = (r"(?:\s+(?:up|down|in|out|back|left|right|slowly|across|over|along|past|around|through|on|of|at|to|"
              r"onto|into|toward|towards|from|with)\b)")


def _without_camera_words(text: str) -> str:
    """`text` without the camera direction it opens with (`Close on`, `Wide shot:`, `Slow push in
    on`, `Pan across`); a camera word inside the action (`the old truck`) stays, and so does a
    move word that opens the action itself (`Truck stops at the gate`)."""
    from ...project.camera_words import ANGLE_WORDS, MOVE_WORDS, SIZE_WORDS

    framings = [_LEAD.format(p) + _DIRECTION + r"*\s*[:,\-—]?\s*" for p, _ in (*SIZE_WORDS, *ANGLE_WORDS)]
    moves = [_LEAD.format(p) + rf"(?:{_DIRECTION}+\s*[:,\-—]?|\s*[:,\-—])\s*" for p, _ in MOVE_WORDS]
    while True:
        before = text
        for pat in (*framings, *moves):
            text = re.sub(pat, "", text, count=1, flags=re.I)
        if text == before:
            return text.strip()


# ---- drawing -------------------------------------------------------------------------------------------
def _rotated(x: float, y: float, w: int, h: int, degrees: float) -> tuple[float, float]:
    """Where a point lands when the image turns `degrees` counter-clockwise about its centre."""
    a = math.radians(degrees)
    dx, dy = x - w / 2, y - h / 2
    return w / 2 + dx * math.cos(a) + dy * math.sin(a), h / 2 - dx * math.sin(a) + dy * math.cos(a)


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
    d.rounded_rectangle(body, radius=r * 1.2, fill=CLOTH, outline=INK, width=lw)
    d.ellipse([cx - r, cy - r * 1.15, cx + r, cy + r * 1.15], fill=SKIN, outline=INK, width=lw)
    d.line([(cx - r * 0.8, cy), (cx + r * 0.8, cy)], fill=GUIDE, width=max(1, lw // 2))  # eye line


def _arrow(d: ImageDraw.ImageDraw, a, b, unit: float) -> None:
    d.line([a, b], fill=LABEL, width=max(2, round(3 * unit)))
    ang = math.atan2(b[1] - a[1], b[0] - a[0])
    s = 10 * unit
    for da in (2.6, -2.6):
        d.line([b, (b[0] + s * math.cos(ang + da), b[1] + s * math.sin(ang + da))], fill=LABEL,
               width=max(2, round(3 * unit)))


def _camera_arrow(d: ImageDraw.ImageDraw, move: Movement, area: tuple[float, float, float, float], w: int, h: int,
                  unit: float, end: bool = False) -> None:
    """The camera move's mark, inside `area` (between the header and the caption); a zoom's
    target frame on the start panel only (the end panel is that frame)."""
    x0, y0, x1, y1 = area
    aw, ah = x1 - x0, y1 - y0
    if move in (Movement.DOLLY_IN, Movement.ZOOM, Movement.DOLLY_OUT):
        inward = move != Movement.DOLLY_OUT
        for cx, cy in ((x0, y0), (x1, y0), (x0, y1), (x1, y1)):
            sx, sy = (1 if cx == x0 else -1), (1 if cy == y0 else -1)
            outer = (cx + sx * aw * 0.04, cy + sy * ah * 0.04)
            inner = (cx + sx * aw * 0.16, cy + sy * ah * 0.22)
            _arrow(d, outer, inner, unit) if inward else _arrow(d, inner, outer, unit)
        if move == Movement.ZOOM and not end:
            d.rectangle([w * 0.3, h * 0.3, w * 0.7, h * 0.7], outline=LABEL, width=max(1, round(unit)))
    elif move in (Movement.PAN, Movement.TRUCK):
        y = y0 + 12 * unit
        _arrow(d, (w * 0.3, y), (w * 0.7, y), unit)
        if move == Movement.TRUCK:
            _arrow(d, (w * 0.3, y + 8 * unit), (w * 0.7, y + 8 * unit), unit)
    elif move in (Movement.TILT, Movement.CRANE):
        x = x1 - 14 * unit
        _arrow(d, (x, y0 + ah * 0.75), (x, y0 + ah * 0.25), unit)
        if move == Movement.CRANE:
            d.arc([x - 40 * unit, y0 + ah * 0.25, x + 10 * unit, y0 + ah * 0.75], 90, 270, fill=LABEL,
                  width=max(1, round(unit)))
    elif move == Movement.HANDHELD:
        y = y0 + 12 * unit
        pts = [(w * 0.35 + i * w * 0.03, y + (6 * unit if i % 2 else -6 * unit)) for i in range(11)]
        d.line(pts, fill=LABEL, width=max(2, round(2 * unit)))
