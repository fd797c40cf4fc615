"""What a hostile note, a kill or a shared folder must never do (issue 15), each pinned
by a test that failed before its fix."""

from __future__ import annotations

import re

import pytest

from conftest import approve_all, tiny_png
from inkubator_tui.cli import main
from inkubator_tui.project.models import Step
from inkubator_tui.project.notes_file import without_controls

HOSTILE = ("Title: Esc\n\nMira waits \x1b]0;pwned\x07 at the door \x1b[2J now.\r\n\r\n"
           "Oskar says, \"Hi \x1b[31mred\x1b[0m \x9b2J\x00there.\"\n\nA link \x1b]8;;http://x\x1b\\here\x1b]8;;\x1b\\ ends.\n")
CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def test_control_characters_and_terminal_escapes_leave_the_notes_but_the_words_stay():
    clean = without_controls(HOSTILE)
    assert not CONTROLS.search(clean)
    assert "Mira waits  at the door  now." in clean and "Hi red there." in clean and "A link here ends." in clean
    kept = "日本語 — “quotes” é ✓ 🎬 \u200f rtl\n\ttab"
    assert without_controls(kept) == kept, "any language, emoji, RTL marks, tabs and newlines are words"


def test_escapes_in_notes_reach_neither_the_terminal_nor_the_exports(tmp_path, capsys):
    notes = tmp_path / "esc.txt"
    notes.write_text(HOSTILE, encoding="utf-8")
    root = tmp_path / "p"
    assert main(["produce", str(notes), "--project", str(root), "--approve-all", "--set", "keyframe.backend=sketch",
                 "--set", "motion.backend=camera"]) == 0
    capsys.readouterr()
    assert main(["status", "--project", str(root)]) == 0
    assert main(["status", "--project", str(root), "--json"]) == 0
    out = capsys.readouterr().out
    assert "Mira waits" in out and "\x1b" not in out and "\\u001b" not in out and not CONTROLS.search(out)
    assert main(["export", "--project", str(root), "--format", "fountain", "--format", "csv", "--no-sign"]) == 0
    for f in (root / "exports").rglob("*"):
        if f.suffix in (".fountain", ".csv"):
            assert not CONTROLS.search(f.read_text(encoding="utf-8")), f.name


def test_a_chat_request_with_escapes_is_words_too(pipe, store):
    from inkubator_tui.agents.conversation import Conversation

    pipe.draft_beats("Mira waits at the door.\n\nOskar opens it.")
    approve_all(pipe, Step.BEATS)
    Conversation(pipe).send("make shot 1 a close-up\x1b]0;pwned\x07\x1b[2J")
    assert not any(CONTROLS.search(m.text) for m in store.messages())


# ---- every export is words, whatever the database holds -------------------------------------------

# What an older version, an import or a hand-edited database may hold: a window title (OSC 0), a
# clear screen (CSI 2J), an 8-bit CSI, and a spreadsheet formula.
ESCAPED_ACTION = '=HYPERLINK("http://x") Mira waits \x1b]0;pwned\x07at the door \x1b[2Jnow, \x9b31mslowly.'
SEQUENCE_LEFTOVERS = ("pwned", "[2J", "31m", "]0;")


def _hostile_sheet(store):
    sheet = store.sheet()
    first = sheet.shots[0]
    first.action, first.notes, first.lens = ESCAPED_ACTION, "keep \x1b[5mit\x1b[0m warm", "35mm\x9b2J"
    talking = next(s for s in sheet.shots if s.dialogue)
    talking.dialogue[0].text = "It \x1b]0;pwned\x07works\x9b31m."
    sheet.scenes[0].heading = "INT. LAB \x1b[2J- NIGHT"
    store.replace_sheet(sheet, "an older import")
    store.save_settings(store.settings.model_copy(update={"title": "Five \x1b]0;pwned\x07"}))


