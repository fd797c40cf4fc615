"""What Fountain and Final Draft share: a screenplay as a list of elements, the
`[[SHOT 4A: CU, dolly-in, 3 s]]` note that carries a shot's camera, and the
reading of a screenplay into scenes, shots and lines.

Writing and reading meet here so that a project exported to a screenplay and
imported again gives back the same scenes, shots, lines and camera fields.
A screenplay written by hand (no SHOT notes) imports too: each action
paragraph becomes a shot, its camera read from its words, and the dialogue
below an action plays in that shot.
"""

from __future__ import annotations

import re
import unicodedata
import zlib
from dataclasses import dataclass, field

from ..agents.notes import TRANSITION_LINE, default_image_prompt, explicit_camera
from ..project.camera_words import ANGLE_WORDS, MOVE_WORDS, SIZE_WORDS
from ..project.camera_words import first as first_word
from ..project.models import Angle, BeatSheet, Character, DialogueLine, Movement, Scene, Shot, Size
from ..project.models import SHOT_NUMBER_RE
from ..project.notes_file import without_controls
from ..project.store import ProjectError

SHOT_NOTE = re.compile(r"^\s*SHOT(?:\s+([0-9]{1,4}[A-Za-z]?))?\s*:\s*(.*)$", re.I | re.S)
DURATION = re.compile(r"^(\d{1,3}(?:\.\d+)?)\s*(?:s|sec|secs|seconds?)$", re.I)
LENS = re.compile(r"^\d{1,3}(?:\.\d)?\s*mm\b.*$|^(?:anamorphic|macro|fisheye|tele(?:photo)?|zoom lens)\b.*$", re.I)
MAX_SHOTS = 9999  # shot numbers have at most four digits
UNTITLED_SCENE = re.compile(r"^SCENE \d+$")
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
EXTENSION = re.compile(r"\s*\((?:V\.O\.|O\.S\.|O\.C\.|CONT'D|CONT’D|CONT\.|PRE-LAP|FILTERED|ON PHONE)\)\s*$", re.I)


def clean(text: str) -> str:
    """Text as it may appear in a screenplay: no terminal escapes or controls (the notes' own
    rule, `without_controls`, so a sequence goes whole, its parameters too), no bidi tricks."""
    return CONTROL.sub("", unicodedata.normalize("NFC", without_controls(text or "")))


@dataclass
class Element:
    """One screenplay paragraph, as both formats name them."""

    kind: str  # heading | action | character | parenthetical | dialogue | transition | note
    text: str
    # written to be read as this kind and nothing else (Fountain's `!`, a typed FDX paragraph)
    forced: bool = False


@dataclass
class Screenplay:
    title: str = ""
    title_page: dict[str, str] = field(default_factory=dict)  # Author, Credit, Draft date, ...
    elements: list[Element] = field(default_factory=list)


# ---- writing ---------------------------------------------------------------------------------

def shot_note(shot: Shot) -> str:
    """`SHOT 4A: CU, low, dolly-in, 35mm, 3 s` — what a first AD reads, and what import parses."""
    fields = [shot.size.value]
    if shot.angle != Angle.EYE:
        fields.append(shot.angle.value)
    fields.append(shot.movement.value)
    if shot.lens.strip():
        fields.append(clean(shot.lens).replace(",", " ").strip())
    fields.append(f"{shot.duration_s:g} s")
    return f"SHOT {shot.number}: " + ", ".join(fields)


def cue_name(name: str) -> str:
    return clean(name).upper()


def transition_text(transition: str) -> str:
    t = clean(transition).strip().rstrip(":.").upper()
    return t + ":" if t.endswith(" TO") else t + "."


def screenplay_of(sheet: BeatSheet, title: str, title_page: dict[str, str] | None = None) -> Screenplay:
    """The sheet as screenplay elements in script order (both writers start from this)."""
    play = Screenplay(title=clean(title), title_page=dict(title_page or {}))
    keys = {k.lower() for k in play.title_page}
    for note in sheet.notes:  # the project's own notes, above the first scene
        if note.partition(":")[0].strip().lower() not in keys and note.strip():
            play.elements.append(Element("note", clean(note)))
    headings = {sc.number: sc.heading for sc in sheet.scenes}
    scene = None
    for shot in sheet.shots:
        if shot.scene != scene:
            scene = shot.scene
            play.elements.append(Element("heading", clean(headings.get(scene) or "") or f"SCENE {scene}"))
        play.elements.append(Element("note", shot_note(shot)))
        if shot.notes.strip():
            play.elements.append(Element("note", clean(shot.notes).replace("]]", "] ]")))
        if shot.action.strip():
            play.elements.append(Element("action", clean(shot.action)))
        for line in shot.dialogue:
            play.elements.append(Element("character", cue_name(line.character or "SOMEONE")))
            if line.delivery.strip():
                play.elements.append(Element("parenthetical", clean(line.delivery).strip("() ")))
            play.elements.append(Element("dialogue", clean(line.text)))
        if shot.transition.strip():
            play.elements.append(Element("transition", transition_text(shot.transition)))
    return play


