"""A screenplay file in (Fountain or Final Draft) as a beat sheet, for `inkubator import`,
`inkubator produce script.fountain` and the app's open action."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..project.models import BeatSheet
from ..project.notes_file import NotesFileError, read_notes, without_controls
from ..project.store import ProjectError
from .screenplay import sheet_of

SCREENPLAY_SUFFIXES = {".fountain", ".spmd", ".fdx"}
MAX_BYTES = 20 * 1024 * 1024  # a feature screenplay is well under 1 MB; beyond this it is not one


@dataclass(frozen=True)
class Imported:
    sheet: BeatSheet
    text: str  # what was read, as text (the draft's source, for re-import and provenance)
    reader: str  # which reader, for provenance
    title_page: dict[str, str]  # Author, Credit, Draft date, … (written again on export)


def is_screenplay(path: Path) -> bool:
    return path.suffix.lower() in SCREENPLAY_SUFFIXES


def read_screenplay(path: Path) -> Imported:
    """Parse `path`; errors are one line that says what to do (NotesFileError)."""
    from importlib.metadata import version

    if path.is_file() and path.stat().st_size > MAX_BYTES:
        raise NotesFileError(f"{path.name} is {path.stat().st_size // 2**20} MB, too big for a screenplay; "
                             "split it into scenes and import each")
    if path.suffix.lower() == ".fdx":
        from .fdx import parse_fdx

        if not path.is_file():
            raise NotesFileError(f"screenplay {path} does not exist")
        data = path.read_bytes()
        try:
            play = parse_fdx(data)
        except ProjectError as e:
            raise NotesFileError(f"{path.name}: {e}") from None
        text = without_controls(data.decode("utf-8", errors="replace"))
        reader = "inkubator FDX reader"
    else:
        from .fountain import parse_fountain

        text = read_notes(path)
        play = parse_fountain(text)
        reader = f"screenplay-tools {version('screenplay-tools')} Fountain parser"
    try:
        sheet = sheet_of(play)
    except ProjectError as e:
        raise NotesFileError(f"{path.name}: {e}") from None
    if not sheet.shots:
        raise NotesFileError(f"{path.name} has no scenes, action or dialogue to make shots from")
    if not sheet.title:
        sheet.title = path.stem.replace("_", " ").replace("-", " ").strip().title()[:200]
    return Imported(sheet, text, reader, {k: v for k, v in play.title_page.items() if k.lower() != "title"})
