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

from ..project.camera_words import ANGLE_WORDS, MOVE_WORDS, SIZE_WORDS
from ..project.camera_words import first as _first
from ..project.models import Angle, BeatSheet, Character, DialogueLine, Movement, Scene, Shot, Size
from .directions import read_direction
from ..project.people import Cast, _add_titled, find_people
from .quotes import Attribution, Attributor, find_quotes

SCENE_HEADING = re.compile(r"^\s*(?:\.(?=[A-Z])|(?:INT|EXT|EST|INT\./EXT|I/E)[.\s])", re.I)
MD_HEADING = re.compile(r"^\s*#{1,6}\s+(.*)$")
SCENE_WORD = re.compile(r"^\s*scene\s+\d+\s*[:.\-–—]\s*(.*)$", re.I)
TITLE_LINE = re.compile(r"^\s*title\s*:\s*(.+)$", re.I)
# A heading in capitals with the action run on after it: the action starts at the first sentence in mixed case.
HEADING_THEN_ACTION = re.compile(r"^([^a-z]+?[A-Z0-9)])\.\s+([A-Z][a-z].*)$")
# A first line naming the piece in quotes, after an optional label in capitals: `EPISODE 3: "The Long Night"`.
# A dash names it (`COLD OPEN — "…"`); a colon only after a label word (`EPISODE 3: "…"`), since
# `AMARA: "…"` is a line of dialogue.
QUOTED_TITLE = re.compile(r"^\s*(?:[A-Z][A-Z0-9 '’.#]*?\s*[—–\-]+|(?:EPISODE|PART|ACT|CHAPTER|PILOT|TEASER|PROLOGUE|"
                          r"EPILOGUE|COLD OPEN|TITLE|WORKING TITLE|SHORT|FILM|SPOT|AD|COMMERCIAL|PROMO|TRAILER|PSA|"
                          r"MUSIC VIDEO|SKETCH|PROJECT|SERIES|WEBISODE|ANIMATIC|PITCH|CAMPAIGN)\b[A-Z0-9 '’.#]*:)"
                          r"\s*[\"“]([^\"”]{1,80})[\"”]\s*(?:\([^)]{0,60}\)\s*)?$")  # `SPOT: "Dawn" (30s)`
# A shot the writer numbered: `Shot 3 - close-up, steam…`, `SHOT 12:`, `Sh. 4a`. What follows, to the
# next blank line or shot, is that one shot: it is not split at its sentences.
SHOT_MARK = re.compile(r"^\s*(?:[-*+•]\s*)?(?:shot|sh\.)\s*#?\s*\d{1,3}[a-z]?\b\s*(?:[:.)|—–\-]+\s*|\s+|$)", re.I)
# Who speaks over the picture in an ad or a documentary: `VO (warm): Every morning…`, `ANNCR: …`.
VOICE_OVER = {"vo": "Narrator", "v.o.": "Narrator", "v.o": "Narrator", "voiceover": "Narrator",
              "voice-over": "Narrator", "voice over": "Narrator", "narrator": "Narrator", "narr.": "Narrator",
              "anncr": "Announcer", "anncr.": "Announcer", "announcer": "Announcer"}
OFF_SCREEN = set(VOICE_OVER.values())
# A shot list timed by the cut: `00:04  Inside the kiosk…`, `[0:12] …`, `1:02:03 –` (the time is not the action).
TIMESTAMP = re.compile(r"^\s*\[?(?:\d{1,2}:)?\d{1,2}:\d{2}(?:[.,]\d+)?\]?\s*(?:[—–\-|]\s*)?(?=\S)")
CHARACTERS_LINE = re.compile(r"^\s*(?:characters|cast)\s*:\s*(.+)$", re.I)
CUE = re.compile(r"^\s*([A-Z][A-Z0-9 .'\-]{1,30}?)\s*(?:\((?:V\.O\.|O\.S\.|O\.C\.|CONT'D|CONT’D)\))?\s*$")
PAREN = re.compile(r"^\s*\(([^)]{1,60})\)\s*$")
# "KOFI: We go." / "Mira (quietly): Go now." — script-style lines without quote marks.
COLON_LINE = re.compile(r"^\s*(?:[-*+•]\s*)?([A-Z][\w'’.\-]*(?:\s[A-Z][\w'’\-]*)?)\s*(?:\(([^)]{1,60})\))?\s*:\s+"
                        r"(?![\"“‘'])(\S.*)$")
