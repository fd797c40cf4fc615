"""Revision by conversation: a director's message → structured edit operations →
a new beat sheet. Operations are validated pydantic types; shot references
must exist; nothing here takes a path or a command from model output.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from ..project.models import Angle, BeatSheet, Character, Movement, Shot, Size, Step
from .notes import ANGLE_WORDS, MOVE_WORDS, SIZE_WORDS, _first

ShotRef = Annotated[str, Field(min_length=1, max_length=8)]
EDITABLE = ("size", "angle", "movement", "lens", "duration_s", "action", "image_prompt")


class _Op(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ShotChanges(_Op):
    size: Size | None = None
    angle: Angle | None = None
    movement: Movement | None = None
    lens: Annotated[str, Field(max_length=40)] | None = None
    duration_s: Annotated[float, Field(gt=0, le=120)] | None = None
    action: Annotated[str, Field(min_length=1, max_length=600)] | None = None
    image_prompt: Annotated[str, Field(min_length=1, max_length=200)] | None = None

    def given(self) -> dict:
        return {k: v for k, v in self.model_dump().items() if v is not None}


class Change(_Op):
    op: Literal["change"] = "change"
    shot: ShotRef
    changes: ShotChanges


class Add(_Op):
    op: Literal["add"] = "add"
    after: Annotated[str, Field(max_length=8)] = ""  # "" = first
    action: Annotated[str, Field(min_length=1, max_length=600)]
    size: Size | None = None


class Remove(_Op):
    op: Literal["remove"] = "remove"
    shot: ShotRef


class Move(_Op):
    op: Literal["move"] = "move"
    shot: ShotRef
    after: Annotated[str, Field(max_length=8)] = ""


class Line(_Op):
    op: Literal["line"] = "line"
    shot: Annotated[str, Field(max_length=8)] = ""  # "" = every shot where the character speaks
    character: Annotated[str, Field(min_length=1, max_length=80)]
    delivery: Annotated[str, Field(max_length=80)] | None = None
    text: Annotated[str, Field(min_length=1, max_length=1000)] | None = None


class Speaker(_Op):
    """Who says a line the notes left unattributed (the answer to "Who says …?")."""

    op: Literal["speaker"] = "speaker"
    shot: ShotRef
    line: int = Field(ge=0, lt=40)  # index in the shot's dialogue
    character: Annotated[str, Field(min_length=1, max_length=80)]


class Alternatives(_Op):
    op: Literal["alternatives"] = "alternatives"
    shots: list[ShotRef] = Field(min_length=1, max_length=10)
    count: int = Field(default=2, ge=1, le=4)


class Render(_Op):
    """A proposed tool call; the pipeline runs it only after approval."""

    op: Literal["render"] = "render"
    step: Literal["keyframes", "motion", "voice", "animatic"]
    shots: list[ShotRef] = Field(default_factory=list, max_length=60)  # empty = all


class Clarify(_Op):
    op: Literal["clarify"] = "clarify"
    question: Annotated[str, Field(min_length=3, max_length=300)]


EditOp = Annotated[Change | Add | Remove | Move | Line | Speaker | Alternatives | Render | Clarify,
                   Field(discriminator="op")]


class EditPlan(_Op):
    ops: list[EditOp] = Field(default_factory=list, max_length=12)


PLAN = TypeAdapter(EditPlan)


class EditError(ValueError):
    """An op that cannot apply to this sheet (unknown shot, …); said in words."""


# ---- applying ---------------------------------------------------------------
def find_shot(sheet: BeatSheet, ref: str) -> Shot:
    try:
        return sheet.shot(ref)
    except KeyError:
        raise EditError(f"there is no shot {ref}; shots are {', '.join(s.number for s in sheet.shots)}") from None


def _insert_number(sheet: BeatSheet, after: Shot | None) -> str:
    """Industry numbering: a shot added after 4 is 4A (then 4B), so others keep theirs."""
    if after is None:
        base, existing = "1", {s.number for s in sheet.shots}
        # before the first shot: use "1" if free, else a letter on 0 is not a valid number; take 1A
        return base if base not in existing else next(f"1{c}" for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                      if f"1{c}" not in existing)
    root = re.match(r"\d+", after.number).group(0)
    existing = {s.number for s in sheet.shots}
    for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ":
        if f"{root}{c}" not in existing:
            return f"{root}{c}"
    raise EditError(f"no free shot number after {after.number}")


def apply_ops(sheet: BeatSheet, ops: list) -> tuple[BeatSheet, list[str]]:
    """Apply edit ops to a copy of `sheet`; returns it and a sentence per op."""
    new = sheet.model_copy(deep=True)
    said: list[str] = []
    for op in ops:
        if isinstance(op, Change):
            shot = find_shot(new, op.shot)
            given = op.changes.given()
            if not given:
                raise EditError(f"nothing to change in shot {shot.number}")
            updated = Shot.model_validate({**shot.model_dump(), **given})
            new.shots[new.shots.index(shot)] = updated
            said.append(f"shot {shot.number}: " + ", ".join(f"{k} → {v.value if hasattr(v, 'value') else v}"
                                                          for k, v in given.items()))
        elif isinstance(op, Add):
            after = find_shot(new, op.after) if op.after else None
            number = _insert_number(new, after)
            idx = new.shots.index(after) + 1 if after else 0
            scene = after.scene if after else (new.shots[0].scene if new.shots else 1)
            names = [c.name for c in new.characters
                     if re.search(r"\b" + re.escape(c.name) + r"\b", op.action, re.I)]
            shot = Shot(scene=scene, number=number, action=op.action, characters=names,
                        size=op.size or _first(SIZE_WORDS, op.action, Size.MS),
                        angle=_first(ANGLE_WORDS, op.action, Angle.EYE),
                        movement=_first(MOVE_WORDS, op.action, Movement.STATIC),
                        duration_s=3.0, image_prompt=op.action[:120], seed=len(new.shots) * 7919 + idx)
            new.shots.insert(idx, shot)
            said.append(f"added shot {number}" + (f" after {after.number}" if after else " at the start"))
        elif isinstance(op, Remove):
            shot = find_shot(new, op.shot)
            new.shots.remove(shot)
            said.append(f"cut shot {shot.number}")
        elif isinstance(op, Move):
            shot = find_shot(new, op.shot)
            after = find_shot(new, op.after) if op.after else None
            if after is not None and after.number == shot.number:
                raise EditError("a shot cannot move after itself")
            new.shots.remove(shot)
            new.shots.insert(new.shots.index(after) + 1 if after else 0, shot)
            said.append(f"moved shot {shot.number}" + (f" after {after.number}" if after else " to the start"))
        elif isinstance(op, Line):
            targets = [find_shot(new, op.shot)] if op.shot else new.shots
            hits = 0
            for shot in targets:
                for line in shot.dialogue:
                    if line.character.lower() == op.character.lower():
                        if op.delivery is not None:
                            line.delivery = op.delivery
                        if op.text is not None:
                            line.text = op.text
                        hits += 1
            if not hits:
                where = f"in shot {op.shot}" if op.shot else "anywhere"
                raise EditError(f"{op.character} has no line {where}")
            said.append(f"{op.character}'s line" + ("s" if hits > 1 else "") +
                        (f": delivery → {op.delivery}" if op.delivery is not None else "") +
                        (f": text → “{op.text}”" if op.text is not None else ""))
        elif isinstance(op, Speaker):
            shot = find_shot(new, op.shot)
            if op.line >= len(shot.dialogue):
                raise EditError(f"shot {shot.number} has no line {op.line + 1}")
            line = shot.dialogue[op.line]
            known = next((c.name for c in new.characters if c.name.lower() == op.character.lower()), None)
            line.character = known or op.character.strip()
            line.candidates = []
            if line.character not in shot.characters:
                shot.characters.append(line.character)
            said.append(f"shot {shot.number}: {line.character} says “{line.text[:40]}”")
        else:
            raise EditError(f"{op.op} is not an edit of the sheet")
    names = {c.name for c in new.characters}
    for shot in new.shots:
        for ch in [*shot.characters, *(dl.character for dl in shot.dialogue)]:
            if ch and ch not in names:
                new.characters.append(Character(name=ch))
                names.add(ch)
    return BeatSheet.model_validate(new.model_dump()), said


# ---- understanding requests by rules ----------------------------------------
_NUM = r"(\d{1,4}[A-Za-z]?)"
_SIZES = {"extreme close-up": "ECU", "extreme close up": "ECU", "ecu": "ECU", "close-up": "CU", "close up": "CU",
          "closeup": "CU", "cu": "CU", "medium close-up": "MCU", "medium close up": "MCU", "mcu": "MCU",
          "medium shot": "MS", "medium": "MS", "mid shot": "MS", "ms": "MS", "medium wide": "MWS", "mws": "MWS",
          "wide shot": "WS", "wide": "WS", "ws": "WS", "extreme wide": "EWS", "ews": "EWS",
          "over the shoulder": "OTS", "over-the-shoulder": "OTS", "ots": "OTS", "pov": "POV", "insert": "INSERT"}
_ORDINALS = {"first": 0, "opening": 0, "second": 1, "third": 2, "fourth": 3, "fifth": 4, "last": -1,
             "final": -1, "closing": -1}
_WORDNUM = {"one": 1, "two": 2, "three": 3, "four": 4, "a couple of": 2, "a few": 3}
_STEPS = {"keyframe": "keyframes", "keyframes": "keyframes", "frame": "keyframes", "frames": "keyframes",
          "image": "keyframes", "images": "keyframes", "board": "keyframes", "boards": "keyframes",
          "motion": "motion", "in-betweens": "motion", "inbetweens": "motion", "voice": "voice",
          "voices": "voice", "dialogue": "voice", "lines": "voice", "animatic": "animatic"}


def _shot_refs(text: str, sheet: BeatSheet) -> list[str]:
    refs = []
    if m := re.search(r"shots?\s+" + _NUM + r"\s*(?:-|–|to|through)\s*" + _NUM, text, re.I):
        a, b = m.group(1).upper(), m.group(2).upper()
        numbers = [s.number for s in sheet.shots]
        if a in numbers and b in numbers:
            i, j = numbers.index(a), numbers.index(b)
            return numbers[min(i, j): max(i, j) + 1]
    for m in re.finditer(r"(?:shots?|#)\s*" + _NUM + r"((?:\s*(?:,|and|&)\s*" + _NUM + r")*)", text, re.I):
        refs.append(m.group(1).upper())
        refs += [r.upper() for r in re.findall(_NUM, m.group(2) or "")]
    for word, idx in _ORDINALS.items():
        if re.search(rf"\b(?:the\s+)?{word}\s+shot\b|\bthe\s+{word}\b", text, re.I) and sheet.shots:
            refs.append(sheet.shots[idx].number)
    return list(dict.fromkeys(refs))


def rule_ops(text: str, sheet: BeatSheet) -> list:
    """Understand the common requests without a model; [] when unsure."""
    t = text.strip()
    low = t.lower()
    refs = _shot_refs(t, sheet)

    # proposed tool calls: "render keyframes for shots 2-3", "voice the lines", "make the animatic"
    if m := re.search(r"\b(render|make|generate|draw|create|voice|do|run|build)\b(?:\s+(?:the|new|me))?\s*"
                      r"(keyframes?|frames?|images?|boards?|motion|in-?betweens|voices?|dialogue|lines|animatic)?",
                      low):
        verb, noun = m.group(1), m.group(2)
        step = _STEPS.get((noun or "").replace("in-between", "inbetween")) or ("voice" if verb == "voice" else None)
        if step and not re.search(r"\b(make|set)\s+(?:shot|the|it)\b.*\b(a|an)\b", low):
            return [Render(step=step, shots=refs)]

    if m := re.search(r"\b(\w+(?:\s+of)?|\d)\s+alternatives?\b|\balternatives?\b", low):
        count = 2
        if m.group(1):
            count = _WORDNUM.get(m.group(1), int(m.group(1)) if m.group(1).isdigit() else 2)
        return [Alternatives(shots=refs or [sheet.shots[0].number], count=max(1, min(4, count)))] \
            if sheet.shots else []

    if re.search(r"\b(cut|remove|delete|drop|lose|kill)\b", low) and refs and not re.search(r"cut to", low):
        return [Remove(shot=r) for r in refs]

    if m := re.search(r"\b(?:add|insert)\b\s+(?:a\s+|an\s+|another\s+)?(?:(\w[\w\- ]*?)\s+)?shot\s+(?:of\s+)?(.+?)"
                      r"(?:\s+(after|before)\s+(?:shot\s+)?" + _NUM + r")?\s*[.!]?$", t, re.I):
        kind, action, where, ref = m.group(1), m.group(2).strip(), m.group(3), m.group(4)
        size = _SIZES.get((kind or "").lower())
        action = action[0].upper() + action[1:]
        if not action.endswith((".", "!", "?")):
            action += "."
        after = ""
        if ref:
            ref = ref.upper()
            if where and where.lower() == "before":
                numbers = [s.number for s in sheet.shots]
                after = numbers[numbers.index(ref) - 1] if ref in numbers and numbers.index(ref) > 0 else ""
            else:
                after = ref
        elif sheet.shots:
            after = sheet.shots[-1].number
        return [Add(after=after, action=action, size=size)]

    if m := re.search(r"\bmove\s+shot\s+" + _NUM + r"\s+(after|before)\s+(?:shot\s+)?" + _NUM, t, re.I):
        shot, where, ref = m.group(1).upper(), m.group(2).lower(), m.group(3).upper()
        numbers = [s.number for s in sheet.shots]
        if where == "after":
            return [Move(shot=shot, after=ref)]
        i = numbers.index(ref) if ref in numbers else 0
        prev = [n for n in numbers[:i] if n != shot]
        return [Move(shot=shot, after=prev[-1] if prev else "")]

    if m := re.search(r"\bswap\s+(?:shots?\s+)?" + _NUM + r"\s+(?:and|with)\s+(?:shot\s+)?" + _NUM, t, re.I):
        a, b = m.group(1).upper(), m.group(2).upper()
        numbers = [s.number for s in sheet.shots]
        if a in numbers and b in numbers:
            ia, ib = numbers.index(a), numbers.index(b)
            first, second = (a, b) if ia < ib else (b, a)
            return [Move(shot=first, after=second),
                    Move(shot=second, after=numbers[min(ia, ib) - 1] if min(ia, ib) > 0 else "")]

    # "Mira should whisper the line", "make Jonas shout"
    for ch in (c.name for c in sheet.characters):
        if re.search(rf"\b{re.escape(ch)}\b", t, re.I) and (
                dm := re.search(r"\b(whisper|shout|yell|scream|mutter|murmur|sing|cry|snap)s?(?:ing)?\b", low)):
            delivery = {"whisper": "whispers", "shout": "shouts", "yell": "shouts", "scream": "screams",
                        "mutter": "mutters", "murmur": "murmurs", "sing": "sings", "cry": "cries",
                        "snap": "snaps"}[dm.group(1)]
            new_text = re.search(r"[\"“]([^\"”]{1,1000})[\"”]", t)
            return [Line(shot=refs[0] if refs else "", character=ch, delivery=delivery,
                         text=new_text.group(1) if new_text else None)]

    if refs:
        changes: dict = {}
        if m := re.search(r"(\d+(?:\.\d+)?)\s*(?:s|sec|secs|seconds)\b", low):
            changes["duration_s"] = float(m.group(1))
        for phrase in sorted(_SIZES, key=len, reverse=True):
            if re.search(rf"\b{re.escape(phrase)}\b", low):
                changes["size"] = _SIZES[phrase]
                break
        angle = _first(ANGLE_WORDS, low, None)
        if angle is not None:
            changes["angle"] = angle
        move = _first(MOVE_WORDS, low, None)
        if move is not None:
            changes["movement"] = move
        elif re.search(r"\b(static|locked off|still)\b", low):
            changes["movement"] = Movement.STATIC
        if m := re.search(r"\b(\d{2,3})\s*mm\b", low):
            changes["lens"] = f"{m.group(1)}mm"
        if changes:
            return [Change(shot=r, changes=ShotChanges(**changes)) for r in refs]
    return []


def describe_render(op: Render, sheet: BeatSheet) -> str:
    what = {"keyframes": "keyframes", "motion": "motion", "voice": "voice lines", "animatic": "the animatic"}[op.step]
    return f"make {what}" + (f" for shots {', '.join(op.shots)}" if op.shots else " for every shot")


def render_targets(op: Render, sheet: BeatSheet) -> tuple[Step, set[str] | None]:
    """The step and the targets (shot or line ids) a render op asks for; checks the shots exist."""
    step = Step(op.step)
    if not op.shots:
        return step, None
    shots = [find_shot(sheet, r) for r in op.shots]
    if step == Step.VOICE:
        return step, {line.id for s in shots for line in s.dialogue}
    if step == Step.ANIMATIC:
        return step, None
    return step, {s.id for s in shots}
