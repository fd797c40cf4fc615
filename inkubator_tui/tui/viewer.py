"""The full-screen viewer: a shot's keyframe as large as the terminal allows, its
candidates side by side, and the decision keys, so choosing between pictures
never means squinting at a thumbnail.

The app builds what it shows (a `Gallery`, in a worker) and acts on the keys:
← → change the candidate, ↑ ↓ the shot, the approve and reject keys decide;
clicking a picture chooses it (the app hears `Frame.Chosen`). The viewer itself
only lays pictures out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from PIL import Image as PILImage
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Static

from .pictures import METHOD_WORDS, method, picture


@dataclass
class Gallery:
    title: str
    # (picture, caption, the chosen one)
    pictures: list[tuple[PILImage.Image, str, bool]] = field(default_factory=list)
    footer: str = ""
    empty: str = "no keyframe for this shot yet: F5 makes them"


def cells(n: int, width: int, height: int) -> tuple[int, int]:
    """Columns and rows for each of `n` pictures side by side on a width × height screen
    (each keeps its border and caption; title and footer keep their lines)."""
    return max(20, width - 2) // n - 2, max(6, height - 6) - 3


class Frame(Vertical):
    """One picture with its caption; a click chooses it."""

    DEFAULT_CSS = """
    Frame { width: auto; height: auto; border: round $panel; padding: 0; }
    Frame.picked { border: heavy $accent; }
    Frame > Static { width: 100%; content-align: center middle; color: $text-muted; }
    Frame.picked > Static { color: $text; text-style: bold; }
    """

    class Chosen(Message):
        def __init__(self, index: int) -> None:
            self.index = index
            super().__init__()

    def __init__(self, index: int, *children, classes: str = ""):
        super().__init__(*children, classes=classes)
        self.index = index

    def on_click(self, event: events.Click) -> None:
        self.post_message(self.Chosen(self.index))


class Viewer(Screen):
    BINDINGS = [
        Binding("escape,q", "app.pop_screen", "Back"),
        Binding("left", "app.previous_candidate", "Previous", show=False),
        Binding("right", "app.next_candidate", "Next", show=False),
        Binding("up", "app.view_shot(-1)", "Previous shot", show=False),
        Binding("down", "app.view_shot(1)", "Next shot", show=False),
    ]
    # the app's own keys (the config's [keys]) that also act here
    KEYED = {"view": "app.pop_screen", "previous_candidate": "app.previous_candidate",
             "next_candidate": "app.next_candidate", "approve": "app.approve", "reject": "app.reject",
             "undo": "app.undo", "reapply": "app.reapply"}
    DEFAULT_CSS = """
    Viewer { layout: vertical; }
    Viewer #vtitle { height: 1; padding: 0 1; text-style: bold; background: $panel; }
    Viewer #vpictures { height: 1fr; align: center middle; }
    Viewer #vfooter { height: auto; padding: 0 1; color: $text-muted; background: $panel; }
    Viewer #vempty { width: 100%; height: 100%; content-align: center middle; color: $text-muted; }
    """

    def __init__(self, keys: dict[str, str], kind: str = "auto"):
        super().__init__()
        self.kind = kind
        self.keys = keys
        self.gallery: Gallery | None = None
        for name, action in self.KEYED.items():
            self._bindings.bind(keys[name], action, show=False)

    def compose(self) -> ComposeResult:
        yield Static("", id="vtitle")
        yield Horizontal(id="vpictures")
        yield Static("", id="vfooter")

    def show(self, gallery: Gallery) -> None:
        self.gallery = gallery
        self._layout()

    def on_resize(self, event: events.Resize) -> None:
        self._layout()
        self.app._update_preview()  # the pictures again, prepared for their new cells

    def _layout(self) -> None:
        g = self.gallery
        if g is None or not self.is_mounted:
            return
        self.query_one("#vtitle", Static).update(g.title)
        how = METHOD_WORDS[method(self.kind)]
        self.query_one("#vfooter", Static).update(
            f"{g.footer}\n← → choose · ↑ ↓ shot · {self.keys['approve']} approve · {self.keys['reject']} reject · "
            f"{self.keys['undo']} undo · click a picture to choose it · esc back · drawn with {how} (ui.images)")
        row = self.query_one("#vpictures", Horizontal)
        row.remove_children()
        if not g.pictures:
            row.mount(Static(g.empty, id="vempty"))
            return
        each, height = cells(len(g.pictures), self.size.width, self.size.height)
        row.mount_all(
            Frame(i, picture(img, each, height, kind=self.kind), Static(caption),
                  classes="picked" if picked else "")
            for i, (img, caption, picked) in enumerate(g.pictures))