TRANSITION_LINE = re.compile(r"^\s*>?\s*((?:[A-Z]+\s+)*CUT\s+TO:?|(?:[A-Z]+\s+)?DISSOLVE(?:\s+TO)?:?|FADE\s+(?:OUT|IN|"
                             r"TO\s+BLACK|TO\s+WHITE)[.:]?|CUT\s+TO\s+BLACK\.?|WIPE\s+TO:?|IRIS\s+(?:OUT|IN)\.?)\s*$")
LIST_ITEM = re.compile(r"^\s*(?:[-*+•]|\d{1,3}[.)])\s+")
# A line of dialogue cut to fit: what it is and what to do, for `_Cuts.fit`.
SAID = ("a line of dialogue", "break it into shorter lines")
# Splits between shots inside a paragraph (quotes are hidden as \x00n\x00 first; \x01 marks a line that ends
# a sentence).
SHOT_BREAK = re.compile(
    r"(?:(?<=[.!?])\s+(?=[A-Z\x00])"  # sentence end
    r"|(?<=\x01)\s+"
    r"|\s*\x03\s*"  # a line break that ends a beat
    r"|\s*[;,]?\s+(?i:and\s+)?(?i:then),?\s+(?=(?:the|a|an|his|her|their)\b|[A-Z])"  # "then" + a subject
    r"|\s*\b(?i:(?:smash\s+|hard\s+|match\s+|jump\s+)?cut\s+to)(?!\s+(?:black|white|red|credits|title)\b):?\s*)")

Lines = tuple[int, int]  # the first and last line of the notes (from 1) a piece of text came from


@dataclass
class _Beat:
    scene: int
    text: str
    lines: list[DialogueLine] = field(default_factory=list)
    duration_s: float | None = None  # set by a direction ("hold three seconds")
    transition: str = ""
    notes: list[str] = field(default_factory=list)
    para: int = 0  # which paragraph it came from
    at: Lines = (0, 0)  # where its text is in the notes
    notes_at: Lines = (0, 0)  # where its notes are


@dataclass
class _Block:
    """What the line pass finds: a scene heading, a paragraph of prose, or a script line."""

    kind: str  # "para" | "line"
    scene: int
    text: str
    speaker: str = ""
    delivery: str = ""
    at: Lines = (0, 0)
    whole: bool = False  # a shot the writer numbered: one shot, however many sentences


def _span(a: Lines, b: Lines) -> Lines:
    """The lines of both pieces of text."""
    return b if a == (0, 0) else a if b == (0, 0) else (min(a[0], b[0]), max(a[1], b[1]))


@dataclass
class _Cuts:
    """Text longer than its field of the sheet holds is cut to fit, and every cut is said, once,
    in one line naming where it is in the notes: nothing a director wrote goes silently."""

    said: dict[str, int] = field(default_factory=dict)  # what was said → the line it is about

    def fit(self, text: str, limit: int, at: Lines, what: str, fix: str) -> str:
        if len(text) <= limit:
            return text
        where = f"line {at[0]}" if at[0] == at[1] else f"lines {at[0]}–{at[1]}"
        self.said.setdefault(f"{where} of the notes: {what} has {len(text):,} characters; only the first "
                             f"{limit:,} were read — {fix}", at[0])
        return text[:limit]

    def in_order(self) -> list[str]:
        return sorted(self.said, key=self.said.__getitem__)


def explicit_camera(text: str) -> dict[str, str]:
    """Only the camera choices the text states outright: these bind the model."""
    out = {}
    for key, table in (("size", SIZE_WORDS), ("angle", ANGLE_WORDS), ("movement", MOVE_WORDS)):
        value = _first(table, text, None)
        if value is not None:
            out[key] = value.value
    return out


