"""Every action of the app, listed once.

Key bindings, the command palette, slash commands and the help screen are all
made from this list, so an action added here is reachable in every way and
documented in one place. An action named `x` runs the app's `action_x(arg)`;
its key comes from the config's `[keys]` table under the same name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Action:
    name: str
    title: str
    help: str
    # Where its key works: "anywhere" (function keys, Esc) or on the shot "board" (letters).
    where: Literal["anywhere", "board"] = "board"
    # The key's name in `[keys]` ("" = no key: palette and chat only).
    key: str = ""
    # Shown in the footer under this label ("" = not shown).
    footer: str = ""
    # The chat's `/command` ("" = none) and what it takes after it.
    slash: str = ""
    args: str = ""
    # Works even while a modal or the chat input has focus.
    priority: bool = False


ACTIONS: tuple[Action, ...] = (
    Action("help", "Help", "keys and chat commands", "anywhere", "help", "Help", "help", priority=True),
    Action("quit", "Quit", "leave the app (your work is saved as you go)", "anywhere", "quit", "Quit",
           priority=True),
    Action("sample", "Send sample note", "watch the whole flow on a sample note", "anywhere", "sample", "",
           "sample"),
    Action("doctor", "Doctor", "what is real, what is a labelled default, what is missing", "anywhere", "doctor", "",
           "doctor"),
    Action("run_next", "Run next step", "make the next step's drafts", "anywhere", "run_next", "Run next", "run"),
    Action("cancel", "Cancel job", "stop the running job (finished drafts are kept)", "anywhere", "cancel", "",
           "cancel"),
    Action("refresh", "Refresh", "re-read the project", "anywhere", "refresh"),
    Action("approve", "Approve", "approve what the preview shows (or a draft by id)", "board", "approve", "Approve",
           "approve", "[id]"),
    Action("approve_step", "Approve the whole step",
           "approve every pending draft of this step (first candidate each)", "board", "approve_step",
           "Approve step"),
    Action("reject", "Reject", "reject what the preview shows, keeping it for the record", "board", "reject",
           "Reject", "reject", "[note]"),
    Action("redo", "Redo with a note", "reject it and make a new version with your note", "board", "redo", "Redo",
           "redo", "[note]"),
    Action("edit", "Edit shot", "change the selected shot's fields in a form", "board", "edit", "Edit", "edit",
           "[shot]"),
    Action("cast", "Cast voices", "who voices each character, per language; recast one", "board", "cast", "",
           "cast", "[NAME LANG=BACKEND:VOICE]"),
    Action("translate", "Translate lines", "each line per dubbing language: type a translation, or `draft` them "
           "with a model that can translate", slash="translate", args="[SHOT.N LANG TEXT | draft]"),
    Action("previous_candidate", "Previous candidate", "show the previous candidate (or the start frame)", "board",
           "previous_candidate"),
    Action("next_candidate", "Next candidate", "show the next candidate (or the end frame)", "board",
           "next_candidate"),
    Action("play", "Play voice", "play the selected shot's line", "board", "play", "", "play"),
    Action("open", "Open media", "open the motion clip or animatic in your player", "board", "open", "", "open"),
    Action("render", "Render a step", "run a step for some shots, e.g. /render keyframes 2-3", slash="render",
           args="[step] [shots]"),
    Action("notes", "Send a notes file", "send notes (.txt, .md), or import a screenplay (.fountain, .fdx) as "
           "written", slash="notes", args="PATH"),
    Action("model", "Agent model", "show or switch the agent's model", slash="model", args="[PATH | URL NAME]"),
    Action("export", "Export", "screenplays, shot list, timelines, storyboard, signed media, provenance → exports/",
           slash="export"),
    Action("view", "View full screen", "the shot's keyframe full screen, its candidates side by side "
           "(← → choose, ↑ ↓ shot, a approve, r reject)", "board", "view", "View", "view"),
    Action("undo", "Undo", "take back this session's last approval, rejection, edit or request (with none: go "
           "back to the previous shot list)", "board", "undo", "", "undo"),
    Action("reapply", "Redo what undo took back", "put back what the last undo took back", "board", "reapply", "",
           "reapply"),
    Action("open_project", "Open project", "switch to another project: recent ones, or a new one", "anywhere",
           "open_project", "", "project", "[FOLDER]", priority=True),
)

BY_SLASH = {a.slash: a for a in ACTIONS if a.slash}


def keyed(where: str) -> list[Action]:
    return [a for a in ACTIONS if a.key and a.where == where]
