"""Notes → beat sheet by rules: the structure the agent builds on.

Measured (DESIGN.md §4): a small model cannot plan a whole shot list, but code
can split notes into scenes and shots, pull out quoted dialogue and who says
it, and map explicit camera language. This module does exactly that, with no
model. It is also the labelled fallback when a model's answer is rejected.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass, field

from ..project.models import Angle, BeatSheet, Character, DialogueLine, Movement, Scene, Shot, Size

SCENE_HEADING = re.compile(r"^\s*(?:\.(?=[A-Z])|(?:INT|EXT|EST|INT\./EXT|I/E)[.\s])", re.I)
MD_HEADING = re.compile(r"^\s*#{1,6}\s+(.*)$")
SCENE_WORD = re.compile(r"^\s*scene\s+\d+\s*[:.\-–—]\s*(.*)$", re.I)
TITLE_LINE = re.compile(r"^\s*title\s*:\s*(.+)$", re.I)
CHARACTERS_LINE = re.compile(r"^\s*(?:characters|cast)\s*:\s*(.+)$", re.I)
CUE = re.compile(r"^\s*([A-Z][A-Z0-9 .'\-]{1,30}?)\s*(?:\((?:V\.O\.|O\.S\.|CONT'D)\))?\s*$")
PAREN = re.compile(r"^\s*\(([^)]{1,60})\)\s*$")
QUOTE = re.compile(r"[\"“]([^\"”]{1,1000})[\"”]")
# Splits between shots inside a paragraph.
SHOT_BREAK = re.compile(
    r"(?:(?<=[.!?])\s+(?=[A-Z\x00\"“])"  # sentence end
    r"|(?<=\x01)\s+(?!,|[A-Z][a-zA-Z'\-]+\s+(?:says|said|asks|whispers|shouts|yells|mutters|replies|calls)\b)"
    r"|\s*[;,]?\s+(?i:and\s+)?(?i:then),?\s+(?=(?:the|a|an|his|her|their)\b|[A-Z])"  # "then" + a subject
    r"|\s*\b(?i:(?:smash\s+)?cut\s+to):?\s*)")
NAME = r"([A-Z][a-zA-Z'\-]{1,30})"
SAYS = r"(says|said|asks|asked|whispers|whispered|shouts|shouted|yells|yelled|mutters|muttered|murmurs|" \
       r"replies|replied|calls|called|screams|screamed|sings|sang|answers|answered|cries|cried|snaps|snapped)"
SPEAKER_BEFORE = re.compile(NAME + r"(?:\s+" + SAYS + r"(?:\s+\w+ly)?)?\s*[:,]\s*$")
SPEAKER_AFTER = re.compile(r"^\s*,?\s*(?:" + NAME + r"\s+" + SAYS + r"|" + SAYS + r"\s+" + NAME + r")")
DELIVERY_WORDS = {"whisper": "whispers", "shout": "shouts", "yell": "shouts", "scream": "screams",
                  "mutter": "mutters", "murmur": "murmurs", "sing": "sings", "sang": "sings",
                  "cries": "cries", "cried": "cries", "snap": "snaps"}

SIZE_WORDS: list[tuple[str, Size]] = [
    (r"extreme close[- ]?up|\bECU\b|extreme close on", Size.ECU),
    (r"medium close[- ]?up|\bMCU\b", Size.MCU),
    (r"close[- ]?up|close on|\bCU\b|tight on", Size.CU),
    (r"medium wide|\bMWS\b|cowboy shot", Size.MWS),
    (r"extreme wide|\bEWS\b|vista", Size.EWS),
    (r"wide shot|wide on|\bWS\b|establishing|long shot|wide angle", Size.WS),
    (r"medium shot|mid shot|\bMS\b|waist[- ]up", Size.MS),
    (r"over[- ]the[- ]shoulder|\bOTS\b", Size.OTS),
    (r"\bPOV\b|point of view|through (?:her|his|their) eyes", Size.POV),
    (r"\binsert\b", Size.INSERT),
]
ANGLE_WORDS: list[tuple[str, Angle]] = [
    (r"low[- ]angle|from below|looking up at", Angle.LOW),
    (r"high[- ]angle|from above|looking down (?:at|on)", Angle.HIGH),
    (r"overhead|top[- ]down|bird'?s[- ]eye", Angle.OVERHEAD),
    (r"dutch|canted", Angle.DUTCH),
    (r"aerial|drone shot", Angle.AERIAL),
]
MOVE_WORDS: list[tuple[str, Movement]] = [
    (r"push(?:es|ing)? in|dolly(?:ing)? in|creep(?:s|ing)? in|move(?:s)? in on", Movement.DOLLY_IN),
    (r"pull(?:s|ing)? (?:back|out)|dolly(?:ing)? out|backs? away", Movement.DOLLY_OUT),
    (r"\bpan(?:s|ning)?\b", Movement.PAN),
    (r"\btilt(?:s|ing)?\b", Movement.TILT),
    (r"\btrack(?:s|ing)?\b|\btruck(?:s|ing)?\b|follow(?:s|ing)? (?:her|him|them)", Movement.TRUCK),
    (r"\bcrane(?:s)?\b|\bjib\b", Movement.CRANE),
    (r"hand[- ]?held|shaky cam", Movement.HANDHELD),
    (r"\bzoom(?:s|ing)?\b|snap zoom", Movement.ZOOM),
]
# Capitalised words that start sentences but are not names.
NOT_NAMES = {"The", "A", "An", "Then", "Cut", "Smash", "Close", "Wide", "Slow", "Fast", "We", "She", "He", "They",
             "It", "Her", "His", "Their", "In", "On", "At", "From", "Later", "Meanwhile", "Suddenly", "Night",
             "Day", "Morning", "Evening", "Int", "Ext", "Scene", "Title", "Characters", "Cast", "Pov", "Aerial",
             "Insert", "Medium", "Extreme", "Over", "Low", "High", "Camera", "And", "But", "As", "When", "Finally",
             "Outside", "Inside", "Back", "End", "Fade", "Dissolve", "Match", "Hold", "Push", "Pull", "Pan",
             "Tilt", "Track", "Crane", "Zoom", "Handheld", "Establishing", "Silence", "Nothing", "Everything",
             "This", "That", "There", "Here", "Now", "Still", "Only", "Just", "Rain", "Dawn", "Dusk"}


@dataclass
class _Beat:
    scene: int
    text: str
    lines: list[DialogueLine] = field(default_factory=list)


def _first(patterns, text, default):
    for pat, value in patterns:
        if re.search(pat, text, re.I):
            return value
    return default


def explicit_camera(text: str) -> dict[str, str]:
    """Only the camera choices the text states outright: these bind the model."""
    out = {}
    for key, table in (("size", SIZE_WORDS), ("angle", ANGLE_WORDS), ("movement", MOVE_WORDS)):
        value = _first(table, text, None)
        if value is not None:
            out[key] = value.value
    return out


def _delivery(verb: str | None) -> str:
    if not verb:
        return ""
    v = verb.lower()
    return next((d for k, d in DELIVERY_WORDS.items() if v.startswith(k)), "")


def _clean(text: str) -> str:
    text = re.sub(r"[*_`>]+", "", text)
    return re.sub(r"\s+", " ", text).strip()


def _extract_dialogue(chunk: str) -> tuple[str, list[DialogueLine]]:
    """Pull quoted lines and their speakers out of a chunk; returns the action left."""
    lines: list[DialogueLine] = []
    cuts: list[tuple[int, int]] = []
    for m in QUOTE.finditer(chunk):
        before, after = chunk[: m.start()], chunk[m.end():]
        speaker, verb, span = None, None, (m.start(), m.end())
        if sb := SPEAKER_BEFORE.search(before):
            speaker, verb, span = sb.group(1), sb.group(2), (sb.start(), m.end())
        elif sa := SPEAKER_AFTER.match(after):
            speaker = sa.group(1) or sa.group(4)
            verb = sa.group(2) or sa.group(3)
            span = (m.start(), m.end() + sa.end())
        if speaker and speaker not in NOT_NAMES:
            text = m.group(1).strip().rstrip(",").strip()
            lines.append(DialogueLine(character=speaker, text=text, delivery=_delivery(verb)))
            cuts.append(span)
    if not lines:
        return chunk, []
    kept, pos = [], 0
    for a, b in cuts:
        kept.append(chunk[pos:a])
        pos = b
    kept.append(chunk[pos:])
    action = _clean(" ".join(kept)).strip(" ,:;")
    return (action if re.search(r"\w", action) else ""), lines


def _split_chunks(paragraph: str) -> list[str]:
    # Protect quotes: sentence breaks inside dialogue are not shot breaks, but a
    # quote that ends a sentence ends the shot unless an attribution follows.
    quotes: list[str] = []

    def hide(m):
        quotes.append(m.group(0))
        end = "\x01" if re.search(r"[.!?][\"”]$", m.group(0)) else ""
        return f"\x00{len(quotes) - 1}\x00{end}"

    hidden = QUOTE.sub(hide, paragraph)
    parts = [p for p in SHOT_BREAK.split(hidden) if p and p.strip()]
    out = []
    for p in parts:
        p = re.sub(r"\x00(\d+)\x00\x01?", lambda m: quotes[int(m.group(1))], p).strip()
        p = re.sub(r"^(?:and\s+)?then,?\s+", "", p, flags=re.I)
        p = re.sub(r",?\s+(?:and\s+)?then$", "", p, flags=re.I).strip()
        if p:
            out.append(p[0].upper() + p[1:])
    return out


def parse_notes(text: str, *, title: str = "") -> BeatSheet:
    """Split notes (plain text, Markdown or Fountain) into scenes and shots."""
    scenes: list[Scene] = []
    beats: list[_Beat] = []
    declared: list[str] = []
    para: list[str] = []
    cue: str | None = None
    cue_delivery = ""

    def scene_no() -> int:
        if not scenes:
            scenes.append(Scene(number=1, heading=""))
        return scenes[-1].number

    def flush() -> None:
        if para:
            for chunk in _split_chunks(" ".join(para)):
                beats.append(_Beat(scene_no(), chunk))
            para.clear()

    for raw in text.splitlines():
        line = raw.rstrip()
        stripped = line.strip()
        if not stripped:
            flush()
            cue = None
            continue
        if m := TITLE_LINE.match(line):
            title = title or _clean(m.group(1))
            continue
        if m := CHARACTERS_LINE.match(line):
            declared += [_clean(n) for n in re.split(r"[,;]| and ", m.group(1)) if _clean(n)]
            continue
        heading = None
        if SCENE_HEADING.match(line):
            heading = stripped.lstrip(".")
        elif m := MD_HEADING.match(line):
            if not title and not scenes and not beats:
                title = _clean(m.group(1))
                continue
            heading = _clean(m.group(1))
        elif m := SCENE_WORD.match(line):
            heading = _clean(m.group(1))
        if heading is not None:
            flush()
            empty = scenes and not any(b.scene == scenes[-1].number for b in beats)
            if empty:  # a heading right after another (or after nothing) replaces it
                scenes[-1] = Scene(number=scenes[-1].number, heading=heading.upper()[:200])
            else:
                scenes.append(Scene(number=len(scenes) + 1, heading=heading.upper()[:200]))
            continue
        # Fountain: a CHARACTER cue line, optional (parenthetical), then the line.
        if cue is not None:
            if pm := PAREN.match(line):
                cue_delivery = pm.group(1)
                continue
            target = beats[-1] if beats and not para else None
            if target is None:
                flush()
                beats.append(_Beat(scene_no(), ""))
                target = beats[-1]
            target.lines.append(DialogueLine(character=cue, text=_clean(stripped)[:1000], delivery=cue_delivery[:80]))
            continue
        cm = CUE.match(line)
        if cm and not para and len(cm.group(1).split()) <= 3 and cm.group(1).strip() not in {"CUT TO", "FADE IN",
                                                                                                "FADE OUT", "THE END"}:
            cue = cm.group(1).strip().title()
            cue_delivery = ""
            continue
        para.append(re.sub(r"^\s*(?:[-*+]|\d+[.)])\s+", "", line))
    flush()
    return _build_sheet(title, scenes, beats, declared)


def _names_in(text: str, known: set[str]) -> list[str]:
    found = []
    for name in known:
        if re.search(r"\b" + re.escape(name) + r"(?:'s)?\b", text, re.I):
            found.append(name)
    return sorted(found, key=lambda n: text.lower().find(n.lower()))


def _build_sheet(title: str, scenes: list[Scene], beats: list[_Beat], declared: list[str]) -> BeatSheet:
    if not scenes:
        scenes = [Scene(number=1, heading="")]
    # Shots that are only camera words ("Slow push in.") or too short fold into the one before.
    merged: list[_Beat] = []
    for b in beats:
        action, lines = _extract_dialogue(b.text)
        b.lines = lines + b.lines
        b.text = action
        prev = merged[-1] if merged and merged[-1].scene == b.scene else None
        if prev and not b.lines and len(b.text.split()) < 3:
            prev.text = (prev.text + " " + b.text).strip()
            continue
        if prev and b.lines and not b.text and not prev.lines and all(
                re.search(r"\b" + re.escape(dl.character) + r"\b", prev.text, re.I) for dl in b.lines):
            prev.lines = b.lines  # a line right after its speaker's action plays in that shot
            continue
        if b.lines and not b.text:
            b.text = f"{b.lines[0].character} {b.lines[0].delivery or 'speaks'}."
        merged.append(b)

    names: list[str] = []
    for n in declared:
        if n.title() not in names:
            names.append(n.title() if n.isupper() else n)
    for b in merged:
        for line in b.lines:
            if line.character not in names:
                names.append(line.character)
        for caps in re.findall(r"\b([A-Z]{2,}(?:\s[A-Z]{2,})?)\b(?!\s*[-–—.]\s)", b.text):
            cand = caps.title()
            if cand not in NOT_NAMES and caps not in {"POV", "ECU", "MCU", "CU", "MS", "WS", "EWS", "OTS", "INT",
                                                       "EXT", "MWS", "VO", "OS", "TV"} and cand not in names:
                names.append(cand)
    known = set(names)

    shots: list[Shot] = []
    scene_first: set[int] = set()
    last_chars: list[str] = []
    last_scene = 0
    for b in merged:
        text = b.text
        first_in_scene = b.scene not in scene_first
        scene_first.add(b.scene)
        default_size = Size.MCU if b.lines else (Size.WS if first_in_scene else Size.MS)
        size = _first(SIZE_WORDS, text, default_size)
        angle = _first(ANGLE_WORDS, text, Angle.EYE)
        movement = _first(MOVE_WORDS, text, Movement.STATIC)
        chars = _names_in(text, known)
        if b.scene != last_scene:
            last_chars, last_scene = [], b.scene
        if not chars and re.search(r"\b(?:she|her|he|him|his|they|them|their)\b", text, re.I):
            chars = list(last_chars)  # "Close on her hands" is about whoever we were just watching
        for line in b.lines:
            if line.character not in chars:
                chars.append(line.character)
        if chars:
            last_chars = chars
        words = len(text.split())
        talk = sum(len(line.text.split()) for line in b.lines)
        duration = max(2.0, min(12.0, 1.0 + words / 4 + (talk / 2.5 + 0.5 if talk else 0)))
        duration = round(duration * 2) / 2
        action = text[:2000] or (f"{b.lines[0].character} speaks." if b.lines else "")
        prompt = f"{_SIZE_PHRASE[size]} of {action.rstrip('.')}"[:120] if action else _SIZE_PHRASE[size]
        shots.append(Shot(scene=b.scene, number=str(len(shots) + 1), size=size, angle=angle, movement=movement,
                          duration_s=duration, action=action, characters=chars[:20], dialogue=b.lines[:40],
                          image_prompt=prompt, seed=zlib.crc32(f"{b.scene}:{len(shots)}:{action}".encode())))
    used = {s.scene for s in shots}
    return BeatSheet(
        title=title[:200],
        scenes=[sc for sc in scenes if sc.number in used] or scenes[:1],
        characters=[Character(name=n, seed=zlib.crc32(n.encode())) for n in names],
        shots=shots,
    )


_SIZE_PHRASE = {
    Size.ECU: "extreme close-up", Size.CU: "close-up", Size.MCU: "medium close-up", Size.MS: "medium shot",
    Size.MWS: "medium wide shot", Size.WS: "wide shot", Size.EWS: "extreme wide shot",
    Size.OTS: "over-the-shoulder shot", Size.POV: "point-of-view shot", Size.INSERT: "insert shot",
}
