"""Storyboard exports: the self-contained HTML page and the A4 PDF, read back the way a person
would meet them (an HTML parser; poppler's renderer and text extractor)."""

from __future__ import annotations

import base64
import io
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image, ImageStat

from conftest import FIVE_SHOTS, approve_all
from inkubator_tui.exports.base import ExportContext, ExportOptions, ExportUnavailable, exporter
from inkubator_tui.exports.storyboard import HtmlStoryboardExporter, PdfStoryboardExporter, clean, clock
from inkubator_tui.project.models import DialogueLine, Step
from inkubator_tui.project.store import ProjectError, Store

POPPLER = all(shutil.which(t) for t in ("pdftoppm", "pdfinfo", "pdftotext"))
needs_poppler = pytest.mark.skipif(
    not POPPLER, reason="poppler-utils (pdftoppm, pdfinfo, pdftotext) is not installed; "
                        "`apt-get install poppler-utils` enables the PDF rendering checks")
MM = 72 / 25.4


class Board(HTMLParser):
    """What a reader sees of the HTML board: panels in order, pictures, and the text of each
    element by class (one entry per element)."""

    VOID = {"img", "meta", "br", "link", "hr", "input"}

    def __init__(self, text: str):
        super().__init__()
        self.shots: list[str] = []
        self.images: list[str] = []
        self.title = ""
        self.h1 = ""
        self.texts: dict[str, list[str]] = {}
        self._open: list[tuple[str, list[str]]] = []  # (tag, classes) of the open elements
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "data-shot" in a:
            self.shots.append(a["data-shot"])
        if tag == "img":
            self.images.append(a["src"])
        if tag in self.VOID:
            return
        classes = (a.get("class") or "").split()
        for c in classes:
            self.texts.setdefault(c, []).append("")
        self._open.append((tag, classes))

    def handle_endtag(self, tag):
        while self._open and self._open.pop()[0] != tag:
            pass

    def handle_data(self, data):
        tags = [t for t, _ in self._open]
        if tags and tags[-1] == "title":
            self.title += data
        if "h1" in tags:
            self.h1 += data
        for _, classes in self._open:
            for c in classes:
                self.texts[c][-1] += data

    def text(self, cls: str) -> list[str]:
        return [t.strip() for t in self.texts.get(cls, [])]


def read_board(path: Path) -> tuple[str, Board]:
    text = path.read_text(encoding="utf-8")
    return text, Board(text)


@pytest.fixture
def keeper(produced_project, tmp_path):
    """The produced project (4 shots, 2 scenes, all approved), copied, with text that needs
    escaping and cleaning, a delivery, and a Japanese line."""
    root = tmp_path / "keeper"
    shutil.copytree(produced_project, root)
    store = Store.open(root)
    sheet = store.sheet()
    sheet.shots[1].action = "Mira climbs the <b>stairs</b>\x07 & looks up."
    line = sheet.shots[0].dialogue[0]
    sheet.shots[0].dialogue[0] = line.model_copy(update={"delivery": "whispers"})
    sheet.shots[3].dialogue.append(DialogueLine(id=sheet.shots[3].id + "-l2", character="Oskar", text="まだ回っている。"))
    store.replace_sheet(sheet, "storyboard test text")
    yield store
    store.close()


def export(store: Store, kind: str, name: str, **options) -> Path:
    ctx = ExportContext(store, ExportOptions(**options))
    cls = HtmlStoryboardExporter if kind == "html" else PdfStoryboardExporter
    out = ctx.exports_dir / name
    assert cls().export(ctx, out) == [out]
    return out


def pdfinfo(path: Path) -> dict[str, str]:
    run = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True)
    return dict(line.split(":", 1) for line in run.stdout.splitlines() if ":" in line)


def pages_and_size(path: Path) -> tuple[int, float, float]:
    info = pdfinfo(path)
    w, h = re.match(r"\s*([\d.]+) x ([\d.]+) pts", info["Page size"]).groups()
    return int(info["Pages"]), float(w), float(h)


