"""Commands on one project: new, status, approve, reject, revise, export, log, cast."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from ..project.models import ProjectSettings, Step, VoiceCast
from ..project.store import Store
from .common import EXIT_ERROR, EXIT_OK, CliError, console, create_project, load_args_config, open_project, pipeline_for


def parse_languages(words: list[str]) -> list[str]:
    """`en ja` or `en,ja` → ["en", "ja"]; the first is the script's language."""
    out = [w.strip().lower() for word in words for w in word.split(",") if w.strip()]
    if len(set(out)) != len(out):
        raise CliError(f"a language is listed twice: {' '.join(out)}")
    try:
        ProjectSettings(languages=out)
    except ValueError:
        raise CliError(f"languages are codes like en, ja, fr or pt-BR (the script's first), not {' '.join(out)!r}") \
            from None
    return out


def cmd_new(args) -> int:
    settings = ProjectSettings(title=args.title or Path(args.dir).resolve().name, fps=args.fps, aspect=args.aspect,
                               languages=parse_languages([args.languages]))
    store = Store.create(Path(args.dir), settings)
    store.close()
    print(f"created project {store.root} ({settings.title}, {settings.aspect}, {settings.fps} fps)")
    print(f"next: inkubator produce NOTES.txt --project {args.dir}")
    return EXIT_OK


def cmd_status(args) -> int:
    from ..views import STATUS_MARK, project_status, shown_steps

    store = open_project(Path(args.project), write=False)
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
    steps = shown_steps(store.settings.languages)
    heads = ["Shot", "Size", *(["Angle"] if wide else []), "Move", "Dur", "Lines",
             *[st.value[0].upper() for st in steps], "Action"]
    rows = [[s["number"], s["size"], *([s["angle"]] if wide else []), s["movement"], f"{s['duration_s']:g}s",
             str(len(s["dialogue"])), *[STATUS_MARK.get(s["steps"][st.value], s["steps"][st.value]) for st in steps],
             s["action"]]
            for s in status["shots"]]
    widths = [1 if len(col) == 1 else max([len(col)] + [len(r[i]) for r in rows]) for i, col in enumerate(heads)]
    widths[-1] = max(10, con.width - sum(widths[:-1]) - 2 * len(heads))  # only Action is shortened
    for col, width in zip(heads, widths):
        table.add_column(col, overflow="ellipsis", no_wrap=True, width=width,
                         justify="center" if len(col) == 1 else "left")
    for r in rows:
        table.add_row(*r)
    con.print(table)
    con.print("[dim]" + " · ".join(f"{st.value[0].upper()} {st.value}" for st in steps) + " — " +
              " ".join(f"{m} {k}" for k, m in STATUS_MARK.items()) + "[/]")
    if status["pending"]:
        ids = " ".join(str(p["id"]) for p in status["pending"])
        con.print(f"{len(status['pending'])} draft(s) await approval: "
                  f"inkubator approve --project {args.project} {ids}")
    if status["animatic"]:
        con.print(f"animatic: {status['animatic']}")
    for lang, path in status["animatics"].items() if len(store.settings.languages) > 1 else ():
        con.print(f"animatic ({lang}): {path}")
    if status["missing"]:
        first = status["missing"][0]
        con.print(f"[bold red]{len(status['missing'])} approved file(s) are gone[/] (first: draft {first['draft']}, "
                  f"{first['file']} is {first['problem']}): inkubator verify --project {args.project} lists them")
    return EXIT_OK


def cmd_approve(args) -> int:
    store = open_project(Path(args.project))
    pipe = pipeline_for(store, load_args_config(args, store.root))
    for draft_id in args.ids:
        d = pipe.approve(draft_id, mode="cli", approver=args.approver)
        print(f"approved draft {d.id}: {d.step.value} {d.target} v{d.version}")
    for notice in pipe.notices:
        print(f"inkubator: warning: {notice}", file=sys.stderr)
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


def export_options(args, loaded):
    """CLI flags over the `[export]` config."""
    from ..exports import ExportOptions

    cfg = loaded.config.export
    grid = args.grid or cfg.storyboard_grid
    try:
        cols, rows = (int(n) for n in grid.lower().split("x"))
        if not (1 <= cols <= 4 and 1 <= rows <= 4):
            raise ValueError
    except ValueError:
        raise CliError(f"--grid {grid!r}: write panels across x down, from 1x1 to 4x4 (e.g. 3x2)") from None
    return ExportOptions(grid=(cols, rows), orientation=args.orientation or cfg.storyboard_orientation,
                         order=args.order or cfg.shot_order, sign=cfg.sign and not args.no_sign,
                         signing_cert=cfg.signing_cert, signing_key=cfg.signing_key)