def _clean(text: str) -> str:
    text = re.sub(r"[*_`>]+", "", text)
    return re.sub(r"\s+", " ", text).strip()


def parse_notes(text: str, *, title: str = "", cuts: list[str] | None = None) -> BeatSheet:
    """Split notes (plain text, Markdown or Fountain) into scenes and shots; every quoted
    line kept, with its speaker or with the question of who says it. Text longer than the
    sheet holds (a shot's action past 2,000 characters) is cut, and each cut is said in
    `cuts`, one line each."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")  # bracketed paste sends CRs
    cut = _Cuts()
    scenes: list[Scene] = []
    blocks: list[_Block] = []
    declared: list[str] = []
    para: list[str] = []
    para_at: list[int] = []  # the line of the notes each line of `para` is
    cue: str | None = None
    cue_delivery = ""
    whole = False  # the paragraph being read is one numbered shot

    def scene_no() -> int:
        if not scenes:
            scenes.append(Scene(number=1, heading=""))
        return scenes[-1].number

    def flush() -> None:
        nonlocal whole
        if para:  # a numbered shot's mark alone on its line keeps `whole` for the text under it
            blocks.append(_Block("para", scene_no(), "\n".join(para), at=(para_at[0], para_at[-1]), whole=whole))
            para.clear()
            para_at.clear()
            whole = False

    def add(piece: str, at: int) -> None:
        para.append(piece)
        para_at.append(at + 1)

    all_lines = [TIMESTAMP.sub("", ln) for ln in text.split("\n")]
    for at, raw in enumerate(all_lines):
        line = raw.rstrip()
        following = all_lines[at + 1].strip() if at + 1 < len(all_lines) else ""
        stripped = line.strip()
        if not stripped:
            flush()
            cue = None
            continue
        if m := TITLE_LINE.match(line):
            title = title or cut.fit(_clean(m.group(1)), 200, (at + 1, at + 1), "the title", "shorten it")
            continue
        if (m := QUOTED_TITLE.match(line)) and not (title or scenes or blocks or para):
            title = _clean(m.group(1))  # `COLD OPEN — "The Night Shift"`: a name, not a line of dialogue
            continue
        if m := CHARACTERS_LINE.match(line):
            declared += [_clean(n) for n in re.split(r"[,;](?![^(]*\))| and (?![^(]*\))", m.group(1)) if _clean(n)]
            continue
        heading = None
        rest = ""
        if SCENE_HEADING.match(line):
            heading = stripped.lstrip(".")
            if m := HEADING_THEN_ACTION.match(heading):  # `EXT. STATION - NIGHT. Rain falls.` on one line
                heading, rest = m.group(1), m.group(2)
        elif m := MD_HEADING.match(line):
            if not title and not scenes and not blocks and not para:
                title = cut.fit(_clean(m.group(1)), 200, (at + 1, at + 1), "the title", "shorten it")
                continue
            heading = _clean(m.group(1))
        elif m := SCENE_WORD.match(line):
            heading = _clean(m.group(1))
        if heading is not None:
            flush()
            cue = None
            heading = cut.fit(heading.upper(), 200, (at + 1, at + 1), "a scene heading",
                              "put the action on the line below the heading")
            empty = scenes and not any(b.scene == scenes[-1].number for b in blocks)
            if empty:  # a heading right after another (or after nothing) replaces it
                scenes[-1] = Scene(number=scenes[-1].number, heading=heading)
            else:
                scenes.append(Scene(number=len(scenes) + 1, heading=heading))
            if rest:
                add(rest, at)
            continue
        # Fountain: a CHARACTER cue line, optional (parenthetical), then the line.
        if cue is not None:
            if pm := PAREN.match(line):
                cue_delivery = pm.group(1)
                continue
            said = any(b.kind == "line" and b.speaker == cue for b in blocks[-1:])
            if said and following and _is_cue(line):  # the next speaker, with no blank line between
                cue, cue_delivery = CUE.match(line).group(1).strip(), ""
                continue
            if said and _action_after_line(stripped, blocks):
                cue = None  # "Rashid points at the drive." under a line: the action goes on
                add(line, at)
                continue
            flush()
            blocks.append(_Block("line", scene_no(), cut.fit(_clean(stripped), 1000, (at + 1, at + 1), *SAID),
                                 cue, cue_delivery[:80], at=(at + 1, at + 1)))
            cue_delivery = ""
            continue
        if tm := TRANSITION_LINE.match(line):
            flush()
            cue = None
            blocks.append(_Block("transition", scene_no(), tm.group(1).strip(" .:").lower()))
            continue
        if sm := SHOT_MARK.match(line):
            flush()
            whole = True
            if line[sm.end():].strip():
                add(line[sm.end():], at)
            continue
        cm = CUE.match(line)
        if cm and not title and not blocks and not scenes and not para and not cm.group(1).strip().endswith(":") \
                and not _opens_dialogue(line, following):
            title = _clean(cm.group(1)).title()  # a capitalised first line on its own is the title, not a cue
            continue
        if cm and _is_cue(line) and (not para or PAREN.match(following) or _named_in(cm.group(1), para, blocks)):
            flush()  # a screenplay pasted without blank lines: the cue ends the action above it
            cue = cm.group(1).strip()
            cue_delivery = ""
            continue
        lm = COLON_LINE.match(line)
        if lm and lm.group(1).lower() in VOICE_OVER and re.search(r"[.!?…]$", lm.group(3).strip()):
            flush()  # spoken over the shot above: `VO: Make it yours.` (`VO: warm, female` is casting)
            blocks.append(_Block("line", scene_no(), cut.fit(_clean(lm.group(3)), 1000, (at + 1, at + 1), *SAID),
                                 VOICE_OVER[lm.group(1).lower()], (lm.group(2) or "")[:80], at=(at + 1, at + 1)))
            continue
        if lm and _script_speaker(lm.group(1), declared):
            flush()
            blocks.append(_Block("line", scene_no(), cut.fit(_clean(lm.group(3)), 1000, (at + 1, at + 1), *SAID),
                                 lm.group(1), (lm.group(2) or "")[:80], at=(at + 1, at + 1)))
            continue
        if LIST_ITEM.match(line):
            flush()  # each bullet is its own beat
        add(LIST_ITEM.sub("", line), at)
    flush()
    sheet = _understand(title, scenes, blocks, declared, cut)
    if cuts is not None:
        cuts += cut.in_order()
    return sheet


_NOT_CUES = {"CUT TO", "FADE IN", "FADE OUT", "THE END", "FADE TO BLACK", "BLACK", "CONTINUOUS", "LATER"}


def _is_cue(line: str) -> bool:
    """A character cue: a short name in capitals on its own line (`MIRA`, `DR. OKAFOR (V.O.)`)."""
    cm = CUE.match(line)
    if not cm:
        return False
    name = cm.group(1).strip()
    return len(name.split()) <= 3 and name not in _NOT_CUES and not name.endswith(":")


def _action_after_line(line: str, blocks: list) -> bool:
    """Under a finished line of dialogue with no blank line, a sentence that opens on someone
    who speaks in the scene and a verb is action, not more dialogue."""
    if not re.search(r"[.!?…][\"”’']?\s*$", blocks[-1].text):
        return False
    m = re.match(r"^([A-Z][\w'’\-]+(?:\s[A-Z][\w'’\-]+)?)\s+([a-z]+)\b", line)
    if not m:
        return False
    speakers = {b.speaker.strip().lower() for b in blocks if b.kind == "line"}
    return m.group(1).lower() in speakers or m.group(1).upper() in {b.speaker.strip() for b in blocks
                                                                    if b.kind == "line"}


def _named_in(cue: str, para: list[str], blocks: list) -> bool:
    """The cue names someone the text already introduced in capitals, or who spoke before."""
    name = re.sub(r"\s*\(.*\)\s*$", "", cue).strip()
    return bool(re.search(rf"\b{re.escape(name)}\b", "\n".join(para))) or any(
        b.kind == "line" and b.speaker.strip() == name for b in blocks)


def _opens_dialogue(line: str, following: str) -> bool:
    """A capitalised first line is a cue, not the title, when a line is spoken right under it:
    a parenthetical, or any line under a short name (`MIRA`; not `THE LAST KEEPER`)."""
    if not following or not _is_cue(line):
        return False
    name = CUE.match(line).group(1).split()
    return bool(PAREN.match(following)) or (len(name) <= 2 and name[0] not in {"THE", "A", "AN"})


_NOT_SPEAKERS = {"note", "notes", "music", "sound", "sfx", "vfx", "fx", "camera", "tone", "mood", "style", "title",
                 "location", "time", "setting", "lighting", "props", "wardrobe", "colour", "color", "palette",
                 "ref", "refs", "reference", "vibe", "feel", "scene", "shot", "shots", "pov", "insert", "cut",
                 "fade", "transition", "duration", "length", "act", "sequence", "beat", "later", "meanwhile",
                 "montage", "intercut", "super", "caption", "subtitle", "chyron", "card", "edit", "audio",
                 "int", "ext", "characters", "cast", "logline", "synopsis", "summary", "premise", "theme",
                 "genre", "format", "runtime", "aspect", "fps", "voice", "vo", "grade", "pacing", "pace",
                 "score", "director", "directors", "important", "nb", "todo", "idea", "ideas", "also", "then",
                 "wide", "close", "medium", "overhead", "aerial", "establishing", "end", "open", "opening",
                 "closing", "day", "night", "morning", "evening", "dawn", "dusk"}


def _script_speaker(name: str, declared: list[str]) -> bool:
    """`KOFI: We go.` is a line; `Music: low cello` and `Note: keep it warm` are not."""
    key = name.strip().lower().rstrip(".")
    if key in _NOT_SPEAKERS or key.split()[0] in _NOT_SPEAKERS:
        return False
    if name.isupper() and len(name) > 1:
        return True
    return any(key == d.lower() or key in d.lower().split() for d in declared)


def _understand(title: str, scenes: list[Scene], blocks: list[_Block], declared: list[str],
                cut: _Cuts) -> BeatSheet:
    """People first (from all the notes), then each scene's quotations in order, then shots."""
    prose = "\n\n".join(b.text for b in blocks if b.kind == "para")
    spans = [(q.start, q.end) for q in find_quotes(prose)]
    cast = find_people(prose, spans, declared, [b.speaker for b in blocks if b.kind == "line"])
    attributor = Attributor(cast)
    beats: list[_Beat] = []
    project_notes: list[str] = []
    scene = 0
    for n, block in enumerate(blocks):
        if block.scene != scene:
            scene = block.scene
            attributor.new_scene()
        if block.kind == "transition":
            if beats and beats[-1].scene == block.scene and block.text not in ("fade in",):
                beats[-1].transition = block.text
            continue
        if block.kind == "line":
            person = _add_speaker(cast, block.speaker)
            attributor.history.append((attributor.sentence, [person]))
            attributor.last_speakers.append(person.name)
            target = beats[-1] if beats and beats[-1].scene == block.scene else None
            if target is None:
                target = _Beat(block.scene, "", para=n, at=block.at)
                beats.append(target)
            target.lines.append(DialogueLine(character=person.name, text=block.text, delivery=block.delivery))
            continue
        quotes = find_quotes(block.text)
        atts = attributor.attribute(block.text, quotes)
        for att in atts:
            if att.speaker:
                cast.get(att.speaker) or cast.add(att.speaker)
        _chunks(block, atts, beats, project_notes, n, cut, cast.lowercase)
    return _build_sheet(title, scenes, beats, cast, project_notes, cut)