def pdf_text(path: Path) -> str:
    return subprocess.run(["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, text=True,
                          check=True).stdout


def render(path: Path, dpi: int, into: Path) -> list[Path]:
    into.mkdir(exist_ok=True)
    subprocess.run(["pdftoppm", "-r", str(dpi), "-png", str(path), str(into / "page")], check=True)
    return sorted(into.glob("page-*.png"))


def picture_detail(pdf: Path, page_w: float, into: Path) -> float:
    """Grey-level spread across the top third of the first panel's picture box on page 1 of a
    2×2 portrait board (a placeholder is flat grey there; its words sit in the middle)."""
    dpi = 40
    page = render(pdf, dpi, into)[0]
    margin, header, gutter = 12 * MM, 12 * MM, 5 * MM
    cw = (page_w - 2 * margin - gutter) / 2
    top = margin + header + 25  # below the scene band
    box = [round(v * dpi / 72) for v in (margin + 10, top, margin + cw - 10, top + cw * 9 / 16 * 0.35)]
    with Image.open(page) as im:
        return ImageStat.Stat(im.convert("L").crop(box)).stddev[0]


def test_the_exporters_are_found_by_name():
    for name, cls in (("html", HtmlStoryboardExporter), ("pdf", PdfStoryboardExporter)):
        e = exporter(name)
        assert isinstance(e, cls) and e.filename == f"storyboard.{name}" and e.label and e.opens_in


def test_words_and_times():
    assert clock(65.2) == "1:05" and clock(14) == "0:14" and clock(3725) == "1:02:05"
    assert clean(" a\x07b\tc\n d\u202e ") == "ab c d"


def test_html_board_is_one_self_contained_page(keeper):
    ctx = ExportContext(keeper)
    total = clock(sum(st.seconds for st in ctx.timing()))
    out = export(keeper, "html", "storyboard.html")
    text, board = read_board(out)
    assert "The Last Keeper" in board.title and board.h1 == "The Last Keeper"
    meta = board.text("meta")[0]
    assert "4 shots" in meta and total in meta and total == "0:14" and "page 1 of 1" in meta
    assert board.shots == ["1", "2", "3", "4"]
    # pictures are embedded PNGs; nothing runs and nothing is fetched
    assert len(board.images) == 4
    for src in board.images:
        assert src.startswith("data:image/png;base64,")
        with Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))) as im:
            im.verify()
            assert im.format == "PNG"
    lowered = text.lower()
    assert "<script" not in lowered and "http://" not in lowered and "https://" not in lowered
    assert "@import" not in lowered and "url(" not in lowered
    # text is escaped and cleaned of control characters
    assert "&lt;b&gt;stairs&lt;/b&gt; &amp; looks up." in text and "<b>stairs" not in text and "\x07" not in text
    assert "Mira climbs the <b>stairs</b> & looks up." in board.text("action")
    assert "OSKAR (whispers): It still turns." in board.text("line")
    assert "OSKAR: まだ回っている。" in board.text("line")
    assert board.text("cam")[:2] == ["CU · static", "WS · dolly-in"]
    assert board.text("dur") == ["4.5 s", "3 s", "2.5 s", "4 s"]
    assert board.text("state") == ["pictures: approved"] * 4
    scenes = board.text("scene")
    assert scenes[0] == "Scene 1 · INT. LIGHTHOUSE - NIGHT" and "EXT. CLIFF - DAWN" in scenes[2]
    assert "@page { size: A4 landscape" in text


def test_html_pages_follow_the_grid(keeper):
    text, board = read_board(export(keeper, "html", "one.html", grid=(1, 1), orientation="portrait"))
    assert text.count('<section class="page">') == 4 and "page 4 of 4" in board.text("meta")[-1]
    assert "@page { size: A4 portrait" in text and "break-after: page" in text
    text, _ = read_board(export(keeper, "html", "four.html", grid=(4, 4)))
    assert text.count('<section class="page">') == 1 and "repeat(4, minmax(0, 1fr))" in text


@pytest.mark.parametrize("options, words", [
    ({"grid": (5, 1)}, "1 to 4"), ({"grid": (0, 2)}, "1 to 4"), ({"grid": (3,)}, "across and down"),
    ({"orientation": "sideways"}, "landscape or portrait"),
])
def test_grid_and_orientation_are_checked(keeper, options, words):
    for cls in (HtmlStoryboardExporter, PdfStoryboardExporter):
        ctx = ExportContext(keeper, ExportOptions(**options))
        with pytest.raises(ProjectError, match=words) as err:
            cls().export(ctx, ctx.exports_dir / "x")
        assert "\n" not in str(err.value)
        assert not (ctx.exports_dir / "x").exists()


