"""Storyboard sheets: each shot's approved start keyframe beside its camera, action, lines,
time and approval state, `cols × rows` panels to a page.

Two files from one set of panels, because people read boards two ways:

- `storyboard.html` is one self-contained page (pictures as base64 PNG data URIs, CSS inline,
  no scripts, nothing fetched) that opens in any browser, goes by mail and prints with a page
  break every `cols × rows` panels (`@page` carries the A4 orientation).
- `storyboard.pdf` is laid out by reportlab on A4 (landscape or portrait), so it prints the
  same on every machine; its text is real text (selectable, searchable).

A beat sheet alone makes a board of grey "no keyframe yet" boxes: the board is for reading the
shots long before any picture is approved.

Fonts in the PDF: the Latin font is a TrueType font found on this machine (DejaVu Sans, else
reportlab's own Bitstream Vera) and embedded as a subset; Helvetica is the last resort.
Characters it lacks that are Japanese/Chinese (or Korean) are set in reportlab's CID fonts
HeiseiKakuGo-W5 (or HYGothic-Medium), unless fontconfig names a TrueType font for Japanese,
which is then embedded. CID fonts are not embedded: the reader supplies the glyphs (Acrobat and
Preview do; poppler needs a CJK font installed), and the text stays extractable either way.
Other scripts the Latin font lacks show as the font's missing-glyph box.
"""

from __future__ import annotations

import base64
import html
import io
import math
import shutil
import subprocess
import unicodedata
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from importlib.util import find_spec
from pathlib import Path

from ..pipeline.steps import role_target
from ..project.assets import atomic_write_bytes
from ..project.models import Angle, DraftStatus, Shot, Step
from ..project.notes_file import without_controls
from ..project.store import ProjectError
from .base import ExportContext

MAX_GRID = 4
HTML_LONG_SIDE = 800  # px, each embedded picture: sharp on paper, and the page stays mailable
PDF_LONG_SIDE = 1280
PLACEHOLDER = "no keyframe yet"


# ---- shared: what a panel shows ---------------------------------------------------------------

@dataclass(frozen=True)
class Panel:
    """One shot as the board shows it, in words already cleaned of control characters."""

    number: str
    scene: str  # "Scene 1 · INT. LIGHTHOUSE - NIGHT"
    opens_scene: bool  # the first panel of its scene (drawn darker)
    camera: str  # "CU · static" (+ angle and lens when set)
    action: str
    lines: tuple[tuple[str, str, str], ...]  # (CHARACTER, delivery, text)
    notes: str
    transition: str
    seconds: float
    pictures: str  # approved | approved, new draft pending | pending | stale | none
    image: Path | None  # the approved start keyframe, None = a gap with `gap`'s words
    gap: str = ""  # what the gap says: no keyframe yet, or what is wrong with its file


def layout(ctx: ExportContext) -> tuple[int, int, str]:
    """(cols, rows, orientation) from the options, or a one-line ProjectError."""
    o = ctx.options
    try:
        cols, rows = (int(n) for n in o.grid)
    except (TypeError, ValueError):
        raise ProjectError(f"storyboard grid {o.grid!r}: give panels across and down, e.g. 3x2") from None
    if not (1 <= cols <= MAX_GRID and 1 <= rows <= MAX_GRID):
        raise ProjectError(f"storyboard grid {cols}x{rows}: choose 1 to {MAX_GRID} panels across and down "
                           "(e.g. 3x2)")
    if o.orientation not in ("landscape", "portrait"):
        raise ProjectError(f"storyboard orientation {o.orientation!r}: choose landscape or portrait")
    return cols, rows, o.orientation


_BIDI_CONTROLS = {*range(0x202A, 0x202F), *range(0x2066, 0x206A)}


def clean(text: str) -> str:
    """One line of text: terminal escapes whole and control characters (and bidi overrides) dropped,
    whitespace runs as one space."""
    out = []
    for ch in without_controls(text or ""):
        if ch.isspace():
            out.append(" ")
        elif unicodedata.category(ch) in ("Cc", "Cs") or ord(ch) in _BIDI_CONTROLS:
            continue
        else:
            out.append(ch)
    return " ".join("".join(out).split())