# ---- reading ---------------------------------------------------------------------------------

@dataclass
class _Shot:
    scene: int
    number: str = ""
    camera: dict = field(default_factory=dict)  # what a SHOT note said
    action: list[str] = field(default_factory=list)
    lines: list[DialogueLine] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    transition: str = ""


def parse_shot_note(text: str) -> dict | None:
    """The camera a SHOT note states, or None when the note is not a SHOT note."""
    m = SHOT_NOTE.match(text.strip())
    if not m:
        return None
    out: dict = {}
    if m.group(1):
        out["number"] = m.group(1).upper()
    for raw in re.split(r"[,;/]", m.group(2)):
        word = raw.strip()
        if not word:
            continue
        low = word.lower()
        if dm := DURATION.match(word):
            out["duration_s"] = float(dm.group(1))
        elif word.upper() in Size.__members__ or word.upper() in Size._value2member_map_:
            out["size"] = Size(word.upper())
        elif low in Angle._value2member_map_ or low in ("eye", "eye level"):
            out["angle"] = Angle(low) if low in Angle._value2member_map_ else Angle.EYE
        elif low in Movement._value2member_map_:
            out["movement"] = Movement(low)
        elif LENS.match(word):
            out["lens"] = word[:40]
        else:  # the words a person would write: "close-up", "push in", "low angle"
            for key, table in (("size", SIZE_WORDS), ("angle", ANGLE_WORDS), ("movement", MOVE_WORDS)):
                if key not in out and (value := first_word(table, word, None)) is not None:
                    out[key] = value
                    break
            else:
                out.setdefault("extra", []).append(word)
    return out


def sheet_of(play: Screenplay) -> BeatSheet:
    """Scenes, shots and lines from a screenplay. A SHOT note opens a shot and sets its camera;
    without notes each action paragraph is a shot; dialogue plays in the shot above it."""
    scenes: list[Scene] = []
    shots: list[_Shot] = []
    pending: _Shot | None = None  # opened by a SHOT note, waiting for its action
    cue = ""
    delivery = ""
    loose_notes: list[str] = []

    def scene_no() -> int:
        if not scenes:
            scenes.append(Scene(number=1, heading=""))
        return scenes[-1].number

    def current() -> _Shot:
        nonlocal pending
        if pending is not None:
            shots.append(pending)
            pending = None
        elif not shots or shots[-1].scene != scene_no():
            shots.append(_Shot(scene_no()))
        return shots[-1]

    for el in play.elements:
        text = clean(el.text).strip()
        if el.kind == "heading":
            if pending is not None:
                shots.append(pending)
                pending = None
            heading = "" if UNTITLED_SCENE.match(text.upper()) else text.upper()[:200]
            if scenes and not any(s.scene == scenes[-1].number for s in shots):
                scenes[-1] = Scene(number=scenes[-1].number, heading=heading)  # nothing in the one before
            else:
                scenes.append(Scene(number=len(scenes) + 1, heading=heading))
        elif el.kind == "note":
            camera = parse_shot_note(text)
            if camera is not None:
                if pending is not None:
                    shots.append(pending)
                pending = _Shot(scene_no(), number=camera.pop("number", ""), camera=camera,
                                notes=[", ".join(camera.pop("extra", []))] if camera.get("extra") else [])
            elif text:
                target = pending or (shots[-1] if shots and shots[-1].scene == scene_no() else None)
                (target.notes if target is not None else loose_notes).append(text)
        elif el.kind == "action" and not el.forced and TRANSITION_LINE.match(text):  # FADE OUT. as action
            if pending is not None:
                current()
            if shots and shots[-1].scene == scene_no():
                shots[-1].transition = TRANSITION_LINE.match(text).group(1).strip(" .:").lower()[:40]
        elif el.kind == "action":
            if not text:
                continue
            if pending is not None:
                current().action.append(text)
            else:
                shots.append(_Shot(scene_no(), action=[text]))
        elif el.kind == "character":
            cue, delivery = _speaker(text), ""
        elif el.kind == "parenthetical":
            delivery = text.strip("() ")[:80]
        elif el.kind == "dialogue":
            if text:
                shot = current()
                if len(shot.lines) < 40:
                    shot.lines.append(DialogueLine(character=cue, text=" ".join(text.split())[:1000],
                                                   delivery=delivery))
            delivery = ""
        elif el.kind == "transition":
            if pending is not None:
                current()
            if shots and shots[-1].scene == scene_no():
                shots[-1].transition = text.rstrip(":.").strip().lower()[:40]
    if pending is not None:
        shots.append(pending)
    return _build(play, scenes, shots, loose_notes)


