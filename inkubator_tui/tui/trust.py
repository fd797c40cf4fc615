"""The workspace-trust prompt: what a project's `inkubator.toml` asks to set that reaches the
network or files outside the project, and the user's one decision about it.

A project folder may come from someone else, so the app never lets its file point the agent at a
server or load a model from elsewhere unasked (`inkubator_tui/trust.py` keeps the decisions).
It returns True to trust this version of the file, False to keep those settings ignored.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from ..config import PROJECT_FILE, why_trust
from ..trust import shown, visible


class TrustScreen(ModalScreen[bool]):
    """Each setting the file wants, with its value and what it would do; t trusts, Esc does not.
    "Not now" has the focus, so a stray Enter leaves the project untrusted."""

    BINDINGS = [Binding("t", "trust", "Trust this project"), Binding("escape", "not_now", "Not now")]
    AUTO_FOCUS = "#not-now"
    DEFAULT_CSS = """
    TrustScreen { align: center middle; }
    TrustScreen > Vertical { width: 100; max-width: 96%; height: auto; max-height: 92%; border: round $warning;
                             background: $surface; padding: 0 1; }
    TrustScreen #wanted { height: auto; max-height: 20; overflow-y: auto; padding: 1 0; }
    TrustScreen #buttons { height: auto; align: right middle; }
    """

    def __init__(self, project: Path, wanted: dict[str, Any]):
        super().__init__()
        self.project = project
        self.wanted = wanted

    def compose(self) -> ComposeResult:
        lines = Text()
        for key, value in self.wanted.items():
            lines.append(f"{visible(key)} = {shown(value)}", style="bold")
            lines.append(f"  {why_trust(key)}\n", style="dim")
        with Vertical():
            yield Static(Text(f"Trust {self.project / PROJECT_FILE}?", style="bold"))
            yield Static("This project's own settings file asks to reach the network or files outside the "
                         "project. Trust it only if you know who wrote it. Until you do, these are ignored "
                         "and the rest of the file applies:", markup=False)
            yield Static(lines, id="wanted")
            with Horizontal(id="buttons"):
                yield Button("Trust this project (t)", variant="warning", id="trust")
                yield Button("Not now (esc)", variant="primary", id="not-now")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "trust")

    def action_trust(self) -> None:
        self.dismiss(True)

    def action_not_now(self) -> None:
        self.dismiss(False)