def clock(seconds: float) -> str:
    """65.2 → "1:05"; an hour or more → "1:02:05"."""
    s = int(round(seconds))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _secs(seconds: float) -> str:
    return f"{round(seconds, 1):g} s"


def _aspect(ctx: ExportContext) -> float:
    w, _, h = ctx.settings.aspect.partition(":")
    return float(w) / float(h)


def pictures_state(ctx: ExportContext, shot: Shot) -> str:
    """How far the shot's keyframes (start and end) are through review."""
    drafts = [*ctx.store.drafts(Step.KEYFRAMES, shot.id),
              *ctx.store.drafts(Step.KEYFRAMES, role_target(shot.id, "end"))]
    statuses = {d.status for d in drafts}
    pending = DraftStatus.PENDING in statuses
    if ctx.keyframe(shot) is not None:
        return "approved, new draft pending" if pending else "approved"
    if pending:
        return "pending"
    return "stale" if DraftStatus.STALE in statuses else "none"


def panels(ctx: ExportContext) -> list[Panel]:
    sheet = ctx.sheet
    headings = {sc.number: clean(sc.heading) for sc in sheet.scenes}
    out, scene = [], None
    for st in ctx.timing():
        shot = st.shot
        camera = [shot.size.value, shot.movement.value]
        if shot.angle != Angle.EYE:
            camera.insert(1, shot.angle.value)
        if clean(shot.lens):
            camera.append(clean(shot.lens))
        draft = ctx.keyframe(shot)
        rel = draft.files[0] if draft is not None and draft.files else None
        trouble = ctx.store.assets.problem(rel) if rel else ""  # hash-checked: never a swapped picture
        if trouble:
            ctx.notice(f"shot {shot.number}: {rel} is {trouble}; the storyboard shows a gap there "
                       "(`inkubator verify` lists every such file)")
        heading = headings.get(shot.scene)
        out.append(Panel(
            number=shot.number,
            scene=f"Scene {shot.scene}" + (f" · {heading}" if heading else ""),
            opens_scene=shot.scene != scene,
            camera=" · ".join(camera),
            action=clean(shot.action),
            lines=tuple((clean(d.character).upper() or "(SPEAKER?)", clean(d.delivery), clean(d.text))
                        for d in shot.dialogue),
            notes=clean(shot.notes),
            transition=clean(shot.transition),
            seconds=st.seconds,
            pictures=pictures_state(ctx, shot),
            image=ctx.store.assets.path(rel) if rel and not trouble else None,
            gap=PLACEHOLDER if rel is None else "keyframe file missing" if trouble == "missing"
            else f"keyframe file is {trouble}" if trouble else "",
        ))
        scene = shot.scene
    return out


def summary(shots: list[Panel]) -> str:
    n = len(shots)
    total = sum(p.seconds for p in shots)
    return f"{n} shot{'' if n == 1 else 's'} · {clock(total)} · {date.today().isoformat()}"


def _picture(path: Path | None, long_side: int):
    """The keyframe as an RGB Pillow image at most `long_side` px, or None when unreadable."""
    if path is None:
        return None
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.draft("RGB", (long_side, long_side))  # JPEG: decode at a smaller scale
            pic = im.convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
    pic.thumbnail((long_side, long_side))
    return pic


# ---- HTML ------------------------------------------------------------------------------------

