"""Undo and redo of a person's decisions and edits.

An approval, a rejection, a shot edit or a chat request changes drafts'
statuses, notes and provenance and the working shot list, and may add drafts;
it never changes a draft's files. So a checkpoint of those, taken before the
change and again after it, is all undo and redo need: restoring one puts back
exactly what was, including the siblings an approval superseded and the drafts
an edit made stale, and withdraws (rejects, noted "undone") the drafts the
change made. A change is only undone while what it touched is still as it left
it; otherwise undo says so and changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from ..project.models import BeatSheet, DraftStatus, Provenance, Step
from ..project.store import ProjectError
from .steps import language_of
from .subtitles import animatic_exports

T = TypeVar("T")


@dataclass(frozen=True)
class Checkpoint:
    sheet: str  # the working sheet as JSON ("" before the first approval)
    drafts: dict[int, tuple[str, str, str]]  # id -> (status, note, provenance JSON)


def checkpoint(store) -> Checkpoint:
    sheet = store.sheet()
    return Checkpoint(sheet.model_dump_json() if sheet else "",
                      {d.id: (d.status.value, d.note or "", d.provenance.model_dump_json()) for d in store.drafts()})


@dataclass(frozen=True)
class Change:
    label: str
    before: Checkpoint
    after: Checkpoint

    def touched(self) -> set[int]:
        return {i for i, v in self.after.drafts.items() if self.before.drafts.get(i) != v}


def restore(pipeline, change: Change, to: Checkpoint, frm: Checkpoint, why: str) -> None:
    """Put the project back to `to`, refusing when it no longer matches `frm` where the change touched it."""
    store = pipeline.store
    now = checkpoint(store)
    moved = [i for i in change.touched() if now.drafts.get(i) != frm.drafts.get(i)]
    if moved or (frm.sheet != to.sheet and now.sheet != frm.sheet):
        what = f"draft(s) {', '.join(map(str, sorted(moved)))}" if moved else "the shot list"
        raise ProjectError(f"cannot take back {change.label!r}: {what} changed again since; "
                           "decide them on the board instead")
    animatics = {i for i in change.touched() if store.draft(i).step == Step.ANIMATIC}
    with store.transaction():
        if to.sheet != now.sheet:  # "" = no approved sheet yet: an empty shot list
            store.replace_sheet(BeatSheet.model_validate_json(to.sheet) if to.sheet else BeatSheet(), why)
        for i in change.touched():
            if i not in to.drafts:  # made by the change (a chat edit's sheet, a render): withdrawn
                store.set_status(i, DraftStatus.REJECTED, note="undone", why=f"draft {i}: withdrawn ({why})")
                continue
            status, note, prov = to.drafts[i]
            store.set_status(i, DraftStatus(status), note=note, provenance=Provenance.model_validate_json(prov),
                             why=f"draft {i}: {status} again ({why})")
    for i in change.touched():  # each file's sidecar says what its draft now is
        d = store.draft(i)
        for f in d.files:
            if store.assets.path(f).is_file():
                store.assets.write_sidecar(store.assets.path(f), d.provenance)
    _reexport_animatics(store, animatics)
    pipeline.refresh_staleness()


def _reexport_animatics(store, ids: set[int]) -> None:
    """The exported animatic follows its approval: re-written for the approved one,
    removed when the approval that wrote it was taken back."""
    if not ids:
        return
    approved = {d.target: d for d in store.drafts(Step.ANIMATIC, status=DraftStatus.APPROVED)}
    for i in ids:
        d = store.draft(i)
        if d.target in approved:
            if approved[d.target].files:
                animatic_exports(store, approved[d.target])
            continue
        primary = (store.settings.languages or ["en"])[0]
        lang = d.data.get("language") or language_of(d.target, primary)
        names = [f"animatic.{lang}.mp4", f"animatic.{lang}.srt"]
        if lang == primary:
            names += ["animatic.mp4", "animatic.srt"]
        for name in names:
            (store.root / "exports" / name).unlink(missing_ok=True)


class History:
    """The session's changes, newest last: undo steps back one, redo forward again;
    a new change after an undo drops what could have been redone (as editors do)."""

    def __init__(self, limit: int = 100):
        self.done: list[Change] = []
        self.undone: list[Change] = []
        self.limit = limit

    def record(self, label: str, pipeline, change: Callable[[], T]) -> T:
        before = checkpoint(pipeline.store)
        result = change()
        after = checkpoint(pipeline.store)
        if after != before:
            self.done = [*self.done, Change(label, before, after)][-self.limit:]
            self.undone = []
        return result

    def undo(self, pipeline) -> str:
        if not self.done:
            raise ProjectError("nothing to undo in this session")
        change = self.done[-1]
        restore(pipeline, change, change.before, change.after, f"undo: {change.label}")
        self.undone.append(self.done.pop())
        return f"undid {change.label}"

    def redo(self, pipeline) -> str:
        if not self.undone:
            raise ProjectError("nothing to redo")
        change = self.undone[-1]
        restore(pipeline, change, change.after, change.before, f"redo: {change.label}")
        self.done.append(self.undone.pop())
        return f"redid {change.label}"