def cmd_export(args) -> int:
    from ..exports import export, exporter_specs

    if args.list:
        for spec in exporter_specs():
            ex = spec.load()
            print(f"{ex.name:<11} {ex.filename:<17} {ex.label}\n{'':<29}opens in: {ex.opens_in}")
        return EXIT_OK
    store = open_project(Path(args.project))
    loaded = load_args_config(args, store.root)
    for line in pipeline_for(store, loaded).repair():
        print(f"inkubator: {line}", file=sys.stderr)
    out = Path(args.out).expanduser() if args.out else None
    paths, ctx = export(store, args.formats, options=export_options(args, loaded), out=out)
    for path in paths:
        print(path)
    for notice in ctx.notices:
        print(f"inkubator: {notice}", file=sys.stderr)
    return EXIT_OK


def cmd_import(args) -> int:
    from ..exports.importing import read_screenplay

    imported = read_screenplay(Path(args.script))
    root = Path(args.project)
    if not (root / "project.sqlite").exists():
        store = create_project(root, ProjectSettings(title=imported.sheet.title or root.resolve().name))
        print(f"created project {root}", file=sys.stderr)
    else:
        store = open_project(root)
    pipe = pipeline_for(store, load_args_config(args, store.root))
    d = pipe.import_sheet(imported.sheet, text=imported.text, source=Path(args.script).name, reader=imported.reader,
                          title_page=imported.title_page)
    sheet = imported.sheet
    lines = sum(len(s.dialogue) for s in sheet.shots)
    said = (f"imported {Path(args.script).name}: {len(sheet.scenes)} scene(s), {len(sheet.shots)} shot(s), "
            f"{lines} line(s), {len(sheet.characters)} character(s) as beats draft {d.id}")
    if args.approve:
        d = pipe.approve(d.id, mode="cli", approver=args.approver)
    if args.json:
        print(json.dumps({"draft": d.id, "status": d.status.value, "scenes": len(sheet.scenes),
                          "shots": len(sheet.shots), "lines": lines,
                          "characters": [c.name for c in sheet.characters]}, indent=2))
    else:
        print(said)
        print("approved" if args.approve else f"approve with: inkubator approve --project {args.project} {d.id}")
    return EXIT_OK


def cmd_verify(args) -> int:
    """Check every file the project refers to against its hash and the database."""
    from ..pipeline.integrity import KEPT, check

    store = open_project(Path(args.project), write=False)
    bad = store.integrity_check()
    if bad != "ok":
        raise CliError(f"{store.root}/project.sqlite is damaged ({bad}); restore it from a backup or version control")
    files = sum(len(d.files) for d in store.drafts(status=KEPT))
    problems = check(store)
    if args.json:
        print(json.dumps({"files": files, "problems": [vars(p) for p in problems]}, indent=2))
    else:
        for p in problems:
            print(p.line())
        print(f"{files} file(s) checked: " + (f"{len(problems)} problem(s)" if problems else "all whole"))
    return EXIT_ERROR if problems else EXIT_OK


def cmd_log(args) -> int:
    from ..views import readable_targets

    store = open_project(Path(args.project), write=False)
    sheet = store.sheet()
    for at, what in store.history():
        print(f"{at}  {readable_targets(what, sheet)}")
    return EXIT_OK


def cmd_cast(args) -> int:
    store = open_project(Path(args.project))
    pipe = pipeline_for(store, load_args_config(args, store.root))
    if args.character and args.casts:
        try:  # all well-formed before any change
            casts = [VoiceCast.parse(spec, args.speed) for spec in args.casts]
        except ValueError as e:
            raise CliError(str(e)) from None
        if args.reference:
            clip = store_reference_clip(store, Path(args.reference), args.consent, args.character)
            casts = [(lang, c.model_copy(update={"reference": clip, "params": {**c.params, "consent": args.consent}}))
                     for lang, c in casts]

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


def store_reference_clip(store, path: Path, consent: str | None, character: str):
    """A recording of the actor's voice, for engines that clone one: kept as an asset of the
    project (so the project carries it), with who recorded it and their consent."""
    from ..project.models import AssetRef, Provenance, utcnow

    if not consent or not consent.strip():
        raise CliError(f"a voice clip is a person's voice: say whose it is and that they agreed, e.g. "
                       f"--consent \"Ana Ruiz, recorded 2026-11-02, agreed to cloning for {character}\"")
    try:
        import soundfile

        info = soundfile.info(str(path))
    except Exception as e:  # noqa: BLE001 - soundfile raises its own error types
        raise CliError(f"{path} is not an audio file soundfile can read ({str(e).splitlines()[0][:80]}); "
                       "give a WAV or FLAC of the actor's voice") from None
    if not 3.0 <= info.duration <= 60.0:
        raise CliError(f"{path} is {info.duration:.1f} s long; cloning wants 3 to 60 s of clean speech "
                       "(6 to 30 s is best)")
    prov = Provenance(tool="reference", backend="recording", model_id=path.name, prompt=consent.strip(),
                      parameters={"character": character, "seconds": round(info.duration, 2),
                                  "sample_rate": info.samplerate, "consent": consent.strip()},
                      started_at=utcnow(), finished_at=utcnow())
    return AssetRef.of(store.assets.put_file(path, prov))


