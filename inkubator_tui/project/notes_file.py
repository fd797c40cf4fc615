"""Reading a director's notes file: the checks the CLI and the app share."""

from __future__ import annotations

import re
from pathlib import Path

NOTES_SUFFIXES = {".txt", ".md", ".markdown", ".fountain", ".spmd"}


# A feature screenplay is 150–250 KB of text; notes past this are not one beat sheet.
MAX_NOTES_BYTES = 400_000


# Terminal control sequences (CSI `ESC [ … final` or its 8-bit form U+009B, OSC `ESC ] … BEL|ST` or
# U+009D … U+009C, other `ESC x`), then any single C0/C1 control but tab and newline: none of it is a
# director's words, and every one of them would reach a terminal or a file someone opens (a title set
# by OSC 0, a screen cleared by CSI 2J). An OSC left open ends at the line's end: the words after it stay.
CONTROL = re.compile(r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]|(?:\x1b\]|\x9d)[^\x07\x1b\x9c\n]*(?:\x07|\x1b\\|\x9c)?"
                     r"|\x1b[@-_]?|[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def without_controls(text: str) -> str:
    """Notes as words: CR and CRLF become newlines, terminal escapes and controls go."""
    return CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


class NotesFileError(ValueError):
    """The file cannot be notes; the message says what to do instead."""


def check_size(text: str, what: str = "the notes") -> None:
    """Refuse notes too big for one sheet before anything is made from them."""
    _check_bytes(len(text.encode("utf-8")), what)


def _check_bytes(size: int, what: str) -> None:
    if size > MAX_NOTES_BYTES:
        raise NotesFileError(f"{what}: {size / 1e6:.1f} MB of notes; one beat sheet takes up to "
                             f"{MAX_NOTES_BYTES // 1000} KB (a feature script). Split them (by act or sequence) "
                             "and produce each part into its own project")


def read_notes(path: Path) -> str:
    if not path.exists():
        raise NotesFileError(f"notes file {path} does not exist")
    if path.is_dir():
        raise NotesFileError(f"{path} is a folder; give a notes file (.txt, .md or .fountain)")
    if path.stat().st_size > 4 * MAX_NOTES_BYTES:  # far too big: not even read
        _check_bytes(path.stat().st_size, path.name)
    if path.suffix.lower() not in NOTES_SUFFIXES:
        raise NotesFileError(f"{path.name}: notes must be .txt, .md or .fountain "
                             f"(got {path.suffix or 'no extension'})")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise NotesFileError(f"{path} is not UTF-8 text; save it as UTF-8 and try again") from None
    if not text.strip():
        raise NotesFileError(f"{path} is empty; write what happens, scene by scene")
    check_size(text, path.name)
    return without_controls(text)
