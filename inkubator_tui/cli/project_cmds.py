"""Commands on one project: new, status, approve, reject, revise, export, log, cast."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..project.models import ProjectSettings, Step, VoiceCast
from ..project.store import Store
from .common import EXIT_OK, CliError, console, load_args_config, open_project, pipeline_for


def cmd_new(args) -> int:
    settings = ProjectSettings(title=args.title or Path(args.dir).resolve().name, fps=args.fps, aspect=args.aspect)
    store = Store.create(Path(args.dir), settings)
    print(f"created project {store.root} ({settings.title}, {settings.aspect}, {settings.fps} fps)")
    print(f"next: inkubator produce NOTES.txt --project {args.dir}")
    return EXIT_OK


def cmd_status(args) -> int:
    from ..views import STATUS_MARK, project_status

    store = open_project(Path(args.project))
    pipe = pipeline_for(store, load_args_config(args, store.root))
    status = project_status(pipe)
    if args.json:
        print(json.dumps(status, indent=2))
        return EXIT_OK
    from rich import box
    from rich.table import Table

    con = console()
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
    store = open_project(Path(args.project))
    pipe = pipeline_for(store, load_args_config(args, store.root))
    for draft_id in args.ids:
        d = pipe.approve(draft_id, mode="cli", approver=args.approver)
        print(f"approved draft {d.id}: {d.step.value} {d.target} v{d.version}")
    return EXIT_OK


def cmd_reject(args) -> int:
    store = open_project(Path(args.project))
    pipe = pipeline_for(store, load_args_config(args, store.root))
    for draft_id in args.ids:
        d = pipe.reject(draft_id, note=args.note or "", approver=args.approver)
        print(f"rejected draft {d.id}: {d.step.value} {d.target} v{d.version}"
              + (f" — note for the redo: {d.note}" if d.note else ""))
    return EXIT_OK


def cmd_revise(args) -> int:
    store = open_project(Path(args.project))
    pipe = pipeline_for(store, load_args_config(args, store.root))
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
    shot, stale = pipe.changes_stale(lambda: pipe.revise_shot(args.shot, changes))
    print(f"shot {shot.number} revised; {len(stale)} draft(s) now stale"
          + (": " + ", ".join(f"{d.step.value} {d.id}" for d in stale) if stale else ""))
    return EXIT_OK


def cmd_export(args) -> int:
    from ..exports import export_all

    store = open_project(Path(args.project))
    for path in export_all(store):
        print(path)
    return EXIT_OK


def cmd_log(args) -> int:
    store = open_project(Path(args.project))
    for at, what in store.history():
        print(f"{at}  {what}")
    return EXIT_OK


def cmd_cast(args) -> int:
    store = open_project(Path(args.project))
    pipe = pipeline_for(store, load_args_config(args, store.root))
    if args.character and args.casts:
        try:  # all well-formed before any change
            casts = [VoiceCast.parse(spec, args.speed) for spec in args.casts]
        except ValueError as e:
            raise CliError(str(e)) from None

        def recast() -> None:
            for language, cast in casts:
                pipe.recast(args.character, language, cast)
                print(f"{args.character} in {language}: {cast.label()}")

        _, stale = pipe.changes_stale(recast)
        print(f"{len(stale)} draft(s) now stale" + (": " + ", ".join(f"{d.step.value} {d.id}" for d in stale)
                                                    if stale else ""))
        return EXIT_OK
    if args.character:
        raise CliError(f"say how to cast {args.character}, e.g. inkubator cast {args.character} en=piper:joe")
    rows = pipe.casting()
    if args.json:
        print(json.dumps([{"character": n, "language": lang, **c.model_dump(mode="json"), "chosen": chosen}
                          for n, lang, c, chosen in rows], indent=2))
        return EXIT_OK
    if not rows:
        print("no characters yet: approve a beat sheet first")
        return EXIT_OK
    from rich.table import Table

    table = Table(title="cast")
    for col in ("Character", "Lang", "Backend", "Voice", "Speed", "Chosen"):
        table.add_column(col)
    for name, language, cast, chosen in rows:
        table.add_row(name, language, cast.backend or "(configured)", cast.voice or "(default)", f"{cast.speed:g}",
                      "you" if chosen else "[dim]default[/]")
    console().print(table)
    return EXIT_OK


def cmd_look(args) -> int:
    store = open_project(Path(args.project))
    pipe = pipeline_for(store, load_args_config(args, store.root))
    if args.character and (args.look is not None or args.reference is not None):
        ch, stale = pipe.changes_stale(lambda: pipe.set_look(args.character, look=args.look,
                                                             reference_shot=args.reference))
        print(f"{ch.name}: {ch.look or '(no description)'}; reference "
              + (f"shot {ch.reference_shot}" if ch.reference_shot else "their first shot"))
        print(f"{len(stale)} draft(s) now stale" + (": " + ", ".join(f"{d.step.value} {d.id}" for d in stale)
                                                    if stale else ""))
        return EXIT_OK
    ctx = pipe.context()
    sheet = ctx.sheet
    chars = [c for c in (sheet.characters if sheet else []) if not args.character
             or c.name.lower() == args.character.lower()]
    if args.character and not chars:
        pipe.character(args.character)  # says which characters there are
    rows = []
    for c in chars:
        ref = ctx.reference_shot(c.name)
        rows.append({"character": c.name, "look": c.look, "reference_shot": ref.number if ref else "",
                     "chosen": bool(c.reference_shot), "seed": ctx.character_seed(c.name)})
    if args.json:
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    if not rows:
        print("no characters yet: approve a beat sheet first")
        return EXIT_OK
    from rich.table import Table

    table = Table(title="how characters look (held across shots by the keyframe backend)")
    for col in ("Character", "Look", "Reference", "Seed"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["character"], r["look"] or "[dim](none: say it in the notes or with --look)[/]",
                      f"shot {r['reference_shot']}" + ("" if r["chosen"] else " [dim](first)[/]")
                      if r["reference_shot"] else "-", str(r["seed"]))
    console().print(table)
    return EXIT_OK