def _add_speaker(cast: Cast, written: str):
    name = re.sub(r"\s*\((?:V\.O\.|O\.S\.|O\.C\.|CONT'D|CONT’D)\)\s*$", "", written.strip())
    name = VOICE_OVER.get(name.lower(), name)
    person = cast.get(name) or cast.get(name.title())
    if person is None:
        m = re.match(r"^(?:\S+\.?)\s+(.+)$", name)
        person = _add_titled(cast, name.title() if name.isupper() else name)
        if person is None and m:
            person = cast.add(m.group(1))
    return person


def _line_breaks(text: str, lowercase: bool) -> str:
    """A line break ends a beat unless the sentence plainly runs on (hard-wrapped prose);
    in all-lowercase scribbles every line is a beat. Same length: quote offsets stay valid."""
    def one(m: re.Match) -> str:
        before, after = text[:m.start()].rstrip(), text[m.end():]
        runs_on = re.search(r"[,;—–\-]$|\b[a-z]+$", before) and re.match(r"\s*[a-z]", after)
        return " " if runs_on and not lowercase else "\x03"
    return re.sub(r"\n", one, text)


def _chunks(block: _Block, atts: list[Attribution], beats: list[_Beat], project_notes: list[str], n: int,
            cut: _Cuts, lowercase: bool = False) -> None:
    """One paragraph → shots: sentence ends, "then" + a subject and "cut to" break shots;
    quotations travel whole with their "Kofi says"; directions attach to the shot before."""
    para = _line_breaks(block.text, lowercase)
    hidden, pos = [], 0
    for i, att in enumerate(atts):
        a, b = att.span
        a = max(a, pos)
        hidden.append(para[pos:a])
        ends = bool(re.search(r"[.!?…][\"”’'»]?\s*$", para[a:b])) and (
            att.span[1] != att.quote.end or not re.match(r"\s*[,a-z]", para[b:]))
        hidden.append(f"\x00{i}\x00" + ("\x01" if ends else ""))
        pos = b
    hidden.append(para[pos:])
    text = "".join(hidden)
    text = re.sub(r"\s*\b((?:smash|hard|match|jump)\s+)cut\s+to(?!\s+(?:black|white|red|credits|title)\b):?\s*",
                  lambda m: f" \x02{m.group(1).strip().lower()} cut\x02 ", text, flags=re.I)
    parts = re.split(r"\s*\x02([^\x02]*)\x02\s*", text)
    first_in_para = True
    for k, piece in enumerate(parts):
        if k % 2 == 1:  # a transition word that splits shots
            if beats and beats[-1].scene == block.scene and beats[-1].para == n:
                beats[-1].transition = piece
            continue
        pieces = [piece.replace("\x03", " ")] if block.whole else SHOT_BREAK.split(piece)
        for chunk in (p for p in pieces if p and p.strip()):
            chunk = chunk.strip()
            chunk = re.sub(r"^(?:and\s+)?then,?\s+", "", chunk, flags=re.I)
            chunk = re.sub(r",?\s+(?:and\s+)?then$", "", chunk, flags=re.I).strip()
            if not chunk:
                continue
            prev = beats[-1] if beats and beats[-1].scene == block.scene else None
            direction = read_direction(chunk) if "\x00" not in chunk else None
            if direction is not None:
                target = prev if prev is not None and (prev.para == n or direction.duration_s is not None
                                                       or direction.transition) else None
                if direction.duration_s is not None and target is not None:
                    target.duration_s = direction.duration_s
                if direction.transition and target is not None:
                    target.transition = direction.transition
                if direction.note:
                    if target is not None and not first_in_para:
                        target.notes.append(direction.note)
                        target.notes_at = _span(target.notes_at, block.at)
                    else:
                        project_notes.append(cut.fit(direction.note, 400, block.at, "a note on the whole film",
                                                     "break it into sentences"))
                if direction.rest:
                    beats.append(_Beat(block.scene, direction.rest[0].upper() + direction.rest[1:], para=n,
                                       at=block.at))
                first_in_para = False
                continue
            beat = _Beat(block.scene, "", para=n, at=block.at)
            action, last = [], 0
            for m in re.finditer(r"\x00(\d+)\x00\x01?", chunk):
                action.append(chunk[last:m.start()])
                att = atts[int(m.group(1))]
                if att.spoken:
                    text_ = att.quote.text.strip()
                    text_ = re.sub(r"\s*,$", "", text_).strip() or att.quote.text.strip()
                    beat.lines.append(DialogueLine(character=att.speaker, text=cut.fit(text_, 1000, block.at, *SAID),
                                                   delivery=att.delivery[:80], candidates=att.candidates[:10]))
                else:
                    action.append(para[att.quote.start:att.quote.end])
                last = m.end()
            action.append(chunk[last:])
            words = _clean(" ".join(action))
            words = re.sub(r"\s+([,.;:!?])", r"\1", words)
            words = re.sub(r"^[\s,;:.—–-]+|[\s,;:—–-]+$", "", words)
            words = re.sub(r"([,;:])(?=[.!?]?$)", "", words).strip()
            if words and not words.endswith((".", "!", "?", "…")) and re.search(r"\w", words):
                words += "."
            beat.text = words if re.search(r"\w", words) else ""
            if beat.text:
                beat.text = beat.text[0].upper() + beat.text[1:]
            beats.append(beat)
            first_in_para = False


