"""Final Draft (`.fdx`): the screenplay as Final Draft's XML, written from the beat
sheet and read back into one.

A shot's camera travels as a paragraph of Final Draft's own type `Shot`
(`SHOT 4A: CU, dolly-in, 3 s`), which Final Draft prints in capitals above
the action and import reads back; a shot's notes become a `ScriptNote`.
Reading is ElementTree over the paragraphs: screenplay-tools' FDX reader
keeps only the first text run of a paragraph and drops shots and notes.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from ..project.assets import atomic_write_bytes
from ..project.models import BeatSheet
from ..project.notes_file import without_controls
from ..project.store import ProjectError
from .base import ExportContext
from .fountain import title_page
from .screenplay import Element, Screenplay, clean, screenplay_of, sheet_of

PARAGRAPH_TYPE = {"heading": "Scene Heading", "action": "Action", "character": "Character",
                  "parenthetical": "Parenthetical", "dialogue": "Dialogue", "transition": "Transition",
                  "shot": "Shot"}
KIND_OF = {"Scene Heading": "heading", "Action": "action", "General": "action", "Character": "character",
           "Parenthetical": "parenthetical", "Dialogue": "dialogue", "Transition": "transition", "Shot": "shot"}
XML_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
BETWEEN_TAGS = re.compile(r"(?<=>)[^<]+")


class FdxExporter:
    name = "fdx"
    filename = "script.fdx"
    label = "screenplay (Final Draft XML), shots as Shot paragraphs"
    opens_in = "Final Draft 8+, Fade In, WriterDuet, Highland, Arc Studio (import .fdx)"

    def export(self, ctx: ExportContext, out: Path) -> list[Path]:
        atomic_write_bytes(out, fdx_bytes(screenplay_of(ctx.sheet, ctx.title, title_page(ctx))))
        return [out]


def fdx_bytes(play: Screenplay) -> bytes:
    root = ET.Element("FinalDraft", DocumentType="Script", Template="No", Version="5")
    content = ET.SubElement(root, "Content")
    for el in play.elements:
        if el.kind == "note":
            if el.text.lstrip().upper().startswith("SHOT"):
                _paragraph(content, "Shot", el.text)
            else:  # a note on the paragraph before (Final Draft shows it in the margin)
                target = content[-1] if len(content) else _paragraph(content, "Action", "")
                note = ET.SubElement(target, "ScriptNote")
                _paragraph(note, "General", el.text)
        else:
            text = el.text if el.kind != "parenthetical" else f"({el.text})"
            _paragraph(content, PARAGRAPH_TYPE[el.kind], text)
    page = ET.SubElement(ET.SubElement(root, "TitlePage"), "Content")
    _paragraph(page, "Title", play.title or "Untitled", alignment="Center")
    for key, value in play.title_page.items():
        _paragraph(page, "General", f"{key}: {value}", alignment="Center")
    ET.indent(root)
    return b'<?xml version="1.0" encoding="UTF-8" standalone="no" ?>\n' + ET.tostring(root, encoding="utf-8")


def _paragraph(parent: ET.Element, kind: str, text: str, alignment: str = "") -> ET.Element:
    p = ET.SubElement(parent, "Paragraph", Type=kind, **({"Alignment": alignment} if alignment else {}))
    ET.SubElement(p, "Text").text = XML_ILLEGAL.sub("", clean(text))
    return p


def read_fdx(data: bytes | str) -> BeatSheet:
    return sheet_of(parse_fdx(data))


def parse_fdx(data: bytes | str) -> Screenplay:
    """Paragraphs of a Final Draft file in order; a paragraph's text is all of its runs, as words
    (`without_controls`): a file from anywhere can carry terminal escapes, which XML itself
    refuses, so they go from the text between tags before it is parsed, and any control
    written as a character reference goes from each paragraph's text after."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError:
            pass  # another encoding its XML declaration names: ElementTree reads it as it is
    if isinstance(data, str):
        data = BETWEEN_TAGS.sub(lambda m: without_controls(m.group()), data)
    try:
        root = ET.fromstring(data)
    except ET.ParseError as e:
        raise ProjectError(f"not a Final Draft file ({e}); export it again from Final Draft as .fdx") from None
    if root.tag != "FinalDraft":
        raise ProjectError(f"not a Final Draft file (its root is <{root.tag}>); give a .fdx from Final Draft")
    play = Screenplay()
    for p in root.iterfind("./TitlePage/Content/Paragraph"):
        text = _text(p)
        key, sep, value = text.partition(":")
        if p.get("Type") == "Title" or (sep and key.strip().lower() == "title"):
            play.title = value.strip() if sep and key.strip().lower() == "title" else text
        elif sep and len(key) < 30:
            play.title_page[key.strip()] = value.strip()
        elif text and not play.title:
            play.title = text
    for p in root.iterfind("./Content/Paragraph"):
        kind = KIND_OF.get(p.get("Type", "Action"), "action")
        text = _text(p)
        if kind == "shot":
            play.elements.append(Element("note", text if text.upper().startswith("SHOT") else f"SHOT: {text}"))
        elif text:
            if kind == "parenthetical":
                text = text.strip().removeprefix("(").removesuffix(")")
            play.elements.append(Element(kind, text, forced=True))  # its type was chosen in Final Draft
        for note in p.iterfind("./ScriptNote"):
            said = " ".join(_text(q) for q in note.iter("Paragraph"))
            if said:
                play.elements.append(Element("note", said))
    return play


def _text(p: ET.Element) -> str:
    return without_controls("".join("".join(t.itertext()) for t in p.findall("./Text"))).strip()