def test_no_export_carries_a_control_from_the_database(pipe, store):
    import csv
    import io
    import shutil
    import subprocess

    from conftest import produce_all
    from inkubator_tui.exports import ExportOptions, export_all

    produce_all(pipe)
    _hostile_sheet(store)
    paths = {p.name: p for p in export_all(store, ExportOptions(sign=False))}
    texts = {name: p.read_text(encoding="utf-8") for name, p in paths.items()
             if p.suffix in (".fountain", ".fdx", ".csv", ".otio", ".edl", ".xml", ".html", ".json", ".md", ".srt")}
    if shutil.which("pdftotext"):
        texts["storyboard.pdf"] = subprocess.run(["pdftotext", "-enc", "UTF-8", str(paths["storyboard.pdf"]), "-"],
                                                 capture_output=True, text=True, check=True).stdout
    assert {"script.fountain", "script.fdx", "shotlist.csv", "timeline.otio", "timeline.edl", "timeline.xml",
            "storyboard.html"} <= set(texts)
    for name, text in texts.items():
        assert not CONTROLS.search(text.replace("\r\n", "\n").replace("\f", "")), name  # CRLF rows, PDF pages
        assert not any(bit in text for bit in SEQUENCE_LEFTOVERS), name  # a sequence goes whole
    for name in ("script.fountain", "script.fdx", "shotlist.csv", "storyboard.html", "timeline.xml"):
        assert "at the door now, slowly." in texts[name], name  # the words around it stay
    rows = {r[1]: r for r in csv.reader(io.StringIO(texts["shotlist.csv"]))}
    assert rows["1"][6].startswith("'=HYPERLINK(") and rows["1"][5] == "35mm"  # text, never a formula
    assert rows["1"][8] == "3" or float(rows["1"][8]) > 0  # the exporter's own numbers stay numbers


@pytest.mark.parametrize("value, shown", [("\t=1+1", "'=1+1"), ("a\x1b[2Jb\x9b31mc", "abc"),
                                          ("\x1b]0;pwned\x07=1+1", "'=1+1")])
def test_a_cell_loses_the_whole_sequence_and_never_starts_a_formula(value, shown):
    from inkubator_tui.exports.shotlist import cell

    assert cell(value) == shown


# ---- a screenplay read in is words -----------------------------------------------------------

FOUNTAIN = """Title: Night \x1b]0;pwned\x07Shift
Author: Jo\x9b31m Marsh

INT. LAB \x1b[2J- NIGHT

Mira waits \x1b]0;pwned\x07at the \x9d0;pwned\x9cdoor \x1b[2Jnow.

MIRA\x9b31m
(quietly\x85)
Hi \x1b[31mred\x1b[0m there.
"""

FDX = """<?xml version="1.0" encoding="UTF-8" standalone="no" ?>
<FinalDraft DocumentType="Script" Template="No" Version="5">
  <Content>
    <Paragraph Type="Scene Heading"><Text>INT. LAB \x9b2J- NIGHT</Text></Paragraph>
    <Paragraph Type="Action"><Text>Mira waits \x1b]0;pwned\x07at the \x9d0;pwned\x9cdoor &#x9b;31mnow.</Text>
    </Paragraph>
    <Paragraph Type="Character"><Text>MIRA\x9b31m</Text></Paragraph>
    <Paragraph Type="Parenthetical"><Text>(quietly\x85)</Text></Paragraph>
    <Paragraph Type="Dialogue"><Text>Hi \x1b[31mred\x1b[0m there.</Text></Paragraph>
  </Content>
  <TitlePage><Content>
    <Paragraph Type="Title"><Text>Night \x9d0;pwned\x9cShift</Text></Paragraph>
    <Paragraph Type="General"><Text>Author: Jo\x9b31m Marsh</Text></Paragraph>
  </Content></TitlePage>
</FinalDraft>
"""


@pytest.mark.parametrize("name, text", [("night.fountain", FOUNTAIN), ("night.fdx", FDX)], ids=["fountain", "fdx"])
def test_an_imported_screenplay_loses_escapes_and_c1_controls_but_not_its_words(tmp_path, name, text):
    from inkubator_tui.exports.importing import read_screenplay

    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    read = read_screenplay(path)
    sheet = read.sheet
    assert not CONTROLS.search(read.text)  # the source kept with the draft (an FDX may still say &#x9b;)
    words = [sheet.title, *read.title_page.values(), *(sc.heading for sc in sheet.scenes),
             *(c.name for c in sheet.characters),
             *(t for s in sheet.shots for t in (s.action, s.notes, *(x for d in s.dialogue
                                                                     for x in (d.character, d.text, d.delivery))))]
    for w in words:
        assert not CONTROLS.search(w) and "pwned" not in w and "31m" not in w and "[2J" not in w, repr(w)
    assert sheet.title == "Night Shift" and read.title_page["Author"] == "Jo Marsh"
    assert sheet.scenes[0].heading == "INT. LAB - NIGHT"
    assert sheet.shots[0].action == "Mira waits at the door now."
    line = sheet.shots[-1].dialogue[0]
    assert (line.character, line.text, line.delivery) == ("Mira", "Hi red there.", "quietly")


# ---- a line too long for the sheet is said --------------------------------------------------

