"""`inkubator produce`: notes through every step, stopping (or asking) at each gate."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from ..pipeline.steps import language_of
from ..project.models import BeatSheet, Draft, ProjectSettings, Step
from ..project.notes_file import read_notes
from ..views import project_status
from .common import (
    EXIT_CANCELLED,
    EXIT_FAILED,
    EXIT_GATE,
    EXIT_OK,
    ProgressPrinter,
    console,
    create_project,
    draft_line,
    load_args_config,
    open_project,
    pipeline_for,
    sheet_table,
)


def cmd_produce(args) -> int:
    from ..pipeline.backend import CancelToken
    from ..pipeline.pipeline import Pipeline

    from ..exports.importing import is_screenplay, read_screenplay

    notes_path = Path(args.notes)
    imported = read_screenplay(notes_path) if is_screenplay(notes_path) else None
    notes = imported.text if imported else read_notes(notes_path)
    root = Path(args.project)
    if not (root / "project.sqlite").exists():
        store = create_project(root, ProjectSettings(title=root.resolve().name))
        print(f"created project {root}", file=sys.stderr)
    else:
        store = open_project(root)
    loaded = load_args_config(args, root)
    pipe: Pipeline = pipeline_for(store, loaded)
    for line in pipe.repair():  # what a kill left undone last time
        print(f"inkubator: {line}", file=sys.stderr)
    mode = "approve-all" if args.approve_all else "interactive" if args.interactive else "stop"
    cancel = CancelToken()
    reports = []
    say = (lambda *a: print(*a, file=sys.stderr)) if args.json else print
    result: dict[str, Any] = {"project": str(root), "mode": mode, "steps": reports, "complete": False}

    def finish(code: int) -> int:
        for notice in pipe.notices:
            print(f"inkubator: warning: {notice}", file=sys.stderr)
        status = project_status(pipe)
        result["waiting"] = status["pending"]
        result["animatic"] = status["animatic"]
        if args.json:
            print(json.dumps(result, indent=2))
        return code

    def record(r) -> None:
        reports.append({"step": r.step.value, "backend": r.backend, "created": [d.id for d in r.created],
                        "cached": [d.id for d in r.cached], "up_to_date": r.up_to_date,
                        "blocked": [{"target": b.label, "reason": b.reason} for b in r.blocked],
                        "failed": [{"job": j, "error": e} for j, e in r.failed], "cancelled": r.cancelled})
        say(r.summary())
        for b in r.blocked:
            say(f"  blocked: {b.label}: {b.reason}")
        for j, e in r.failed:
            say(f"  failed: {j}: {e}")

    try:
        if imported:  # a screenplay is read as it is written: no model re-plans it
            d = pipe.import_sheet(imported.sheet, text=notes, source=notes_path.name, reader=imported.reader,
                          title_page=imported.title_page)
            reports.append({"step": Step.BEATS.value, "backend": "import", "created": [d.id], "cached": [],
                            "up_to_date": False, "blocked": [], "failed": [], "cancelled": False})
            say(f"beats: {notes_path.name} read by {imported.reader}: {len(imported.sheet.shots)} shot(s) "
                f"in draft {d.id}")
        else:
            with ProgressPrinter(quiet=args.json) as printer:  # the bars go before the step's summary
                report = pipe.draft_beats(notes, source=notes_path.name, cancel=cancel, on_progress=printer)
            record(report)
            if not report.ok:
                return finish(EXIT_CANCELLED if report.cancelled else EXIT_FAILED)
        if not _gate(pipe, Step.BEATS, mode, args, say):
            return finish(EXIT_GATE)
        later: list = []  # lines of dubbing languages waiting for a translation: the script's own go on
        for step in (Step.KEYFRAMES, Step.MOTION, Step.TRANSLATE, Step.VOICE, Step.ANIMATIC):
            with ProgressPrinter(quiet=args.json) as printer:
                report = pipe.run_step(step, cancel=cancel, on_progress=printer)
            record(report)
            if report.cancelled:
                return finish(EXIT_CANCELLED)
            if report.failed:
                return finish(EXIT_FAILED)
            if report.backend is None:
                continue
            if not _gate(pipe, step, mode, args, say):
                return finish(EXIT_GATE)
            leftover = plan_blocked(pipe, step)
            dubbed = [b for b in leftover if language_of(b.target, pipe.store.settings.languages[0])
                      != pipe.store.settings.languages[0]]
            later += dubbed
            if len(leftover) > len(dubbed):
                for b in leftover:
                    say(f"  waiting: {b.label}: {b.reason}")
                return finish(EXIT_GATE)
        if later:
            for lang in dict.fromkeys(language_of(b.target, "") for b in later):
                say(f"the {lang} dub waits for its translations: type each with inkubator translate --project "
                    f"{args.project} SHOT.N {lang} \"…\" (list them: inkubator translate --project {args.project})")
            return finish(EXIT_GATE)
    except KeyboardInterrupt:
        cancel.cancel()
        say("cancelled; finished drafts are kept")
        return finish(EXIT_CANCELLED)
    result["complete"] = True
    status = project_status(pipe)
    if status["animatic"]:
        say(f"animatic: {status['animatic']}")
    for lang, path in status["animatics"].items() if len(pipe.store.settings.languages) > 1 else ():
        say(f"animatic ({lang}): {path}")
    return finish(EXIT_OK)


def plan_blocked(pipe, step: Step):
    from ..pipeline.steps import plan

    _, blocked = plan(step, pipe.context())
    return blocked


def _gate(pipe, step: Step, mode: str, args, say) -> bool:
    """Get every pending draft of `step` decided. True when nothing waits."""
    while True:
        pending = pipe.pending(step)
        if not pending:
            return True
        if mode == "approve-all":
            pipe.approve_step(step, mode="approve-all", approver=args.approver)
            continue
        if mode == "stop":
            say(f"{len(pending)} {step.value} draft(s) await approval:")
            for d in pending:
                say("  " + draft_line(pipe.store, d))
            say(f"approve with: inkubator approve --project {args.project} {' '.join(str(d.id) for d in pending)}"
                " (or run produce with --interactive / --approve-all)")
            return False
        # interactive
        for d in pending:
            if not _ask(pipe, d, args, say):
                return False


def _ask(pipe, d: Draft, args, say) -> bool:
    """One draft at the terminal. False to stop producing."""
    while True:
        if d.step == Step.BEATS:
            console().print(sheet_table(BeatSheet.model_validate(d.data["sheet"]),
                                          f"beats draft {d.id} ({d.provenance.backend})"))
        else:
            say(draft_line(pipe.store, d))
        try:
            answer = input("[a]pprove  [r]eject  re[d]o with a note  [s]kip  [q]uit > ").strip().lower()
        except EOFError:
            return False
        if answer in ("a", "approve"):
            pipe.approve(d.id, mode="interactive", approver=args.approver)
            return True
        if answer in ("r", "reject"):
            pipe.reject(d.id, approver=args.approver)
            return True
        if answer in ("s", "skip"):
            return True
        if answer in ("q", "quit"):
            return False
        if answer in ("d", "redo"):
            try:
                note = input("note for the redo > ").strip()
            except EOFError:
                return False
            pipe.reject(d.id, note=note, approver=args.approver)
            if d.step == Step.BEATS:
                say("beats redo: edit the notes and run produce again (the note is kept with the draft)")
                return False
            report = pipe.run_step(d.step, only={d.target})
            new = report.created + report.cached
            if not new:
                say("  redo made nothing: " + report.summary())
                return False
            d = new[0]
            continue
        say("  please answer a, r, d, s or q")
