"""Screenplays out and in: Fountain and Final Draft written from the sheet, read back by an
independent parser (screenplay-tools), and imported again into the same scenes, shots,
lines and camera fields, for written examples and for generated sheets (Hypothesis)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import approve_all
from inkubator_tui.exports import ExportContext, ExportOptions, export
from inkubator_tui.exports.fdx import fdx_bytes, read_fdx
from inkubator_tui.exports.fountain import read_fountain, write_fountain
from inkubator_tui.exports.importing import read_screenplay
from inkubator_tui.exports.screenplay import parse_shot_note, screenplay_of
from inkubator_tui.project.models import Angle, BeatSheet, Character, DialogueLine, Movement, Scene, Shot, Size, Step
from inkubator_tui.project.notes_file import NotesFileError
from inkubator_tui.project.store import Store

DATA = Path(__file__).parent / "data" / "screenplays"

ISSUE_EXAMPLE = """Title: The Last Keeper
Author: Jo Marsh

INT. LIGHTHOUSE - NIGHT

[[SHOT: CU, dolly-in]]
Oskar's hands on the brass lamp.

OSKAR
(whispering)
It still turns.

[[SHOT: WS, low, 35mm, 4 s]]
Mira climbs the spiral stairs.
"""


def _copy(produced_project, tmp_path) -> Store:
    root = tmp_path / "p"
    shutil.copytree(produced_project, root)
    return Store.open(root)


def _fields(sheet: BeatSheet) -> dict:
    """What a screenplay round trip must keep."""
    return {
        "scenes": [(sc.number, sc.heading) for sc in sheet.scenes],
        "shots": [(s.scene, s.number, s.size, s.angle, s.movement, s.lens, s.duration_s, " ".join(s.action.split()),
                   [(d.character, d.text, d.delivery) for d in s.dialogue], s.transition, s.notes)
                  for s in sheet.shots],
    }


# ---- the issue's example and hand-written screenplays -----------------------------------------

def test_a_title_page_and_shot_notes_import_as_written():
    sheet = read_fountain(ISSUE_EXAMPLE)
    assert sheet.title == "The Last Keeper"
    assert [sc.heading for sc in sheet.scenes] == ["INT. LIGHTHOUSE - NIGHT"]  # no made-up heading
    assert all("Jo Marsh" not in s.action for s in sheet.shots)  # the title page is not a shot
    assert len(sheet.shots) == 2  # a SHOT note sets the camera of the action below it, not a shot of its own
    one, two = sheet.shots
    assert (one.size, one.movement, one.action) == (Size.CU, Movement.DOLLY_IN, "Oskar's hands on the brass lamp.")
    assert [(d.character, d.text, d.delivery) for d in one.dialogue] == [("Oskar", "It still turns.", "whispering")]
    assert (two.size, two.angle, two.lens, two.duration_s, two.pinned) == (Size.WS, Angle.LOW, "35mm", 4.0,
                                                                          ["duration_s"])
    assert [c.name for c in sheet.characters] == ["Oskar"]


def test_shot_notes_read_the_words_people_write():
    assert parse_shot_note("SHOT 4A: CU, dolly-in, 3 s") == {"number": "4A", "size": Size.CU,
                                                             "movement": Movement.DOLLY_IN, "duration_s": 3.0}
    said = parse_shot_note("shot: close-up, low angle, push in, 50mm, 2.5 sec")
    assert said == {"size": Size.CU, "angle": Angle.LOW, "movement": Movement.DOLLY_IN, "lens": "50mm",
                    "duration_s": 2.5}
    assert parse_shot_note("SHOT 2: WS, grainy")["extra"] == ["grainy"]
    assert parse_shot_note("Shot this at dawn if we can") is None  # a note that mentions shooting
    assert parse_shot_note("keep it warm") is None


@pytest.mark.parametrize("path", sorted(DATA.glob("*.fountain")) + sorted(DATA.glob("*.fdx")),
                         ids=lambda p: p.name)
def test_the_screenplay_corpus_imports_as_its_expectations_say(path):
    import json

    want = json.loads(path.with_suffix(".json").read_text())
    sheet = read_screenplay(path).sheet
    assert sheet.title == want["title"]
    assert [sc.heading for sc in sheet.scenes] == want["scenes"]
    lo, hi = want["shots"]
    assert lo <= len(sheet.shots) <= hi, [s.action for s in sheet.shots]
    got_lines = [{"speaker": d.character, "text": d.text, **({"delivery": d.delivery} if d.delivery else {})}
                 for s in sheet.shots for d in s.dialogue]
    assert got_lines == want["lines"]
    for cam in want.get("camera", []):
        shot = next(s for s in sheet.shots if cam["at"] in s.action)
        for key in ("size", "angle", "movement", "lens", "duration_s", "number"):
            if key in cam:
                assert str(getattr(shot, key)) == str(cam[key]), (cam, shot)
    for tr in want.get("transitions", []):
        assert next(s for s in sheet.shots if tr["at"] in s.action).transition == tr["transition"]
    for ch in want.get("looks", []):
        assert ch["look"] in sheet.character(ch["name"]).look
    for text in want.get("not_actions", []):
        assert all(text not in s.action for s in sheet.shots), text


# ---- exports read back by an independent parser ------------------------------------------------

def test_fountain_export_parses_with_screenplay_tools(produced_project, tmp_path):
    from screenplay_tools.fountain.parser import Parser

    store = _copy(produced_project, tmp_path)
    [path], _ = export(store, ["fountain"], options=ExportOptions(sign=False))
    parser = Parser()
    parser.add_text(path.read_text())
    script = parser.script
    assert [(e.key, e.text) for e in script.titleEntries][0] == ("Title", "The Last Keeper")
    kinds = [e.type.value for e in script.elements]
    assert [e.text for e in script.elements if e.type.value == "HEADING"] == ["INT. LIGHTHOUSE - NIGHT",
                                                                           "EXT. CLIFF - DAWN"]
    assert [e.name for e in script.elements if e.type.value == "CHARACTER"] == ["OSKAR", "MIRA"]
    assert [e.text for e in script.elements if e.type.value == "DIALOGUE"] == ["It still turns.",
                                                                            "Then we keep it lit."]
    actions = " ".join(e.text for e in script.elements if e.type.value == "ACTION")
    assert "Close on Oskar's hands on the lamp." in actions and "Wide: the lamp sweeps the sea." in actions
    assert "HEADING" in kinds
    notes = [n.text for n in script.notes]
    assert [n.split(":")[0] for n in notes] == ["SHOT 1", "SHOT 2", "SHOT 3", "SHOT 4"]
    assert notes[1] == "SHOT 2: WS, dolly-in, 3 s"


def test_fdx_export_parses_with_screenplay_tools(produced_project, tmp_path):
    from screenplay_tools.fdx.parser import Parser

    store = _copy(produced_project, tmp_path)
    [path], _ = export(store, ["fdx"], options=ExportOptions(sign=False))
    root = ET.parse(path).getroot()
    assert (root.tag, root.get("DocumentType")) == ("FinalDraft", "Script")
    types = {p.get("Type") for p in root.iter("Paragraph")}
    assert {"Scene Heading", "Action", "Character", "Dialogue", "Shot"} <= types
    script = Parser().parse(path.read_text())
    assert [e.name for e in script.elements if e.type.value == "CHARACTER"] == ["OSKAR", "MIRA"]
    assert [e.text for e in script.elements if e.type.value == "DIALOGUE"] == ["It still turns.",
                                                                            "Then we keep it lit."]
    assert "INT. LIGHTHOUSE - NIGHT" in [e.text for e in script.elements if e.type.value == "HEADING"]


@pytest.mark.parametrize("fmt", ["fountain", "fdx"])
def test_a_project_comes_back_from_its_screenplay(produced_project, tmp_path, fmt):
    store = _copy(produced_project, tmp_path)
    [path], _ = export(store, [fmt], options=ExportOptions(sign=False))
    imported = read_screenplay(path)
    assert _fields(imported.sheet) == _fields(store.sheet())
    assert imported.sheet.title == "The Last Keeper"
    assert "Draft date" in imported.title_page


def test_the_imported_title_page_is_written_again(tmp_path, pipe, store):
    src = tmp_path / "keeper.fountain"
    src.write_text(ISSUE_EXAMPLE)
    imported = read_screenplay(src)
    d = pipe.import_sheet(imported.sheet, text=imported.text, source=src.name, reader=imported.reader,
                          title_page=imported.title_page)
    assert d.status.value == "pending" and d.provenance.backend == "import"
    # the same file again finds its draft instead of adding another
    assert pipe.import_sheet(imported.sheet, text=imported.text, source=src.name, reader=imported.reader).id == d.id
    pipe.approve(d.id, mode="test", approver="tester")
    [path], _ = export(store, ["fountain"], options=ExportOptions(sign=False))
    text = path.read_text()
    assert text.startswith("Title: The Last Keeper\nAuthor: Jo Marsh\n")
    assert "[[SHOT 1: CU, dolly-in," in text and "[[SHOT 2: WS, low, static, 35mm, 4 s]]" in text


def test_text_that_would_read_as_markup_is_forced():
    sheet = BeatSheet(title="Odd", scenes=[Scene(number=1, heading="THE BEACH"), Scene(number=2, heading="")],
                      characters=[Character(name="Ana")],
                      shots=[Shot(scene=1, number="1", action="INT. looks like a heading but is action"),
                             Shot(scene=1, number="2", action="BANG!"),
                             Shot(scene=1, number="3", action="She turns to: ", transition="fade out",
                                  dialogue=[DialogueLine(character="Ana", text="(not a parenthetical) yes")]),
                             Shot(scene=2, number="4", action="SMASH CUT TO:", notes="grade it cold")])
    text = write_fountain(screenplay_of(sheet, "Odd"))
    assert ".THE BEACH" in text and "!INT. looks like" in text and "!BANG!" in text and "> FADE OUT." in text
    back = read_fountain(text)
    assert [sc.heading for sc in back.scenes] == ["THE BEACH", ""]
    assert [s.action for s in back.shots] == ["INT. looks like a heading but is action", "BANG!", "She turns to:",
                                              "SMASH CUT TO:"]
    assert back.shots[2].transition == "fade out" and back.shots[3].notes == "grade it cold"


def test_terminal_controls_never_reach_the_screenplay():
    sheet = BeatSheet(title="T\x1b]0;pwned\x07", scenes=[Scene(number=1, heading="INT. A - DAY")],
                      shots=[Shot(scene=1, number="1", action="Mira\x1b[2J waits.\u202e")])
    text = write_fountain(screenplay_of(sheet, sheet.title))
    assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text
    assert ET.fromstring(fdx_bytes(screenplay_of(sheet, sheet.title))) is not None


def test_bad_screenplays_say_what_to_do(tmp_path):
    bad = tmp_path / "broken.fdx"
    bad.write_text("<FinalDraft><Content><Paragraph>")
    with pytest.raises(NotesFileError, match="not a Final Draft file"):
        read_screenplay(bad)
    other = tmp_path / "other.fdx"
    other.write_text("<html></html>")
    with pytest.raises(NotesFileError, match="root is <html>"):
        read_screenplay(other)
    empty = tmp_path / "empty.fountain"
    empty.write_text("Title: Nothing\n\n")
    with pytest.raises(NotesFileError, match="no scenes, action or dialogue"):
        read_screenplay(empty)


# ---- the CLI ----------------------------------------------------------------------------------

def _cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "inkubator_tui", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


def test_import_and_produce_read_screenplays(tmp_path):
    (tmp_path / "keeper.fountain").write_text(ISSUE_EXAMPLE)
    r = _cli("import", "keeper.fountain", "--project", "a", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert '"shots": 2' in r.stdout and '"status": "pending"' in r.stdout
    r = _cli("export", "--project", "a", "-f", "fdx", cwd=tmp_path)
    assert r.returncode == 1 and "approve a beat sheet first" in r.stderr and "Traceback" not in r.stderr
    assert _cli("approve", "--project", "a", "1", cwd=tmp_path).returncode == 0
    r = _cli("export", "--project", "a", "-f", "fdx", "--out", "keeper.fdx", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    # produce reads the Final Draft file as written and stops at the beat sheet's gate
    r = _cli("produce", "keeper.fdx", "--project", "b", cwd=tmp_path)
    assert r.returncode == 3, r.stdout + r.stderr
    assert "read by inkubator FDX reader: 2 shot(s)" in r.stdout
    store = Store.open(tmp_path / "b")
    [d] = store.drafts(Step.BEATS)
    assert d.provenance.backend == "import" and len(d.data["sheet"]["shots"]) == 2
    r = _cli("import", "missing.fdx", "--project", "c", cwd=tmp_path)
    assert r.returncode == 1 and "does not exist" in r.stderr and not (tmp_path / "c").exists()


# ---- generated sheets ---------------------------------------------------------------------------

WORDS = st.sampled_from(["the", "lamp", "turns", "slowly", "Mira", "waits", "by", "a", "door", "rain", "on", "glass",
                         "cold", "light", "falls", "across", "floor", "3", "o'clock", "—", "it's", "again"])
SENTENCE = st.lists(WORDS, min_size=1, max_size=12).map(lambda ws: (" ".join(ws)[:1].upper() + " ".join(ws)[1:]
                                                                     + "."))
ODD_ACTIONS = st.sampled_from(["INT. a heading-like action", "BANG!", "THE DOOR SLAMS.", "Then: CUT TO:",
                               "(quietly) she leaves", "> arrow", "@ sign", "~ tilde", ".dot first", "= equals",
                               "# hash", "Mira's hand — then nothing", "Ünïcødé wind", "雨が降る。"])
NAMES = st.sampled_from(["Mira", "Oskar", "Ana", "Dr. Okafor", "Li Wei", "Björn", "Yuki"])
HEADINGS = st.sampled_from(["INT. LAB - NIGHT", "EXT. CLIFF - DAWN", "THE BEACH", "", "INT./EXT. CAR - DAY",
                            "I/E. TRAIN - NIGHT"])
TRANSITIONS = st.sampled_from(["", "", "cut to", "dissolve to", "smash cut to", "fade out", "fade to black"])


@st.composite
def sheets(draw) -> BeatSheet:
    n_scenes = draw(st.integers(1, 3))
    scenes = [Scene(number=i + 1, heading=draw(HEADINGS)) for i in range(n_scenes)]
    shots = []
    for sc in scenes:
        for _ in range(draw(st.integers(1, 3))):
            n = len(shots) + 1
            number = f"{n}{draw(st.sampled_from(['', '', 'A', 'B']))}"
            lines = [DialogueLine(character=draw(NAMES), text=draw(SENTENCE),
                                  delivery=draw(st.sampled_from(["", "", "whispering", "to herself", "beat"])))
                     for _ in range(draw(st.integers(0, 2)))]
            action = draw(st.one_of(SENTENCE, ODD_ACTIONS, st.just("")))
            shots.append(Shot(scene=sc.number, number=number, size=draw(st.sampled_from(list(Size))),
                              angle=draw(st.sampled_from(list(Angle))), movement=draw(st.sampled_from(list(Movement))),
                              lens=draw(st.sampled_from(["", "", "35mm", "85mm anamorphic", "12.5mm"])),
                              duration_s=draw(st.integers(1, 40)) / 2, action=action, dialogue=lines,
                              transition=draw(TRANSITIONS),
                              notes=draw(st.sampled_from(["", "", "keep it warm", "grade: teal & orange"]))))
    names = sorted({d.character for s in shots for d in s.dialogue})
    return BeatSheet(title=draw(st.sampled_from(["Keeper", "The Last Keeper", "Rain, Again"])), scenes=scenes,
                     characters=[Character(name=n) for n in names], shots=shots)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sheets())
def test_generated_sheets_survive_fountain_and_final_draft(sheet):
    play = screenplay_of(sheet, sheet.title)
    for back in (read_fountain(write_fountain(play)), read_fdx(fdx_bytes(play))):
        assert back.title == sheet.title
        assert _fields(back) == _fields(sheet)


def test_the_context_export_covers_a_beat_sheet_alone(pipe, store):
    from conftest import FIVE_SHOTS

    pipe.draft_beats(FIVE_SHOTS)
    approve_all(pipe, Step.BEATS)
    paths, ctx = export(store, options=ExportOptions(sign=False))
    names = {p.name for p in paths}
    assert {"script.fountain", "script.fdx", "shotlist.csv", "provenance.json"} <= names
    assert "timeline.otio" not in names and any("not made yet" in n for n in ctx.notices)
    assert isinstance(ctx, ExportContext)