RUN_ON = "Mira walks " + "very, very " * 907 + "to the door."  # 10,000 characters, no sentence break


@pytest.mark.parametrize("notes, said", [
    (f"Title: Long\n\n{RUN_ON}\n\nOskar opens it.\n",
     "line 3 of the notes: a shot's action has 10,000 characters; only the first 2,000 were read — break it into "
     "sentences or paragraphs"),
    ('Title: Long\n\nMira waits.\n\nOskar says, "' + "la " * 400 + 'la."\n',
     "line 5 of the notes: a line of dialogue has 1,203 characters; only the first 1,000 were read — break it into "
     "shorter lines"),
    ("Title: Long\n\nKeep it warm and " + "quiet and " * 60 + "slow.\n\nMira waits.\n",
     "line 3 of the notes: a note on the whole film has 622 characters; only the first 400 were read — break it "
     "into sentences"),
], ids=["action", "dialogue", "film-note"])
def test_a_cut_in_the_notes_is_said_once_in_one_line(pipe, store, notes, said):
    report = pipe.draft_beats(notes)
    assert report.ok and len(report.created) == 1
    assert pipe.notices == [said]
    pipe.draft_beats(notes)  # up to date: nothing new to say
    assert pipe.notices == [said]


def test_a_long_line_of_sentences_is_read_whole_and_says_nothing(pipe, store):
    sentences = " ".join(f"Mira checks drone number {n} on the bench." for n in range(250))  # ~10,000 characters
    pipe.draft_beats(f"Title: Many\n\n{sentences}\n")
    assert pipe.notices == []
    approve_all(pipe, Step.BEATS)
    assert sum(len(s.action) for s in store.sheet().shots) >= len(sentences) - 250  # every sentence is a shot


def test_produce_says_the_cut_on_stderr(tmp_path, capsys):
    notes = tmp_path / "long.txt"
    notes.write_text(f"Title: Long\n\n{RUN_ON}\n\nOskar opens it.\n", encoding="utf-8")
    assert main(["produce", str(notes), "--project", str(tmp_path / "p"), "--set", "llm.backend=rules"]) == 3
    err = capsys.readouterr().err.splitlines()
    warned = [line for line in err if line.startswith("inkubator: warning:")]
    assert warned == ["inkubator: warning: line 3 of the notes: a shot's action has 10,000 characters; only the "
                      "first 2,000 were read — break it into sentences or paragraphs"]


def test_beats_says_the_cut_on_stderr(tmp_path, capsys):
    notes = tmp_path / "long.txt"
    notes.write_text(f"Title: Long\n\n{RUN_ON}\n", encoding="utf-8")
    assert main(["beats", str(notes), "--set", "llm.backend=rules", "--json"]) == 0
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("inkubator: warning:")]
    assert err == ["inkubator: warning: line 3 of the notes: a shot's action has 10,000 characters; only the "
                   "first 2,000 were read — break it into sentences or paragraphs"]


# ---- a model path that is not a model: one line, in doctor and in a run ---------------------------

JUNK = {
    "text": lambda p: p.write_text("hello, this is not a model\n"),
    "empty": lambda p: p.write_bytes(b""),
    "png": lambda p: tiny_png(p, 128),
    "escapes": lambda p: p.write_bytes(b"\x1b]0;pwned\x07\x1b[2Jhello"),
    "folder": lambda p: (p.mkdir(), (p / "junk.txt").write_text("junk")),
}
SAYS = {"text": 'it starts with "hello, this is not a', "empty": "it is empty", "png": "it is a PNG picture",
        "escapes": 'it starts with "hello"'}
# (step, backend, setting, the file's name, what a folder of junk is said to be or lack)
MODEL_PATHS = [
    (Step.BEATS, "llama", "llm.model_path", "model.gguf", "it is a folder"),
    (Step.KEYFRAMES, "diffusion", "keyframe.model_path", "model.safetensors", "without model_index.json"),
    (Step.MOTION, "rife", "motion.model_path", "flownet.pkl", "holds no flownet.pkl"),
    (Step.MOTION, "rife-vulkan", "motion.model_path", "rife-v4.6", "has no flownet.param"),
    (Step.VOICE, "piper", "voice.model_path", "voice.onnx", "it is a folder"),
    (Step.VOICE, "coqui", "voice.coqui_model_path", "model.pth", "it is a folder"),
    (Step.VOICE, "coqui", "voice.xtts_path", "XTTS-v2", "missing in the XTTS folder"),
]