def _names_in(text: str, cast: Cast) -> list[str]:
    found = []
    for _, _, person in cast.mentions(text):
        if person.name not in found:
            found.append(person.name)
    return found


def _build_sheet(title: str, scenes: list[Scene], beats: list[_Beat], cast: Cast,
                 project_notes: list[str], cut: _Cuts) -> BeatSheet:
    if not scenes:
        scenes = [Scene(number=1, heading="")]
    # Shots that are only camera words ("Slow push in.") or too short fold into the one before.
    merged: list[_Beat] = []
    for b in beats:
        prev = merged[-1] if merged and merged[-1].scene == b.scene else None
        if prev and not b.lines and len(b.text.split()) < 3 and not b.duration_s:
            prev.text = (prev.text + " " + b.text).strip()
            prev.at = _span(prev.at, b.at)
            prev.transition = b.transition or prev.transition
            prev.notes += b.notes
            prev.notes_at = _span(prev.notes_at, b.notes_at)
            continue
        if prev and b.lines and not b.text and not prev.lines and all(
                dl.character and dl.character in _names_in(prev.text, cast) for dl in b.lines):
            prev.lines = b.lines  # a line right after its speaker's action plays in that shot
            prev.transition = b.transition or prev.transition
            continue
        if prev and b.lines and not b.text and prev.lines and prev.lines[-1].character and all(
                dl.character == prev.lines[-1].character for dl in b.lines):
            prev.lines += b.lines  # "…," Noor says. "…" — one speaker going on, one shot
            continue
        if b.lines and not b.text:
            who = b.lines[0].character or "Someone"
            b.text = f"{who} {b.lines[0].delivery if b.lines[0].delivery and ' ' not in b.lines[0].delivery else 'speaks'}."
        if not b.text and not b.lines:
            continue
        merged.append(b)

    names: list[str] = []
    for p in cast.people:
        names.append(p.name)
    for b in merged:
        for line in b.lines:
            if line.character and line.character not in names:
                names.append(line.character)
    speaking = {line.character for b in merged for line in b.lines}
    mentioned = {n for b in merged for n in _names_in(b.text, cast)}
    names = [n for n in names if n in speaking or n in mentioned or _declared(cast, n)]

    shots: list[Shot] = []
    scene_first: set[int] = set()
    last_chars: list[str] = []
    last_scene = 0
    for b in merged:
        text = b.text
        first_in_scene = b.scene not in scene_first
        scene_first.add(b.scene)
        seen_speaking = [line for line in b.lines if line.character not in OFF_SCREEN]
        default_size = Size.MCU if seen_speaking else (Size.WS if first_in_scene else Size.MS)
        size = _first(SIZE_WORDS, text, default_size)
        angle = _first(ANGLE_WORDS, text, Angle.EYE)
        movement = _first(MOVE_WORDS, text, Movement.STATIC)
        chars = [c for c in _names_in(text, cast) if c in names]
        if b.scene != last_scene:
            last_chars, last_scene = [], b.scene
        if not chars and re.search(r"\b(?:she|her|he|him|his|they|them|their)\b", text, re.I):
            chars = list(last_chars)  # "Close on her hands" is about whoever we were just watching
        for line in seen_speaking:  # a voice over the picture is heard, not drawn
            if line.character and line.character not in chars:
                chars.append(line.character)
        if chars:
            last_chars = chars
        words = len(text.split())
        talk = sum(len(line.text.split()) for line in b.lines)
        duration = max(2.0, min(12.0, 1.0 + words / 4 + (talk / 2.5 + 0.5 if talk else 0)))
        duration = round(duration * 2) / 2
        pinned = []
        if b.duration_s is not None:
            duration, pinned = b.duration_s, ["duration_s"]
        action = cut.fit(text, 2000, b.at, "a shot's action", "break it into sentences or paragraphs")
        notes = cut.fit(" ".join(b.notes), 2000, b.notes_at, "a shot's crew note", "break it into sentences")
        prompt = default_image_prompt(size, action)
        shots.append(Shot(scene=b.scene, number=str(len(shots) + 1), size=size, angle=angle, movement=movement,
                          duration_s=duration, action=action, characters=chars[:20], dialogue=b.lines[:40],
                          image_prompt=prompt, transition=b.transition[:40], notes=notes,
                          pinned=pinned, seed=zlib.crc32(f"{b.scene}:{len(shots)}:{action}".encode())))
    used = {s.scene for s in shots}
    people = {p.name: p for p in cast.people}
    return BeatSheet(
        title=title[:200],
        scenes=[sc for sc in scenes if sc.number in used] or scenes[:1],
        characters=[Character(name=n, look=people[n].look if n in people else "", seed=zlib.crc32(n.encode()))
                    for n in names],
        shots=shots,
        notes=project_notes[:40],
    )


