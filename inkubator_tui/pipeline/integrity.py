"""The database is the truth; files are checked against it and derived files made again.

A kill can land between an approval's commit and the files that follow from it
(the sidecar that records the approver, the exported animatic). Those are
derived state: `repair` makes them again from the database on the next run, so
nothing a person approved is ever lost to a badly timed kill. `check` is what
`inkubator verify` reports: every file a live draft refers to, hashed against
its name, every sidecar against the database, every export an approval owes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..project.models import DraftStatus, Provenance
from ..project.store import Store
from .subtitles import animatic_exports, animatic_files, newest_animatics

# Drafts whose files must be there: what is approved or waits for a decision.
KEPT = (DraftStatus.APPROVED, DraftStatus.PENDING, DraftStatus.STALE)


@dataclass(frozen=True)
class Problem:
    path: str  # relative to the project folder
    problem: str  # "missing", "changed since it was made", "a symbolic link", "sidecar out of date"…
    draft: int | None = None
    fix: str = ""

    def line(self) -> str:
        who = f"draft {self.draft}: " if self.draft is not None else ""
        return f"{who}{self.path} is {self.problem}" + (f"; {self.fix}" if self.fix else "")


def _sidecar_agrees(store: Store, rel: str, provenance: Provenance) -> bool:
    sidecar = store.assets.path(rel + ".json")
    if store.assets.problem(rel + ".json", content=False):
        return False
    try:
        return Provenance.model_validate(json.loads(sidecar.read_bytes())) == provenance
    except (OSError, ValueError):
        return False


def owed_exports(store: Store) -> dict[Path, int]:
    """The animatic exports the approvals owe (path → the draft that makes it)."""
    return {rel: d.id for d in newest_animatics(store) for rel in animatic_files(store, d)}


def check(store: Store, *, content: bool = True) -> list[Problem]:
    """Everything that does not agree with the database; `content=False` skips the hashing."""
    problems = []
    for d in store.drafts(status=KEPT):
        for rel in d.files:
            trouble = store.assets.problem(rel, content=content)
            if trouble:
                fix = "put it back from a backup, or reject the draft and run the step again" \
                    if d.status == DraftStatus.APPROVED else "reject the draft and run the step again"
                problems.append(Problem(rel, trouble, d.id, fix))
            elif d.status == DraftStatus.APPROVED and not _sidecar_agrees(store, rel, d.provenance):
                problems.append(Problem(rel + ".json", "out of date (its provenance differs from the project's)",
                                        d.id, "the next run or export writes it again"))
    for rel, draft_id in owed_exports(store).items():
        if not (store.root / rel).is_file():
            problems.append(Problem(rel.as_posix(), "missing", draft_id, "the next run or export makes it again"))
    return problems


def repair(store: Store) -> list[str]:
    """Make again what a kill left undone: sidecars that miss an approval, animatic exports
    that an approval owes. Returns what was done, one line each. Asset files themselves are
    never rewritten here (only their draft's tool can make them)."""
    done = []
    for d in store.drafts(status=DraftStatus.APPROVED):
        for rel in d.files:
            if not store.assets.problem(rel, content=False) and not _sidecar_agrees(store, rel, d.provenance):
                store.assets.write_sidecar(store.assets.path(rel), d.provenance)
                done.append(f"{rel}.json written again from draft {d.id}")
    owed = owed_exports(store)
    for d in newest_animatics(store):
        if any(draft_id == d.id and not (store.root / rel).is_file() for rel, draft_id in owed.items()):
            animatic_exports(store, d)
            done.append(f"the animatic of draft {d.id} exported again")
    return done
