"""What each step needs and depends on.

For every step and target this module answers two questions: which inputs
define the work (`deps`, hashed into `deps_key`), and is every input approved
(otherwise the target is `Blocked`, with the reason in words). Staleness is
then exact: a draft is stale when the deps of its target have changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..project.models import BeatSheet, DialogueLine, Draft, DraftStatus, ProjectSettings, Shot, Step, stable_hash
from ..project.store import Store

SHEET_TARGET = "sheet"
ANIMATIC_TARGET = "project"


@dataclass
class Task:
    step: Step
    target: str
    label: str
    deps: dict
    seed: int = 0
    shot: Shot | None = None
    line: DialogueLine | None = None
    upstream: list[Draft] = field(default_factory=list)

    @property
    def deps_key(self) -> str:
        return stable_hash({"step": self.step.value, **self.deps})


@dataclass
class Blocked:
    step: Step
    target: str
    label: str
    reason: str


class Context:
    """A read-only view of the project that planning works from."""

    def __init__(self, store: Store, enabled: set[Step] | None = None):
        self.settings: ProjectSettings = store.settings
        self.sheet: BeatSheet | None = store.sheet()
        # Steps that have a backend; the animatic waits only on those.
        self.enabled = set(Step) if enabled is None else enabled
        self._by_target: dict[tuple[Step, str], list[Draft]] = {}
        for d in store.drafts():
            self._by_target.setdefault((d.step, d.target), []).append(d)

    def drafts(self, step: Step, target: str) -> list[Draft]:
        return self._by_target.get((step, target), [])

    def approved(self, step: Step, target: str) -> Draft | None:
        return next((d for d in reversed(self.drafts(step, target)) if d.status == DraftStatus.APPROVED), None)

    def waiting_words(self, step: Step, target: str) -> str:
        ds = self.drafts(step, target)
        pending = [d for d in ds if d.status == DraftStatus.PENDING]
        if pending:
            return f"{step.value} draft {', '.join(str(d.id) for d in pending)} awaits approval"
        if ds and ds[-1].status == DraftStatus.STALE:
            return f"{step.value} is stale (its inputs changed); run it again"
        if ds and ds[-1].status == DraftStatus.REJECTED:
            return f"{step.value} was rejected; run it again for a new version"
        return f"{step.value} not made yet"


def line_label(shot: Shot, index: int) -> str:
    return f"shot {shot.number} line {index + 1}"


def plan(step: Step, ctx: Context) -> tuple[list[Task], list[Blocked]]:
    """The work `step` could do now, and what is blocked and why."""
    if step == Step.BEATS:
        raise ValueError("beats are planned from notes, not from the project")
    sheet = ctx.sheet
    if sheet is None:
        return [], [Blocked(step, SHEET_TARGET, "beat sheet", "beats not approved yet")]
    tasks: list[Task] = []
    blocked: list[Blocked] = []
    s = ctx.settings

    if step == Step.KEYFRAMES:
        for shot in sheet.shots:
            looks = {c: (sheet.character(c).look if sheet.character(c) else "") for c in shot.characters}
            deps = {"shot": shot.model_dump(mode="json", exclude={"id", "dialogue", "notes", "duration_s"}),
                    "looks": looks, "style": s.style_bible, "aspect": s.aspect}
            tasks.append(Task(step, shot.id, f"shot {shot.number}", deps, seed=shot.seed, shot=shot))

    elif step == Step.MOTION:
        for shot in sheet.shots:
            kf = ctx.approved(Step.KEYFRAMES, shot.id)
            if kf is None:
                blocked.append(Blocked(step, shot.id, f"shot {shot.number}",
                                       ctx.waiting_words(Step.KEYFRAMES, shot.id)))
                continue
            deps = {"keyframe": kf.id, "movement": shot.movement.value, "duration_s": shot.duration_s, "fps": s.fps,
                    "aspect": s.aspect}
            tasks.append(Task(step, shot.id, f"shot {shot.number}", deps, seed=shot.seed, shot=shot, upstream=[kf]))

    elif step == Step.VOICE:
        for shot in sheet.shots:
            for i, line in enumerate(shot.dialogue):
                ch = sheet.character(line.character)
                deps = {"text": line.text, "character": line.character, "delivery": line.delivery,
                        "voices": ch.voices if ch else {}, "language": s.languages[0] if s.languages else "en"}
                tasks.append(Task(step, line.id, line_label(shot, i), deps, seed=shot.seed, shot=shot, line=line))

    elif step == Step.ANIMATIC:
        shots, upstream, missing = [], [], []
        for shot in sheet.shots:
            kf = ctx.approved(Step.KEYFRAMES, shot.id)
            mo = ctx.approved(Step.MOTION, shot.id) if (Step.MOTION in ctx.enabled) else None
            if kf is None:
                missing.append(f"shot {shot.number}: {ctx.waiting_words(Step.KEYFRAMES, shot.id)}")
            if (Step.MOTION in ctx.enabled) and mo is None:
                missing.append(f"shot {shot.number}: {ctx.waiting_words(Step.MOTION, shot.id)}")
            voices = []
            for i, line in enumerate(shot.dialogue if Step.VOICE in ctx.enabled else []):
                v = ctx.approved(Step.VOICE, line.id)
                if v is None:
                    missing.append(f"{line_label(shot, i)}: {ctx.waiting_words(Step.VOICE, line.id)}")
                else:
                    voices.append(v)
            upstream += [d for d in (kf, mo, *voices) if d is not None]
            shots.append({"id": shot.id, "number": shot.number, "duration_s": shot.duration_s,
                          "keyframe": kf.id if kf else None, "motion": mo.id if mo else None,
                          "voice": [v.id for v in voices]})
        if missing:
            blocked.append(Blocked(step, ANIMATIC_TARGET, "animatic", "; ".join(missing)))
        else:
            deps = {"shots": shots, "fps": s.fps, "aspect": s.aspect}
            tasks.append(Task(step, ANIMATIC_TARGET, "animatic", deps, upstream=upstream))
    return tasks, blocked