def cmd_languages(args) -> int:
    """Show or set the project's languages: the script's own first, then those it is dubbed into."""
    store = open_project(Path(args.project))
    if args.captions:
        store.save_settings(store.settings.model_copy(update={"burn_captions": args.captions == "on"}))
        print(f"burnt-in captions {args.captions} (the animatics are made again on the next run)")
        if not args.languages:
            return EXIT_OK
    if args.languages:
        wanted = parse_languages(args.languages)
        if wanted[0] != store.settings.languages[0] and store.sheet() is not None:
            raise CliError(f"the script is in {store.settings.languages[0]}: keep it first "
                           f"(inkubator languages {store.settings.languages[0]} {' '.join(wanted[1:])})")
        store.save_settings(store.settings.model_copy(update={"languages": wanted}))
        pipe = pipeline_for(store, load_args_config(args, store.root))
        stale = pipe.refresh_staleness()
        print(f"languages: {' '.join(wanted)} (script in {wanted[0]}"
              + (f"; dubbed into {', '.join(wanted[1:])}" if len(wanted) > 1 else "") + ")"
              + (f"; {len(stale)} draft(s) now stale" if stale else ""))
        if len(wanted) > 1:
            print(f"next: inkubator translate --project {args.project} (type or draft each line's translation)")
        return EXIT_OK
    langs = store.settings.languages
    print(f"{' '.join(langs)} (script in {langs[0]}" + (f"; dubbed into {', '.join(langs[1:])})" if len(langs) > 1
                                                          else "; add dubbing languages: inkubator languages "
                                                               f"{langs[0]} ja)"))
    return EXIT_OK


def cmd_translate(args) -> int:
    """List each line's translations, type one (`3.1 ja TEXT`), or draft them with the model."""
    store = open_project(Path(args.project))
    pipe = pipeline_for(store, load_args_config(args, store.root))
    dubbed = store.settings.languages[1:]
    if not dubbed:
        raise CliError(f"this project is only in {store.settings.languages[0]}; add a language to dub into: "
                       f"inkubator languages --project {args.project} {store.settings.languages[0]} ja")
    if args.line:
        if not args.language or not args.text:
            raise CliError(f"type it as: inkubator translate --project {args.project} {args.line} "
                           f"{dubbed[0]} \"the line in {dubbed[0]}\"")
        d, stale = pipe.changes_stale(lambda: pipe.type_translation(args.line, args.language, " ".join(args.text),
                                                                    approver=args.approver))
        print(f"line {args.line} in {args.language}: {d.data['text']} (typed, approved)")
        if d.data.get("flag"):
            print(f"  timing: {d.data['flag']}")
        if stale:
            print(f"{len(stale)} draft(s) now stale: " + ", ".join(f"{x.step.value} {x.id}" for x in stale))
        return EXIT_OK
    if args.draft:
        if pipe.backend(Step.TRANSLATE) is None:
            r = next(r for r in pipe.registry.readiness() if r.step == Step.TRANSLATE)
            raise CliError(f"{r.detail}; {r.fix}")
        report = pipe.run_step(Step.TRANSLATE)
        print(report.summary())
        for job, err in report.failed:
            print(f"  failed: {job}: {err}")
        for d in report.created + report.cached:
            print(f"  draft {d.id}: {d.data['text']}" + (f"  [{d.data['flag']}]" if d.data.get("flag") else ""))
        if report.created or report.cached:
            print(f"approve with: inkubator approve --project {args.project} "
                  + " ".join(str(d.id) for d in report.created + report.cached))
        return EXIT_OK
    rows = pipe.translations(args.language)
    if args.json:
        print(json.dumps([{"line": ref, "language": t.request.target, "character": t.request.character,
                           "text": t.request.text, "translation": d.data["text"] if d else None,
                           "status": d.status.value if d else "todo", "draft": d.id if d else None,
                           "flag": d.data.get("flag") if d else None} for ref, t, d in rows],
                         indent=2, ensure_ascii=False))
        return EXIT_OK
    from rich.table import Table

    table = Table(title="translations (type one: inkubator translate --project DIR LINE LANG TEXT)")
    for col in ("Line", "Lang", "Who", "Original", "Translation", "Status"):
        table.add_column(col)
    for ref, t, d in rows:
        table.add_row(ref, t.request.target, t.request.character, t.request.text,
                      (d.data["text"] + (f" [yellow]({d.data['flag']})[/]" if d.data.get("flag") else "")) if d
                      else "[dim]—[/]", d.status.value if d else "[dim]todo[/]")
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
