"""`inkubator`: the TUI by default, and headless subcommands over the same pipeline.

Exit codes: 0 done · 1 error · 2 bad usage · 3 stopped at an approval gate ·
4 some jobs failed · 130 cancelled (Ctrl+C).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from . import __version__
from .config import (
    ConfigError,
    LoadedConfig,
    load_config,
    parse_cli_overrides,
    user_config_file,
)
from .pipeline.backend import BackendError
from .project.models import BeatSheet, Draft, DraftStatus, ProjectSettings, Step
from .doctor import doctor_rows, doctor_table, system_checks
from .project.notes_file import NotesFileError, read_notes
from .project.store import ProjectError, Store

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_GATE, EXIT_FAILED, EXIT_CANCELLED = 0, 1, 2, 3, 4, 130
COMMANDS = {"new", "produce", "beats", "chat", "status", "approve", "reject", "revise", "doctor", "config", "log",
            "export", "tui"}


class CliError(Exception):
    """Bad input: one line on stderr, non-zero exit, nothing lost."""


# ---- helpers ---------------------------------------------------------------
def _console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


def _load_config(args, project: Path | None = None) -> LoadedConfig:
    cli = parse_cli_overrides(getattr(args, "set", None) or [])
    if getattr(args, "model", None):
        cli.update({"llm.backend": "llama", "llm.model_path": str(Path(args.model).expanduser())})
    if getattr(args, "server", None):
        cli.update({"llm.backend": "openai", "llm.server_url": args.server})
    if getattr(args, "model_name", None):
        cli["llm.model_name"] = args.model_name
    if getattr(args, "strategy", None):
        cli["llm.strategy"] = args.strategy
    return load_config(cli, project_dir=project)


def _open(project: Path) -> Store:
    return Store.open(project)


def _pipeline(store: Store, loaded: LoadedConfig):
    from .pipeline.pipeline import Pipeline
    from .pipeline.registry import Registry

    return Pipeline(store, Registry(loaded.config))


class _ProgressPrinter:
    """Throttled progress lines on stderr (one per job per half second)."""

    def __init__(self, quiet: bool = False):
        self.quiet = quiet
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def __call__(self, event) -> None:
        if self.quiet:
            return
        now = time.monotonic()
        with self._lock:
            if event.fraction < 1.0 and now - self._last.get(event.job, 0) < 0.5:
                return
            self._last[event.job] = now
            print(f"  {event.job}: {event.fraction:4.0%} {event.message}", file=sys.stderr, flush=True)


def _draft_line(store: Store, d: Draft) -> str:
    label = "sketch/rules (non-neural)" if d.provenance.non_neural else d.provenance.model_id
    files = ", ".join(str(store.assets.path(f)) for f in d.files)
    extra = ""
    if d.step == Step.VOICE:
        extra = f" {d.data.get('seconds', '?')}s “{d.provenance.prompt[:60]}”"
    return f"draft {d.id}: {d.step.value} {d.target} v{d.version} [{d.provenance.backend}: {label}]{extra}" + \
        (f"\n    {files}" if files else "")


def _sheet_table(sheet: BeatSheet, title: str = ""):
    from rich.table import Table

    table = Table(title=title or None, show_lines=False)
    for col in ("Shot", "Scene", "Size", "Angle", "Move", "Dur", "Action", "Dialogue"):
        table.add_column(col, overflow="fold")
    for s in sheet.shots:
        dialogue = "\n".join(f"{dl.character or '?'}: {dl.text}" for dl in s.dialogue)
        table.add_row(s.number, str(s.scene), s.size.value, s.angle.value, s.movement.value, f"{s.duration_s:g}s",
                      s.action, dialogue)
    return table


# ---- commands --------------------------------------------------------------
def cmd_new(args) -> int:
    settings = ProjectSettings(title=args.title or Path(args.dir).resolve().name, fps=args.fps, aspect=args.aspect)
    store = Store.create(Path(args.dir), settings)
    print(f"created project {store.root} ({settings.title}, {settings.aspect}, {settings.fps} fps)")
    print(f"next: inkubator produce NOTES.txt --project {args.dir}")
    return EXIT_OK


def cmd_beats(args) -> int:
    from .pipeline.backend import CancelToken, JobContext, ProgressEvent
    from .pipeline.requests import BeatsRequest
    from .agents.director import rules_kept
    from .agents.notes import open_questions, speaker_question
    from .pipeline.pipeline import shot_json
    from .pipeline.registry import Registry

    notes = read_notes(Path(args.notes))
    loaded = _load_config(args)
    backend = Registry(loaded.config).resolve(Step.BEATS)
    if backend is None:
        raise CliError("no beats backend is configured; set llm.backend (see `inkubator doctor`)")
    backend.load()
    printer = _ProgressPrinter(quiet=args.json)
    with tempfile.TemporaryDirectory() as tmp:
        ctx = JobContext(Path(tmp), CancelToken(), emit=lambda f, m, p: printer(ProgressEvent("beats", f, m)))
        result = backend(BeatsRequest(notes=notes), ctx)
    try:
        sheet = BeatSheet.model_validate(result.data["sheet"])
    except Exception as e:  # noqa: BLE001 - a backend's bad output is an error, not a crash
        raise CliError(f"the beats backend returned an invalid sheet: {str(e).splitlines()[0]}") from None
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
        _console().print(_sheet_table(sheet, f"{sheet.title or Path(args.notes).name} — {backend.info().name}"))
        for q in questions:  # lines the notes leave unattributed: answered in `inkubator chat` or the app
            print(f"? {q}")
    return EXIT_OK


def cmd_status(args) -> int:
    from .pipeline.pipeline import STATUS_MARK

    store = _open(Path(args.project))
    pipe = _pipeline(store, _load_config(args, store.root))
    status = pipe.status()
    if args.json:
        print(json.dumps(status, indent=2))
        return EXIT_OK
    from rich import box
    from rich.table import Table

    con = _console()
    wide = con.width >= 110  # the angle column only where it fits
    table = Table(title=f"{status['project']['title']} — {store.root}", box=box.SIMPLE_HEAD, pad_edge=False,
                  padding=(0, 1), collapse_padding=True)
    heads = ["Shot", "Size", *(["Angle"] if wide else []), "Move", "Dur", "Lines",
             *[st.value[0].upper() for st in Step], "Action"]
    rows = [[s["number"], s["size"], *([s["angle"]] if wide else []), s["movement"], f"{s['duration_s']:g}s",
             str(len(s["dialogue"])), *[STATUS_MARK.get(v, v) for v in s["steps"].values()], s["action"]]
            for s in status["shots"]]
    widths = [1 if len(col) == 1 else max([len(col)] + [len(r[i]) for r in rows]) for i, col in enumerate(heads)]
    widths[-1] = max(10, con.width - sum(widths[:-1]) - 2 * len(heads))  # only Action is shortened
    for col, width in zip(heads, widths):
        table.add_column(col, overflow="ellipsis", no_wrap=True, width=width,
                         justify="center" if len(col) == 1 else "left")
    for r in rows:
        table.add_row(*r)
    con.print(table)
    con.print("[dim]B beats · K keyframes · M motion · V voice · A animatic — " +
              " ".join(f"{m} {k}" for k, m in STATUS_MARK.items()) + "[/]")
    if status["pending"]:
        ids = " ".join(str(p["id"]) for p in status["pending"])
        con.print(f"{len(status['pending'])} draft(s) await approval: "
                  f"inkubator approve --project {args.project} {ids}")
    if status["animatic"]:
        con.print(f"animatic: {status['animatic']}")
    return EXIT_OK


def cmd_approve(args) -> int:
    store = _open(Path(args.project))
    pipe = _pipeline(store, _load_config(args, store.root))
    for draft_id in args.ids:
        d = pipe.approve(draft_id, mode="cli", approver=args.approver)
        print(f"approved draft {d.id}: {d.step.value} {d.target} v{d.version}")
    return EXIT_OK


def cmd_reject(args) -> int:
    store = _open(Path(args.project))
    pipe = _pipeline(store, _load_config(args, store.root))
    for draft_id in args.ids:
        d = pipe.reject(draft_id, note=args.note or "", approver=args.approver)
        print(f"rejected draft {d.id}: {d.step.value} {d.target} v{d.version}"
              + (f" — note for the redo: {d.note}" if d.note else ""))
    return EXIT_OK


def cmd_revise(args) -> int:
    store = _open(Path(args.project))
    pipe = _pipeline(store, _load_config(args, store.root))
    changes: dict[str, Any] = {}
    for pair in args.changes:
        key, sep, value = pair.partition("=")
        if not sep:
            raise CliError(f"{pair!r}: write changes as field=value (e.g. size=CU)")
        if key in ("characters",):
            changes[key] = [v.strip() for v in value.split(",") if v.strip()]
        elif key == "dialogue":
            raise CliError("dialogue cannot be set from the command line yet; edit it in the app")
        else:
            changes[key] = value
    before = set(d.id for d in store.drafts(status=DraftStatus.STALE))
    shot = pipe.revise_shot(args.shot, changes)
    stale = [d for d in store.drafts(status=DraftStatus.STALE) if d.id not in before]
    print(f"shot {shot.number} revised; {len(stale)} draft(s) now stale"
          + (": " + ", ".join(f"{d.step.value} {d.id}" for d in stale) if stale else ""))
    return EXIT_OK


def cmd_chat(args) -> int:
    from .agents.conversation import Conversation

    store = _open(Path(args.project))
    conv = Conversation(_pipeline(store, _load_config(args, store.root)))
    if args.run_plan:
        proposed = conv.proposed()
        if proposed is None:
            raise CliError("no proposed plan is waiting; ask for one, e.g. \"render keyframes for shots 2-3\"")
        for r in conv.run_plan(proposed[0], on_progress=_ProgressPrinter()):
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
            printer = _ProgressPrinter(quiet=args.json)
            for r in conv.run_plan(reply.message_id, on_progress=printer):
                out["ran"].append(r.summary())
                if not args.json:
                    print(r.summary())
        elif not args.json:
            print(f"not run; run it later with: inkubator chat --project {args.project} --run-plan")
    if args.json:
        print(json.dumps(out, indent=2))
    return EXIT_OK


def cmd_export(args) -> int:
    from .exports import export_all

    store = _open(Path(args.project))
    for path in export_all(store):
        print(path)
    return EXIT_OK


def cmd_log(args) -> int:
    store = _open(Path(args.project))
    for at, what in store.history():
        print(f"{at}  {what}")
    return EXIT_OK


def cmd_doctor(args) -> int:
    from .pipeline.registry import Registry

    loaded = _load_config(args, Path(args.project) if args.project else None)
    rows = doctor_rows(Registry(loaded.config))
    steps_ok = {s.value: any(r["in_use"] for r in rows if r["step"] == s.value) for s in Step}
    system = system_checks()
    if args.json:
        print(json.dumps({"backends": rows, "steps": steps_ok, "system": system,
                          "config_files": [str(f) for f in loaded.files]}, indent=2))
    else:
        con = _console()
        con.print(doctor_table(rows, "inkubator doctor"))
        for name, (ok, detail) in system.items():
            con.print(f"{'[green]ok[/]' if ok else '[yellow]missing[/]'}  {name}: {detail}")
        con.print(f"config: {', '.join(map(str, loaded.files)) or f'{user_config_file()} (not created; defaults)'}")
    return EXIT_OK if all(steps_ok.values()) else EXIT_ERROR


def cmd_config(args) -> int:
    loaded = _load_config(args, Path(args.project) if args.project else None)
    rows = loaded.rows()
    if args.json:
        print(json.dumps({k: {"value": v, "source": src} for k, v, src in rows}, indent=2))
        return EXIT_OK
    from rich.table import Table

    table = Table(title=f"effective settings (user file: {user_config_file()})")
    for col in ("Setting", "Value", "From"):
        table.add_column(col, overflow="fold")
    for k, v, src in rows:
        table.add_row(k, json.dumps(v), src if src != "default" else "[dim]default[/]")
    _console().print(table)
    return EXIT_OK


def cmd_tui(args) -> int:
    from .tui.app import run_app

    return run_app(Path(args.dir) if args.dir else None, _load_config(args))


# ---- produce ------------------------------------------------------------------
def cmd_produce(args) -> int:
    from .pipeline.backend import CancelToken
    from .pipeline.pipeline import Pipeline

    notes_path = Path(args.notes)
    notes = read_notes(notes_path)
    root = Path(args.project)
    if not (root / "project.sqlite").exists():
        store = Store.create(root, ProjectSettings(title=root.resolve().name))
        print(f"created project {root}", file=sys.stderr)
    else:
        store = _open(root)
    loaded = _load_config(args, root)
    pipe: Pipeline = _pipeline(store, loaded)
    mode = "approve-all" if args.approve_all else "interactive" if args.interactive else "stop"
    cancel = CancelToken()
    printer = _ProgressPrinter(quiet=args.json)
    reports = []
    say = (lambda *a: print(*a, file=sys.stderr)) if args.json else print
    result: dict[str, Any] = {"project": str(root), "mode": mode, "steps": reports, "complete": False}

    def finish(code: int) -> int:
        status = pipe.status()
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
        report = pipe.draft_beats(notes, source=notes_path.name, cancel=cancel, on_progress=printer)
        record(report)
        if not report.ok:
            return finish(EXIT_CANCELLED if report.cancelled else EXIT_FAILED)
        if not _gate(pipe, Step.BEATS, mode, args, say):
            return finish(EXIT_GATE)
        for step in (Step.KEYFRAMES, Step.MOTION, Step.VOICE, Step.ANIMATIC):
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
            if leftover:
                for b in leftover:
                    say(f"  waiting: {b.label}: {b.reason}")
                return finish(EXIT_GATE)
    except KeyboardInterrupt:
        cancel.cancel()
        say("cancelled; finished drafts are kept")
        return finish(EXIT_CANCELLED)
    result["complete"] = True
    status = pipe.status()
    if status["animatic"]:
        say(f"animatic: {status['animatic']}")
    return finish(EXIT_OK)


def plan_blocked(pipe, step: Step):
    from .pipeline.steps import plan

    _, blocked = plan(step, pipe.context())
    return blocked


def _gate(pipe, step: Step, mode: str, args, say) -> bool:
    """Get every pending draft of `step` decided. True when nothing waits."""
    while True:
        pending = pipe.pending(step)
        if not pending:
            return True
        if mode == "approve-all":
            seen: set[str] = set()
            for d in pending:  # with several candidates for one target, the first is taken
                if d.target not in seen:
                    pipe.approve(d.id, mode="approve-all", approver=args.approver)
                    seen.add(d.target)
            continue
        if mode == "stop":
            say(f"{len(pending)} {step.value} draft(s) await approval:")
            for d in pending:
                say("  " + _draft_line(pipe.store, d))
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
            _console().print(_sheet_table(BeatSheet.model_validate(d.data["sheet"]),
                                          f"beats draft {d.id} ({d.provenance.backend})"))
        else:
            say(_draft_line(pipe.store, d))
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


# ---- argument parsing ----------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE",
                        help="override one setting for this run (repeatable)")
    project = argparse.ArgumentParser(add_help=False)
    project.add_argument("--project", "-p", default=".", metavar="DIR", help="project folder (default: .)")
    models = argparse.ArgumentParser(add_help=False)
    models.add_argument("--model", metavar="PATH", help="a GGUF file for the agent (default: the embedded Gemma)")
    models.add_argument("--server", metavar="URL", help="an OpenAI-compatible server, e.g. http://127.0.0.1:8080/v1")
    models.add_argument("--model-name", metavar="NAME", help="the model name on --server")
    models.add_argument("--strategy", choices=["auto", "per-shot", "whole-scene"],
                        help="how the agent plans (default: by model)")
    who = argparse.ArgumentParser(add_help=False)
    who.add_argument("--as", dest="approver", metavar="NAME", help="who approves (default: your login name)")

    p = argparse.ArgumentParser(
        prog="inkubator",
        description="Offline shot production: notes → beats → keyframes → motion → voice → animatic, "
                    "every step approved by a person. Run without a command to open the app.",
        epilog="exit codes: 0 done, 1 error, 2 usage, 3 waiting for approval, 4 jobs failed, 130 cancelled")
    p.add_argument("--version", action="version", version=f"inkubator {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    s = sub.add_parser("tui", parents=[common], help="open the app (the default)")
    s.add_argument("dir", nargs="?", help="project folder (default: a new one)")
    s.set_defaults(fn=cmd_tui)

    s = sub.add_parser("new", parents=[common], help="create a project folder")
    s.add_argument("dir")
    s.add_argument("--title")
    s.add_argument("--fps", type=int, default=24)
    s.add_argument("--aspect", default="16:9", choices=["16:9", "2.39:1", "1.85:1", "4:3", "1:1", "9:16"])
    s.set_defaults(fn=cmd_new)

    s = sub.add_parser("produce", parents=[common, project, who, models],
                       help="run notes through every step, stopping at each approval gate")
    s.add_argument("notes", help=".txt, .md or .fountain")
    g = s.add_mutually_exclusive_group()
    g.add_argument("--approve-all", action="store_true",
                   help="approve every draft without asking (recorded in provenance as approve-all)")
    g.add_argument("--interactive", "-i", action="store_true", help="ask at each gate in the terminal")
    s.add_argument("--json", action="store_true", help="print a JSON report on stdout")
    s.set_defaults(fn=cmd_produce)

    s = sub.add_parser("beats", parents=[common, models], help="print the beat sheet for notes (no project needed)")
    s.add_argument("notes")
    s.add_argument("--json", action="store_true")
    s.set_defaults(fn=cmd_beats)

    s = sub.add_parser("chat", parents=[common, project, models],
                       help="talk to the director agent: revise the shot list, propose renders")
    s.add_argument("message", nargs="*", help='e.g. "make shot 3 a close-up" (none: print the conversation)')
    s.add_argument("--yes", "-y", action="store_true", help="run a proposed plan without asking")
    s.add_argument("--run-plan", action="store_true", help="run the newest proposed plan (you approve it)")
    s.add_argument("--json", action="store_true")
    s.set_defaults(fn=cmd_chat)

    s = sub.add_parser("status", parents=[common, project], help="each shot, each step, draft status")
    s.add_argument("--json", action="store_true")
    s.set_defaults(fn=cmd_status)

    s = sub.add_parser("approve", parents=[common, project, who], help="approve drafts by id")
    s.add_argument("ids", nargs="+", type=int, metavar="ID")
    s.set_defaults(fn=cmd_approve)

    s = sub.add_parser("reject", parents=[common, project, who], help="reject drafts by id")
    s.add_argument("ids", nargs="+", type=int, metavar="ID")
    s.add_argument("--note", help="what to change in the redo")
    s.set_defaults(fn=cmd_reject)

    s = sub.add_parser("revise", parents=[common, project],
                       help="change a shot's fields (marks exactly its dependants stale)")
    s.add_argument("shot", help="shot number (4, 4A) or id")
    s.add_argument("changes", nargs="+", metavar="FIELD=VALUE", help="e.g. size=CU movement=dolly-in duration_s=4")
    s.set_defaults(fn=cmd_revise)

    s = sub.add_parser("export", parents=[common, project],
                       help="write shot-list CSV, Fountain, OTIO timeline and provenance into DIR/exports")
    s.set_defaults(fn=cmd_export)

    s = sub.add_parser("log", parents=[common, project], help="every change to the project, in order")
    s.set_defaults(fn=cmd_log)

    s = sub.add_parser("doctor", parents=[common], help="which backends are ready, and how to add the missing")
    s.add_argument("--project", "-p", metavar="DIR")
    s.add_argument("--json", action="store_true")
    s.set_defaults(fn=cmd_doctor)

    s = sub.add_parser("config", parents=[common], help="effective settings and where each came from")
    s.add_argument("--project", "-p", metavar="DIR")
    s.add_argument("--json", action="store_true")
    s.set_defaults(fn=cmd_config)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # `inkubator [DIR]` opens the app, like `inkubator tui [DIR]`.
    if not argv or (argv[0] not in COMMANDS and not argv[0].startswith("-")):
        argv = ["tui", *argv]
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.fn(args)
    except (CliError, ConfigError, ProjectError, BackendError, NotesFileError) as e:
        print(f"inkubator: {e}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("inkubator: cancelled", file=sys.stderr)
        return EXIT_CANCELLED