_CSS = """
* { box-sizing: border-box; }
body { margin: 0; padding: 16px; background: #e8e8e8; color: #111;
  font: 13px/1.35 system-ui, -apple-system, "Segoe UI", "Noto Sans", "Noto Sans CJK JP", "DejaVu Sans", sans-serif; }
.page { background: #fff; margin: 0 auto 16px; padding: 12px 14px; max-width: %(maxw)s;
  display: flex; flex-direction: column; }
.page > header { display: flex; flex-wrap: wrap; justify-content: space-between; align-items: baseline; gap: 0 1em;
  border-bottom: 1px solid #888; margin-bottom: 8px; padding-bottom: 4px; }
.title { font-size: 18px; font-weight: 700; margin: 0; overflow-wrap: anywhere; }
.meta { color: #444; white-space: nowrap; }
.grid { display: grid; grid-template-columns: repeat(%(cols)d, minmax(0, 1fr)); gap: 10px; }
.panel { display: flex; flex-direction: column; min-width: 0; overflow: hidden; border: 1px solid #bbb; }
.scene { font-size: 11px; font-weight: 600; padding: 2px 6px; background: #e2e2e2; color: #333;
  white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.scene.opens { background: #333; color: #fff; }
.frame { aspect-ratio: %(aw)s / %(ah)s; width: 100%%; background: #f0f0f0; display: flex;
  align-items: center; justify-content: center; overflow: hidden; }
.frame img { width: 100%%; height: 100%%; object-fit: contain; display: block; }
.frame.empty { background: #d4d4d4; color: #555; font-style: italic; }
.text { padding: 4px 6px 6px; overflow-wrap: anywhere; }
.head { display: flex; gap: .6em; align-items: baseline; }
.num { font-weight: 700; font-size: 15px; white-space: nowrap; }
.cam { color: #333; flex: 1; }
.dur { white-space: nowrap; font-variant-numeric: tabular-nums; }
.state { font-size: 11px; color: #777; }
.state.approved { color: #1f7a3a; }
.state.pending { color: #a66a00; }
.text p { margin: 3px 0 0; }
.who { font-weight: 600; }
.how { font-style: italic; color: #444; }
.notes { color: #555; font-style: italic; font-size: 11px; }
.transition { text-align: right; font-size: 11px; text-transform: uppercase; }
@page { size: A4 %(orientation)s; margin: 10mm; }
@media print {
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  body { background: #fff; padding: 0; }
  .page { margin: 0; padding: 0; max-width: none; height: %(print_h)s; break-after: page; page-break-after: always; }
  .page:last-child { break-after: auto; page-break-after: auto; }
  .grid { flex: 1; min-height: 0; grid-template-rows: repeat(%(rows)d, minmax(0, 1fr)); gap: 4mm; }
  .panel { break-inside: avoid; }
  .frame { aspect-ratio: auto; flex: 0 0 auto; height: 55%%; }
}
"""


