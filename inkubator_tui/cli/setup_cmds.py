"""Set-up commands: doctor, config, and opening the app."""

from __future__ import annotations

import json
from pathlib import Path

from ..config import user_config_file
from ..doctor import doctor_rows, doctor_table, system_checks
from ..project.models import Step
from .common import EXIT_ERROR, EXIT_OK, console, load_args_config


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
    loaded = load_args_config(args, Path(args.project) if args.project else None)
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
    console().print(table)
    return EXIT_OK


def cmd_tui(args) -> int:
    from ..tui.app import run_app

    return run_app(Path(args.dir) if args.dir else None, load_args_config(args))
