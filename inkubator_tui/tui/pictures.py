"""Pictures in the terminal: which way they are drawn, how big, and how to keep a
sketch legible when each cell is only a pixel or two.

textual-image picks the best method the terminal has when it is imported (Kitty
graphics, Sixel, else half blocks; text blocks when not on a terminal); the
config's `ui.images` can force one. Cell-drawn pictures turn a 1024-px pencil
line into nothing, so the picture is min-pooled down to the cells it has.
The pixel work (`legible`) belongs in a worker: the app's workers prepare each
picture for its cells, and the widgets only place it.
"""

from __future__ import annotations

import numpy as np
from PIL import Image as PILImage
from textual.widget import Widget
from textual_image.renderable import HalfcellImage, SixelImage, TGPImage, UnicodeImage
from textual_image.renderable import Image as Detected
from textual_image.widget import HalfcellImage as HalfcellWidget
from textual_image.widget import Image as AutoWidget  # imported before the app starts: it probes the terminal once
from textual_image.widget import SixelImage as SixelWidget
from textual_image.widget import TGPImage as KittyWidget
from textual_image.widget import UnicodeImage as UnicodeWidget
from textual_image._terminal import get_cell_size

WIDGETS = {"auto": AutoWidget, "kitty": KittyWidget, "sixel": SixelWidget, "halfcell": HalfcellWidget,
           "unicode": UnicodeWidget}
CELL_DRAWN = {"halfcell", "unicode"}


def method(kind: str = "auto") -> str:
    """The method in use, by its config name (`auto` resolved to what the terminal has)."""
    if kind != "auto":
        return kind
    return {HalfcellImage: "halfcell", UnicodeImage: "unicode", SixelImage: "sixel", TGPImage: "kitty"}[Detected]


METHOD_WORDS = {"kitty": "Kitty graphics", "sixel": "Sixel", "halfcell": "half blocks", "unicode": "text blocks"}


def cell_aspect() -> float:
    """A cell's width over its height (about 0.5; the terminal says when it can)."""
    try:
        size = get_cell_size()
        if size.width and size.height:
            return size.width / size.height
    except Exception:  # noqa: BLE001 - no terminal (tests, pipes): the usual shape
        pass
    return 0.5


def fit(img: PILImage.Image, width: int, height: int) -> tuple[int, int]:
    """The largest (columns, rows) inside width × height that keeps the picture's shape."""
    rows_per_col = cell_aspect() * img.height / img.width
    cols = max(4, width)
    if height > 0 and cols * rows_per_col > height:
        cols = max(4, int(height / rows_per_col))
    return cols, max(2, round(cols * rows_per_col))


def legible(img: PILImage.Image, cols: int, kind: str = "auto") -> PILImage.Image:
    """The picture ready for `cols` cells: for cell-drawn methods each block of pixels that
    becomes one is pooled to its darkest, so a one-pixel pencil line survives the scale-down;
    pixel methods get the picture as it is."""
    img = img.convert("RGB")
    if method(kind) not in CELL_DRAWN:
        return img
    factor = img.width // max(1, cols)
    if factor >= 2:  # min over factor × factor blocks, one axis at a time (a few ms at 1600 px)
        a = np.asarray(img)
        h, w = a.shape[0] // factor * factor, a.shape[1] // factor * factor
        a = a[:h, :w].reshape(h, w // factor, factor, 3).min(axis=2)
        img = PILImage.fromarray(a.reshape(h // factor, factor, w // factor, 3).min(axis=1))
    # half blocks draw two square pixels a cell: the picture at cols pixels wide keeps its shape
    return img.resize((max(1, cols), max(1, round(img.height * cols / img.width))), PILImage.Resampling.BOX)


def prepare(img: PILImage.Image, width: int, height: int = 0, kind: str = "auto") -> PILImage.Image:
    """`img` ready for the cells `picture` will give it (for a worker)."""
    return legible(img, fit(img, width, height)[0], kind)


def picture(img: PILImage.Image, width: int, height: int = 0, *, kind: str = "auto", classes: str = "") -> Widget:
    """A widget showing `img` as large as width × height cells allow (height 0: any); an
    image already `prepare`d for them costs the event loop next to nothing."""
    cols, rows = fit(img, width, height)
    widget = WIDGETS[kind](legible(img, cols, kind), classes=classes)
    # textual-image draws nothing with auto size: give it cells explicitly
    widget.styles.width = cols
    widget.styles.height = rows
    return widget
