"""Reading a director's notes file: the checks the CLI and the app share."""

from __future__ import annotations

from pathlib import Path

NOTES_SUFFIXES = {".txt", ".md", ".markdown", ".fountain", ".spmd"}


class NotesFileError(ValueError):
    """The file cannot be notes; the message says what to do instead."""


def read_notes(path: Path) -> str:
    if not path.exists():
        raise NotesFileError(f"notes file {path} does not exist")
    if path.is_dir():
        raise NotesFileError(f"{path} is a folder; give a notes file (.txt, .md or .fountain)")
    if path.suffix.lower() not in NOTES_SUFFIXES:
        raise NotesFileError(f"{path.name}: notes must be .txt, .md or .fountain "
                             f"(got {path.suffix or 'no extension'})")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise NotesFileError(f"{path} is not UTF-8 text; save it as UTF-8 and try again") from None
    if not text.strip():
        raise NotesFileError(f"{path} is empty; write what happens, scene by scene")
    return text
