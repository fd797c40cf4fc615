"""The Textual app: the project's shot board and what awaits approval.

The event loop only renders; reading the project happens in a thread worker
that reports back with a message.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

from platformdirs import user_data_path
from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Footer, Header, Static

from ..config import LoadedConfig
from ..pipeline.pipeline import STATUS_MARK
from ..project.models import Step
from ..project.store import Store

def default_project_dir() -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return user_data_path("inkubator") / "projects" / f"untitled-{stamp}"


class InkubatorApp(App):
    CSS = """
    #board { height: 1fr; }
    #pending { height: auto; max-height: 12; border-top: solid $primary; padding: 0 1; }
    #welcome { padding: 1 2; color: $text-muted; }
    """

    class StatusLoaded(Message):
        def __init__(self, status: dict) -> None:
            self.status = status
            super().__init__()

    def __init__(self, project: Path, loaded: LoadedConfig):
        super().__init__()
        self.project = project
        self.loaded = loaded
        keys = loaded.config.keys
        self._bindings.bind(keys["quit"], "quit", "Quit", priority=True)
        self._bindings.bind(keys["refresh"], "refresh", "Refresh")
        self.title = "inkubator"
        self.sub_title = str(project)

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical():
            yield Static(
                "Notes become beats, keyframes, motion, voice and an animatic, each approved by you.\n"
                f"Headless: inkubator produce NOTES.txt --project {self.project} --interactive\n"
                "Steps: B beats · K keyframes · M motion · V voice · A animatic — "
                "✓ approved ● pending ~ stale ✗ rejected · to do – n/a",
                id="welcome")
            yield DataTable(id="board", zebra_stripes=True, cursor_type="row")
            yield Static("", id="pending")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("Shot", "Size", "Angle", "Move", "Dur", *[s.value[0].upper() for s in Step], "Action")
        self.action_refresh()

    def action_refresh(self) -> None:
        self.load_status()

    @work(thread=True, exclusive=True)
    def load_status(self) -> None:
        from ..pipeline.pipeline import Pipeline
        from ..pipeline.registry import Registry

        store = Store.open(self.project)
        try:
            status = Pipeline(store, Registry(self.loaded.config)).status()
        finally:
            store.close()
        self.post_message(self.StatusLoaded(status))

    def on_inkubator_app_status_loaded(self, message: StatusLoaded) -> None:
        status = message.status
        self.title = f"inkubator — {status['project']['title']}"
        table = self.query_one(DataTable)
        table.clear()
        for s in status["shots"]:
            cells = [STATUS_MARK.get(v, v) for v in s["steps"].values()]
            table.add_row(s["number"], s["size"], s["angle"], s["movement"], f"{s['duration_s']:g}s", *cells,
                          s["action"][:60])
        pending = status["pending"]
        self.query_one("#pending", Static).update(
            "No shots yet." if not status["shots"] else
            (f"{len(pending)} draft(s) await approval: " + ", ".join(f"{p['id']} ({p['step']} {p['target']})"
                                                                      for p in pending[:12]))
            if pending else "Nothing awaits approval.")


def run_app(project: Path | None, loaded: LoadedConfig) -> int:
    if project is None:
        project = default_project_dir()
    if not (project / "project.sqlite").exists():
        Store.create(project).close()
    if loaded.config.runtime.log_file:
        logging.basicConfig(filename=loaded.config.runtime.log_file, level=logging.INFO, force=True)
    InkubatorApp(project, loaded).run()
    return 0
