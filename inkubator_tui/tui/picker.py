"""The project picker: recent projects, a new one, or a folder typed in.

Shown when `inkubator` starts with no folder and there are projects to go back
to, and on Ctrl+O in the app. It returns the folder to open (None: stay, or at
start, quit); creating or opening it is the caller's work.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Input, Static

from ..project.recent import RecentProject

NEW = "new"


def _ago(when: datetime, now: datetime | None = None) -> str:
    seconds = ((now or datetime.now()) - when).total_seconds()
    for size, unit in ((86400 * 7, "week"), (86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size:
            n = int(seconds // size)
            return f"{n} {unit}{'s' if n > 1 else ''} ago"
    return "just now"


class ProjectPicker(ModalScreen[Path | None]):
    """Enter opens the highlighted project (or starts a new one); a typed folder opens or starts that one."""

    BINDINGS = [Binding("escape", "close", "Close")]
    DEFAULT_CSS = """
    ProjectPicker { align: center middle; }
    ProjectPicker > Vertical { width: 90%; max-width: 120; height: auto; max-height: 90%; border: round $accent;
                               background: $surface; padding: 0 1; }
    ProjectPicker DataTable { height: auto; max-height: 20; }
    ProjectPicker #hint { color: $text-muted; }
    """

    def __init__(self, projects: list[RecentProject], new_folder: Path, current: Path | None = None,
                 at_start: bool = False):
        super().__init__()
        self.projects = projects
        self.new_folder = new_folder
        self.current = current.resolve() if current else None
        self.at_start = at_start

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("[b]Open a project[/]")
            yield DataTable(cursor_type="row", zebra_stripes=True, id="projects")
            yield Input(placeholder="or type a folder: an inkubator project, or a new or empty folder to start one",
                        id="folder")
            yield Static("enter opens · tab to type a folder · esc " + ("quits" if self.at_start else "stays here"),
                         id="hint")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("project", "shots", "changed", "folder")
        table.add_row(Text("+ new project", style="bold"), "", "", str(self.new_folder), key=NEW)
        for p in self.projects:
            mark = " (open)" if self.current is not None and p.root.resolve() == self.current else ""
            table.add_row(p.title + mark, str(p.shots), _ago(p.changed), str(p.root), key=str(p.root))
        if self.projects:
            table.move_cursor(row=1)  # the newest project: what a person most often wants back
        table.focus()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        key = event.row_key.value
        self.dismiss(self.new_folder if key == NEW else Path(key))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if text:
            self.dismiss(Path(text).expanduser())

    def action_close(self) -> None:
        self.dismiss(None)


class PickerApp(App[Path | None]):
    """The picker on its own, before the main app starts (no project is open yet)."""

    TITLE = "inkubator"

    def __init__(self, projects: list[RecentProject], new_folder: Path, theme: str = "textual-dark"):
        super().__init__()
        self.projects, self.new_folder = projects, new_folder
        self.theme = theme

    def on_mount(self) -> None:
        self.push_screen(ProjectPicker(self.projects, self.new_folder, at_start=True), self.exit)