@needs_poppler
def test_pdf_board_pages_pictures_and_text(keeper, tmp_path):
    one = export(keeper, "pdf", "one.pdf", grid=(1, 1))
    n, w, h = pages_and_size(one)
    assert n == 4 and w > h and round(w) == 842 and round(h) == 595  # A4 landscape
    four = export(keeper, "pdf", "four.pdf", grid=(2, 2), orientation="portrait")
    n, w, h = pages_and_size(four)
    assert n == 1 and w < h and round(w) == 595
    assert pdfinfo(four)["Title"].strip() == "The Last Keeper — storyboard"
    # the first panel's picture is drawn: the top of its frame is far from flat
    assert picture_detail(four, w, tmp_path / "png") > 8
    text = pdf_text(four)
    assert "The Last Keeper" in text and "4 shots" in text and "0:14" in text and "page 1 of 1" in text
    positions = [text.index(f"Shot {n}") for n in "1234"]
    assert positions == sorted(positions)
    assert "It still turns." in text and "OSKAR" in text and "(whispers)" in text
    assert "Mira climbs the <b>stairs</b> & looks up." in " ".join(text.split())
    if Path("/usr/share/poppler/cMap").is_dir():  # poppler-data maps the CID font's codes back to text
        assert "まだ回っている。" in text


def test_a_missing_picture_file_is_said_not_crashed_on(keeper):
    ctx = ExportContext(keeper)
    ctx.asset(ctx.keyframe(ctx.sheet.shots[2])).unlink()
    text, board = read_board(export(keeper, "html", "storyboard.html"))
    assert len(board.images) == 3 and text.count("keyframe file missing") == 1
    assert export(keeper, "pdf", "storyboard.pdf").stat().st_size > 0


@needs_poppler
def test_pdf_text_that_does_not_fit_is_cut_inside_its_panel(keeper):
    sheet = keeper.sheet()
    sheet.shots[0].action = " ".join(["A very long description of the lamp room and its brass."] * 30)
    keeper.replace_sheet(sheet, "long action")
    out = export(keeper, "pdf", "dense.pdf", grid=(4, 4), orientation="portrait")
    _, w, h = pages_and_size(out)
    bbox = subprocess.run(["pdftotext", "-bbox", str(out), "-"], capture_output=True, text=True, check=True).stdout
    words = [tuple(float(v) for v in m) for m in re.findall(
        r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)"', bbox)]
    assert words and all(x0 >= 12 * MM - 1 and x1 <= w - 12 * MM + 1 and y1 <= h - 12 * MM + 1
                         for x0, _, x1, y1 in words)
    assert "…" in pdf_text(out)


def test_a_beat_sheet_alone_makes_a_board_of_placeholders(pipe, store, tmp_path):
    ctx = ExportContext(store)
    with pytest.raises(ExportUnavailable, match="approve a beat sheet"):
        HtmlStoryboardExporter().export(ctx, ctx.exports_dir / "storyboard.html")
    pipe.draft_beats(FIVE_SHOTS)
    approve_all(pipe, Step.BEATS)
    html_out = export(store, "html", "storyboard.html")
    pdf_out = export(store, "pdf", "storyboard.pdf")
    text, board = read_board(html_out)
    assert board.shots == ["1", "2", "3", "4", "5"] and not board.images
    assert text.count("no keyframe yet") == 5 and board.text("state") == ["pictures: none"] * 5
    assert pdf_out.read_bytes().startswith(b"%PDF")
    if POPPLER:
        assert pages_and_size(pdf_out)[0] == 1
        words = pdf_text(pdf_out)
        assert words.count("no keyframe yet") == 5 and "INT. LAB - NIGHT" in words
        four = export(store, "pdf", "four.pdf", grid=(2, 2), orientation="portrait")
        n, w, _ = pages_and_size(four)
        assert n == 2 and picture_detail(four, w, tmp_path / "png") < 2
    # drafted keyframes waiting for review: still placeholders, marked pending
    assert pipe.run_step(Step.KEYFRAMES).ok
    _, board = read_board(export(store, "html", "storyboard.html"))
    assert not board.images and board.text("state") == ["pictures: pending"] * 5
    approve_all(pipe, Step.KEYFRAMES)
    _, board = read_board(export(store, "html", "storyboard.html"))
    assert len(board.images) == 5 and board.text("state") == ["pictures: approved"] * 5