def _png_uri(path: Path | None) -> str | None:
    pic = _picture(path, HTML_LONG_SIDE)
    if pic is None:
        return None
    buf = io.BytesIO()
    pic.save(buf, "PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _html_panel(p: Panel) -> str:
    e = html.escape
    uri = _png_uri(p.image)
    if uri:
        frame = f'<div class="frame"><img src="{uri}" alt="Shot {e(p.number)} start keyframe"></div>'
    else:
        words = p.gap or "keyframe file unreadable"
        frame = f'<div class="frame empty"><span>{words}</span></div>'
    state = p.pictures.split(",")[0]
    parts = [
        f'<article class="panel" id="shot-{e(p.number)}" data-shot="{e(p.number)}">',
        f'<div class="scene{" opens" if p.opens_scene else ""}">{e(p.scene)}'
        f'{"" if p.opens_scene else " (cont’d)"}</div>',
        frame,
        '<div class="text">',
        f'<div class="head"><span class="num">Shot {e(p.number)}</span><span class="cam">{e(p.camera)}</span>'
        f'<span class="dur">{_secs(p.seconds)}</span></div>',
        f'<div class="state {state}">pictures: {e(p.pictures)}</div>',
    ]
    if p.action:
        parts.append(f'<p class="action">{e(p.action)}</p>')
    for who, how, text in p.lines:
        how_html = f' <span class="how">({e(how)})</span>' if how else ""
        parts.append(f'<p class="line"><span class="who">{e(who)}</span>{how_html}: {e(text)}</p>')
    if p.notes:
        parts.append(f'<p class="notes">{e(p.notes)}</p>')
    if p.transition:
        parts.append(f'<p class="transition">{e(p.transition)}</p>')
    parts.append("</div></article>")
    return "\n".join(parts)


def storyboard_html(ctx: ExportContext) -> str:
    cols, rows, orientation = layout(ctx)
    shots = panels(ctx)
    title = clean(ctx.title) or "Untitled"
    meta = summary(shots)
    aw, _, ah = ctx.settings.aspect.partition(":")
    css = _CSS % {"cols": cols, "rows": rows, "orientation": orientation, "aw": aw, "ah": ah,
                  "maxw": "1400px" if orientation == "landscape" else "1000px",
                  # A4 less 10 mm margins, less a little so rounding never spills an empty page
                  "print_h": "188mm" if orientation == "landscape" else "275mm"}
    per = cols * rows
    n_pages = max(1, math.ceil(len(shots) / per))
    e = html.escape
    body = []
    for page in range(n_pages):
        heading = (f'<h1 class="title">{e(title)}</h1>' if page == 0 else f'<div class="title">{e(title)}</div>')
        body.append(f'<section class="page"><header>{heading}<span class="meta">{e(meta)} · '
                    f'page {page + 1} of {n_pages}</span></header><div class="grid">')
        body += [_html_panel(p) for p in shots[page * per:(page + 1) * per]]
        body.append("</div></section>")
    return "\n".join([
        "<!DOCTYPE html>",
        f'<html lang="{e(ctx.primary)}"><head><meta charset="utf-8">',
        # Nothing may load from anywhere: the page is the whole board.
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; "
        "style-src 'unsafe-inline'\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="generator" content="inkubator">',
        f"<title>{e(title)} — storyboard</title>",
        f"<style>{css}</style>",
        "</head><body>",
        *body,
        "</body></html>",
        "",
    ])


class HtmlStoryboardExporter:
    """The board as one self-contained web page."""

    name = "html"
    filename = "storyboard.html"
    label = "storyboard (web page)"
    opens_in = "any web browser; prints on A4 from the browser"

    def export(self, ctx: ExportContext, out: Path) -> list[Path]:
        text = storyboard_html(ctx)
        atomic_write_bytes(out, text.encode("utf-8"))
        return [out]


# ---- PDF -------------------------------------------------------------------------------------

# (regular, bold, italic) TrueType files, first found wins; bold/italic may be missing.
_FONT_DIRS = ["/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/TTF", "/usr/share/fonts/dejavu",
              "/usr/share/fonts/dejavu-sans-fonts", "/usr/local/share/fonts", "/Library/Fonts",
              "~/Library/Fonts", "~/.local/share/fonts", "C:/Windows/Fonts"]
_DEJAVU = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf")
_VERA = ("Vera.ttf", "VeraBd.ttf", "VeraIt.ttf")
_CID_JA, _CID_KO = "HeiseiKakuGo-W5", "HYGothic-Medium"


@dataclass(frozen=True)
class _Fonts:
    regular: str
    bold: str
    italic: str
    covers: frozenset[int]  # code points the regular font has glyphs for
    cjk: str  # font for Han, kana and CJK punctuation
    hangul: str


def _package_dir(name: str) -> Path | None:
    spec = find_spec(name)  # finds it without importing it
    return Path(spec.origin).parent if spec and spec.origin else None


def _font_candidates() -> list[tuple[Path, ...]]:
    cands = [tuple(Path(d).expanduser() / f for f in _DEJAVU) for d in _FONT_DIRS]
    if shutil.which("fc-match"):
        found = _fc_match("DejaVu Sans")
        if found and found.name == _DEJAVU[0]:
            cands.insert(0, tuple(found.parent / f for f in _DEJAVU))
    mpl = _package_dir("matplotlib")
    if mpl:
        cands.append(tuple(mpl / "mpl-data" / "fonts" / "ttf" / f for f in _DEJAVU))
    rl = _package_dir("reportlab")
    if rl:
        cands.append(tuple(rl / "fonts" / f for f in _VERA))
    return cands


def _fc_match(pattern: str) -> Path | None:
    try:
        run = subprocess.run(["fc-match", "-f", "%{file}", pattern], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return Path(run.stdout.strip()) if run.returncode == 0 and run.stdout.strip() else None


def _register_ttf(name: str, path: Path):
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    try:
        font = TTFont(name, str(path))
    except Exception:  # noqa: BLE001 - any unreadable or unsupported (CFF, bitmap) font is skipped
        return None
    pdfmetrics.registerFont(font)
    return font


@lru_cache(maxsize=1)
def _pdf_fonts() -> _Fonts:
    """Register the board's fonts with reportlab once per process."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont

    fonts = _Fonts("Helvetica", "Helvetica-Bold", "Helvetica-Oblique", frozenset(range(32, 256)), _CID_JA, _CID_KO)
    for regular, bold, italic in _font_candidates():
        if not regular.is_file():
            continue
        face = _register_ttf("Storyboard", regular)
        if face is None:
            continue
        b = _register_ttf("Storyboard-Bold", bold) if bold.is_file() else None
        i = _register_ttf("Storyboard-Italic", italic) if italic.is_file() else None
        fonts = _Fonts("Storyboard", "Storyboard-Bold" if b else "Storyboard", "Storyboard-Italic" if i else "Storyboard",
                       frozenset(face.face.charToGlyph), _CID_JA, _CID_KO)
        pdfmetrics.registerFontFamily("Storyboard", normal=fonts.regular, bold=fonts.bold, italic=fonts.italic,
                                      boldItalic=fonts.bold)
        break
    cjk = _CID_JA
    if shutil.which("fc-match"):  # a Japanese TrueType font (IPA, Takao …) is embedded and shows everywhere
        found = _fc_match(":lang=ja")
        if found and found.suffix.lower() == ".ttf":
            face = _register_ttf("Storyboard-CJK", found)
            if face is not None and ord("あ") in face.face.charToGlyph:
                cjk = "Storyboard-CJK"
    for name in {cjk, _CID_KO} - {"Storyboard-CJK"}:
        pdfmetrics.registerFont(UnicodeCIDFont(name))
    return _Fonts(fonts.regular, fonts.bold, fonts.italic, fonts.covers, cjk, _CID_KO)


def _is_cjk(cp: int) -> bool:
    return (0x2E80 <= cp <= 0x9FFF or 0xF900 <= cp <= 0xFAFF or 0xFE30 <= cp <= 0xFE4F
            or 0xFF00 <= cp <= 0xFFEF or 0x20000 <= cp <= 0x3FFFF)


def _is_hangul(cp: int) -> bool:
    return 0x1100 <= cp <= 0x11FF or 0x3130 <= cp <= 0x318F or 0xAC00 <= cp <= 0xD7AF


def _runs(text: str, fonts: _Fonts, base: str) -> list[tuple[str, str]]:
    """`text` cut into (font, run) pieces: the base font where it has the glyphs, a CJK font
    for the East Asian characters it lacks."""
    out: list[tuple[str, str]] = []
    for ch in text:
        cp = ord(ch)
        font = base
        if cp not in fonts.covers:
            font = fonts.hangul if _is_hangul(cp) else fonts.cjk if _is_cjk(cp) else base
        if out and out[-1][0] == font:
            out[-1] = (font, out[-1][1] + ch)
        else:
            out.append((font, ch))
    return out


def _markup(text: str, fonts: _Fonts, base: str) -> str:
    """Paragraph markup of plain text: escaped, CJK runs in their font."""
    from xml.sax.saxutils import escape

    return "".join(escape(run) if font == base else f'<font face="{font}">{escape(run)}</font>'
                   for font, run in _runs(text, fonts, base))


def _has_cjk(text: str) -> bool:
    return any(_is_cjk(ord(c)) or _is_hangul(ord(c)) for c in text)


def _width(text: str, fonts: _Fonts, font: str, size: float) -> float:
    from reportlab.pdfbase.pdfmetrics import stringWidth

    return sum(stringWidth(run, f, size) for f, run in _runs(text, fonts, font))


def _truncate(text: str, fonts: _Fonts, font: str, size: float, width: float) -> str:
    if _width(text, fonts, font, size) <= width:
        return text
    lo, hi = 0, len(text)
    while lo < hi:  # the longest prefix that fits with its ellipsis
        mid = (lo + hi + 1) // 2
        if _width(text[:mid].rstrip() + "…", fonts, font, size) <= width:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo].rstrip() + "…" if lo else ""


def _draw_line(c, text: str, x: float, y: float, fonts: _Fonts, font: str, size: float, width: float,
               align: str = "left") -> float:
    """One line of text at baseline `y`, cut with … to `width`; returns the width drawn."""
    text = _truncate(text, fonts, font, size, width)
    w = _width(text, fonts, font, size)
    if align == "right":
        x -= w
    for f, run in _runs(text, fonts, font):
        c.setFont(f, size)
        c.drawString(x, y, run)
        x += _width(run, fonts, f, size)
    return w


@dataclass(frozen=True)
class _Block:
    """A paragraph of the panel's text: fixed markup in front, then plain text that may be cut."""

    style: str  # action | line | notes | transition
    prefix: str
    text: str


def _blocks(p: Panel, fonts: _Fonts) -> list[_Block]:
    from xml.sax.saxutils import escape

    out = [_Block("action", "", p.action)] if p.action else []
    for who, how, text in p.lines:
        prefix = f"<b>{_markup(who, fonts, fonts.bold)}</b>"
        if how:
            prefix += f" <i>({_markup(how, fonts, fonts.italic)})</i>"
        out.append(_Block("line", prefix + escape(": "), text))
    if p.notes:
        out.append(_Block("notes", "", p.notes))
    if p.transition:
        out.append(_Block("transition", "", p.transition.upper()))
    return out


def _styles(fonts: _Fonts, size: float) -> dict:
    from reportlab.lib import colors
    from reportlab.lib.enums import TA_RIGHT
    from reportlab.lib.styles import ParagraphStyle

    base = ParagraphStyle("sb", fontName=fonts.regular, fontSize=size, leading=size * 1.22, spaceBefore=size * 0.3)
    return {
        "action": base,
        "line": ParagraphStyle("sb-line", parent=base),
        "notes": ParagraphStyle("sb-notes", parent=base, fontName=fonts.italic, textColor=colors.HexColor("#555555"),
                                fontSize=size * 0.9, leading=size * 1.1),
        "transition": ParagraphStyle("sb-tr", parent=base, alignment=TA_RIGHT, fontSize=size * 0.9, leading=size * 1.1),
    }


def _paragraph(b: _Block, text: str, styles: dict, fonts: _Fonts):
    from reportlab.platypus import Paragraph

    style = styles[b.style]
    body = b.prefix + _markup(text, fonts, style.fontName)
    if _has_cjk(b.prefix + text):
        from reportlab.lib.styles import ParagraphStyle

        style = ParagraphStyle(style.name + "-cjk", parent=style, wordWrap="CJK")  # breaks between CJK characters
    return Paragraph(body, style)


def _fit_text(blocks: list[_Block], fonts: _Fonts, size: float, width: float, height: float) -> list:
    """Paragraphs that fit `width × height`: the text shrinks down to 70 % of `size`, then
    the first block that still does not fit is cut with … and the rest are left out."""
    def measure(paras):
        return sum(p.wrap(width, 1e6)[1] + p.style.spaceBefore for p in paras)

    floor = max(5.5, size * 0.7)
    s = size
    while True:
        styles = _styles(fonts, s)
        paras = [_paragraph(b, b.text, styles, fonts) for b in blocks]
        if measure(paras) <= height:
            return paras
        if s <= floor:
            break
        s = max(floor, s - 0.5)
    kept, used = [], 0.0
    for b, p in zip(blocks, paras):
        h = measure([p])
        if used + h <= height:
            kept.append(p)
            used += h
            continue
        words = b.text.split(" ")
        lo, hi = 0, len(words) - 1
        while lo < hi:  # the most words that fit
            mid = (lo + hi + 1) // 2
            if used + measure([_paragraph(b, " ".join(words[:mid]) + " …", styles, fonts)]) <= height:
                lo = mid
            else:
                hi = mid - 1
        if lo:
            kept.append(_paragraph(b, " ".join(words[:lo]) + " …", styles, fonts))
        break
    return kept


_STATE_COLOURS = {"approved": "#1f7a3a", "pending": "#a66a00"}


def _draw_frame(c, p: Panel, x: float, y: float, w: float, h: float, fonts: _Fonts, size: float) -> None:
    """The keyframe fitted into the box (x, y bottom-left, w × h), or a grey placeholder."""
    from reportlab.lib import colors
    from reportlab.lib.utils import ImageReader

    pic = _picture(p.image, PDF_LONG_SIDE)
    c.setStrokeColor(colors.HexColor("#999999"))
    c.setLineWidth(0.5)
    if pic is None:
        c.setFillColor(colors.HexColor("#d4d4d4"))
        c.rect(x, y, w, h, fill=1, stroke=1)
        c.setFillColor(colors.HexColor("#555555"))
        words = p.gap or "keyframe file unreadable"
        tw = _width(words, fonts, fonts.italic, size)
        _draw_line(c, words, x + max(2, (w - tw) / 2), y + h / 2 - size / 3, fonts, fonts.italic, size, w - 4)
        return
    c.setFillColor(colors.HexColor("#f0f0f0"))
    c.rect(x, y, w, h, fill=1, stroke=0)
    scale = min(w / pic.width, h / pic.height)
    iw, ih = pic.width * scale, pic.height * scale
    c.drawImage(ImageReader(pic), x + (w - iw) / 2, y + (h - ih) / 2, iw, ih)
    c.rect(x, y, w, h, fill=0, stroke=1)


@dataclass(frozen=True)
class _Cell:
    """How every panel of a page is laid out: one cell's size, its type size, and the
    picture's box, the same for all panels of the page so the frames line up."""

    w: float
    h: float
    size: float  # body type, pt
    fw: float  # picture box
    fh: float
    beside: bool  # picture left of the text (wide cells), else above it

    @property
    def gap(self) -> float:
        return self.size * 0.5

    @property
    def band(self) -> float:  # the scene band on top
        return self.size * 1.7

    @property
    def room(self) -> float:  # below the band
        return self.h - self.band - self.gap

    @property
    def head(self) -> float:  # the number line and the pictures line
        return self.size * 2.9


def _text_need(p: Panel, fonts: _Fonts, size: float, width: float) -> float:
    """Height of a panel's text at full size in `width`, its head (`_Cell.head`) included."""
    styles = _styles(fonts, size)
    return size * 2.9 + sum(q.wrap(width, 1e6)[1] + q.style.spaceBefore
                            for q in (_paragraph(b, b.text, styles, fonts) for b in _blocks(p, fonts)))


def _cell(page: list[Panel], w: float, h: float, fonts: _Fonts, aspect: float) -> _Cell:
    """The largest picture box that leaves the page's wordiest panel room for its text at full
    size (never less than 45 % of the height), above the text or, in wide cells, beside it."""
    size = min(11.0, max(6.5, w / 30))
    c = _Cell(w, h, size, 0, 0, False)
    room, gap = c.room, c.gap
    fh = min((max(room * 0.45, min(w / aspect, room - gap - _text_need(p, fonts, size, w))) for p in page),
             default=room * 0.58)
    fw = min(w, fh * aspect)
    if w / h >= 1.3:
        sw = min(w * 0.62, room * aspect)
        if sw > fw and all(_text_need(p, fonts, size, w - sw - gap * 1.5) <= room for p in page):
            return _Cell(w, h, size, sw, sw / aspect, True)
    return _Cell(w, h, size, fw, fw / aspect, False)


def _draw_panel(c, p: Panel, x: float, top: float, cell: _Cell, fonts: _Fonts) -> None:
    from reportlab.lib import colors

    w, size, gap, band = cell.w, cell.size, cell.gap, cell.band
    # scene band
    c.setFillColor(colors.HexColor("#333333" if p.opens_scene else "#e2e2e2"))
    c.rect(x, top - band, w, band, fill=1, stroke=0)
    c.setFillColor(colors.white if p.opens_scene else colors.HexColor("#333333"))
    _draw_line(c, p.scene + ("" if p.opens_scene else " (cont’d)"), x + size * 0.4, top - band + size * 0.55,
               fonts, fonts.bold, size * 0.9, w - size * 0.8)
    top -= band + gap
    fw, fh = cell.fw, cell.fh
    if cell.beside:
        fx, tx, tw, text_top, text_h = x, x + fw + gap * 1.5, w - fw - gap * 1.5, top, cell.room
    else:
        fx, tx, tw, text_top, text_h = x + (w - fw) / 2, x, w, top - fh - gap, cell.room - fh - gap
    _draw_frame(c, p, fx, top - fh, fw, fh, fonts, size)
    # number, camera, time (cell.head tall with the pictures line)
    big = size * 1.3
    y = text_top - big
    c.setFillColor(colors.black)
    dur = _secs(p.seconds)
    dw = _width(dur, fonts, fonts.regular, size)
    _draw_line(c, dur, tx + tw, y, fonts, fonts.regular, size, tw, align="right")
    nw = _draw_line(c, f"Shot {p.number}", tx, y, fonts, fonts.bold, big, tw - dw - size)
    c.setFillColor(colors.HexColor("#333333"))
    _draw_line(c, p.camera, tx + nw + size * 0.6, y, fonts, fonts.regular, size, tw - nw - dw - size * 1.6)
    y -= size * 1.25
    c.setFillColor(colors.HexColor(_STATE_COLOURS.get(p.pictures.split(",")[0], "#777777")))
    _draw_line(c, f"pictures: {p.pictures}", tx, y, fonts, fonts.regular, size * 0.9, tw)
    # action, lines, notes: wrapped, shrunk or cut to the room left
    y = text_top - cell.head
    for para in _fit_text(_blocks(p, fonts), fonts, size, tw, max(0.0, text_h - cell.head)):
        _, ph = para.wrap(tw, 1e6)
        y -= para.style.spaceBefore + ph
        para.drawOn(c, tx, y)


def storyboard_pdf(ctx: ExportContext) -> bytes:
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4, landscape, portrait
    from reportlab.lib.units import mm
    from reportlab.pdfgen import canvas

    cols, rows, orientation = layout(ctx)
    shots = panels(ctx)
    fonts = _pdf_fonts()
    title = clean(ctx.title) or "Untitled"
    meta = summary(shots)
    aspect = _aspect(ctx)
    pw, ph = landscape(A4) if orientation == "landscape" else portrait(A4)
    margin, gutter, header = 12 * mm, 5 * mm, 12 * mm
    cw = (pw - 2 * margin - (cols - 1) * gutter) / cols
    ch = (ph - 2 * margin - header - (rows - 1) * gutter) / rows
    per = cols * rows
    n_pages = max(1, math.ceil(len(shots) / per))

    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=(pw, ph), pageCompression=1)
    c.setTitle(f"{title} — storyboard")
    c.setSubject(meta)
    c.setCreator("inkubator")
    for page in range(n_pages):
        top = ph - margin
        c.setFillColor(colors.black)
        right = f"{meta} · page {page + 1} of {n_pages}"
        rw = _draw_line(c, right, pw - margin, top - 14, fonts, fonts.regular, 9, pw - 2 * margin, align="right")
        _draw_line(c, title, margin, top - 14, fonts, fonts.bold, 15, pw - 2 * margin - rw - 12)
        c.setStrokeColor(colors.HexColor("#888888"))
        c.setLineWidth(0.6)
        c.line(margin, top - header + 6, pw - margin, top - header + 6)
        on_page = shots[page * per:(page + 1) * per]
        cell = _cell(on_page, cw, ch, fonts, aspect)
        for i, p in enumerate(on_page):
            r, col = divmod(i, cols)
            _draw_panel(c, p, margin + col * (cw + gutter), top - header - r * (ch + gutter), cell, fonts)
        c.showPage()
    c.save()
    return buf.getvalue()


class PdfStoryboardExporter:
    """The board as an A4 PDF."""

    name = "pdf"
    filename = "storyboard.pdf"
    label = "storyboard (PDF, A4)"
    opens_in = "any PDF reader (Preview, Acrobat, Okular); prints on A4 (scale to fit on Letter)"

    def export(self, ctx: ExportContext, out: Path) -> list[Path]:
        data = storyboard_pdf(ctx)
        atomic_write_bytes(out, data)
        return [out]
