"""How project state is shown: the status contract (`inkubator status --json`,
the app's board and preview) and the marks both use. Presentation lives here,
not in the pipeline, so the pipeline answers questions and this module words
them."""

from __future__ import annotations

import json
import re
from typing import Any

from .pipeline.pipeline import ANIMATIC_EXPORT, Pipeline
from .pipeline.steps import ANIMATIC_TARGET, language_target, role_target
from .project.models import BeatSheet, Draft, DraftStatus, Shot, Step

# One mark per step status, shared by the CLI table and the app (Rich markup).
STATUS_MARK = {"approved": "[green]✓[/]", "missing": "[bold red]![/]", "pending": "[yellow]●[/]",
               "stale": "[magenta]~[/]",
               "rejected": "[red]✗[/]", "todo": "[dim]·[/]", "n/a": "[dim]–[/]", "unavailable": "[dim]∅[/]"}


def shot_json(shot: Shot) -> dict[str, Any]:
    """A shot in the CLI's JSON contract (`status` adds `steps`)."""
    return {"id": shot.id, "number": shot.number, "scene": shot.scene, "size": shot.size.value,
            "angle": shot.angle.value, "movement": shot.movement.value, "lens": shot.lens,
            "duration_s": shot.duration_s, "action": shot.action, "end_action": shot.end_action,
            "characters": list(shot.characters),
            "dialogue": [{"character": dl.character, "text": dl.text, "delivery": dl.delivery,
                          **({"candidates": list(dl.candidates)} if not dl.character else {})}
                         for dl in shot.dialogue],
            "image_prompt": shot.image_prompt, "transition": shot.transition, "notes": shot.notes}


def project_status(pipe: Pipeline) -> dict[str, Any]:
    """The status contract: the project, each shot with each step's state, what waits."""
    ctx = pipe.context()
    sheet = ctx.sheet
    assets = pipe.store.assets
    lost: list[dict[str, Any]] = []  # approved files gone or linked elsewhere (existence only: no hashing)
    for d in pipe.store.drafts(status=DraftStatus.APPROVED):
        lost += [{"draft": d.id, "file": f, "problem": trouble} for f in d.files
                 if (trouble := assets.problem(f, content=False))]
    gone = {x["draft"] for x in lost}

    def summarise(drafts: list[Draft]) -> str:
        return summarise_target(drafts, gone)

    def summarise_all(per_target: list[list[Draft]]) -> str:
        return summarise_targets(per_target, gone)

    beats_state = "approved"
    if sheet is None:
        pending = pipe.pending(Step.BEATS)
        beats_state = "pending" if pending else "todo"
        sheet = BeatSheet.model_validate(pending[-1].data["sheet"]) if pending else BeatSheet()
    enabled = ctx.enabled
    languages = ctx.settings.languages or ["en"]
    primary, dubbed = languages[0], languages[1:]
    animatic = summarise_all([ctx.drafts(Step.ANIMATIC, language_target(ANIMATIC_TARGET, lang, primary))
                              for lang in languages])
    shots = []
    for shot in sheet.shots:
        roles = ctx.roles(shot)
        steps = {
            "beats": beats_state,
            "keyframes": summarise_all([ctx.drafts(Step.KEYFRAMES, role_target(shot.id, r)) for r in roles])
            if shot.id else "todo",
            "motion": summarise(ctx.drafts(Step.MOTION, shot.id)) if shot.id else "todo",
            # each line into each further language ("n/a" for a project in one language)
            "translate": summarise_all([ctx.drafts(Step.TRANSLATE, language_target(line.id, lang, ""))
                                        for line in shot.dialogue for lang in dubbed]),
            "voice": summarise_all([ctx.drafts(Step.VOICE, language_target(line.id, lang, primary))
                                    for line in shot.dialogue for lang in languages]),
            "animatic": animatic if beats_state == "approved" else "todo",
        }
        for st in (Step.MOTION, Step.VOICE):
            if st not in enabled and steps[st.value] == "todo":
                steps[st.value] = "unavailable"
        shots.append({**shot_json(shot), "keyframe_roles": list(roles), "steps": steps})
    export = pipe.store.root / ANIMATIC_EXPORT
    by_language = {lang: pipe.store.root / "exports" / f"animatic.{lang}.mp4" for lang in languages}
    return {
        "project": {"path": str(pipe.store.root), **json.loads(pipe.store.settings.model_dump_json())},
        "shots": shots,
        "pending": [draft_brief(d) for d in pipe.pending()],
        "animatic": str(export) if export.exists() else None,
        "animatics": {lang: str(p) for lang, p in by_language.items() if p.exists()},
        "missing": lost,
    }


