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
