"""Set-up commands: doctor, config, trust, and opening the app."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from .. import trust
from ..config import PROJECT_FILE, needs_trust, read_project_file, user_config_file, why_trust
from ..doctor import doctor_rows, doctor_table, system_checks
from ..project.models import Step
from .common import EXIT_ERROR, EXIT_OK, CliError, console, load_args_config


def cmd_doctor(args) -> int:
    from ..pipeline.registry import Registry

    loaded = load_args_config(args, Path(args.project) if args.project else None)
    rows = doctor_rows(Registry(loaded.config))
    steps_ok = {s.value: any(r["in_use"] for r in rows if r["step"] == s.value) for s in Step}
    system = system_checks()
    if args.json:
        print(json.dumps({"backends": rows, "steps": steps_ok, "system": system,
                          "config_files": [str(f) for f in loaded.files]}, indent=2))
    else:
        con = console()
        con.print(doctor_table(rows, "inkubator doctor"))
        for name, (ok, detail) in system.items():
            con.print(f"{'[green]ok[/]' if ok else '[yellow]missing[/]'}  {name}: {detail}")
        con.print(f"config: {', '.join(map(str, loaded.files)) or f'{user_config_file()} (not created; defaults)'}")
    # Translations can always be typed by a person: a missing translation model is not an error.
    return EXIT_OK if all(ok for step, ok in steps_ok.items() if step != Step.TRANSLATE.value) else EXIT_ERROR


def cmd_config(args) -> int:
    project = Path(args.project) if args.project else None
    loaded = load_args_config(args, project)
    rows = loaded.rows()
    # What the project's file sets but may not until it is trusted: shown beside what applies.
    ignored = f"ignored: {project / PROJECT_FILE} is not trusted (inkubator trust {shlex.quote(str(project))})" \
        if loaded.untrusted else ""
    if args.json:
        out = {k: {"value": v, "source": src} for k, v, src in rows}
        for k, v in loaded.untrusted.items():
            out.setdefault(k, {"value": None, "source": "default"})["ignored"] = {"value": v, "why": ignored}
        print(json.dumps(out, indent=2))
        return EXIT_OK
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"effective settings (user file: {user_config_file()})")
    for col in ("Setting", "Value", "From"):
        table.add_column(col, overflow="fold")
    for k, v, src in rows:
        table.add_row(k, json.dumps(v), src if src != "default" else "[dim]default[/]")
    for k, v in loaded.untrusted.items():
        table.add_row(escape(trust.visible(k)), escape(trust.shown(v)), f"[yellow]{escape(ignored)}[/]")
    console().print(table)
    return EXIT_OK


def cmd_trust(args) -> int:
    """Trust is given to what the user was shown: the settings listed come from the very bytes
    whose hash is recorded, so a file changed meanwhile is not trusted by accident."""
    folder = Path(args.dir).expanduser()
    if args.revoke:
        had = trust.revoke(folder)
        print(f"{folder}: {'no longer trusted' if had else 'was not trusted'}; its {PROJECT_FILE} "
              "may not set servers, model paths or addresses")
        return EXIT_OK
    project = read_project_file(folder)
    if project is None:
        raise CliError(f"{folder / PROJECT_FILE} does not exist: nothing to trust")
    raw, flat = project
    wanted = {k: v for k, v in flat.items() if needs_trust(k, v)}
    if not wanted:
        print(f"{folder / PROJECT_FILE} sets nothing that needs trust; nothing recorded")
        return EXIT_OK
    print(f"{folder / PROJECT_FILE} sets:")
    for k, v in wanted.items():
        print(f"  {trust.visible(k)} = {trust.shown(v)}  ({why_trust(k)})")
    trust.record(folder, raw)
    print(f"trusted {folder}: these apply until {PROJECT_FILE} changes "
          f"(inkubator trust --revoke {shlex.quote(str(folder))} undoes it)")
    return EXIT_OK


def cmd_tui(args) -> int:
    from ..tui.app import run_app

    # The app asks about a project's untrusted settings itself, in its trust prompt.
    return run_app(Path(args.dir) if args.dir else None,
                   lambda folder: load_args_config(args, folder, say_ignored=False))
