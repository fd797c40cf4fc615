"""The sketch board's panels, read by their pixels: an end panel draws where the shot arrives
(the camera's end framing, who left, who came), subject labels end on whole phrases, and the
SKETCH stamp stays inside every frame of every camera move."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from inkubator_tui.config import load_config
from inkubator_tui.pipeline.backend import CancelToken, JobContext
from inkubator_tui.pipeline.requests import KeyframeRequest
from inkubator_tui.project.models import Angle, DialogueLine, Movement, Shot, Size
from inkubator_tui.tools.keyframe.sketch import SketchBoard
from inkubator_tui.tools.motion.camera import CameraMove

W, H = 640, 360
LABEL, INK, SKIN = (178, 34, 52), (40, 40, 48), (230, 226, 218)  # stamp red, ink, a head's fill
STAMP = "SKETCH · no diffusion model"
ENDINGS = {  # what a label or a cut caption must never end on
    "a", "an", "the", "of", "in", "on", "at", "to", "into", "onto", "from", "with", "by", "for", "under", "over",
    "through", "across", "behind", "beside", "between", "near", "against", "along", "around", "past", "up",
    "down", "off", "out", "about", "and", "or", "but", "while", "as", "when", "where", "that", "which", "his",
    "her", "their", "its", "my", "this", "is", "are", "was", "next",
}


def panel(tmp_path, shot: Shot, role: str = "start", seed: int = 3, size: tuple[int, int] = (W, H)) -> Image.Image:
    board = SketchBoard(load_config().config)
    request = KeyframeRequest(shot=shot, role=role, prompt=shot.action or "x", width=size[0], height=size[1], seed=seed)
    result = board(request, JobContext(tmp_path, CancelToken()))
    return Image.open(result.files[0]).convert("RGB")


def mask(img: Image.Image, colour, tol: int = 2) -> np.ndarray:
    return (np.abs(np.asarray(img).astype(int) - np.array(colour)).max(axis=2) <= tol)


def heads(img: Image.Image) -> list[tuple[float, int]]:
    """Each head drawn (runs of columns holding a head's fill): (centre x, height in pixels)."""
    cols = mask(img, SKIN).sum(axis=0)
    out, x = [], 0
    while x < len(cols):
        if cols[x] > 3:
            x0 = x
            while x < len(cols) and cols[x] > 3:
                x += 1
            if x - x0 > 4:
                out.append(((x0 + x) / 2, int(cols[x0:x].max())))
        x += 1
    return out


def horizon(img: Image.Image) -> int:
    """The row of the horizon: the ink line across most of the frame (not the border)."""
    rows = mask(img, INK, 10)[2:-2].sum(axis=1)
    return int(np.argmax(rows)) + 2 if rows.max() > W * 0.5 else -1


def densest(img: Image.Image, colour, ww: int, hh: int, tol: int = 40) -> float:
    """The largest share of `colour` in any ww×hh window (a solid label block scores near 1)."""
    m = mask(img, colour, tol).astype(np.int64)
    if m.shape[0] < hh or m.shape[1] < ww:
        return 0.0
    ii = np.pad(m.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    sums = ii[hh:, ww:] - ii[:-hh, ww:] - ii[hh:, :-ww] + ii[:-hh, :-ww]
    return float(sums.max()) / (ww * hh)


TWO = dict(number="4", size=Size.MCU, movement=Movement.DOLLY_IN, characters=["Mira", "Oskar"],
           action="Mira and Oskar face each other across the table",
           dialogue=[DialogueLine(character="Mira", text="You always leave before the end of the story.")])


# ---- end panels ------------------------------------------------------------------------------------
def test_a_dolly_in_ends_tighter_heads_grow(tmp_path):
    shot = Shot(**TWO)
    start, end = heads(panel(tmp_path, shot)), heads(panel(tmp_path, shot, "end"))
    assert len(start) == len(end) == 2
    assert max(h for _, h in end) > 1.4 * max(h for _, h in start)
    # and a pull-out ends wider
    out = Shot(**{**TWO, "movement": Movement.DOLLY_OUT})
    assert max(h for _, h in heads(panel(tmp_path, out, "end"))) < 0.8 * max(h for _, h in start)


def test_who_walks_out_is_not_in_the_end_panel(tmp_path):
    gone = Shot(**{**TWO, "movement": Movement.STATIC, "end_action": "Oskar walks out; Mira stares at the door"})
    stays = Shot(**{**TWO, "movement": Movement.STATIC, "end_action": "Oskar and Mira stare at the door"})
    assert len(heads(panel(tmp_path, stays, "end"))) == 2
    assert len(heads(panel(tmp_path, gone, "end"))) == 1
    assert len(heads(panel(tmp_path, gone, "start"))) == 2
    from inkubator_tui.tools.keyframe.sketch import people

    assert people(gone) == (["Mira", "Oskar"], ["Mira"])
    for end_action, left in [("Mira watches Oskar leave", ["Mira"]), ("Oskar kisses Mira and exits", ["Mira"]),
                             ("Mira leaves the letter on the table", ["Mira", "Oskar"]),
                             ("Oskar refuses to leave", ["Mira", "Oskar"]), ("They both leave", []),
                             ("Oskar is gone. Mira sits alone", ["Mira"])]:
        assert people(Shot(**{**TWO, "end_action": end_action}))[1] == left, end_action


def test_a_pan_ends_with_the_scene_moved_and_newcomers_added(tmp_path):
    shot = Shot(number="10", size=Size.WS, movement=Movement.PAN, characters=["Mira"],
                action="Mira crosses the square", end_action="Mira reaches the fountain where Lena waits")
    (x0, _), = heads(panel(tmp_path, shot))
    end = heads(panel(tmp_path, shot, "end"))
    assert len(end) == 2  # Lena, named by the end action, has come in
    assert min(x for x, _ in end) < x0 - 0.15 * W  # the camera panned right: Mira moved left


def test_a_tilt_ends_with_the_horizon_moved_and_the_end_badge(tmp_path):
    shot = Shot(number="5", size=Size.WS, movement=Movement.TILT, characters=["Ana"], action="Ana looks up")
    start, end = panel(tmp_path, shot), panel(tmp_path, shot, "end")
    assert horizon(start) > 0 and horizon(end) > horizon(start) + 0.1 * H
    # END is a solid badge in the header, not a word lost in it
    assert densest(end.crop((0, 0, W, H // 3)), INK, 5, 16, tol=10) > 0.95
    assert densest(start.crop((0, 0, W, H // 3)), INK, 5, 16, tol=10) < 0.6


def test_end_panels_are_deterministic_for_a_seed(tmp_path):
    shot = Shot(**{**TWO, "end_action": "Oskar walks out while Lena comes in"})
    a, b = panel(tmp_path, shot, "end", seed=7), panel(tmp_path, shot, "end", seed=7)
    assert np.array_equal(np.asarray(a), np.asarray(b))


# ---- labels and captions ---------------------------------------------------------------------------
ACTIONS = [
    "The old brass key in the lock turns slowly while rain streams down the window",
    "Close on the letter on the kitchen table",
    "A single red rose lies on the pillow",
    "Insert: her phone buzzes with a message from an unknown number",
    "The clock on the wall ticks past midnight",
    "Rain streams down the window of the empty café",
    "Mira's hand grips the letter tightly under the lamp",
    "Wide shot: the lab goes dark",
    "Fingers drum nervously against the polished mahogany tabletop",
    "The front door of the farmhouse, half open, bangs in the wind",
    "Smoke curls from an ashtray beside a half-empty glass of whisky",
    "A photograph of the two of them at the beach, torn in half",
    "The knife on the cutting board next to the onions",
    "Blood drips onto the white tiles of the bathroom floor",
    "Tilt up to the neon sign above the bar",
    "Extreme close-up of the ring on her finger",
    "The engine of the old truck sputters and dies",
    "Snow falls on the abandoned playground at dawn",
    "Her shoes by the door",
    "An envelope slides under the door of the flat",
    "The radio crackles with static and a distant voice",
    "Pan across the empty seats of the theatre",
    "Water boils over in a battered aluminium pot on the stove",
    "The map is spread out across the hood of the car",
    "Pages of the diary flutter in the wind",
    "A bullet casing rolls to a stop against the curb",
    "Candles gutter and go out one by one",
    "Slow push in on the drone's blinking light in the dark",
    "The door",
    "Keys",
]


def _words(text: str) -> list[str]:
    return [w for w in (re.sub(r"^[^\w']+|[^\w']+$", "", w).lower() for w in text.split()) if w]


@pytest.mark.parametrize("width", [110, 200, 400])
@pytest.mark.parametrize("prefix", ["", "INSERT · "])
def test_subject_labels_end_on_a_phrase_and_fit(width, prefix):
    from inkubator_tui.tools.keyframe.sketch import subject_label

    font = ImageFont.load_default(size=11)
    for action in ACTIONS:
        lines = subject_label(action, font.getlength, width, prefix=prefix)
        assert 1 <= len(lines) <= 2, (action, lines)
        assert all(font.getlength(line) <= width for line in lines), (action, lines)
        text = " ".join(lines)
        assert text.startswith(prefix.strip()), (action, lines)
        words = _words(text[len(prefix):].rstrip("…"))
        assert words, (action, lines)
        source = _words(action)
        # whole words of the action, in order: nothing cut mid-word
        assert any(source[i:i + len(words)] == words for i in range(len(source))), (action, lines)
        assert words[-1] not in ENDINGS, (action, lines)
        assert len(words) <= 7, (action, lines)  # a label, not the whole action


def test_captions_end_with_an_ellipsis_when_cut():
    from inkubator_tui.tools.keyframe.sketch import fit_lines

    d = ImageDraw.Draw(Image.new("RGB", (8, 8)))
    font = ImageFont.load_default(size=11)
    long = ("The old brass key in the lock turns slowly while rain streams down the window behind it and the "
            "light flickers across the floor of the hallway where the dog sleeps")
    for width in (180, 240, 300):
        lines = fit_lines(d, long, font, width, 2)
        assert len(lines) == 2 and lines[-1].endswith("…")
        assert all(d.textlength(line, font=font) <= width for line in lines)
        words = _words(" ".join(lines).rstrip("…"))
        assert words == _words(long)[:len(words)] and words[-1] not in ENDINGS
    assert fit_lines(d, "Mira waits.", font, 300, 2) == ["Mira waits."]
    quote = "MIRA: “You always leave before the end of the story, don't you?”"
    line, = fit_lines(d, quote, font, 200, 1, close="”")
    assert line.endswith("…”") and d.textlength(line, font=font) <= 200


# ---- the title-safe area ----------------------------------------------------------------------------
@pytest.mark.parametrize("angle", [Angle.EYE, Angle.DUTCH])
def test_the_stamp_is_in_every_frame_of_every_camera_move(tmp_path, angle):
    font = ImageFont.load_default(size=11)
    ww, hh = int((font.getlength(STAMP) + 12) * 0.9), 15  # most of the stamp's width, most of its height
    for move in Movement:
        for size, role in ((Size.WS, "start"), (Size.MCU, "start"), (Size.MCU, "end")):
            shot = Shot(number="3", size=size, angle=angle, movement=move, characters=["Mira", "Oskar"],
                        action="Mira and Oskar cross the yard", end_action="Oskar walks out")
            key = panel(tmp_path, shot, role)
            # Three frames are a move's first, middle and last; the handheld sway is checked frame by frame.
            n = 24 if move == Movement.HANDHELD else 3
            for i, frame in enumerate(CameraMove.frames(key, move, n, seed=5)):
                which = {0: "first", n // 2: "middle", n - 1: "last"}.get(i, f"frame {i}")
                top = frame.crop((0, 0, W, int(H * 0.4)))  # the stamp sits high in the frame
                assert densest(top, LABEL, ww, hh) > 0.6, f"{move.value} {size.value} {role}: the {which} frame lost it"


def test_handheld_is_gentle_and_never_shows_past_the_picture(tmp_path):
    from inkubator_tui.tools.motion.camera import visible_area

    left, top, right, bottom = visible_area(Movement.HANDHELD)
    assert 0 < left <= 0.04 and 0 < top <= 0.04 and right >= 0.96 and bottom >= 0.96
    key = Image.new("RGB", (W, H), (255, 255, 255))
    for seed in range(2):
        for frame in CameraMove.frames(key, Movement.HANDHELD, 36, seed=seed):
            a = np.asarray(frame)
            edge = np.concatenate([a[[0, -1]].reshape(-1, 3), a[:, [0, -1]].reshape(-1, 3)])
            assert edge.min() > 200  # no black from outside the picture
