"""Commands that talk to the director agent: beats (no project) and chat."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from ..project.models import BeatSheet, Step
from ..project.notes_file import read_notes
from .common import EXIT_OK, CliError, ProgressPrinter, console, load_args_config, open_project, pipeline_for, \
    sheet_table


def cmd_beats(args) -> int:
    from ..pipeline.backend import CancelToken, JobContext, ProgressEvent
    from ..pipeline.requests import BeatsRequest
    from ..agents.director import rules_kept
    from ..agents.notes import open_questions, speaker_question
    from ..views import shot_json
    from ..pipeline.registry import Registry

    notes = read_notes(Path(args.notes))
    loaded = load_args_config(args)
    backend = Registry(loaded.config).resolve(Step.BEATS)
    if backend is None:
        raise CliError("no beats backend is configured; set llm.backend (see `inkubator doctor`)")
    backend.load()
    with ProgressPrinter(quiet=args.json) as printer, tempfile.TemporaryDirectory() as tmp:
        ctx = JobContext(Path(tmp), CancelToken(), emit=lambda f, m, p: printer(ProgressEvent("beats", f, m)))
        result = backend(BeatsRequest(notes=notes), ctx)
    try:
        sheet = BeatSheet.model_validate(result.data["sheet"])
    except Exception as e:  # noqa: BLE001 - a backend's bad output is an error, not a crash
        raise CliError(f"the beats backend returned an invalid sheet: {str(e).splitlines()[0]}") from None
    for notice in result.notices:  # text cut to fit the sheet: said, never silent
        print(f"inkubator: warning: {notice}", file=sys.stderr)
    agent = result.data.get("agent", {})
    kept = rules_kept(agent, len(sheet.shots))
    if kept and not args.json:
        print(f"note: {kept}", file=sys.stderr)
    questions = [speaker_question(shot, line) for shot, _, line in open_questions(sheet)]
    if args.json:
        print(json.dumps({"title": sheet.title, "backend": backend.info().name, "agent": agent or None,
                          "scenes": [s.model_dump() for s in sheet.scenes],
                          "characters": [c.name for c in sheet.characters],
                          "looks": {c.name: c.look for c in sheet.characters if c.look},
                          "shots": [shot_json(s) for s in sheet.shots],
                          "notes": list(sheet.notes), "questions": questions}, indent=2))
    else:
        console().print(sheet_table(sheet, f"{sheet.title or Path(args.notes).name} — {backend.info().name}"))
        for q in questions:  # lines the notes leave unattributed: answered in `inkubator chat` or the app
            print(f"? {q}")
    return EXIT_OK


def cmd_chat(args) -> int:
    from ..agents.conversation import Conversation

    store = open_project(Path(args.project))
    conv = Conversation(pipeline_for(store, load_args_config(args, store.root)))
    if args.run_plan:
        proposed = conv.proposed()
        if proposed is None:
            raise CliError("no proposed plan is waiting; ask for one, e.g. \"render keyframes for shots 2-3\"")
        with ProgressPrinter() as printer:
            reports = conv.run_plan(proposed[0], on_progress=printer)
        for r in reports:
            print(r.summary())
        return EXIT_OK
    if not args.message:
        for m in store.messages():
            print(f"{m.created_at}  {m.role:>8}: {m.text}")
        return EXIT_OK
    reply = conv.send(" ".join(args.message))
    out = {"reply": reply.text, "drafts": [d.id for d in reply.drafts], "question": reply.question or None,
           "plan": [op.model_dump() for op in reply.plan], "ran": []}
    if not args.json:
        print(reply.text)
    if reply.plan:
        go = args.yes
        if not go and not args.json and sys.stdin.isatty():
            go = input("run it? [y/N] > ").strip().lower() in ("y", "yes")
        if go:
            with ProgressPrinter(quiet=args.json) as printer:
                reports = conv.run_plan(reply.message_id, on_progress=printer)
            for r in reports:
                out["ran"].append(r.summary())
                if not args.json:
                    print(r.summary())
        elif not args.json:
            print(f"not run; run it later with: inkubator chat --project {args.project} --run-plan")
    if args.json:
        print(json.dumps(out, indent=2))
    return EXIT_OK
