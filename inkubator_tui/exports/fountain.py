"""Fountain: the plain-text screenplay every screenwriting app reads, written from
the beat sheet and read back into one.

Shots travel as notes above their action, `[[SHOT 4A: CU, dolly-in, 3 s]]`:
invisible in a printed script, kept by Highland, Fade In, Slugline and
Beat, and read back by `inkubator import`. Reading uses `screenplay-tools`
(MIT), a Fountain parser that keeps notes (screenplain drops them).
"""

from __future__ import annotations

import re
from pathlib import Path

from ..project.assets import atomic_write_bytes
from ..project.models import BeatSheet, Step
from .base import ExportContext
from .screenplay import Element, Screenplay, clean, screenplay_of, sheet_of

HEADING_START = re.compile(r"^(?:INT|EXT|EST|INT\./EXT|INT/EXT|I/E)[.\s]", re.I)
NOTE_MARK = re.compile(r"\[\[(\d+)\]\]")
BONEYARD_MARK = re.compile(r"/\*\d+\*/")  # where cut text (/* … */) was: nothing to read


class FountainExporter:
    name = "fountain"
    filename = "script.fountain"
    label = "screenplay (Fountain), shots as [[SHOT …]] notes"
    opens_in = "Highland, Fade In, Slugline, Beat, WriterSolo, Final Draft 12+ (File → Open)"

    def export(self, ctx: ExportContext, out: Path) -> list[Path]:
        atomic_write_bytes(out, fountain_text(ctx).encode("utf-8"))
        return [out]


def fountain_text(ctx: ExportContext) -> str:
    return write_fountain(screenplay_of(ctx.sheet, ctx.title, title_page(ctx)))


def title_page(ctx: ExportContext) -> dict[str, str]:
    """The title page of the screenplay the project was imported from (Author, Credit, …),
    and the date the shot list was approved."""
    beats = ctx.approved(Step.BEATS, "sheet")
    page = {k: v for k, v in ((beats.data.get("title_page") if beats else None) or {}).items()
            if k.lower() != "title" and str(v).strip()}
    if beats and beats.provenance.approved_at and not any(k.lower() in ("draft date", "date") for k in page):
        page["Draft date"] = beats.provenance.approved_at[:10]
    return page


def write_fountain(play: Screenplay) -> str:
    out = [f"Title: {_one_line(play.title) or 'Untitled'}"]
    out += [f"{k}: {_one_line(v)}" for k, v in play.title_page.items() if k.lower() != "title"]
    out.append("")
    prev = ""
    for el in play.elements:
        text = el.text
        if el.kind == "heading":
            line = _one_line(text).upper()
            out += ["", line if HEADING_START.match(line) else "." + line.lstrip("."), ""]
        elif el.kind == "note":
            if prev not in ("note", "heading", ""):
                out.append("")
            out.append(f"[[{_note_safe(text)}]]")
        elif el.kind == "action":
            out += [_action(ln) for ln in _safe(text).splitlines() if ln.strip()] + [""]
        elif el.kind == "character":
            if prev not in ("action", "heading", ""):
                out.append("")
            name = _one_line(text)
            out.append(name if _reads_as_cue(name) else "@" + name)
        elif el.kind == "parenthetical":
            out.append(f"({_one_line(text)})")
        elif el.kind == "dialogue":
            out += [ln for ln in _safe(text).splitlines() if ln.strip()]
            out.append("")
        elif el.kind == "transition":
            t = _one_line(text).upper()
            out += ["", t if t.endswith("TO:") else "> " + t, ""]
        prev = el.kind
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip() + "\n"


def read_fountain(text: str) -> BeatSheet:
    """A Fountain screenplay (title page, headings, action, dialogue, [[SHOT …]] notes) as a sheet."""
    return sheet_of(parse_fountain(text))


def parse_fountain(text: str) -> Screenplay:
    from screenplay_tools.fountain.parser import Parser

    parser = Parser()
    parser.mergeActions = False  # paragraphs are found here, from the blank lines
    parser.add_text(clean(text.replace("\r\n", "\n").replace("\r", "\n")))
    script = parser.script
    play = Screenplay()
    for entry in script.titleEntries:
        value = " ".join(entry.text.split())
        if entry.key.strip().lower() == "title":
            play.title = re.sub(r"[*_]", "", value)
        else:
            play.title_page[entry.key.strip()] = value
    notes = [n.text for n in script.notes]
    para: list[str] = []
    forced = False

    def flush() -> None:
        nonlocal forced
        if para:
            play.elements.append(Element("action", " ".join(para), forced=forced))
            para.clear()
        forced = False

    for el in script.elements:
        kind = el.type.value.lower()
        if kind == "action" and getattr(el, "centered", False):
            flush()  # centred text is a title card (`>THE END<`), not a shot
            continue
        if kind == "action":
            if not el.text_raw.strip():
                flush()
            for piece in _with_notes(el.text_raw, notes):
                if piece.kind == "note":
                    flush()
                    play.elements.append(piece)
                elif piece.text.strip():
                    para.append(piece.text.strip())
                    forced = forced or el.forced
            continue
        flush()
        if kind == "heading":
            play.elements.append(Element("heading", el.text.strip()))
        elif kind == "character":
            play.elements.append(Element("character", el.name.strip()))
        elif kind in ("parenthetical", "dialogue", "transition"):
            for piece in _with_notes(el.text_raw, notes):
                if piece.kind == "note" or piece.text.strip():
                    play.elements.append(piece if piece.kind == "note" else Element(kind, piece.text.strip()))
    flush()
    return play


def _with_notes(raw: str, notes: list[str]) -> list[Element]:
    """Split a paragraph's text at its `[[n]]` note markers, keeping the order."""
    out, pos = [], 0
    raw = BONEYARD_MARK.sub("", raw)
    for m in NOTE_MARK.finditer(raw):
        out.append(Element("text", raw[pos:m.start()]))
        n = int(m.group(1))
        if n < len(notes):
            out.append(Element("note", notes[n]))
        pos = m.end()
    out.append(Element("text", raw[pos:]))
    return out


def _one_line(text: str) -> str:
    return " ".join(_safe(text).split())


def _safe(text: str) -> str:
    """Markup that would open a note or a boneyard inside plain text is broken apart."""
    return clean(text).replace("[[", "[ [").replace("]]", "] ]").replace("/*", "/ *").replace("*/", "* /")


def _note_safe(text: str) -> str:
    return " ".join(clean(text).replace("]]", "] ]").replace("[[", "[ [").split())


def _reads_as_cue(name: str) -> bool:
    """A plain cue is upper case with at least one letter; anything else is forced with `@`."""
    return name == name.upper() and any(c.isalpha() and c.isupper() for c in name) and not name.startswith(
        ("!", "@", "~", ".", ">", "=", "#"))


def _action(line: str) -> str:
    """An action line that Fountain would read as something else is forced with `!`."""
    s = line.strip()
    risky = (s.startswith(("!", "@", "~", ".", ">", "=", "#", "(", "[[")) or HEADING_START.match(s)
             or (s == s.upper() and any(c.isalpha() for c in s)) or s.endswith("TO:"))
    return "!" + s if risky else s
