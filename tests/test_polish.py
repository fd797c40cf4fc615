"""What annoyed a new user (issue 14), each pinned by a test that failed before its fix:
pipes that close early, shots named by number in the log, Esc reading as "stopped", an
empty beat sheet never offered for approval, config mistakes caught, redo examples that
fit the step."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import FIVE_SHOTS, approve_all
from inkubator_tui.agents.conversation import Conversation
from inkubator_tui.cli import main
from inkubator_tui.config import ConfigError, key_problem, load_config
from inkubator_tui.pipeline.backend import CancelToken
from inkubator_tui.project.models import DraftStatus, Step
from inkubator_tui.project.store import ProjectError


def _big_project(tmp_path, shots: int = 300):
    script = tmp_path / "long.fountain"
    body = "\n\n".join(f"[[SHOT {i}: MS, static, 2 s]]\nMira crosses the long corridor number {i}, slowly."
                       for i in range(1, shots + 1))
    script.write_text(f"Title: Long\n\nINT. CORRIDOR - NIGHT\n\n{body}\n")
    assert main(["import", str(script), "--project", str(tmp_path / "p"), "--approve"]) == 0
    return tmp_path / "p"


def test_a_reader_that_stops_early_gets_no_traceback(tmp_path):
    root = _big_project(tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "inkubator_tui", "status", "--project", str(root), "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout.read(10)  # like `| head -c 10`: read a little, then close the pipe
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0 and "Traceback" not in err and "BrokenPipe" not in err, err


def test_the_log_names_shots_by_number(pipe, store, capsys):
    pipe.draft_beats(FIVE_SHOTS)
    approve_all(pipe, Step.BEATS)
    pipe.run_step(Step.KEYFRAMES)
    assert main(["log", "--project", str(store.root)]) == 0
    out = capsys.readouterr().out
    assert "keyframes shot 3 v1 created" in out
    assert not any(s.id in out for s in store.sheet().shots)


def test_esc_while_drafting_reads_as_stopped(pipe):
    token = CancelToken()
    token.cancel()
    reply = Conversation(pipe).send(FIVE_SHOTS, notes=True, cancel=token)
    assert reply.text.startswith("Stopped.") and "could not" not in reply.text
    assert pipe.pending(Step.BEATS) == []


def test_an_empty_beat_sheet_is_never_offered_for_approval(pipe, store):
    reply = Conversation(pipe).send("Title: Nothing here\n", notes=True)
    assert "nothing to approve" in reply.text and not reply.drafts
    assert pipe.pending(Step.BEATS) == []
    [d] = store.drafts(Step.BEATS)
    assert d.status == DraftStatus.REJECTED
    # and a draft with no shots cannot be approved by id either
    empty = store.add_draft(step=Step.BEATS, target="sheet", cache_key="k", deps_key="d", provenance=d.provenance,
                            data={"sheet": {"title": "", "scenes": [], "characters": [], "shots": []}})
    with pytest.raises(ProjectError, match="no shots; there is nothing to approve"):
        pipe.approve(empty.id)


@pytest.mark.parametrize("key", ["a", "A", "f5", "ctrl+o", "escape", "left_square_bracket", "space", "a,x",
                                 "ctrl+shift+1"])
def test_real_keys_are_accepted(key):
    assert key_problem(key) == ""


@pytest.mark.parametrize("key", ["zz top", "zz", "ctrl+", "hyperdrive+a", "f99x"])
def test_keys_that_do_not_exist_are_config_errors(key, isolated_config):
    assert key_problem(key)
    isolated_config.write_text(f'[keys]\napprove = "{key}"\n')
    with pytest.raises(ConfigError, match=r"^setting keys\.approve = .* is not a key"):
        load_config()


def test_an_unknown_theme_is_a_config_error(isolated_config):
    isolated_config.write_text('[ui]\ntheme = "nordd"\n')
    with pytest.raises(ConfigError, match=r"setting ui\.theme = 'nordd' .*did you mean 'nord'"):
        load_config()
    isolated_config.write_text('[ui]\ntheme = "gruvbox"\n')
    assert load_config().config.ui.theme == "gruvbox"


def test_a_redo_note_suggests_what_fits_the_step():
    from inkubator_tui.tui.screens import NoteScreen

    assert "light" in NoteScreen("?", "keyframes").example
    voice = NoteScreen("?", "voice").example
    assert "slower" in voice and "light" not in voice and "angle" not in voice
    assert set(NoteScreen.EXAMPLES) == {s.value for s in Step}


@pytest.mark.parametrize("action", ["Close on Oskar's hands.", "Wide shot: the lab goes dark.",
                                    "Extreme close-up of the blinking light."])
def test_an_image_prompt_never_repeats_the_framing_the_action_states(action):
    from inkubator_tui.agents.notes import default_image_prompt
    from inkubator_tui.project.models import Size

    prompt = default_image_prompt(Size.CU, action)
    assert prompt == action.rstrip(".") and " of Close" not in prompt
    assert default_image_prompt(Size.CU, "Oskar waits.") == "close-up of Oskar waits"  # a name keeps its capital
    assert default_image_prompt(Size.CU, "The lamp turns.") == "close-up of the lamp turns"


def test_notes_too_big_for_one_sheet_are_refused_before_anything_is_made(tmp_path, capsys, pipe):
    big = tmp_path / "epic.txt"
    big.write_text("Mira walks to the door and looks back at the sea. " * 40_000)  # 2 MB
    assert main(["produce", str(big), "--project", str(tmp_path / "p")]) == 1
    err = capsys.readouterr().err
    assert "epic.txt: 2.0 MB of notes; one beat sheet takes up to 400 KB" in err and err.count("\n") == 1
    assert not (tmp_path / "p").exists()  # no half-made project
    with pytest.raises(ProjectError, match="one beat sheet takes up to"):
        pipe.draft_beats(big.read_text())  # pasted into the chat: refused the same way
    assert pipe.store.drafts(Step.BEATS) == []


def test_a_screenplay_with_too_many_shots_is_one_line(tmp_path, capsys):
    script = tmp_path / "huge.fdx"
    script.write_text("<FinalDraft><Content>" + "".join(
        f'<Paragraph Type="Action"><Text>Beat {i}.</Text></Paragraph>' for i in range(10_001)) + "</Content></FinalDraft>")
    assert main(["import", str(script), "--project", str(tmp_path / "p")]) == 1
    err = capsys.readouterr().err
    assert "huge.fdx: 10001 shots is more than one beat sheet holds (9999)" in err
    assert not (tmp_path / "p").exists()


# ---- a long model run says how long it has left ----------------------------------------------------
def test_pace_words_use_this_run_and_remember_it_for_the_next(tmp_path):
    from inkubator_tui.pipeline.pace import Pace, duration_words

    now = [100.0]
    file = tmp_path / "pace.json"
    pace = Pace(8, "beats per-shot m", file, clock=lambda: now[0])
    assert pace.words() == "", "nothing measured and nothing remembered: no guess"
    now[0] += 12
    pace.advance(2)  # 6 s a shot, 6 shots left
    assert pace.words() == "about 35 s left"
    now[0] += 36
    pace.advance(8)
    assert pace.words() == "", "nothing is left"
    pace.remember()
    again = Pace(20, "beats per-shot m", file, clock=lambda: now[0])
    assert again.words() == "about 2 min left (measured on this machine)"
    assert Pace(20, "beats per-shot other model", file).words() == "", "another model has its own pace"
    file.write_text("{not json")
    assert Pace(3, "beats per-shot m", file).words() == "", "a damaged file is no estimate, not an error"
    assert [duration_words(s) for s in (1, 44, 61, 3599, 4200)] == \
        ["about 5 s", "about 45 s", "about 1 min", "about 1 h", "about 1 h 10 min"]


def test_the_agent_filling_shots_reports_the_time_left(tmp_path):
    from inkubator_tui.agents.director import Director
    from test_agent import Scripted

    reply = ('{"size": "CU", "angle": "high", "movement": "static", "duration_s": 4, "characters": [], '
             '"image_prompt": "a woman at a bench in a workshop"}')
    notes = "\n\n".join(f"Mira checks gauge number {i} on the bench." for i in range(1, 5))
    file = tmp_path / "pace.json"
    said: list[str] = []
    Director(Scripted([reply] * 4), pace_file=file).draft(notes, progress=lambda f, m: said.append(m))
    assert said[0].startswith("4 shots to fill; reading"), said[0]
    assert all(" left" in m for m in said[1:-1]) and " left" not in said[-1], said
    assert said[1].startswith("shot 1 of 4: CU, high, static"), said[1]
    assert "scripted test double" in file.read_text()
    said.clear()
    Director(Scripted([reply] * 4), pace_file=file).draft(notes, progress=lambda f, m: said.append(m))
    assert "(measured on this machine)" in said[0], "the next run guesses from the last before its first shot"


# ---- undo and redo of the last decision or edit -------------------------------------------------
def _produced_pipeline(produced_project, tmp_path):
    import shutil

    from inkubator_tui.pipeline.pipeline import Pipeline
    from inkubator_tui.pipeline.registry import Registry
    from inkubator_tui.project.store import Store

    root = tmp_path / "p"
    shutil.copytree(produced_project, root)
    config = load_config(cli={"motion.backend": "camera", "keyframe.backend": "sketch"}).config
    return Pipeline(Store.open(root), Registry(config))


def test_undo_and_redo_an_edit_bring_back_the_shot_and_its_approved_drafts(produced_project, tmp_path):
    from inkubator_tui.pipeline.undo import History, checkpoint

    pipe = _produced_pipeline(produced_project, tmp_path)
    store = pipe.store
    shot = store.sheet().shots[1]
    start = checkpoint(store)
    history = History()
    history.record("edit shot 2", pipe, lambda: pipe.revise_shot(shot.number, {"size": "ECU"}))
    stale = [d for d in store.drafts(status=DraftStatus.STALE)]
    assert stale and store.sheet().shots[1].size.value == "ECU"
    assert history.undo(pipe) == "undid edit shot 2"
    assert checkpoint(store) == start, "the shot and every draft it made stale are as they were"
    assert history.redo(pipe) == "redid edit shot 2"
    assert store.sheet().shots[1].size.value == "ECU"
    assert {d.id for d in store.drafts(status=DraftStatus.STALE)} == {d.id for d in stale}
    with pytest.raises(ProjectError, match="nothing to redo"):
        history.redo(pipe)


def test_undoing_an_approval_restores_the_siblings_sidecars_and_exported_animatic(produced_project, tmp_path):
    from inkubator_tui.pipeline.undo import History

    pipe = _produced_pipeline(produced_project, tmp_path)
    store = pipe.store
    key = store.drafts(Step.KEYFRAMES, status=DraftStatus.APPROVED)[0]
    history = History()
    history.record("reject", pipe, lambda: pipe.reject(key.id, note="too dark"))
    assert store.draft(key.id).status == DraftStatus.REJECTED
    history.undo(pipe)
    back = store.draft(key.id)
    assert back.status == DraftStatus.APPROVED and back.provenance.approver == "tester" and back.note == ""
    sidecar = store.assets.path(back.files[0]).with_name(store.assets.path(back.files[0]).name + ".json")
    assert '"approver": "tester"' in sidecar.read_text()

    animatic = store.drafts(Step.ANIMATIC, "project", DraftStatus.APPROVED)[0]
    exported = store.root / "exports" / "animatic.mp4"
    pipe.reject(animatic.id)  # outside the history: the approval below is the change to take back
    exported.unlink()
    history.record("approve the animatic", pipe, lambda: pipe.approve(animatic.id, mode="tui"))
    assert exported.is_file()
    history.undo(pipe)
    assert store.draft(animatic.id).status == DraftStatus.REJECTED and not exported.exists(), \
        "the exported animatic goes with the approval that wrote it"
    history.redo(pipe)
    assert store.draft(animatic.id).status == DraftStatus.APPROVED and exported.is_file()


def test_undo_refuses_when_the_change_was_changed_again_and_changes_nothing(produced_project, tmp_path):
    from inkubator_tui.pipeline.undo import History, checkpoint

    pipe = _produced_pipeline(produced_project, tmp_path)
    history = History()
    number = pipe.store.sheet().shots[0].number
    history.record("edit shot 1", pipe, lambda: pipe.revise_shot(number, {"size": "EWS"}))
    pipe.revise_shot(number, {"size": "WS"})  # a change made elsewhere (the chat, another window)
    before = checkpoint(pipe.store)
    with pytest.raises(ProjectError, match="cannot take back 'edit shot 1': the shot list changed again"):
        history.undo(pipe)
    assert checkpoint(pipe.store) == before
    with pytest.raises(ProjectError, match="nothing to undo"):
        History().undo(pipe)


def test_the_readme_lists_every_key_as_the_app_binds_it():
    import re
    import tomllib
    from pathlib import Path

    from inkubator_tui.config import DEFAULT_KEYS

    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    block = re.search(r"\n\[keys\][^\n]*\n(.*?)```", readme, re.S).group(1)
    assert tomllib.loads(block) == DEFAULT_KEYS
