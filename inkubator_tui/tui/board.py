"""The shot board: one row per shot, a mark per step, and progress while a job runs."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from ..views import STATUS_MARK
from ..project.models import BeatSheet, Step
from .state import ProjectView

# Translations are per line and language: the translate screen (/translate) shows them, and the
# V column counts every language's lines.
STEP_COLUMNS = [(s, s.value[0].upper()) for s in Step if s != Step.TRANSLATE]


class ShotBoard(DataTable):
    """Rows are keyed by shot id; the cursor row is the selected shot."""

    DEFAULT_CSS = """
    ShotBoard { height: 1fr; overflow-x: hidden; }
    """

    def __init__(self, **kw):
        super().__init__(zebra_stripes=True, cursor_type="row", **kw)
        self._progress_cells: dict[tuple[str, str], float] = {}
        self._compact = False
        self._shown: ProjectView | None = None

    def on_mount(self) -> None:
        self._build_columns()

    def _build_columns(self) -> None:
        """Narrow boards (an 80-column terminal) keep shot, size, the step marks and the action."""
        self._compact = self.size.width and self.size.width < 64
        self.clear(columns=True)
        self.add_column("Shot", key="shot")
        self.add_column("Size", key="size")
        if not self._compact:
            self.add_column("Move", key="move")
            self.add_column("Dur", key="dur")
        for step, letter in STEP_COLUMNS:
            self.add_column(letter, key=step.value)
        self.add_column("Action", key="action")

    @property
    def selected_shot(self) -> str | None:
        if self.row_count == 0:
            return None
        try:
            key = self.coordinate_to_cell_key((self.cursor_row, 0)).row_key.value
        except Exception:  # noqa: BLE001 - an empty or moving table
            return None
        return key

    def show(self, view: ProjectView) -> None:
        keep = self.selected_shot
        self._shown = view
        self.clear()
        rows = []
        for s in view.shots:
            key = s["id"] or f"pending-{s['number']}"
            framing = [s["size"]] if self._compact else [s["size"], s["movement"], f"{s['duration_s']:g}s"]
            rows.append((key, [s["number"], *framing,
                               *[self._mark(key, step, s["steps"][step.value]) for step, _ in STEP_COLUMNS]],
                         s["action"]))
        width = self._action_width([cells for _, cells, _ in rows])
        for key, cells, action in rows:
            self.add_row(*cells, self._action(action, width), key=key)
        if keep is not None:
            for i, s in enumerate(view.shots):
                if s["id"] == keep:
                    self.move_cursor(row=i)

    def show_drafting(self, sheet: BeatSheet, filled: int) -> None:
        """A beat sheet while the agent drafts it: the shots the model has filled are
        marked pending (●), the rest still drafting (…) with the notes' own values."""
        self._shown = None  # progress cells and resizes follow the project view, not this
        self.clear()
        rows = []
        for i, shot in enumerate(sheet.shots):
            framing = [shot.size.value] if self._compact else \
                [shot.size.value, shot.movement.value, f"{shot.duration_s:g}s"]
            marks = [Text.from_markup(STATUS_MARK["pending"] if i < filled else "[dim]…[/]")
                     if step == Step.BEATS else Text("") for step, _ in STEP_COLUMNS]
            rows.append([shot.number, *framing, *marks])
        width = self._action_width(rows)
        for i, (cells, shot) in enumerate(zip(rows, sheet.shots)):
            self.add_row(*cells, self._action(shot.action, width), key=f"drafting-{i}")

    def _action_width(self, rows: list[list]) -> int:
        """What is left of the board's width for the action text (it never scrolls sideways), from
        the cells about to be shown: the columns' own widths still hold the previous rows (or none,
        on the first show), which made the action one width or another depending on timing."""
        def cells(value) -> int:
            return value.cell_len if isinstance(value, Text) else Text(str(value)).cell_len

        others = sum(max([cells(column.label), *(cells(row[i]) for row in rows)]) + 2 * self.cell_padding
                     for i, column in enumerate(c for key, c in self.columns.items() if key.value != "action"))
        return max(8, self.size.width - others - 2 * self.cell_padding - 2)

    def _action(self, text: str, width: int) -> Text:
        t = Text(text, no_wrap=True)
        t.truncate(width, overflow="ellipsis")
        return t

    def on_resize(self) -> None:
        if bool(self.size.width and self.size.width < 64) != bool(self._compact):
            self._build_columns()
        if self._shown is not None:
            self.show(self._shown)

    def _mark(self, shot_id: str, step: Step, status: str) -> Text:
        if (shot_id, step.value) in self._progress_cells:  # a one-cell progress bar
            bars = "▁▂▃▄▅▆▇█"
            fraction = self._progress_cells[(shot_id, step.value)]
            return Text(bars[min(len(bars) - 1, int(fraction * len(bars)))], style="bold cyan")
        return Text.from_markup(STATUS_MARK.get(status, status))

    def set_running(self, shot_number: str | None, step: Step, fraction: float | None) -> None:
        """Show a job's progress in its cell (None clears it)."""
        if self._shown is None:
            return
        ids = [s["id"] for s in self._shown.shots if shot_number is None or s["number"] == shot_number]
        for shot_id in ids:
            if not shot_id:
                continue
            if fraction is None:
                self._progress_cells.pop((shot_id, step.value), None)
            else:
                self._progress_cells[(shot_id, step.value)] = fraction
            try:
                status = next(s for s in self._shown.shots if s["id"] == shot_id)["steps"][step.value]
                self.update_cell(shot_id, step.value, self._mark(shot_id, step, status))
            except Exception:  # noqa: BLE001 - the row may be gone after a refresh
                pass

    def clear_running(self) -> None:
        self._progress_cells.clear()