def _config(step, name: str, setting: str, path):
    from inkubator_tui.config import load_config
    from inkubator_tui.pipeline.registry import SECTION

    return load_config(cli={setting: str(path), f"{SECTION[step]}.backend": name}).config


@pytest.mark.parametrize("kind", list(JUNK))
@pytest.mark.parametrize("step, name, setting, filename, folder_says", MODEL_PATHS,
                         ids=[f"{m[1]}:{m[2]}" for m in MODEL_PATHS])
def test_a_model_path_that_is_not_a_model_is_one_line_in_doctor_and_in_a_run(tmp_path, step, name, setting,
                                                                             filename, folder_says, kind):
    from inkubator_tui.doctor import doctor_rows
    from inkubator_tui.pipeline.backend import BackendError
    from inkubator_tui.pipeline.registry import Registry

    path = tmp_path / filename
    JUNK[kind](path)
    if name == "piper" and kind != "folder":  # its config beside it: only the voice file is wrong
        path.with_name(path.name + ".json").write_text('{"language": {"code": "en_US"}}')
    config = _config(step, name, setting, path)
    row = next(r for r in doctor_rows(Registry(config)) if r["backend"] == name)
    assert not row["ready"] and str(path) in row["detail"]
    assert (folder_says if kind == "folder" else SAYS[kind]) in row["detail"]
    with pytest.raises(BackendError) as e:  # the real loader (piper and coqui refuse when they are built)
        Registry(config).resolve(step).load()
    said = str(e.value)
    assert said.startswith(row["detail"]), "doctor and the run give the same reason"
    assert "\n" not in said and not CONTROLS.search(said) and "pwned" not in said


def _index_of_junk(folder):
    folder.mkdir()
    (folder / "model_index.json").write_text("hello")


@pytest.mark.parametrize("step, name, setting, filename, make, says", [
    (Step.BEATS, "llama", "llm.model_path", "cut.gguf",
     lambda p: p.write_bytes(b"GGUF\x03\x00\x00\x00" + b"\x00" * 24), "a GGUF file llama.cpp cannot read"),
    (Step.KEYFRAMES, "diffusion", "keyframe.model_path", "sd15", _index_of_junk,
     'its model_index.json is not a diffusers model index (it starts with "hello")'),
    (Step.VOICE, "piper", "voice.model_path", "cut.onnx", lambda p: (p.write_bytes(b"\x08\x07 cut short"),
     p.with_name("cut.onnx.json").write_text("{}")), "does not load in onnxruntime"),
    (Step.MOTION, "rife", "motion.model_path", "flownet.pkl", lambda p: p.write_bytes(b"\x80\x02"),
     "could not load"),
], ids=["gguf-cut-short", "diffusers-index", "onnx-cut-short", "pickle-cut-short"])
def test_a_file_that_only_starts_like_a_model_is_one_line_too(tmp_path, step, name, setting, filename, make, says):
    from inkubator_tui.pipeline.backend import BackendError
    from inkubator_tui.pipeline.registry import Registry

    path = tmp_path / filename
    make(path)
    with pytest.raises(BackendError, match=re.escape(says)) as e:
        Registry(_config(step, name, setting, path)).resolve(step).load()
    assert "\n" not in str(e.value)


def test_auto_says_which_setting_it_passed_over(tmp_path, capsys):
    notes, junk = tmp_path / "notes.txt", tmp_path / "junk.gguf"
    notes.write_text("Title: T\n\nMira waits.\n", encoding="utf-8")
    junk.write_text("hello")
    assert main(["produce", str(notes), "--project", str(tmp_path / "p"), "--set", f"llm.model_path={junk}"]) == 3
    warned = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("inkubator: warning:")]
    assert warned == [f'inkubator: warning: llm.model_path {junk} is not a GGUF model (it starts with "hello"); '
                      "give a .gguf file (llama.cpp's format, e.g. a Q4_K_M quantisation from huggingface.co), or "
                      "leave llm.model_path empty for the embedded Gemma 3 270M; beats uses rules instead"]


def test_a_junk_file_among_the_voices_is_not_offered(tmp_path):
    from inkubator_tui.config import load_config
    from inkubator_tui.tools.voice.piper import PiperVoiceBackend

    tiny_png(tmp_path / "en_US-junk-medium.onnx", 9)
    (tmp_path / "en_US-junk-medium.onnx.json").write_text('{"language": {"code": "en_US"}}')
    piper = PiperVoiceBackend(load_config(cli={"voice.voices_dir": str(tmp_path)}).config)
    assert "en_US-junk-medium" not in piper.voices("en") and piper.voices("en")
