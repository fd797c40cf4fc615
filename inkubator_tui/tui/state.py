"""What the app shows, read from the project in a worker thread in one go.

The event loop never touches SQLite or the filesystem: a worker builds a
`ProjectView` and posts it; widgets render from it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ..pipeline.pipeline import Pipeline
from ..pipeline.steps import role_target
from ..views import project_status
from ..project.models import BeatSheet, Draft, DraftStatus, Step

# Which pending drafts a person decides first for a shot, in pipeline order.
DECISION_ORDER = (Step.KEYFRAMES, Step.MOTION, Step.VOICE, Step.ANIMATIC)


@dataclass
class ProjectView:
    title: str
    root: Path
    shots: list[dict]
    sheet: BeatSheet | None  # the working sheet (approved)
    pending_sheets: list[Draft]  # pending beats drafts (alternatives are siblings)
    drafts: dict[tuple[str, str], list[Draft]] = field(default_factory=dict)
    line_ids: dict[str, list[str]] = field(default_factory=dict)  # shot id -> its line ids
    animatic: str | None = None
    enabled: set[str] = field(default_factory=set)
    model: str = ""

    def for_target(self, step: Step, target: str) -> list[Draft]:
        return self.drafts.get((step.value, target), [])

    def decision(self, shot_id: str | None) -> list[Draft]:
        """The drafts waiting for a decision about this shot, as candidates."""
        if self.pending_sheets:
            # Newest first: each edit builds on the one before, so the newest holds them all.
            return list(reversed(self.pending_sheets))
        if not shot_id:
            return [d for d in self.for_target(Step.ANIMATIC, "project") if d.status == DraftStatus.PENDING]
        for step in DECISION_ORDER:
            targets = self.line_ids.get(shot_id, []) if step == Step.VOICE else \
                ["project"] if step == Step.ANIMATIC else \
                [shot_id, role_target(shot_id, "end")] if step == Step.KEYFRAMES else [shot_id]
            for t in targets:
                pending = [d for d in self.for_target(step, t) if d.status == DraftStatus.PENDING]
                if pending:
                    return pending
        return []

    def picked(self, shot_id: str | None, candidate: int) -> Draft | None:
        """The candidate the decision keys act on (`candidate` counts round the decision)."""
        decision = self.decision(shot_id)
        return decision[candidate % len(decision)] if decision else None

    def latest(self, step: Step, target: str) -> Draft | None:
        """What to preview: the approved draft, else the newest pending, else the newest."""
        ds = self.for_target(step, target)
        for status in (DraftStatus.APPROVED, DraftStatus.PENDING):
            chosen = [d for d in ds if d.status == status]
            if chosen:
                return chosen[-1]
        return ds[-1] if ds else None


def read_view(pipeline: Pipeline) -> ProjectView:
    store = pipeline.store
    status = project_status(pipeline)
    drafts: dict[tuple[str, str], list[Draft]] = {}
    for d in store.drafts():
        drafts.setdefault((d.step.value, d.target), []).append(d)
    sheet = store.sheet()
    beats = pipeline.backend(Step.BEATS)
    return ProjectView(
        title=status["project"]["title"], root=store.root, shots=status["shots"], sheet=sheet,
        pending_sheets=pipeline.pending(Step.BEATS), drafts=drafts,
        line_ids={s.id: [line.id for line in s.dialogue] for s in (sheet.shots if sheet else [])},
        animatic=status["animatic"], enabled={s.value for s in pipeline.enabled_steps()},
        model=beats.info().model_id if beats else "none")


def shot_of_job(label: str) -> str | None:
    """'shot 3 line 1' → '3'; the number a job label refers to."""
    m = re.match(r"shot (\w+)", label)
    return m.group(1) if m else None
