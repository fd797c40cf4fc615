"""The headless CLI end to end, on the real shipped backends (rules beats,
sketch board, RIFE in-betweens, Piper voice, ffmpeg animatic)."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import imageio_ffmpeg
import pytest
from PIL import Image

from inkubator_tui.cli import main

NOTES = """Title: Night Shift

INT. WORKSHOP - NIGHT

Rain on the skylight. Close on MIRA as she solders a circuit board.
Mira whispers, "Come on, little one."
Slow push in on the drone as it blinks awake.
"""


@pytest.fixture
def notes(tmp_path):
    p = tmp_path / "notes.txt"
    p.write_text(NOTES)
    return p


# Tests about the pipeline and CLI plumbing use the rule-based beats (fast and
# deterministic); the agent's own tests load the real embedded model.
RULES = ("--set", "llm.backend=rules")


def run(capsys, *argv, stdin: str | None = None, monkeypatch=None):
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def streams(mp4) -> str:
    proc = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(mp4)],
                          capture_output=True, text=True)
    return proc.stderr


@pytest.mark.slow
def test_produce_approve_all_makes_the_animatic_and_second_run_does_nothing(tmp_path, notes, capsys):
    proj = tmp_path / "film"
    code, out, err = run(capsys, "produce", str(notes), "--project", str(proj), "--approve-all", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["complete"] is True
    mp4 = proj / "exports" / "animatic.mp4"
    assert report["animatic"] == str(mp4) and mp4.stat().st_size > 1000
    info = streams(mp4)
    assert "Video: h264" in info and "Audio: aac" in info

    code, out, _ = run(capsys, "status", "--project", str(proj), "--json")
    status = json.loads(out)
    shots = status["shots"]
    assert len(shots) == 3
    # additive contract: delivery joined character and text
    assert shots[1]["dialogue"] == [{"character": "Mira", "text": "Come on, little one.", "delivery": "whispers"}]
    # camera language from the notes binds the agent: "Close on" and "Slow push in"
    assert shots[2]["movement"] == "dolly-in" and shots[1]["size"] == "CU"
    for s in shots:
        assert s["steps"]["keyframes"] == s["steps"]["motion"] == s["steps"]["animatic"] == "approved"
    assert shots[1]["steps"]["voice"] == "approved" and shots[0]["steps"]["voice"] == "n/a"

    # provenance: approve-all is recorded, the sketch is labelled non-neural, a sidecar sits by each asset
    from inkubator_tui.project.store import Store
    store = Store.open(proj)
    kf = [d for d in store.drafts() if d.step == "keyframes"][0]
    assert kf.provenance.approval_mode == "approve-all" and kf.provenance.non_neural
    side = json.loads(store.assets.path(kf.files[0]).with_suffix(".png.json").read_text())
    assert side["approval_mode"] == "approve-all" and side["backend"] == "sketch"
    png = Image.open(store.assets.path(kf.files[0]))
    assert json.loads(png.text["inkubator"])["backend"] == "sketch"
    voice = [d for d in store.drafts() if d.step == "voice"][0]
    assert voice.provenance.licence == "CC0-1.0" and len(voice.provenance.weights_sha256) == 64
    store.close()

    code, out, _ = run(capsys, "produce", str(notes), "--project", str(proj), "--approve-all", "--json")
    again = json.loads(out)
    assert code == 0
    assert all(not s["created"] and not s["cached"] for s in again["steps"]), again["steps"]


def test_produce_stops_at_the_first_gate_without_approval(tmp_path, notes, capsys):
    proj = tmp_path / "film"
    code, out, _ = run(capsys, "produce", str(notes), "--project", str(proj), *RULES)
    assert code == 3
    assert "await approval" in out and "inkubator approve --project" in out
    code, out, _ = run(capsys, "status", "--project", str(proj), "--json")
    assert {s["steps"]["beats"] for s in json.loads(out)["shots"]} == {"pending"}
    draft_id = json.loads(out)["pending"][0]["id"]
    assert run(capsys, "approve", "--project", str(proj), str(draft_id))[0] == 0
    code, out, _ = run(capsys, "status", "--project", str(proj), "--json")
    assert {s["steps"]["beats"] for s in json.loads(out)["shots"]} == {"approved"}


def test_interactive_approve_reject_redo(tmp_path, notes, capsys, monkeypatch):
    proj = tmp_path / "film"
    # beats: approve; keyframes: redo shot 1 with a note, approve the redo, approve 2, 3 and 3's end
    # (the push-in moves, so RIFE asks for where it ends); then quit
    answers = "a\nd\nwarmer light\na\na\na\na\nq\n"
    code, out, err = run(capsys, "produce", str(notes), "--project", str(proj), "--interactive", *RULES,
                         stdin=answers, monkeypatch=monkeypatch)
    assert code == 3, err
    from inkubator_tui.project.store import Store
    store = Store.open(proj)
    kfs = [d for d in store.drafts() if d.step == "keyframes"]
    assert [d.status.value for d in kfs] == ["rejected", "approved", "approved", "approved", "approved"]
    assert kfs[3].target.endswith("/end")
    first, redo = kfs[0], kfs[-1]
    assert first.note == "warmer light" and redo.target == first.target and redo.version == 2
    assert redo.provenance.seed != first.provenance.seed
    assert redo.provenance.approval_mode == "interactive"
    store.close()


def test_beats_json_contract(notes, capsys):
    code, out, _ = run(capsys, "beats", str(notes), "--json", *RULES)
    assert code == 0
    data = json.loads(out)
    shot = data["shots"][1]
    assert {"id", "number", "size", "angle", "movement", "duration_s", "action", "characters",
            "dialogue"} <= set(shot)
    assert shot["characters"] == ["Mira"]


@pytest.mark.parametrize("name, content, message", [
    ("missing.txt", None, "does not exist"),
    ("notes.docx", "x", "must be .txt, .md or .fountain"),
    ("empty.md", "   \n", "is empty"),
])
def test_bad_notes_give_one_clear_line(tmp_path, capsys, name, content, message):
    p = tmp_path / name
    if content is not None:
        p.write_text(content)
    code, out, err = run(capsys, "beats", str(p))
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and message in err


def test_not_a_project_and_unknown_draft(tmp_path, capsys):
    code, _, err = run(capsys, "status", "--project", str(tmp_path))
    assert code == 1 and "not an inkubator project" in err and err.count("\n") == 1
    assert run(capsys, "new", str(tmp_path / "p"))[0] == 0
    code, _, err = run(capsys, "approve", "--project", str(tmp_path / "p"), "42")
    assert code == 1 and "no draft 42" in err


def test_revise_reports_what_went_stale(tmp_path, notes, capsys):
    proj = tmp_path / "film"
    run(capsys, "produce", str(notes), "--project", str(proj), "--set", "voice.backend=none",
        "--set", "motion.backend=none", "--approve-all", *RULES)
    code, out, err = run(capsys, "revise", "--project", str(proj), "2", "size=ECU", "--set", "voice.backend=none",
                         "--set", "motion.backend=none")
    assert code == 0, err
    assert "2 draft(s) now stale" in out  # shot 2's keyframe and the animatic
    code, _, err = run(capsys, "revise", "--project", str(proj), "2", "size=HUGE")
    assert code == 1 and "shot 2: size" in err


def test_doctor_and_config_json(tmp_path, capsys):
    code, out, _ = run(capsys, "doctor", "--json")
    data = json.loads(out)
    # the embedded base model cannot translate: typed translations are the way, and doctor is still fine
    assert code == 0 and data["steps"].pop("translate") is False and all(data["steps"].values())
    in_use = {r["step"]: r for r in data["backends"] if r["in_use"]}
    assert in_use["keyframes"]["backend"] == "sketch" and in_use["keyframes"]["non_neural"]
    assert "diffusion" in in_use["keyframes"]["fix"]
    assert in_use["voice"]["backend"] == "piper" and not in_use["voice"]["non_neural"]
    code, out, _ = run(capsys, "config", "--json", "--set", "runtime.jobs=2")
    cfg = json.loads(out)
    assert cfg["runtime.jobs"] == {"value": 2, "source": "command line"}
    code, _, err = run(capsys, "config", "--set", "runtime.job=2")
    assert code == 1 and "did you mean runtime.jobs" in err


def test_module_entry_point_help():
    proc = subprocess.run([sys.executable, "-m", "inkubator_tui", "produce", "--help"], capture_output=True,
                          text=True)
    assert proc.returncode == 0 and "--approve-all" in proc.stdout and "--interactive" in proc.stdout


def test_missing_model_or_unreachable_server_is_one_clear_line(notes, capsys, tmp_path):
    code, out, err = run(capsys, "beats", str(notes), "--model", str(tmp_path / "nope.gguf"))
    assert code == 1 and "does not exist; point it at a .gguf file" in err and "Traceback" not in err
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code, out, err = run(capsys, "beats", str(notes), "--server", f"http://127.0.0.1:{port}/v1", "--model-name", "x",
                         "--json")
    assert code == 1 and "is the server running?" in err and out == ""


def test_look_shows_and_changes_how_a_character_looks(tmp_path, capsys):
    notes = tmp_path / "n.txt"
    notes.write_text("INT. STATION - NIGHT\n\nMira, a young woman in a red coat, waits under the sign.\n"
                     "Close on the clock.\nMira reads the letter.\n")
    proj = str(tmp_path / "p")
    assert run(capsys, "new", proj)[0] == 0
    assert run(capsys, "produce", str(notes), "-p", proj, "--approve-all", *RULES,
               "--set", "motion.backend=none", "--set", "voice.backend=none")[0] == 0
    code, out, _ = run(capsys, "look", "-p", proj, "--json")
    [mira] = json.loads(out)
    assert code == 0 and mira["look"] == "a young woman in a red coat" and mira["reference_shot"] == "1"
    assert not mira["chosen"]
    code, _, err = run(capsys, "look", "Mira", "--reference", "2", "-p", proj)
    assert code == 1 and err.strip() == "inkubator: Mira is not in shot 2; choose a shot they are in: 1, 3"
    code, out, _ = run(capsys, "look", "mira", "--look", "tall, grey raincoat", "--reference", "3", "-p", proj)
    assert code == 0 and "Mira: tall, grey raincoat; reference shot 3" in out
    stale = out.splitlines()[1]
    assert stale.count("keyframes") == 2 and "animatic" in stale  # the two shots she is in, not the clock
    [mira] = json.loads(run(capsys, "look", "-p", proj, "--json")[1])
    assert mira["reference_shot"] == "3" and mira["chosen"]


def _square_png(path, x):
    im = Image.new("RGB", (96, 64), (20, 30, 50))
    im.paste((240, 200, 80), (x, 20, x + 24, 44))
    im.save(path)
    return path


def test_interpolate_two_pictures_into_frames_and_a_clip(tmp_path, capsys):
    a, b = _square_png(tmp_path / "a.png", 8), _square_png(tmp_path / "b.png", 56)
    code, out, err = run(capsys, "interpolate", str(a), str(b), "--frames", "3", "--out", str(tmp_path / "frames"))
    assert code == 0, err
    files = sorted((tmp_path / "frames").iterdir())
    assert [f.name for f in files] == [f"frame_{i:04d}.png" for i in range(5)]
    lefts = []
    for f in files:
        r = __import__("numpy").asarray(Image.open(f))[..., 0]
        lefts.append(int((r > 180).any(axis=0).argmax()))
    assert lefts[0] == 8 and lefts[-1] == 56 and abs(lefts[2] - 32) <= 2 and lefts == sorted(lefts)
    assert "3 in-betweens" in out and "RIFE HDv3" in out
    code, out, err = run(capsys, "interpolate", str(a), str(b), "-n", "6", "--out", str(tmp_path / "clip.mp4"))
    assert code == 0, err
    assert "frame=" not in err and "8 frames" in out
    from inkubator_tui.tools.video import read_mp4
    assert len(list(read_mp4(tmp_path / "clip.mp4"))) == 8


def test_interpolate_refuses_bad_input_in_one_line(tmp_path, capsys):
    a = _square_png(tmp_path / "a.png", 8)
    (tmp_path / "notes.txt").write_text("not a picture")
    for argv, says in ([str(a), str(tmp_path / "missing.png")], "does not exist"), \
                      ([str(a), str(tmp_path / "notes.txt")], "is not an image"), \
                      ([str(a), str(a), "--out", str(tmp_path / "x.gif")], "should be a folder"), \
                      ([str(a), str(a), "--frames", "0"], "--frames is how many"):
        code, out, err = run(capsys, "interpolate", *argv)
        assert code == 1 and says in err and err.count("\n") == 1, err
