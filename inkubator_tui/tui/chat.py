"""The chat pane: the conversation with the agent, a streaming reply, and an
input that recalls earlier notes with ↑ / ↓."""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Input, Static


class NoteInput(Input):
    """An Input for notes: ↑ recalls earlier notes, ↓ comes back, and pasting
    several lines keeps all of them (a plain Input keeps only the first)."""

    BINDINGS = [("up", "recall(-1)", "Earlier"), ("down", "recall(1)", "Later")]

    def __init__(self, **kw):
        super().__init__(**kw)
        self.history: list[str] = []
        self._pos: int | None = None
        self._draft = ""
        self._block = ""  # multi-line text standing behind a one-line label

    @staticmethod
    def label_for(text: str) -> str:
        lines = [ln for ln in text.splitlines() if ln.strip()]
        return f"⟨{len(lines)} lines⟩ {lines[0][:60] if lines else ''}"

    def show_block(self, text: str) -> None:
        self._block = text
        self.value = self.label_for(text)
        self.cursor_position = len(self.value)

    def take(self) -> str:
        """The text to send: the whole pasted block when its label is untouched."""
        text = self._block if self._block and self.value == self.label_for(self._block) else self.value
        self._block = ""
        self.value = ""
        return text.strip()

    def _on_paste(self, event: events.Paste) -> None:
        # Textual also runs Input's own handler (first line only) unless prevented.
        text = event.text.replace("\r\n", "\n").replace("\r", "\n")  # bracketed paste sends CRs
        if "\n" in text.strip():
            event.prevent_default()
            event.stop()
            self.show_block(text)

    def remember(self, text: str) -> None:
        if text and (not self.history or self.history[-1] != text):
            self.history.append(text)
        self._pos = None

    def action_recall(self, delta: int) -> None:
        if not self.history:
            return
        if self._pos is None:
            if delta > 0:
                return
            self._draft = self.value
            self._pos = len(self.history)
        self._pos = max(0, min(len(self.history), self._pos + delta))
        text = self._draft if self._pos == len(self.history) else self.history[self._pos]
        if "\n" in text.strip():
            self.show_block(text)
        else:
            self._block = ""
            self.value = text
            self.cursor_position = len(self.value)


class ChatPane(Vertical):
    DEFAULT_CSS = """
    ChatPane { height: 1fr; }
    ChatPane #log { height: 1fr; padding: 0 1; }
    ChatPane .msg { margin: 0 0 1 0; }
    ChatPane .director { color: $text; }
    ChatPane .agent { color: $text-accent; }
    ChatPane .system { color: $text-muted; }
    ChatPane #stream { color: $text-muted; height: auto; max-height: 3; padding: 0 1; display: none; }
    ChatPane NoteInput { dock: bottom; }
    """

    class Submitted(Message):
        def __init__(self, text: str) -> None:
            self.text = text
            super().__init__()

    def compose(self) -> ComposeResult:
        log = VerticalScroll(id="log")
        log.can_focus = False  # Tab moves between the input and the board
        yield log
        yield Static("", id="stream")
        yield NoteInput(placeholder="Notes or a request · /help for commands · Enter sends", id="note")

    def clear(self) -> None:
        """Empty the log (another project's chat is about to be shown)."""
        self.query_one("#log", VerticalScroll).remove_children()
        self.end_stream()

    def add(self, role: str, text: str) -> None:
        who = {"director": "you", "agent": "agent", "system": "·"}.get(role, role)
        line = Text.assemble((f"{who}: ", "bold"), text)
        log = self.query_one("#log", VerticalScroll)
        log.mount(Static(line, classes=f"msg {role}"))
        log.scroll_end(animate=False)

    def stream(self, piece: str) -> None:
        """Show the model's tokens as they come (cleared when the reply lands)."""
        s = self.query_one("#stream", Static)
        s.display = True
        self._streamed = (getattr(self, "_streamed", "") + piece)[-400:]
        s.update(Text(self._streamed.replace("\n", " "), overflow="ellipsis"))

    def end_stream(self) -> None:
        self._streamed = ""
        s = self.query_one("#stream", Static)
        s.update("")
        s.display = False

    def on_input_submitted(self, event: Input.Submitted) -> None:
        note = self.query_one(NoteInput)
        text = note.take()
        if text:
            note.remember(text)
            self.post_message(self.Submitted(text))