def default_image_prompt(size: Size, action: str) -> str:
    """What a keyframe shows when no one wrote a prompt: the framing, then the action
    (the action alone when it already says the framing)."""
    if not action:
        return _SIZE_PHRASE[size]
    if "size" in explicit_camera(action):
        return action.rstrip(".")[:120]
    first = action.split(maxsplit=1)[0]
    if first.lower() in _LOWER_FIRST:  # "The lamp" → "close-up of the lamp"; "Oskar" stays a name
        action = action[0].lower() + action[1:]
    return f"{_SIZE_PHRASE[size]} of {action}".rstrip(".")[:120]


_LOWER_FIRST = {"the", "a", "an", "his", "her", "their", "its", "our", "my", "your", "this", "that", "these",
                "those", "some", "two", "three", "four", "both", "all", "every", "each", "one", "another", "someone",
                "something", "nobody", "no"}


def _declared(cast: Cast, name: str) -> bool:
    p = cast.get(name)
    return p is not None and p.first == 0 and bool(p.look or p.roles)


def open_questions(sheet: BeatSheet) -> list[tuple[Shot, int, DialogueLine]]:
    """Lines whose speaker the notes do not say: the agent asks about each."""
    return [(s, i, dl) for s in sheet.shots for i, dl in enumerate(s.dialogue) if not dl.character]


def speaker_question(shot: Shot, line: DialogueLine) -> str:
    who = line.candidates or []
    quote = line.text if len(line.text) <= 60 else line.text[:57] + "…"
    if len(who) >= 2:
        options = ", ".join(who[:-1]) + f" or {who[-1]}"
        return f"Who says “{quote}” in shot {shot.number} — {options}?"
    if len(who) == 1:
        return f"Who says “{quote}” in shot {shot.number} — {who[0]}, or someone else?"
    return f"Who says “{quote}” in shot {shot.number}?"


_SIZE_PHRASE = {
    Size.ECU: "extreme close-up", Size.CU: "close-up", Size.MCU: "medium close-up", Size.MS: "medium shot",
    Size.MWS: "medium wide shot", Size.WS: "wide shot", Size.EWS: "extreme wide shot",
    Size.OTS: "over-the-shoulder shot", Size.POV: "point-of-view shot", Size.INSERT: "insert shot",
}