def _speaker(cue: str) -> str:
    """`MIRA (V.O.)` → Mira; `DR. OKAFOR` → Dr. Okafor; a cue written in mixed case stays."""
    name = EXTENSION.sub("", cue.lstrip("@")).strip()[:80]
    if any(c.islower() for c in name) and not re.fullmatch(r"(?:(?:Mc|Mac|O')?[A-Z'’.\-]+\s*)+", name):
        return name  # written in mixed case on purpose
    words = []
    for w in name.split():
        if re.fullmatch(r"[IVX]+", w):
            words.append(w)  # HENRY VIII
        elif m := re.fullmatch(r"(Mc|Mac|O')([A-Z'’\-]+)", w):
            words.append(m.group(1) + m.group(2)[:1] + m.group(2)[1:].lower())  # McGREGOR → McGregor
        else:
            words.append(w[:1] + w[1:].lower())
    return " ".join(words)


def _build(play: Screenplay, scenes: list[Scene], found: list[_Shot], loose_notes: list[str]) -> BeatSheet:
    if not scenes:
        scenes = [Scene(number=1, heading="")]
    names: list[str] = []
    for s in found:
        for line in s.lines:
            if line.character and line.character not in names:
                names.append(line.character)
    if len(found) > MAX_SHOTS:
        raise ProjectError(f"{len(found)} shots is more than one beat sheet holds ({MAX_SHOTS}); split the "
                           "screenplay (by act or sequence) and import each part into its own project")
    numbers = _numbers([s.number for s in found])
    shots: list[Shot] = []
    seen_scenes: set[int] = set()
    for i, s in enumerate(found):
        action = " ".join(" ".join(s.action).split())[:2000]
        if not action and not s.lines and not s.camera:
            continue
        if not action and not s.camera:  # a scene that opens on dialogue: the speaker is the picture
            action = f"{s.lines[0].character or 'Someone'} speaks."
        first_in_scene = s.scene not in seen_scenes
        seen_scenes.add(s.scene)
        said = explicit_camera(action)
        default_size = Size.MCU if s.lines else (Size.WS if first_in_scene else Size.MS)
        size = s.camera.get("size") or Size(said.get("size", default_size))
        angle = s.camera.get("angle") or Angle(said.get("angle", Angle.EYE))
        movement = s.camera.get("movement") or Movement(said.get("movement", Movement.STATIC))
        words = len(action.split())
        talk = sum(len(line.text.split()) for line in s.lines)
        duration = s.camera.get("duration_s")
        pinned = ["duration_s"] if duration else []
        if not duration:
            duration = round(max(2.0, min(12.0, 1.0 + words / 4 + (talk / 2.5 + 0.5 if talk else 0))) * 2) / 2
        chars = [n for n in names if re.search(rf"\b{re.escape(n)}\b", action, re.I)]
        chars += [line.character for line in s.lines if line.character and line.character not in chars]
        shots.append(Shot(scene=s.scene, number=numbers[i], size=size,
                          angle=angle, movement=movement, lens=s.camera.get("lens", ""),
                          duration_s=min(120.0, duration), action=action, characters=chars[:20],
                          dialogue=s.lines, image_prompt=default_image_prompt(size, action),
                          transition=s.transition, notes=" ".join(n for n in s.notes if n)[:2000], pinned=pinned,
                          seed=zlib.crc32(f"{s.scene}:{i}:{action}".encode())))
    used = {s.scene for s in shots}
    looks = _introductions(" ".join(" ".join(s.action) for s in found), names)
    return BeatSheet(title=play.title[:200], scenes=[sc for sc in scenes if sc.number in used] or scenes[:1],
                     characters=[Character(name=n, look=looks.get(n, ""), seed=zlib.crc32(n.encode())) for n in names],
                     shots=shots,
                     notes=[n[:400] for n in loose_notes][:40])


def _numbers(given: list[str]) -> list[str]:
    """The screenplay's own shot numbers where they are valid and unique; a shot without
    one takes the next whole number after the shot before (1, 2A, 3), never a taken one."""
    seen: set[str] = set()
    kept = []
    for n in given:
        ok = bool(n) and SHOT_NUMBER_RE.match(n) is not None and n not in seen
        kept.append(n if ok else "")
        seen.add(n)
    taken = {n for n in kept if n}
    out, last = [], 0
    for n in kept:
        if not n:
            last += 1
            while str(last) in taken:
                last += 1
            n = str(last)
            taken.add(n)
        last = max(last, int(re.match(r"\d+", n).group()))
        out.append(n)
    return out


def _introductions(action: str, names: list[str]) -> dict[str, str]:
    """A screenplay introduces a person in capitals with a description: `BEKELE (30s, hi-vis
    vest, lunchbox)`. That description is the character's look, for consistent keyframes."""
    looks: dict[str, str] = {}
    for m in re.finditer(r"\b([A-Z][A-Z'’.\-]+(?:\s[A-Z][A-Z'’\-]+)?)\s*\(([^()]{3,200})\)", action):
        name = _speaker(m.group(1))
        if name in names and name not in looks:
            looks[name] = " ".join(m.group(2).split())[:400]
    return looks