def shown_steps(languages: list[str]) -> list[Step]:
    """The step columns a board shows: translate only when the project is dubbed."""
    return [s for s in Step if s != Step.TRANSLATE or len(languages) > 1]


def summarise_target(drafts: list[Draft], gone: set[int] = frozenset()) -> str:
    """One word for one target: approved beats pending beats the newest other state; an
    approved draft whose file is gone (its id in `gone`) is "missing"."""
    states = {d.status for d in drafts}
    approved = [d for d in drafts if d.status == DraftStatus.APPROVED]
    if approved and approved[-1].id in gone:
        return "missing"
    for s in (DraftStatus.APPROVED, DraftStatus.PENDING):
        if s in states:
            return s.value
    live = [d for d in drafts if d.status != DraftStatus.SUPERSEDED]
    return live[-1].status.value if live else "todo"


def summarise_targets(per_target: list[list[Draft]], gone: set[int] = frozenset()) -> str:
    """One word for several targets (a shot's lines, its start and end frames): the one most in need."""
    if not per_target:
        return "n/a"
    states = [summarise_target(ds, gone) for ds in per_target]
    for s in ("missing", "stale", "rejected", "pending", "todo"):
        if s in states:
            return s
    return "approved"


def draft_brief(d: Draft) -> dict[str, Any]:
    return {"id": d.id, "step": d.step.value, "target": d.target, "version": d.version,
            "status": d.status.value, "files": d.files, "backend": d.provenance.backend}


def motion_summary(d: Draft) -> str:
    """How a motion clip was made, in one line a director can approve on: the engine and how
    many in-betweens, or why it holds, cuts or only moves the camera."""
    p = d.provenance.parameters
    if p.get("non_neural") or d.provenance.non_neural:
        return f"camera move ({p.get('movement', '')}) over the keyframe, not in-betweening"
    if "decision" not in p:
        return ""
    on = {1: "", 2: ", on twos", 3: ", on threes"}.get(p.get("on", 1), "")
    head = f"{p.get('engine', d.provenance.model_id)} on {p.get('device', '?')}"
    if p.get("note"):
        return f"{head}: {p['note']}"
    if p["decision"] == "hold":
        return f"{head}: holds its keyframe{on}"
    return f"{head}: {p.get('drawings', '?')} drawings in {p.get('passes', 0)} RIFE passes{on}"


SHOT_ID = re.compile(r"\b(s[0-9a-f]{8})(?:-l(\d+))?(/end)?(?:@([a-z]{2,3}(?:-[A-Za-z0-9]{2,8})?))?\b")


def readable_targets(text: str, sheet: BeatSheet | None) -> str:
    """A log line with shots named as people name them: `keyframes s3dd4c51f/end` →
    `keyframes shot 3 end`, `voice s3dd4c51f-l1@ja` → `voice shot 3 line 1 (ja)`.
    An id no longer in the sheet (a removed shot) stays as it is."""
    numbers = {s.id: s.number for s in sheet.shots} if sheet else {}

    def name(m: re.Match) -> str:
        number = numbers.get(m.group(1))
        if number is None:
            return m.group(0)
        out = f"shot {number}"
        if m.group(2):
            out += f" line {m.group(2)}"
        if m.group(3):
            out += " end"
        if m.group(4):
            out += f" ({m.group(4)})"
        return out

    return SHOT_ID.sub(name, text)
