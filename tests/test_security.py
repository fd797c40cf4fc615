"""What a hostile note, a kill or a shared folder must never do (issue 15), each pinned
by a test that failed before its fix."""

from __future__ import annotations

import re

from conftest import approve_all
from inkubator_tui.cli import main
from inkubator_tui.project.models import Step
from inkubator_tui.project.notes_file import without_controls

HOSTILE = ("Title: Esc\n\nMira waits \x1b]0;pwned\x07 at the door \x1b[2J now.\r\n\r\n"
           "Oskar says, \"Hi \x1b[31mred\x1b[0m \x9b2J\x00there.\"\n\nA link \x1b]8;;http://x\x1b\\here\x1b]8;;\x1b\\ ends.\n")
CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def test_control_characters_and_terminal_escapes_leave_the_notes_but_the_words_stay():
    clean = without_controls(HOSTILE)
    assert not CONTROLS.search(clean)
    assert "Mira waits  at the door  now." in clean and "Hi red there." in clean and "A link here ends." in clean
    kept = "日本語 — “quotes” é ✓ 🎬 \u200f rtl\n\ttab"
    assert without_controls(kept) == kept, "any language, emoji, RTL marks, tabs and newlines are words"


def test_escapes_in_notes_reach_neither_the_terminal_nor_the_exports(tmp_path, capsys):
    notes = tmp_path / "esc.txt"
    notes.write_text(HOSTILE, encoding="utf-8")
    root = tmp_path / "p"
    assert main(["produce", str(notes), "--project", str(root), "--approve-all", "--set", "keyframe.backend=sketch",
                 "--set", "motion.backend=camera"]) == 0
    capsys.readouterr()
    assert main(["status", "--project", str(root)]) == 0
    assert main(["status", "--project", str(root), "--json"]) == 0
    out = capsys.readouterr().out
    assert "Mira waits" in out and "\x1b" not in out and "\\u001b" not in out and not CONTROLS.search(out)
    assert main(["export", "--project", str(root), "--format", "fountain", "--format", "csv", "--no-sign"]) == 0
    for f in (root / "exports").rglob("*"):
        if f.suffix in (".fountain", ".csv"):
            assert not CONTROLS.search(f.read_text(encoding="utf-8")), f.name


def test_a_chat_request_with_escapes_is_words_too(pipe, store):
    from inkubator_tui.agents.conversation import Conversation

    pipe.draft_beats("Mira waits at the door.\n\nOskar opens it.")
    approve_all(pipe, Step.BEATS)
    Conversation(pipe).send("make shot 1 a close-up\x1b]0;pwned\x07\x1b[2J")
    assert not any(CONTROLS.search(m.text) for m in store.messages())
